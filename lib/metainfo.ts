// Parses and validates v1 .torrent files (BEP 3, 12, 19, 27, 47 padding files) into a trusted `Metainfo`; builds magnet links (BEP 9).
// The info hash is SHA-1 of the raw `info` bytes exactly as in the file, never re-encoded.
// Must not touch files or print: callers hand in bytes and get a value or a MetainfoError/BencodeError.

import { type BencodeDict, type BencodeValue, decodeBencode, isBytes, isDict, rawValue } from "./bencode.ts";
import { MetainfoError } from "./errors.ts";
import { InfoHash } from "./infohash.ts";
import { isSafePathComponent, safePathComponent, safeTorrentPaths } from "./safe_path.ts";

/** One file of a torrent, in the torrent's order. */
export interface TorrentFile {
  /**
   * Safe components relative to the download dir, including the torrent name: `[name]` or `[name, ...path]`, made
   * safe and collision-free by lib/safe_path.ts (issue #19). Where the file is read and written.
   */
  path: string[];
  /** The components as the torrent lists them, when they differ from `path`. */
  torrentPath?: string[];
  /** Size in bytes (may be 0). */
  length: number;
  /** Byte offset of the file in the torrent's concatenated data. */
  offset: number;
  /**
   * A BEP 47 padding file (`attr` holds "p", or BitComet's `_____padding_file_` name): zeros that align the next
   * file to a piece boundary in hybrid v1+v2 torrents. Never read from or written to disk. Absent for real files.
   */
  isPadding?: true;
}

/** A validated v1 torrent. Everything further in trusts these values. */
export interface Metainfo {
  infoHash: InfoHash;
  /** The `info` value's bytes exactly as in the file. */
  rawInfo: Uint8Array;
  name: string;
  pieceLength: number;
  /** 20 bytes of SHA-1 per piece. */
  pieceHashes: Uint8Array;
  pieceCount: number;
  totalLength: number;
  /** Always a list, also for single-file torrents (then one entry with path `[name]`). */
  files: TorrentFile[];
  isMultiFile: boolean;
  isPrivate: boolean;
  announce: string | null;
  /** Tracker tiers (BEP 12); `[[announce]]` when there is no `announce-list`, `[]` when there is no tracker. */
  announceList: string[][];
  comment: string | null;
  createdBy: string | null;
  /** Seconds since the Unix epoch. */
  creationDate: number | null;
  source: string | null;
  /** Web seeds (BEP 19). */
  urlList: string[];
}

/** Smallest piece length accepted (one 16 KiB block). */
export const MIN_PIECE_LENGTH_BYTES = 16 * 1024;
/** Largest piece length accepted: 256 MiB (mktorrent's `-l 28`); larger pieces are not seen in the wild. */
export const MAX_PIECE_LENGTH_BYTES = 256 * 1024 * 1024;
/** Cap on the number of files in one torrent: a hostile file list costs bounded memory. */
export const MAX_FILES = 1_000_000;
/** Cap on path components per file. */
export const MAX_PATH_DEPTH = 256;

const UTF8_FATAL = new TextDecoder("utf-8", { fatal: true });
const UTF8_LOOSE = new TextDecoder("utf-8");

function fail(code: string, field: string, detail: string): never {
  throw new MetainfoError(code, `Invalid torrent field "${field}": ${detail}`, { field });
}

function getInt(dict: BencodeDict, key: string, field: string): number {
  const v = dict.get(key);
  if (v === undefined) fail("missing_field", field, "missing");
  if (typeof v !== "number") fail("wrong_type", field, "expected an integer");
  return v;
}

function getBytes(dict: BencodeDict, key: string, field: string): Uint8Array {
  const v = dict.get(key);
  if (v === undefined) fail("missing_field", field, "missing");
  if (!isBytes(v)) fail("wrong_type", field, "expected a byte string");
  return v;
}

/** Optional text outside the info dict: wrong types are ignored (clients are lenient there), bad UTF-8 replaced. */
function optText(dict: BencodeDict, key: string): string | null {
  const v = dict.get(key);
  return isBytes(v) ? UTF8_LOOSE.decode(v) : null;
}

function decodeName(v: Uint8Array, field: string): string {
  try {
    return UTF8_FATAL.decode(v);
  } catch (err: unknown) {
    throw new MetainfoError("invalid_utf8", `Invalid torrent field "${field}": not valid UTF-8`, { field, cause: err });
  }
}

/**
 * Check that one path component (a file or folder name) is already safe (lib/safe_path.ts): not empty, `.` or
 * `..`, no `/`, `\`, control or direction character, no character or device name Windows refuses, no trailing dot
 * or space. Parsing never needs it (it makes names safe); create (names from disk) and storage's guard do.
 * @throws {MetainfoError} unsafe_path
 */
