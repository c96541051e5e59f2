// Last counters per (user, torrent, peer) in typed arrays for the member accounting (member_accounting.ts): a seeded
// murmur3-mixed open-addressing table, a dirty list for saves, expiry by last seen. No db, no clock of its own.

/** Entries a PeerCounters table holds before it first grows (it doubles up to its cap). */
const INITIAL_COUNTER_ENTRIES = 1024;
/**
 * Int32 words per entry in `#words` (one 64-byte cache line): user id low and high, info hash (5), peer id (5), the
 * entry's hash, its index in the dirty list (-1 = clean), 2 spare.
 */
const ENTRY_WORDS = 16;
const W_HASH = 12;
const W_DIRTY = 13;
/** Float64 columns per entry in `#numbers`: last uploaded, last downloaded, last seen (ms), user id, and the
 * uploaded and downloaded deltas not yet written (so a partial flush writes each entry's deltas with its counters). */
const ENTRY_NUMBERS = 6;

/** A secret per process, the hash's seed: a member picks the info hashes and peer ids, so a fixed seed would let one
 * compute ids that all share one probe chain. (The table lives in memory only: hashes are never stored.) */
const TABLE_SEED = crypto.getRandomValues(new Int32Array(1))[0]!;

function mixWord(h: number, w: number): number {
  // murmur3's 32-bit block mix.
  w = Math.imul(w, 0xcc9e2d51);
  w = (w << 15) | (w >>> 17);
  h ^= Math.imul(w, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** Copy 20 bytes as 5 little-endian words (any alignment: the bytes may be a view into a request buffer). */
function readWords(b: Uint8Array, out: Int32Array, at: number): void {
  for (let i = 0; i < 5; i++) {
    const j = 4 * i;
    out[at + i] = b[j]! | (b[j + 1]! << 8) | (b[j + 2]! << 16) | (b[j + 3]! << 24);
  }
}

/**
 * Last counters per (user, torrent, peer) without a JS object or string per entry, so the announce path allocates
 * nothing and 250k entries cost the garbage collector nothing. An entry is one 64-byte line of `#words` (key, hash,
 * dirty mark) plus 4 numbers; entries are dense in `0..size-1` and found through an open-addressing slot table of
 * (hash, entry + 1) pairs (linear probing, load ≤ 1/2, backward-shift deletion: no tombstones).
 * Invariants: every entry is in exactly one slot, reachable from `hash & #mask` without crossing an empty slot;
 * an entry's dirty word is its index in `#dirtyList` or -1; size ≤ maxEntries.
 */
export class PeerCounters {
  readonly #maxEntries: number;
  readonly #hashMask: number;
  #capacity = 0;
  #mask = 0;
  #size = 0;
  #slots = new Int32Array(0);
  #words = new Int32Array(0);
  #numbers = new Float64Array(0);
  #dirtyList = new Int32Array(0);
  #dirtyCount = 0;
  /** The key of the last `find` or `insert` as words, and its hash. */
  readonly #key = new Int32Array(12);
  #hash = 0;

  /** @param options.hashMask tests only: narrows every hash to force collisions */
  constructor(maxEntries: number, options: { hashMask?: number } = {}) {
    this.#maxEntries = Math.max(1, maxEntries);
    this.#hashMask = options.hashMask ?? -1;
    this.#resize(Math.min(this.#maxEntries, INITIAL_COUNTER_ENTRIES));
  }

  /** Entries held. */
  get size(): number {
    return this.#size;
  }

  /** Entries changed since the last `clearDirty()`. */
  get dirtyCount(): number {
    return this.#dirtyCount;
  }

  #resize(capacity: number): void {
    const words = this.#words;
    const numbers = this.#numbers;
    const dirtyList = this.#dirtyList;
    let slotCount = 2;
    while (slotCount < 2 * capacity) slotCount *= 2;
    this.#capacity = capacity;
    this.#mask = slotCount - 1;
    this.#slots = new Int32Array(2 * slotCount);
    this.#words = new Int32Array(capacity * ENTRY_WORDS);
    this.#numbers = new Float64Array(capacity * ENTRY_NUMBERS);
    this.#dirtyList = new Int32Array(capacity);
    this.#words.set(words.subarray(0, this.#size * ENTRY_WORDS));
    this.#numbers.set(numbers.subarray(0, this.#size * ENTRY_NUMBERS));
    this.#dirtyList.set(dirtyList.subarray(0, this.#dirtyCount));
    for (let e = 0; e < this.#size; e++) this.#place(this.#words[e * ENTRY_WORDS + W_HASH]!, e);
  }

  #place(hash: number, e: number): void {
    const slots = this.#slots;
    let s = hash & this.#mask;
    while (slots[2 * s + 1] !== 0) s = (s + 1) & this.#mask;
    slots[2 * s] = hash;
    slots[2 * s + 1] = e + 1;
  }

  #prepare(userId: number, infoHash: Uint8Array, peerId: Uint8Array): void {
    const key = this.#key;
    key[0] = userId | 0;
    key[1] = (userId / 0x1_0000_0000) | 0;
    readWords(infoHash, key, 2);
    readWords(peerId, key, 7);
    let h = TABLE_SEED;
    for (let i = 0; i < 12; i++) h = mixWord(h, key[i]!);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    this.#hash = (h ^ (h >>> 16)) & this.#hashMask;
  }

  /** The entry of (userId, infoHash, peerId), or -1. */
  find(userId: number, infoHash: Uint8Array, peerId: Uint8Array): number {
    this.#prepare(userId, infoHash, peerId);
    const hash = this.#hash;
    const key = this.#key;
    const slots = this.#slots;
    const words = this.#words;
    const mask = this.#mask;
    for (let s = hash & mask;; s = (s + 1) & mask) {
      const v = slots[2 * s + 1]!;
      if (v === 0) return -1;
      if (slots[2 * s] !== hash) continue;
      const at = (v - 1) * ENTRY_WORDS;
      let i = 0;
      while (i < 12 && words[at + i] === key[i]) i++;
      if (i === 12) return v - 1;
    }
  }

  /**
   * Add an entry (the caller checked that `find` missed) and mark it dirty when `isDirty`.
   * @returns its index, or -1 when the table is full (the cap: the peer is not remembered)
   */
  insert(
    userId: number,
    infoHash: Uint8Array,
    peerId: Uint8Array,
    counters: { uploaded: number; downloaded: number; lastSeenMs: number; isDirty: boolean },
  ): number {
    if (this.#size >= this.#capacity) {
      if (this.#capacity >= this.#maxEntries) return -1;
      this.#resize(Math.min(this.#maxEntries, this.#capacity * 2));
    }
    this.#prepare(userId, infoHash, peerId);
    const e = this.#size++;
    const at = e * ENTRY_WORDS;
    this.#words.set(this.#key, at);
    this.#words[at + W_HASH] = this.#hash;
    this.#words[at + W_DIRTY] = -1;
    const n = e * ENTRY_NUMBERS;
    this.#numbers[n] = counters.uploaded;
    this.#numbers[n + 1] = counters.downloaded;
    this.#numbers[n + 2] = counters.lastSeenMs;
    this.#numbers[n + 3] = userId;
    this.#numbers[n + 4] = 0;
    this.#numbers[n + 5] = 0;
    if (counters.isDirty) this.#markDirty(e);
    this.#place(this.#hash, e);
    return e;
  }

  /** Set entry `e`'s last counters and mark it dirty. */
  update(e: number, uploaded: number, downloaded: number, lastSeenMs: number): void {
    const n = e * ENTRY_NUMBERS;
    this.#numbers[n] = uploaded;
    this.#numbers[n + 1] = downloaded;
    this.#numbers[n + 2] = lastSeenMs;
    this.#markDirty(e);
  }

  #markDirty(e: number): void {
    const at = e * ENTRY_WORDS + W_DIRTY;
    if (this.#words[at]! >= 0) return;
    this.#words[at] = this.#dirtyCount;
    this.#dirtyList[this.#dirtyCount++] = e;
  }

  uploadedAt(e: number): number {
    return this.#numbers[e * ENTRY_NUMBERS]!;
  }

  downloadedAt(e: number): number {
    return this.#numbers[e * ENTRY_NUMBERS + 1]!;
  }

  lastSeenMsAt(e: number): number {
    return this.#numbers[e * ENTRY_NUMBERS + 2]!;
  }

  userIdAt(e: number): number {
    return this.#numbers[e * ENTRY_NUMBERS + 3]!;
  }

  /** The dirty entries' indexes (a copy). */
  dirtyEntries(): Int32Array {
    return this.#dirtyList.slice(0, this.#dirtyCount);
  }

  /** Mark every entry clean (a save began: later changes mark them again). Unwritten deltas stay. */
  clearDirty(): void {
    for (let i = 0; i < this.#dirtyCount; i++) this.#words[this.#dirtyList[i]! * ENTRY_WORDS + W_DIRTY] = -1;
    this.#dirtyCount = 0;
  }

  /** Set entry `e`'s unwritten deltas to zero (they were handed to a save). */
  zeroPending(e: number): void {
    this.#numbers[e * ENTRY_NUMBERS + 4] = 0;
    this.#numbers[e * ENTRY_NUMBERS + 5] = 0;
  }

  /**
   * Write entry `e` as an accounting record (ACCOUNTING_RECORD_BYTES) at byte `at` of `view`: user id, info hash,
   * peer id, last uploaded, last downloaded, last seen.
   */
  writeRecord(e: number, view: DataView, at: number): void {
    const w = e * ENTRY_WORDS;
    const n = e * ENTRY_NUMBERS;
    view.setFloat64(at, this.#numbers[n + 3]!, true);
    // Info hash and peer id: words 2–11, each 4 bytes little-endian (readWords' order), so the bytes come back as-is.
    for (let i = 0; i < 10; i++) view.setInt32(at + 8 + 4 * i, this.#words[w + 2 + i]!, true);
    view.setFloat64(at + 48, this.#numbers[n]!, true);
    view.setFloat64(at + 56, this.#numbers[n + 1]!, true);
    view.setFloat64(at + 64, this.#numbers[n + 2]!, true);
  }

  /** Add unwritten deltas to entry `e` (which is dirty: `update` or a dirty `insert` came first). */
  addPending(e: number, uploaded: number, downloaded: number): void {
    const n = e * ENTRY_NUMBERS;
    this.#numbers[n + 4] = Math.min(Number.MAX_SAFE_INTEGER, this.#numbers[n + 4]! + uploaded);
    this.#numbers[n + 5] = Math.min(Number.MAX_SAFE_INTEGER, this.#numbers[n + 5]! + downloaded);
  }

  pendingUploadedAt(e: number): number {
    return this.#numbers[e * ENTRY_NUMBERS + 4]!;
  }

  pendingDownloadedAt(e: number): number {
    return this.#numbers[e * ENTRY_NUMBERS + 5]!;
  }

  /** Remove clean entries last seen before `beforeMs`. @returns how many were removed */
  expire(beforeMs: number): number {
    let n = 0;
    // Downwards: removing `e` moves the last entry (already visited) into it.
    for (let e = this.#size - 1; e >= 0; e--) {
      if (this.lastSeenMsAt(e) < beforeMs && this.#words[e * ENTRY_WORDS + W_DIRTY] === -1) {
        this.#remove(e);
        n++;
      }
    }
    return n;
  }

  #slotOf(e: number): number {
    let s = this.#words[e * ENTRY_WORDS + W_HASH]! & this.#mask;
    while (this.#slots[2 * s + 1] !== e + 1) s = (s + 1) & this.#mask;
    return s;
  }

  /** Remove clean entry `e`. */
  #remove(e: number): void {
    const slots = this.#slots;
    const mask = this.#mask;
    // Backward-shift deletion: pull later entries of the probe run into the hole, so lookups need no tombstones.
    let hole = this.#slotOf(e);
    for (let j = (hole + 1) & mask; slots[2 * j + 1] !== 0; j = (j + 1) & mask) {
      const home = slots[2 * j]! & mask;
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        slots[2 * hole] = slots[2 * j]!;
        slots[2 * hole + 1] = slots[2 * j + 1]!;
        hole = j;
      }
    }
    slots[2 * hole] = 0;
    slots[2 * hole + 1] = 0;
    const last = --this.#size;
    if (e === last) return;
    slots[2 * this.#slotOf(last) + 1] = e + 1;
    this.#words.copyWithin(e * ENTRY_WORDS, last * ENTRY_WORDS, (last + 1) * ENTRY_WORDS);
    this.#numbers.copyWithin(e * ENTRY_NUMBERS, last * ENTRY_NUMBERS, (last + 1) * ENTRY_NUMBERS);
    const pos = this.#words[e * ENTRY_WORDS + W_DIRTY]!;
    if (pos >= 0) this.#dirtyList[pos] = e;
  }
}
