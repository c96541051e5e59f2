// Piece rarity for the picker (BEP 3 "rarest first"): how many connected peers have each piece, how many counted
// pieces sit at each availability level, and a scan in one random order that stops at the rarest level. Pure:
// randomness is injected; which pieces count (missing and wanted) and which are verified is the picker's to say.
//
// Invariant: #bucket[a] = the number of counted pieces (options.isCounted) with availability a. The owner keeps it by
// calling leave(i) before a change that may stop piece i counting and enter(i) after one that may start it.

/** Options of `PieceRarity`. */
export interface PieceRarityOptions {
  /** Injected randomness in [0, 1): the scan order (ties) and the random-first start. */
  random: () => number;
  /** True for a piece the buckets count: missing (not started, not verified) and wanted. */
  isCounted(index: number): boolean;
  /** True for a verified piece: scans drop it from their order for good. */
  isVerified(index: number): boolean;
}

/** Availability per piece and the rarest-first choice among candidates. */
export class PieceRarity {
  #pieceCount: number;
  #random: () => number;
  #isCounted: (index: number) => boolean;
  #isVerified: (index: number) => boolean;
  #availability: Uint32Array;
  /** A random permutation of piece indexes: scan order, so availability ties break at random. */
  #order: Uint32Array;
  /** #order[0..#orderLength) may still hold pieces we lack; verified pieces are swapped out as scans meet them. */
  #orderLength: number;
  /** #bucket[a] = number of counted pieces with availability a (so the rarest level is known at once). */
  #bucket: number[] = [0];

  /** Draws pieceCount - 1 random numbers (the shuffle); counts nothing until `recount()`. */
  constructor(pieceCount: number, options: PieceRarityOptions) {
    this.#pieceCount = pieceCount;
    this.#random = options.random;
    this.#isCounted = options.isCounted;
    this.#isVerified = options.isVerified;
    this.#availability = new Uint32Array(pieceCount);
    this.#order = new Uint32Array(pieceCount);
    this.#orderLength = pieceCount;
    for (let i = 0; i < pieceCount; i++) this.#order[i] = i;
    for (let i = pieceCount - 1; i > 0; i--) {
      const j = Math.floor(this.#random() * (i + 1));
      const t = this.#order[i]!;
      this.#order[i] = this.#order[j]!;
      this.#order[j] = t;
    }
  }

  /** How many connected peers have piece `index`. */
  availability(index: number): number {
    return this.#availability[index] ?? 0;
  }

  /** Rebuild the buckets from scratch (the counted set changed wholesale, e.g. a new wanted mask). */
  recount(): void {
    this.#bucket = [0];
    for (let i = 0; i < this.#pieceCount; i++) this.enter(i);
  }

  /** Count piece `index` at its availability, if it is counted now. */
  enter(index: number): void {
    if (!this.#isCounted(index)) return;
    const a = this.#availability[index]!;
    while (this.#bucket.length <= a) this.#bucket.push(0);
    this.#bucket[a] = this.#bucket[a]! + 1;
  }

  /** Stop counting piece `index`, if it is counted now. */
  leave(index: number): void {
    if (!this.#isCounted(index)) return;
    const a = this.#availability[index]!;
    this.#bucket[a] = this.#bucket[a]! - 1;
  }

  /** `delta` more (or, negative, fewer) connected peers have piece `index`. */
  add(index: number, delta: number): void {
    this.leave(index);
    this.#availability[index] = this.#availability[index]! + delta;
    this.enter(index);
  }

  /** True when some counted piece is available from at least one connected peer. */
  hasAvailable(): boolean {
    for (let a = 1; a < this.#bucket.length; a++) if (this.#bucket[a]! > 0) return true;
    return false;
  }

  /** The first candidate in scan order from a random start (the random-first phase), or -1. */
  randomPiece(isCandidate: (index: number) => boolean): number {
    const n = this.#pieceCount;
    if (n === 0) return -1;
    const start = Math.floor(this.#random() * n);
    for (let k = 0; k < n; k++) {
      const i = this.#order[(start + k) % n]!;
      if (isCandidate(i)) return i;
    }
    return -1;
  }

  /**
   * The candidate with the fewest peers, ties in scan order, or -1. Candidates must be counted pieces some peer has
   * (the asking peer). The scan stops at the rarest level among all counted pieces: a candidate there cannot be beaten.
   */
  rarestPiece(isCandidate: (index: number) => boolean): number {
    if (this.#pieceCount === 0) return -1;
    let rarest = 1;
    while (rarest < this.#bucket.length && this.#bucket[rarest] === 0) rarest++;
    if (rarest >= this.#bucket.length) return -1;
    let best = -1;
    let bestAvailability = Infinity;
    for (let k = 0; k < this.#orderLength;) {
      const i = this.#order[k]!;
      if (this.#isVerified(i)) {
        this.#orderLength--;
        this.#order[k] = this.#order[this.#orderLength]!;
        this.#order[this.#orderLength] = i;
        continue;
      }
      k++;
      const a = this.#availability[i]!;
      if (a >= bestAvailability || !isCandidate(i)) continue;
      best = i;
      bestAvailability = a;
      if (a <= rarest) break;
    }
    return best;
  }
}
