// Resume file of `btool peer` (issue #5): the verified-piece bitfield plus each file's size and mtime, so a restart
// can skip rehashing. Encoded as bencode; written atomically (temp file + rename). Stale or unreadable resume data is
// never trusted: the caller then hash-checks what is on disk.

import { decodeBencode, encodeBencode, isBytes, isDict } from "../bencode.ts";
import { equals } from "../bytes.ts";
import { errorText, StorageError } from "../errors.ts";
import type { Metainfo } from "../metainfo.ts";
import { dataPath } from "../storage/storage.ts";
import { Bitfield } from "../wire/bitfield.ts";

/** Folder below the download dir that holds resume files. */
export const RESUME_DIR_NAME = ".btool";
/** Largest resume file we read (a bitfield of 8 M pieces plus a file list stays far below it). */
export const MAX_RESUME_BYTES = 64 * 1024 * 1024;
/** Resume format version. */
export const RESUME_VERSION = 1;

/** Size and modification time of one torrent file on disk (null: missing). */
export interface FileStamp {
  size: number;
  mtimeMs: number;
}

/** What the resume file records. */
export interface ResumeData {
  infoHash: Uint8Array;
  /** Verified pieces. */
  have: Bitfield;
  /** One stamp per torrent file (padding files included, as size 0 / mtime 0), null for a missing file. */
  files: (FileStamp | null)[];
}

/** Where the resume file of `meta` lives below `dir`. */
export function resumePath(meta: Metainfo, dir: string): string {
  return `${dir.replace(/\/+$/, "") || "/"}/${RESUME_DIR_NAME}/${meta.infoHash.hex}.resume`;
}

/** Encode resume data (bencode). */
export function encodeResume(data: ResumeData): Uint8Array {
  return encodeBencode({
    version: RESUME_VERSION,
    "info hash": data.infoHash,
    pieces: data.have.toBytes(),
    files: data.files.map((f) => f === null ? [] : [f.size, Math.round(f.mtimeMs)]),
  });
}

/**
 * Decode resume data for `meta`; null when it is malformed, another version, for another torrent or for a
 * different file list (never throws: a bad resume file only costs a hash check).
 */
export function decodeResume(bytes: Uint8Array, meta: Metainfo): ResumeData | null {
  try {
    const top = decodeBencode(bytes);
    if (!isDict(top) || top.get("version") !== RESUME_VERSION) return null;
    const infoHash = top.get("info hash");
    const pieces = top.get("pieces");
    const files = top.get("files");
    if (!isBytes(infoHash) || !equals(infoHash, meta.infoHash.bytes) || !isBytes(pieces)) return null;
    if (!Array.isArray(files) || files.length !== meta.files.length) return null;
    const stamps: (FileStamp | null)[] = [];
    for (const f of files) {
      if (!Array.isArray(f)) return null;
      if (f.length === 0) {
        stamps.push(null);
        continue;
      }
      const [size, mtimeMs] = f;
      if (typeof size !== "number" || typeof mtimeMs !== "number" || f.length !== 2) return null;
      stamps.push({ size, mtimeMs });
    }
    return { infoHash, have: Bitfield.fromBytes(pieces, meta.pieceCount), files: stamps };
  } catch {
    return null;
  }
}

/**
 * True when `stamps` (now on disk) match the resume data exactly: same size and mtime for every file. Any file
 * written after the resume was saved (e.g. after a kill -9) makes it stale.
 */
export function isResumeFresh(data: ResumeData, stamps: readonly (FileStamp | null)[]): boolean {
  if (stamps.length !== data.files.length) return false;
  for (let i = 0; i < stamps.length; i++) {
    const a = stamps[i];
    const b = data.files[i];
    if (a === null || a === undefined || b === null || b === undefined) {
      if (a !== b) return false;
      continue;
    }
    if (a.size !== b.size || Math.round(a.mtimeMs) !== Math.round(b.mtimeMs)) return false;
  }
  return true;
}

/** Stat every file of `meta` below `dir` (padding files report size 0, mtime 0). @throws {StorageError} io */
export async function readFileStamps(meta: Metainfo, dir: string): Promise<(FileStamp | null)[]> {
  const out: (FileStamp | null)[] = [];
  for (const f of meta.files) {
    if (f.isPadding) {
      out.push({ size: 0, mtimeMs: 0 });
      continue;
    }
    const path = dataPath(dir, f);
    try {
      const st = await Deno.stat(path);
      out.push(st.isFile ? { size: st.size, mtimeMs: st.mtime?.getTime() ?? 0 } : null);
    } catch (err: unknown) {
      if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) out.push(null);
      else {
        const msg = errorText(err);
        throw new StorageError("io", `Cannot stat "${path}": ${msg}`, { cause: err });
      }
    }
  }
  return out;
}

/** Read the resume file of `meta` below `dir`; null when missing, unreadable or not valid for `meta`. */
export async function readResume(meta: Metainfo, dir: string): Promise<ResumeData | null> {
  const path = resumePath(meta, dir);
  try {
    const st = await Deno.stat(path);
    if (!st.isFile || st.size > MAX_RESUME_BYTES) return null;
    return decodeResume(await Deno.readFile(path), meta);
  } catch {
    return null;
  }
}

/**
 * Save `have` with the current stamps of the files, atomically (temp file, then rename over the old one).
 * @throws {StorageError} io
 */
export async function writeResume(meta: Metainfo, dir: string, have: Bitfield): Promise<void> {
  const path = resumePath(meta, dir);
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  try {
    const files = await readFileStamps(meta, dir);
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(tmp, encodeResume({ infoHash: meta.infoHash.bytes, have, files }));
    await Deno.rename(tmp, path);
  } catch (err: unknown) {
    await Deno.remove(tmp).catch(() => {});
    if (err instanceof StorageError) throw err;
    const msg = errorText(err);
    throw new StorageError("io", `Cannot write resume file "${path}": ${msg}`, { cause: err });
  }
}