export function checkPathComponent(component: string, field: string): void {
  if (component === "") fail("unsafe_path", field, "empty path component");
  if (component === "." || component === "..") fail("unsafe_path", field, `path component "${component}"`);
  if (!isSafePathComponent(component)) {
    fail(
      "unsafe_path",
      field,
      `path component "${component}" is not portable (safe form "${safePathComponent(component)}")`,
    );
  }
}

/**
 * A name or path component: the `.utf-8` variant when present (as libtorrent and Transmission prefer it for
 * torrents from non-UTF-8 systems), otherwise the plain key. Both must be valid UTF-8.
 */
function readName(dict: BencodeDict, key: string, field: string): string {
  const alt = dict.get(`${key}.utf-8`);
  if (isBytes(alt)) {
    try {
      return UTF8_FATAL.decode(alt);
    } catch {
      // fall back to the plain key
    }
  }
  return decodeName(getBytes(dict, key, field), field);
}

function readPath(dict: BencodeDict, field: string): string[] {
  const alt = dict.get("path.utf-8");
  let list: BencodeValue | undefined = dict.get("path");
  let fieldName = `${field}.path`;
  if (Array.isArray(alt) && alt.length > 0 && alt.every((c) => isBytes(c) && isUtf8(c))) {
    list = alt;
    fieldName = `${field}.path.utf-8`;
  }
  if (list === undefined) fail("missing_field", fieldName, "missing");
  if (!Array.isArray(list)) fail("wrong_type", fieldName, "expected a list");
  if (list.length === 0) fail("unsafe_path", fieldName, "empty path");
  if (list.length > MAX_PATH_DEPTH) fail("unsafe_path", fieldName, `more than ${MAX_PATH_DEPTH} components`);
  return list.map((c, i) => {
    if (!isBytes(c)) fail("wrong_type", `${fieldName}[${i}]`, "expected a byte string");
    return decodeName(c, `${fieldName}[${i}]`);
  });
}

function isUtf8(b: Uint8Array): boolean {
  try {
    UTF8_FATAL.decode(b);
    return true;
  } catch {
    return false;
  }
}

function readLength(dict: BencodeDict, field: string): number {
  const n = getInt(dict, "length", field);
  if (n < 0) fail("invalid_length", field, `"${n}" is negative`);
  return n;
}

function readTrackers(top: BencodeDict, announce: string | null): string[][] {
  const list = top.get("announce-list");
  const tiers: string[][] = [];
  if (Array.isArray(list)) {
    for (const tier of list) {
      if (!Array.isArray(tier)) continue;
      const urls: string[] = [];
      for (const url of tier) {
        if (!isBytes(url)) continue;
        const text = UTF8_LOOSE.decode(url).trim();
        if (text !== "" && !urls.includes(text)) urls.push(text);
      }
      if (urls.length > 0) tiers.push(urls);
    }
  }
  // BEP 12: when announce-list is present, clients use it and ignore announce.
  if (tiers.length > 0) return tiers;
  return announce === null || announce === "" ? [] : [[announce]];
}

function readUrlList(top: BencodeDict): string[] {
  const v = top.get("url-list");
  // BEP 19: a single URL may be given as a string instead of a list.
  const items = isBytes(v) ? [v] : Array.isArray(v) ? v : [];
  const out: string[] = [];
  for (const item of items) {
    if (!isBytes(item)) continue;
    const text = UTF8_LOOSE.decode(item).trim();
    if (text !== "") out.push(text);
  }
  return out;
}

/**
 * Parse and validate a v1 .torrent file.
 *
 * Decoding is lenient about key order (`isStrict: false`) everywhere: real torrents with unsorted keys exist, and
 * the info hash comes from the raw bytes, so order cannot change it. Duplicate keys are refused (bencode).
 * Optional fields outside `info` of the wrong type are ignored; everything inside `info` is checked.
 * @throws {BencodeError} any decode code
 * @throws {MetainfoError} not_a_dict, missing_field, wrong_type, invalid_piece_length, invalid_pieces,
 *   piece_count_mismatch, invalid_length, ambiguous_layout, empty_torrent, too_many_files, unsafe_path (a file
 *   with an empty path list), invalid_utf8. Unsafe or colliding names are not refused: see lib/safe_path.ts.
 */
