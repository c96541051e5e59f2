// Partial pieces of one torrent: which peer sent each block (for bans), pieces assembled in memory under a byte cap
// (bigger or later ones go to disk block by block), a pool of piece-sized buffers, and which ranges of a piece
// belong to the selected files (--only). Pure: no I/O; the session writes and verifies.

import type { Metainfo } from "../metainfo.ts";
import { pieceSegments } from "../file_map.ts";
import { BLOCK_BYTES, pieceSize } from "../pieces.ts";
import type { PieceRange } from "../storage/piece_writer.ts";

/** Pieces up to this size are assembled in memory, hashed, then written at once. */
export const MAX_BUFFERED_PIECE_BYTES = 16 * 1024 * 1024;
/** Bytes of partial pieces held in memory at once (live plus pooled); further pieces are written block by block. */
export const MAX_PIECE_BUFFER_BYTES = 32 * 1024 * 1024;

/** Where an accepted block went. */
export type Placement =
  /** Copied into the piece's buffer; `complete` is that buffer when this block finished the piece. */
  | { type: "buffered"; complete: Uint8Array | null }
  /** Not buffered: the caller writes the block to disk (and verifies from disk when the piece is complete). */
  | { type: "direct" };

/** Block bookkeeping and in-memory assembly of one torrent's partial pieces. */
export class BlockAssembler {
  #meta: Metainfo;
  #selected: ReadonlySet<number> | null;
  /** Per partial piece, the session id of each block's sender. */
  #sources = new Map<number, (string | null)[]>();
  /** Partial pieces assembled in memory (null: written block by block). */
  #buffers = new Map<number, Uint8Array | null>();
  #bufferedBytes = 0;
  /** Free piece-sized buffers (with the live ones, at most MAX_PIECE_BUFFER_BYTES). */
  #pool: Uint8Array[] = [];

  constructor(meta: Metainfo, selectedFiles: ReadonlySet<number> | null) {
    this.#meta = meta;
    this.#selected = selectedFiles;
  }

  /** Bytes of piece buffers in use (assembling, or handed out and not yet released). */
  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  /** Take an accepted block from `source`; `isPieceComplete` when the picker says it was the piece's last. */
  add(
    index: number,
    begin: number,
    block: Uint8Array,
    source: string,
    isPieceComplete: boolean,
  ): Placement {
    const size = pieceSize(this.#meta, index);
    let sources = this.#sources.get(index);
    if (sources === undefined) {
      sources = new Array<string | null>(Math.ceil(size / BLOCK_BYTES)).fill(null);
      this.#sources.set(index, sources);
    }
    sources[begin / BLOCK_BYTES] = source;
    let buffer = this.#buffers.get(index);
    if (buffer === undefined) {
      // Pieces shared with unselected files (--only) are always assembled in memory: only part is written.
      const isBuffered = (size <= MAX_BUFFERED_PIECE_BYTES && this.#bufferedBytes + size <= MAX_PIECE_BUFFER_BYTES) ||
        !this.isWholePieceSelected(index);
      buffer = isBuffered
        ? (size === this.#meta.pieceLength ? this.#pool.pop() : undefined) ?? new Uint8Array(size)
        : null;
      if (buffer !== null) this.#bufferedBytes += size;
      this.#buffers.set(index, buffer);
    }
    if (isPieceComplete) this.#buffers.delete(index);
    if (buffer === null) return { type: "direct" };
    // Assemble in memory: one hash, one write per piece, and bad data never reaches the disk.
    buffer.set(block, begin);
    return { type: "buffered", complete: isPieceComplete ? buffer : null };
  }

  /** The sender of each block of piece `index` (null: not received); the record is dropped. */
  takeSources(index: number): (string | null)[] {
    const sources = this.#sources.get(index) ?? [];
    this.#sources.delete(index);
    return sources;
  }

  /**
   * A buffer of `size` bytes handed out by `add` is done with; `data` (the same bytes, back from the piece Worker)
   * is pooled for the next piece when it is full-size and the cap allows.
   */
  release(size: number, data: Uint8Array | null): void {
    this.#bufferedBytes -= size;
    // Every block of the next piece overwrites its span before the piece is complete, so reuse needs no clearing.
    if (
      data !== null && data.length === this.#meta.pieceLength &&
      this.#bufferedBytes + (this.#pool.length + 1) * size <= MAX_PIECE_BUFFER_BYTES
    ) {
      this.#pool.push(data);
    }
  }

  /** The ranges of piece `index` to write (those in selected files), or null for all of it. */
  selectedRanges(index: number): PieceRange[] | null {
    const selected = this.#selected;
    if (selected === null || this.isWholePieceSelected(index)) return null;
    const meta = this.#meta;
    const start = index * meta.pieceLength;
    const ranges: PieceRange[] = [];
    for (const seg of pieceSegments(meta, index)) {
      if (!selected.has(seg.fileIndex)) continue;
      ranges.push({ begin: meta.files[seg.fileIndex]!.offset + seg.fileOffset - start, length: seg.length });
    }
    return ranges;
  }

  /** Every byte of piece `index` lies in a selected file (or padding). */
  isWholePieceSelected(index: number): boolean {
    const selected = this.#selected;
    if (selected === null) return true;
    return pieceSegments(this.#meta, index).every((seg) =>
      selected.has(seg.fileIndex) || this.#meta.files[seg.fileIndex]!.isPadding
    );
  }
}
