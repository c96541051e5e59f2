// Piece geometry (BEP 3): piece sizes (the last one may be short), 16 KiB block spans, index and request checks.
// Pure arithmetic over a validated Metainfo; no I/O. Out-of-range indexes throw BtoolError("piece_range").

import { BtoolError } from "./errors.ts";
import type { Metainfo } from "./metainfo.ts";

/** Size of a request block: every client asks for 16 KiB (the last block of the last piece may be shorter). */
export const BLOCK_BYTES = 16384;
/** Bytes of one SHA-1 piece hash. */
export const PIECE_HASH_BYTES = 20;

/** The fields piece geometry needs. */
export type PieceGeometry = Pick<Metainfo, "pieceLength" | "totalLength" | "pieceCount">;

/** A byte range inside one piece. */
export interface BlockSpan {
  begin: number;
  length: number;
}

/** Number of pieces for `totalLength` bytes in pieces of `pieceLength`. */
export function pieceCountFor(totalLength: number, pieceLength: number): number {
  return Math.ceil(totalLength / pieceLength);
}

/** True when `index` names a piece of this torrent. */
export function isPieceIndex(meta: PieceGeometry, index: number): boolean {
  return Number.isSafeInteger(index) && index >= 0 && index < meta.pieceCount;
}

function checkIndex(meta: PieceGeometry, index: number): void {
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
 * Number of 16 KiB blocks in piece `index`.
 * @throws {BtoolError} piece_range
 */
export function blockCount(meta: PieceGeometry, index: number): number {
  return Math.ceil(pieceSize(meta, index) / BLOCK_BYTES);
}

/**
 * Span of block `block` of piece `index`.
 * @throws {BtoolError} piece_range (bad piece or block index)
 */
export function blockSpan(meta: PieceGeometry, index: number, block: number): BlockSpan {
  const size = pieceSize(meta, index);
  const begin = block * BLOCK_BYTES;
  if (!Number.isSafeInteger(block) || block < 0 || begin >= size) {
    throw new BtoolError("piece_range", `Invalid block index: "${block}" is outside piece ${index}`);
  }
  return { begin, length: Math.min(BLOCK_BYTES, size - begin) };
}

/**
 * Every block span of piece `index`, in order.
 * @throws {BtoolError} piece_range
 */
export function blockSpans(meta: PieceGeometry, index: number): BlockSpan[] {
  const size = pieceSize(meta, index);
  const out: BlockSpan[] = [];
  for (let begin = 0; begin < size; begin += BLOCK_BYTES) {
    out.push({ begin, length: Math.min(BLOCK_BYTES, size - begin) });
  }
  return out;
}

/** Index of the block starting at `begin` (requests must be block-aligned to count as one block). */
export function blockIndexAt(begin: number): number {
  return Math.floor(begin / BLOCK_BYTES);
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
  if (!Number.isSafeInteger(index) || index < 0 || index >= meta.pieceCount) {
    throw new BtoolError("piece_range", `Invalid piece index: "${index}" is outside 0..${meta.pieceCount - 1}`);
  }
  return meta.pieceHashes.subarray(index * PIECE_HASH_BYTES, (index + 1) * PIECE_HASH_BYTES);
}
