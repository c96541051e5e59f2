// Maps byte ranges of a torrent's concatenated data onto its files (pieces straddle file boundaries, BEP 3),
// and joins safe path components (lib/safe_path.ts makes them) into relative paths. Pure: no I/O, never joins with
// an outside directory.

import { BtoolError } from "./errors.ts";
import { checkPathComponent, type Metainfo, type TorrentFile } from "./metainfo.ts";
import { pieceOffset, pieceSize } from "./pieces.ts";

/** A piece of a byte range that falls in one file. */
export interface FileSegment {
  /** Index into `Metainfo.files`. */
  fileIndex: number;
  /** Offset inside that file. */
  fileOffset: number;
  length: number;
}

/** Index of the first file whose data ends after `offset` (binary search over sorted offsets). */
function firstFileAfter(files: readonly TorrentFile[], offset: number): number {
  let lo = 0;
  let hi = files.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const f = files[mid]!;
    if (f.offset + f.length <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The file segments covering [offset, offset + length) of the concatenated data, in order. Zero-length files are
 * skipped. An empty range gives no segments.
 * @throws {BtoolError} file_range when the range is negative or runs past the end of the data
 */
export function mapRange(files: readonly TorrentFile[], offset: number, length: number): FileSegment[] {
  const last = files[files.length - 1];
  const total = last === undefined ? 0 : last.offset + last.length;
  if (
    !Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 ||
    offset + length > total
  ) {
    throw new BtoolError("file_range", `Invalid byte range: "${offset}+${length}" is outside 0..${total}`);
  }
  const out: FileSegment[] = [];
  let at = offset;
  const end = offset + length;
  for (let i = firstFileAfter(files, offset); at < end && i < files.length; i++) {
    const f = files[i]!;
    if (f.length === 0) continue;
    const fileOffset = at - f.offset;
    const n = Math.min(f.length - fileOffset, end - at);
    out.push({ fileIndex: i, fileOffset, length: n });
    at += n;
  }
  return out;
}

/**
 * The file segments of piece `index`.
 * @throws {BtoolError} piece_range
 */
export function pieceSegments(
  meta: Pick<Metainfo, "files" | "pieceLength" | "totalLength" | "pieceCount">,
  index: number,
): FileSegment[] {
  return mapRange(meta.files, pieceOffset(meta, index), pieceSize(meta, index));
}

/**
 * The pieces that hold bytes of file `fileIndex`: `{ first, last }` inclusive, or null for a zero-length file.
 * @throws {BtoolError} file_range when there is no such file
 */
export function filePieces(
  meta: Pick<Metainfo, "files" | "pieceLength">,
  fileIndex: number,
): { first: number; last: number } | null {
  const f = meta.files[fileIndex];
  if (f === undefined) throw new BtoolError("file_range", `Invalid file index: "${fileIndex}"`);
  if (f.length === 0) return null;
  return {
    first: Math.floor(f.offset / meta.pieceLength),
    last: Math.floor((f.offset + f.length - 1) / meta.pieceLength),
  };
}

/**
 * Join path components into a relative path with `/`. A guard: parsed torrents' paths are already safe
 * (lib/safe_path.ts), so this refuses only what parsing never gives: no components, or one that is not safe
 * (empty, `.`, `..`, holding `/`, `\`, a control character... so nothing can leave the download folder).
 * @throws {MetainfoError} unsafe_path
 */
export function safeRelativePath(components: readonly string[]): string {
  if (components.length === 0) checkPathComponent("", "path");
  components.forEach((c, i) => checkPathComponent(c, `path[${i}]`));
  return components.join("/");
}
