// Piece geometry (BEP 3): piece sizes (the last one may be short), offsets, hashes, index and request checks.
// Pure arithmetic over a validated Metainfo; no I/O. Out-of-range indexes throw BtoolError("piece_range").

import { BtoolError } from "./errors.ts";
import type { Metainfo } from "./metainfo.ts";

/** Size of a request block: every client asks for 16 KiB (the last block of the last piece may be shorter). */
export const BLOCK_BYTES = 16384;
/** Bytes of one SHA-1 piece hash. */
export const PIECE_HASH_BYTES = 20;

/** The fields piece geometry needs. */
export type PieceGeometry = Pick<Metainfo, "pieceLength" | "totalLength" | "pieceCount">;

/** True when `index` names a piece of this torrent. */
export function isPieceIndex(meta: Pick<PieceGeometry, "pieceCount">, index: number): boolean {
  return Number.isSafeInteger(index) && index >= 0 && index < meta.pieceCount;
}

function checkIndex(meta: Pick<PieceGeometry, "pieceCount">, index: number): void {
  if (!isPieceIndex(meta, index)) {
    throw new BtoolError("piece_range", `Invalid piece index: "${index}" is outside 0..${meta.pieceCount - 1}`);
  }
}

/**
 * Size in bytes of piece `index`: `pieceLength`, except a shorter last piece.
 * @throws {BtoolError} piece_range
 */
export function pieceSize(meta: PieceGeometry, index: number): number {
  checkIndex(meta, index);
  if (index < meta.pieceCount - 1) return meta.pieceLength;
  return meta.totalLength - (meta.pieceCount - 1) * meta.pieceLength;
}

/**
 * Byte offset of piece `index` in the torrent's concatenated data.
 * @throws {BtoolError} piece_range
 */
export function pieceOffset(meta: PieceGeometry, index: number): number {
  checkIndex(meta, index);
  return index * meta.pieceLength;
}

/**
 * True when (index, begin, length) is a request inside one piece: valid index, `begin` ≥ 0, 0 < `length` ≤
 * `maxLength` (default BLOCK_BYTES), and begin + length within the piece. Use it on peer requests before reading.
 */
export function isValidRequest(
  meta: PieceGeometry,
  request: { index: number; begin: number; length: number },
  options: { maxLength?: number } = {},
): boolean {
  const { index, begin, length } = request;
  if (!isPieceIndex(meta, index)) return false;
  if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(length)) return false;
  if (begin < 0 || length <= 0 || length > (options.maxLength ?? BLOCK_BYTES)) return false;
  return begin + length <= pieceSize(meta, index);
}

/**
 * The expected SHA-1 of piece `index` (a view into `meta.pieceHashes`).
 * @throws {BtoolError} piece_range
 */
export function pieceHash(meta: Pick<Metainfo, "pieceHashes" | "pieceCount">, index: number): Uint8Array {
  checkIndex(meta, index);
  return meta.pieceHashes.subarray(index * PIECE_HASH_BYTES, (index + 1) * PIECE_HASH_BYTES);
}
