// A tiny in-test torrent builder (encodeBencode + SHA-1) for metainfo, storage and verify tests, and block spans.
// Piece hashes come from node:crypto, synchronously: an oracle independent of lib/sha1.ts (WebCrypto), which the
// tests then check.

import { createHash } from "node:crypto";
import { type BencodeInput, encodeBencode } from "../../lib/bencode.ts";
import { concat, equals, utf8 } from "../../lib/bytes.ts";
import { BLOCK_BYTES, type PieceGeometry, pieceSize } from "../../lib/pieces.ts";
import { openLibcSha1, type SyncSha1 } from "../../lib/sha1.ts";
import { ok } from "./assert.ts";

/** One file of a test torrent: path below the torrent name, and its bytes. */
export interface TestFile {
  path: string[];
  data: Uint8Array;
}

/** Options for buildTorrent. */
export interface BuildOptions {
  name?: string;
  pieceLength?: number;
  /** Multi-file when given; single-file from `data` otherwise. */
  files?: TestFile[];
  data?: Uint8Array;
  /** Extra keys merged into the info dict (override computed ones). */
  info?: Record<string, BencodeInput | undefined>;
  /** Extra keys at the top level. */
  top?: Record<string, BencodeInput | undefined>;
}

/** Build a torrent's bytes and return them with the concatenated data. */
export function buildTorrent(options: BuildOptions): { bytes: Uint8Array; data: Uint8Array } {
  const pieceLength = options.pieceLength ?? 16384;
  const data = options.files ? concat(options.files.map((f) => f.data)) : (options.data ?? new Uint8Array(0));
  const info: Record<string, BencodeInput | undefined> = {
    name: options.name ?? "test",
    "piece length": pieceLength,
    pieces: oraclePieceHashes(data, pieceLength),
    ...(options.files
      ? { files: options.files.map((f) => ({ length: f.data.length, path: f.path.map((c) => utf8(c)) })) }
      : { length: data.length }),
    ...options.info,
  };
  const bytes = encodeBencode({ announce: "http://127.0.0.1:6969/announce", ...options.top, info });
  return { bytes, data };
}

/** SHA-1 by node:crypto (never used by lib/): the independent oracle for expected piece hashes. */
export function oracleSha1(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha1").update(data).digest());
}

/**
 * OpenSSL's SHA-1 through FFI (--sha1 libc), or null with the reason printed for `who` (a test file) where libcrypto
 * cannot be opened. libcrypto.so.3 comes with Debian's libssl3, on every machine btool is tested on: tests that need it
 * run under CI=true even without it (and fail there); elsewhere they are skipped.
 */
export function libcSha1OrNull(who: string): SyncSha1 | null {
  try {
    return openLibcSha1();
  } catch (err: unknown) {
    console.log(`${who}: ${err instanceof Error ? err.message : err}: its --sha1 libc tests are skipped`);
    return null;
  }
}

/** The `pieces` value of `data` cut into `pieceLength` pieces (the last may be short), by oracleSha1. */
export function oraclePieceHashes(data: Uint8Array, pieceLength: number): Uint8Array {
  const hashes: Uint8Array[] = [];
  for (let at = 0; at < data.length; at += pieceLength) hashes.push(oracleSha1(data.subarray(at, at + pieceLength)));
  return concat(hashes);
}

/** Every 16 KiB block (begin, length) of piece `index`, in order: how a downloader asks for a piece. */
export function blockSpans(meta: PieceGeometry, index: number): { begin: number; length: number }[] {
  const size = pieceSize(meta, index);
  const out: { begin: number; length: number }[] = [];
  for (let begin = 0; begin < size; begin += BLOCK_BYTES) {
    out.push({ begin, length: Math.min(BLOCK_BYTES, size - begin) });
  }
  return out;
}

/** Write `files` below `root` (folders made as needed): a seed's data on disk. */
export async function writeTree(root: string, files: TestFile[]): Promise<void> {
  for (const f of files) {
    const path = `${root}/${f.path.join("/")}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(path, f.data);
  }
}

/** Assert that every one of `files` lies below `root` with exactly its bytes. */
export async function assertTree(root: string, files: TestFile[]): Promise<void> {
  for (const f of files) {
    const got = await Deno.readFile(`${root}/${f.path.join("/")}`);
    ok(equals(got, f.data), `${f.path.join("/")} differs under ${root}`);
  }
}