export async function parseMetainfo(bytes: Uint8Array): Promise<Metainfo> {
  const top = decodeBencode(bytes, { isStrict: false });
  if (!isDict(top)) fail("not_a_dict", "", "the file is not a bencoded dictionary");
  const info = top.get("info");
  if (info === undefined) fail("missing_field", "info", "missing");
  if (!isDict(info)) fail("wrong_type", "info", "expected a dictionary");
  const rawInfo = rawValue(bytes, ["info"], { isStrict: false }).slice();

  const pieceLength = getInt(info, "piece length", "info.piece length");
  if (
    pieceLength < MIN_PIECE_LENGTH_BYTES || pieceLength > MAX_PIECE_LENGTH_BYTES ||
    (pieceLength & (pieceLength - 1)) !== 0
  ) {
    fail("invalid_piece_length", "info.piece length", `"${pieceLength}" is not a power of two in 16 KiB..256 MiB`);
  }
  const pieces = getBytes(info, "pieces", "info.pieces");
  if (pieces.length % 20 !== 0) {
    fail("invalid_pieces", "info.pieces", `length ${pieces.length} is not a multiple of 20`);
  }

  const name = readName(info, "name", "info.name");

  const filesValue = info.get("files");
  const hasLength = info.has("length");
  if (filesValue !== undefined && hasLength) {
    fail("ambiguous_layout", "info", `both "length" and "files" are present`);
  }
  const files: TorrentFile[] = [];
  let totalLength = 0;
  const isMultiFile = filesValue !== undefined;
  if (isMultiFile) {
    if (!Array.isArray(filesValue)) fail("wrong_type", "info.files", "expected a list");
    if (filesValue.length === 0) fail("empty_torrent", "info.files", "the file list is empty");
    if (filesValue.length > MAX_FILES) fail("too_many_files", "info.files", `more than ${MAX_FILES} files`);
    filesValue.forEach((entry, i) => {
      const field = `info.files[${i}]`;
      if (!isDict(entry)) fail("wrong_type", field, "expected a dictionary");
      const length = readLength(entry, `${field}.length`);
      const path = readPath(entry, field);
      const attr = entry.get("attr");
      const isPadding = (isBytes(attr) && attr.includes(0x70)) || path.at(-1)!.startsWith("_____padding_file_");
      files.push({ path: [name, ...path], length, offset: totalLength, ...(isPadding ? { isPadding: true } : {}) });
      totalLength += length;
      if (!Number.isSafeInteger(totalLength)) fail("invalid_length", `${field}.length`, "total size is too large");
    });
  } else {
    if (!hasLength) fail("missing_field", "info.length", `neither "length" nor "files" is present`);
    totalLength = readLength(info, "info.length");
    files.push({ path: [name], length: totalLength, offset: 0 });
  }
  if (totalLength === 0) fail("empty_torrent", "info", "the torrent holds no data");
  makePathsSafe(files, isMultiFile);

  const pieceCount = Math.ceil(totalLength / pieceLength);
  if (pieces.length !== pieceCount * 20) {
    fail(
      "piece_count_mismatch",
      "info.pieces",
      `holds ${pieces.length / 20} hashes but ${totalLength} bytes in pieces of ${pieceLength} need ${pieceCount}`,
    );
  }

  const announceBytes = top.get("announce");
  const announce = isBytes(announceBytes) ? UTF8_LOOSE.decode(announceBytes).trim() || null : null;
  const creation = top.get("creation date");
  const sourceValue = info.get("source");
  return {
    infoHash: await InfoHash.fromInfoBytes(rawInfo),
    rawInfo,
    name,
    pieceLength,
    pieceHashes: pieces.slice(),
    pieceCount,
    totalLength,
    files,
    isMultiFile,
    // BEP 27: only private=1 makes a torrent private.
    isPrivate: info.get("private") === 1,
    announce,
    announceList: readTrackers(top, announce),
    comment: optText(top, "comment"),
    createdBy: optText(top, "created by"),
    creationDate: typeof creation === "number" ? creation : null,
    source: isBytes(sourceValue) ? UTF8_LOOSE.decode(sourceValue) : null,
    urlList: readUrlList(top),
  };
}

/** Give each file its safe path (issue #19), keeping the torrent's own in `torrentPath` where they differ. */
function makePathsSafe(files: TorrentFile[], isMultiFile: boolean): void {
  const safe = safeTorrentPaths(files.map((f) => f.path), {
    isMultiFile,
    isPadding: files.map((f) => f.isPadding === true),
  });
  files.forEach((f, i) => {
    const path = safe[i]!;
    if (path.length === f.path.length && path.every((c, j) => c === f.path[j])) return;
    f.torrentPath = f.path;
    f.path = path;
  });
}

/**
 * A magnet link (BEP 9): `xt` info hash in hex, `dn` name, `tr` every tracker (tiers flattened, in order),
 * `ws` web seeds. Values are percent-encoded as URI components.
 */
export function magnetLink(meta: Metainfo): string {
  const parts = [`xt=urn:btih:${meta.infoHash.hex}`, `dn=${encodeURIComponent(meta.name)}`];
  const seen = new Set<string>();
  for (const tier of meta.announceList) {
    for (const url of tier) {
      if (seen.has(url)) continue;
      seen.add(url);
      parts.push(`tr=${encodeURIComponent(url)}`);
    }
  }
  for (const url of meta.urlList) parts.push(`ws=${encodeURIComponent(url)}`);
  return `magnet:?${parts.join("&")}`;
}
