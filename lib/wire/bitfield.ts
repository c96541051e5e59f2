// Bitfield (BEP 3): one bit per piece, high bit of byte 0 is piece 0; spare bits at the end must be zero.
// Holds which pieces a peer (or we) have. Pure; decoding checks length and spare bits, never trusts the wire.

import { WireError } from "../errors.ts";

const POPCOUNT: Uint8Array = Uint8Array.from({ length: 256 }, (_, i) => {
  let n = 0;
  for (let v = i; v !== 0; v &= v - 1) n++;
  return n;
});

/** A set of piece indexes in 0..pieceCount-1, stored as BEP 3 bitfield bytes. */
export class Bitfield {
  #bytes: Uint8Array;
  #pieceCount: number;
  #count = 0;

  /** An empty bitfield (or a full one with `isFull`). */
  constructor(pieceCount: number, options: { isFull?: boolean } = {}) {
    if (!Number.isSafeInteger(pieceCount) || pieceCount < 0) {
      throw new WireError("bitfield_piece_count", `Invalid bitfield: piece count "${pieceCount}"`);
    }
    this.#pieceCount = pieceCount;
    this.#bytes = new Uint8Array(Math.ceil(pieceCount / 8));
    if (options.isFull) {
      this.#bytes.fill(0xff);
      const spare = this.#bytes.length * 8 - pieceCount;
      if (spare > 0) this.#bytes[this.#bytes.length - 1] = (0xff << spare) & 0xff;
      this.#count = pieceCount;
    }
  }

  /**
   * Decode a bitfield message's payload (copied, so the input may be reused).
   * @throws {WireError} bitfield_length when `bytes` is not ceil(pieceCount / 8) long; bitfield_spare_bits when a
   * bit past the last piece is set
   */
  static fromBytes(bytes: Uint8Array, pieceCount: number): Bitfield {
    const field = new Bitfield(pieceCount);
    if (bytes.length !== field.#bytes.length) {
      throw new WireError(
        "bitfield_length",
        `Invalid bitfield: "${bytes.length}" bytes for ${pieceCount} pieces (want ${field.#bytes.length})`,
      );
    }
    const spare = bytes.length * 8 - pieceCount;
    if (spare > 0 && (bytes[bytes.length - 1]! & ((1 << spare) - 1)) !== 0) {
      throw new WireError("bitfield_spare_bits", `Invalid bitfield: spare bits set past piece ${pieceCount - 1}`);
    }
    field.#bytes.set(bytes);
    let count = 0;
    for (let i = 0; i < bytes.length; i++) count += POPCOUNT[bytes[i]!]!;
    field.#count = count;
    return field;
  }

  /** Number of pieces this bitfield covers. */
  get pieceCount(): number {
    return this.#pieceCount;
  }

  /** Number of pieces set. */
  get count(): number {
    return this.#count;
  }

  /** True when every piece is set (a zero-piece bitfield is complete). */
  get isComplete(): boolean {
    return this.#count === this.#pieceCount;
  }

  /** True when no piece is set. */
  get isEmpty(): boolean {
    return this.#count === 0;
  }

  /** Whether piece `index` is set; false for an index outside the range. */
  has(index: number): boolean {
    if (!this.#isIndex(index)) return false;
    return (this.#bytes[index >> 3]! & (0x80 >> (index & 7))) !== 0;
  }

  /**
   * Set piece `index`; returns true when it was not set before.
   * @throws {WireError} bitfield_index when `index` is outside 0..pieceCount-1
   */
  set(index: number): boolean {
    this.#check(index);
    const mask = 0x80 >> (index & 7);
    const at = index >> 3;
    if ((this.#bytes[at]! & mask) !== 0) return false;
    this.#bytes[at] = this.#bytes[at]! | mask;
    this.#count++;
    return true;
  }

  /** The bitfield message payload (a copy). */
  toBytes(): Uint8Array {
    return this.#bytes.slice();
  }

  /** A copy of this bitfield. */
  clone(): Bitfield {
    return Bitfield.fromBytes(this.#bytes, this.#pieceCount);
  }

  /** Set piece indexes in ascending order. */
  *setIndexes(): IterableIterator<number> {
    const bytes = this.#bytes;
    for (let at = 0; at < bytes.length; at++) {
      const b = bytes[at]!;
      if (b === 0) continue;
      for (let bit = 0; bit < 8; bit++) if ((b & (0x80 >> bit)) !== 0) yield at * 8 + bit;
    }
  }

  #isIndex(index: number): boolean {
    return Number.isSafeInteger(index) && index >= 0 && index < this.#pieceCount;
  }

  #check(index: number): void {
    if (!this.#isIndex(index)) {
      throw new WireError("bitfield_index", `Invalid piece index: "${index}" is outside 0..${this.#pieceCount - 1}`);
    }
  }
}
