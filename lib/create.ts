// Makes a new v1 torrent (BEP 3, 12, 19, 27) from a file or folder: walk, hash on all cores, encode.
// File order and info keys match mktorrent, so the same data and options give the same info hash.
// Never prints: progress goes through `onProgress`; the caller writes the returned bytes.

import { encodeBencode } from "./bencode.ts";
import { listSourceFiles } from "./create_files.ts";
import { type HashOptions, hashPieces } from "./create_hashing.ts";
import { CreateError } from "./errors.ts";
import type { InfoHash } from "./infohash.ts";
import { MAX_PIECE_LENGTH_BYTES, type Metainfo, MIN_PIECE_LENGTH_BYTES, parseMetainfo } from "./metainfo.ts";

export { CreateError } from "./errors.ts";
export * from "./create_files.ts";
export * from "./create_hashing.ts";

/** `auto` piece length: the smallest power of two giving at most this many pieces… */
export const AUTO_MAX_PIECES = 2000;
/** …but never below 16 KiB… */
export const AUTO_MIN_PIECE_LENGTH_BYTES = 16 * 1024;
/** …nor above 16 MiB. */
export const AUTO_MAX_PIECE_LENGTH_BYTES = 16 * 1024 * 1024;

/**
 * Piece length for `auto`: the smallest power of two from 16 KiB to 16 MiB that gives at most 2000 pieces,
 * i.e. 1001–2000 pieces unless clamped (1 GiB → 1 MiB pieces, 1024 of them).
 */
export function autoPieceLength(totalBytes: number): number {
  let pl = AUTO_MIN_PIECE_LENGTH_BYTES;
  while (pl < AUTO_MAX_PIECE_LENGTH_BYTES && Math.ceil(totalBytes / pl) > AUTO_MAX_PIECES) pl *= 2;
  return pl;
}

/**
 * Check an explicit piece length: a power of two from 16 KiB to 256 MiB.
 * @throws {CreateError} invalid_piece_length
 */
export function checkPieceLength(bytes: number): void {
  const isPowerOfTwo = Number.isSafeInteger(bytes) && bytes > 0 && 2 ** Math.round(Math.log2(bytes)) === bytes;
  if (!isPowerOfTwo || bytes < MIN_PIECE_LENGTH_BYTES || bytes > MAX_PIECE_LENGTH_BYTES) {
    throw new CreateError(
      "invalid_piece_length",
      `Invalid piece length: "${bytes}" must be a power of two from 16 KiB to 256 MiB (e.g. 262144, 1M)`,
    );
  }
}

/** Trackers, flags and text of a new torrent (what is not read from disk). */
export interface TorrentOptions {
  /** Tracker tiers (BEP 12): `announce` is the first URL; `announce-list` is written when there are several URLs. */
  announceTiers?: readonly (readonly string[])[];
  /** Sets `private=1` inside info (BEP 27): changes the info hash. */
  isPrivate?: boolean;
  comment?: string;
  /** Written inside info (changes the info hash), as mktorrent's `-s`. */
  source?: string;
  /** Web seeds (BEP 19): one is written as a string, several as a list, as mktorrent does. */
  webSeeds?: readonly string[];
  createdBy?: string;
  /** Seconds since the Unix epoch; omitted when undefined. */
  creationDate?: number;
}

/** Input of `encodeTorrent`. */
export interface TorrentLayout {
  name: string;
  pieceLength: number;
  pieceHashes: Uint8Array;
  /** Single-file torrent: the file's length; multi-file: the files (path under the folder). */
  content: { type: "single"; length: number } | { type: "multi"; files: readonly { path: string[]; length: number }[] };
}

/**
 * Bencode a new torrent. The info dict holds exactly what mktorrent writes: `files` or `length`, `name`,
 * `piece length`, `pieces`, `private` only when set, `source` only when given.
 * @throws {BencodeError} only on values bencode cannot hold (unsafe integers)
 */
export function encodeTorrent(layout: TorrentLayout, options: TorrentOptions = {}): Uint8Array {
  const info: Record<string, unknown> = {
    name: layout.name,
    "piece length": layout.pieceLength,
    pieces: layout.pieceHashes,
  };
  if (layout.content.type === "single") info.length = layout.content.length;
  else info.files = layout.content.files.map((f) => ({ length: f.length, path: f.path }));
  if (options.isPrivate === true) info.private = 1;
  if (options.source !== undefined) info.source = options.source;
  const tiers = (options.announceTiers ?? []).map((t) => [...t]).filter((t) => t.length > 0);
  const urlCount = tiers.reduce((n, t) => n + t.length, 0);
  const seeds = options.webSeeds ?? [];
  const top: Record<string, unknown> = { info };
  if (urlCount > 0) top.announce = tiers[0]![0]!;
  if (urlCount > 1) top["announce-list"] = tiers;
  if (options.comment !== undefined) top.comment = options.comment;
  if (options.createdBy !== undefined) top["created by"] = options.createdBy;
  if (options.creationDate !== undefined) top["creation date"] = options.creationDate;
  if (seeds.length === 1) top["url-list"] = seeds[0]!;
  else if (seeds.length > 1) top["url-list"] = [...seeds];
  return encodeBencode(top as Parameters<typeof encodeBencode>[0]);
}

/** Options of `createTorrent`. */
export interface CreateOptions extends TorrentOptions, HashOptions {
  /** Bytes (a power of two from 16 KiB) or "auto" (the default; see autoPieceLength). */
  pieceLength?: number | "auto";
  /** Globs of files and folders to leave out (see globToRegExp). */
  exclude?: readonly string[];
}

/** A new torrent. */
export interface CreatedTorrent {
  /** The .torrent file's bytes. */
  bytes: Uint8Array;
  infoHash: InfoHash;
  /** The torrent parsed back (our own validation ran on it). */
  metainfo: Metainfo;
}

/**
 * Make a torrent of the file or folder at `path`: same file order and info keys as mktorrent, so the same data and
 * options give the same info hash.
 * @throws {CreateError} not_found, broken_symlink, symlink_loop, unsafe_name, too_many_files, no_files, empty_data,
 *   invalid_piece_length, aborted
 * @throws {StorageError} read_failed, file_changed
 * @throws {BtoolError} sha1_unavailable (`sha1: "libc"` where it cannot be opened)
 */
export async function createTorrent(path: string, options: CreateOptions = {}): Promise<CreatedTorrent> {
  const pl = options.pieceLength ?? "auto";
  if (pl !== "auto") checkPieceLength(pl);
  const tree = await listSourceFiles(path, options.exclude === undefined ? {} : { exclude: options.exclude });
  if (tree.totalLength === 0) {
    throw new CreateError("empty_data", `Cannot create torrent: "${path}" holds no data (every file is empty)`);
  }
  const pieceLength = pl === "auto" ? autoPieceLength(tree.totalLength) : pl;
  const pieceHashes = await hashPieces(tree.files, pieceLength, options);
  const bytes = encodeTorrent({
    name: tree.name,
    pieceLength,
    pieceHashes,
    content: tree.isSingleFile
      ? { type: "single", length: tree.totalLength }
      : { type: "multi", files: tree.files.map((f) => ({ path: f.path, length: f.length })) },
  }, options);
  const metainfo = await parseMetainfo(bytes);
  return { bytes, infoHash: metainfo.infoHash, metainfo };
}
