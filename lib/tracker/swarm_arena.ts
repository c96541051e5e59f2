// Where the swarm store's peer records live: the record layout (cold and hot words), Swarm (one torrent's block of
// records and counts), RecordArena (power-of-two blocks of records in one reserved array, a buddy allocator) and
// Ipv6Slab (IPv6 addresses, kept out of the fixed-size records). Pure memory management: no announce semantics here.
//
// Invariants: a block holds `cap` = 2^order records, MIN_CAP at least; blocks up to 2^MAX_ORDER records live in the
// arena, aligned to their size (a buddy's offset is the block's offset XOR its size); a larger swarm has an array of its
// own (`order` -1) with both regions. A free arena block is linked through its own first two cold words and marked in
// the arena's free-order table; a block in use is never on a free list.

import { TrackerError } from "../errors.ts";
import { INFO_HASH_BYTES } from "./announce.ts";

/** Hot-word flags (high 16 bits of H_PORT): the address is an Ipv6Slab index. */
export const FLAG_IPV6 = 1;
/** The record's W_KEY word holds the key the peer announced with (BEP 3 `key`; any 32 bits, 0 included). */
export const FLAG_KEYED = 2;
/** The peer's completion was counted (it counts once). */
export const FLAG_COUNTED = 4;
/** Cold record words: 0–4 peer id, 5 last seen (s), 6–7 left (low, high 32 bits), 8 key (with FLAG_KEYED). */
export const REC_WORDS = 9;
export const W_ID = 0;
export const W_SEEN = 5;
export const W_LEFT_LO = 6;
export const W_LEFT_HI = 7;
export const W_KEY = 8;
/** Words of a peer id or an info hash. */
export const ID_WORDS = 5;
/** Hot record words (what a reply copies, at the same record position in the hot region): 0 IPv4 address (big-endian)
 * or Ipv6Slab index, 1 port | flags << 16. Kept apart so that a sample reads 8 bytes a peer instead of whole records. */
export const HOT_WORDS = 2;
export const H_ADDR = 0;
export const H_PORT = 1;
/** Records a new swarm has room for (most swarms are small). */
export const MIN_CAP = 2;
/** Largest arena block: 2^16 records; larger swarms (rare) get their own arrays. */
export const MAX_ORDER = 16;
export const TWO_32 = 4294967296;
const EMPTY_WORDS = new Uint32Array(0);
/** End of a free list. */
const NO_BLOCK = 0xffffffff;

// Built once: a full store refuses every new peer, and an Error's stack capture costs more than a whole announce.
const FULL_MEMORY = new TrackerError("tracker_full", "Tracker is full: no memory");

/** One torrent's swarm: its info hash, where its records are, and its counts. */
export class Swarm {
  /** The info hash as five little-endian words, as int32 (small integers in V8: no boxed numbers). */
  readonly k0: number;
  readonly k1: number;
  readonly k2: number;
  readonly k3: number;
  readonly k4: number;
  /** The arena (or, past MAX_ORDER, the swarm's own array) and the word offset of record 0's cold words in it. */
  rec: Uint32Array = EMPTY_WORDS;
  base = 0;
  /** Word offset of record 0's hot words in `rec` (the array's hot region holds HOT_WORDS a record). */
  hbase = 0;
  /** Records the block holds (a power of two). */
  cap = 0;
  /** log2(cap) for an arena block; -1 for an own array. */
  order = -1;
  /** Live records. */
  n = 0;
  /** Seeders: records [0, nSeed); leechers follow. */
  nSeed = 0;
  completed = 0;
  /** peer id → cell (fingerprint << 24 | position + 1; 0 = empty), power-of-two size; null for small swarms. */
  table: Uint32Array | null = null;
  /** A swarm for the info hash at `b[at, at + 20)`. */
  constructor(b: Uint8Array, at: number) {
    this.k0 = word(b, at);
    this.k1 = word(b, at + 4);
    this.k2 = word(b, at + 8);
    this.k3 = word(b, at + 12);
    this.k4 = word(b, at + 16);
  }

  /** Whether the info hash words in `w` are this swarm's. */
  isKey(w: Int32Array): boolean {
    return this.k0 === w[0] && this.k1 === w[1] && this.k2 === w[2] && this.k3 === w[3] && this.k4 === w[4];
  }

  /** The info hash, as fresh bytes. */
  infoHash(): Uint8Array {
    const out = new Uint8Array(INFO_HASH_BYTES);
    const view = new DataView(out.buffer);
    view.setInt32(0, this.k0, true);
    view.setInt32(4, this.k1, true);
    view.setInt32(8, this.k2, true);
    view.setInt32(12, this.k3, true);
    view.setInt32(16, this.k4, true);
    return out;
  }
}

/** The little-endian int32 at `b[at, at + 4)`. */
export function word(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24);
}

/** The block size (a power of two, at least MIN_CAP) that holds `records`. */
export function capFor(records: number): number {
  let cap = MIN_CAP;
  while (cap < records) cap *= 2;
  return cap;
}

/** Write the peer id of the record at word `o` into `out[at, at + 20)`. */
export function writeId(rec: Uint32Array, o: number, out: Uint8Array, at: number): void {
  for (let w = 0; w < ID_WORDS; w++) {
    const v = rec[o + W_ID + w]!;
    out[at + 4 * w] = v & 0xff;
    out[at + 4 * w + 1] = (v >>> 8) & 0xff;
    out[at + 4 * w + 2] = (v >>> 16) & 0xff;
    out[at + 4 * w + 3] = v >>> 24;
  }
}

/** The big-endian word of the IPv4 address `ip` (4 bytes). */
export function ipv4Word(ip: Uint8Array): number {
  return ((ip[0]! << 24) | (ip[1]! << 16) | (ip[2]! << 8) | ip[3]!) >>> 0;
}

/**
 * Every swarm's block of records in one reserved array: cold words of every record first, then the hot region
 * (HOT_WORDS a record, same record offsets). Fresh large ArrayBuffers are zero pages the OS commits only when first
 * written, so RSS follows the blocks in use; per-swarm ArrayBuffers cost allocator overhead each and fragment the
 * native heap.
 */
export class RecordArena {
  readonly words: Uint32Array;
  /** Records the arena can hold. */
  readonly cap: number;
  #high = 0;
  /** Free blocks by order: doubly linked lists threaded through the free blocks' first two words (previous, next
   * record offset; NO_BLOCK ends), so allocation, buddy removal and freeing are O(1) with no JS objects. */
  readonly #freeHead = new Int32Array(MAX_ORDER + 1).fill(-1);
  /** By record offset / 2: 1 + the order of the free block starting there, or 0. */
  readonly #freeOrder: Int8Array;

  /** An arena for `maxPeers` live peers over at most `maxSwarms` swarms. */
  constructor(maxPeers: number, maxSwarms: number) {
    // Doubling leaves each block at most half empty, plus buddy slack and the tiny blocks of empty swarms.
    const top = 1 << MAX_ORDER;
    this.cap = (Math.ceil((2 * maxPeers + 2 * MIN_CAP * Math.min(maxSwarms, maxPeers)) / top) + 1) * top;
    this.words = new Uint32Array(this.cap * (REC_WORDS + HOT_WORDS));
    this.#freeOrder = new Int8Array(this.cap >>> 1);
  }

  /** Give `swarm` a new block of `cap` records (the caller copies and frees the old one). @throws {TrackerError} */
  place(swarm: Swarm, cap: number): void {
    const order = 31 - Math.clz32(cap);
    if (order <= MAX_ORDER) {
      const off = this.#alloc(order);
      swarm.rec = this.words;
      swarm.base = off * REC_WORDS;
      swarm.hbase = this.cap * REC_WORDS + off * HOT_WORDS;
      swarm.order = order;
    } else {
      swarm.rec = new Uint32Array(cap * (REC_WORDS + HOT_WORDS));
      swarm.base = 0;
      swarm.hbase = cap * REC_WORDS;
      swarm.order = -1;
    }
    swarm.cap = cap;
  }

  /** Return the block at cold word `base` of `order` (-1: an own array, nothing to do). */
  free(base: number, order: number): void {
    if (order < 0) return;
    let off = base / REC_WORDS;
    // Merge with the buddy while it is free too, so blocks freed by growing swarms serve larger ones.
    while (order < MAX_ORDER) {
      const buddy = off ^ (1 << order);
      if (this.#freeOrder[buddy >>> 1] !== order + 1) break;
      this.#unlinkFree(buddy, order);
      off = Math.min(off, buddy);
      order++;
    }
    this.#pushFree(off, order);
  }

  /** Give back `swarm`'s block; it holds nothing afterwards. */
  release(swarm: Swarm): void {
    this.free(swarm.base, swarm.order);
    swarm.rec = EMPTY_WORDS;
    swarm.order = -1;
  }

  #pushFree(off: number, order: number): void {
    const words = this.words;
    const next = this.#freeHead[order]!;
    words[off * REC_WORDS] = NO_BLOCK;
    words[off * REC_WORDS + 1] = next < 0 ? NO_BLOCK : next;
    if (next >= 0) words[next * REC_WORDS] = off;
    this.#freeHead[order] = off;
    this.#freeOrder[off >>> 1] = order + 1;
  }

  #unlinkFree(off: number, order: number): void {
    const words = this.words;
    const prev = words[off * REC_WORDS]!;
    const next = words[off * REC_WORDS + 1]!;
    if (prev === NO_BLOCK) this.#freeHead[order] = next === NO_BLOCK ? -1 : next;
    else words[prev * REC_WORDS + 1] = next;
    if (next !== NO_BLOCK) words[next * REC_WORDS] = prev;
    this.#freeOrder[off >>> 1] = 0;
  }

  /** A free block of 2^order records (its record offset). @throws {TrackerError} tracker_full */
  #alloc(order: number): number {
    let off = -1;
    let k = order;
    for (; k <= MAX_ORDER; k++) {
      off = this.#freeHead[k]!;
      if (off >= 0) {
        this.#unlinkFree(off, k);
        break;
      }
    }
    if (off < 0) {
      const top = 1 << MAX_ORDER;
      if (this.#high + top > this.cap) throw FULL_MEMORY;
      off = this.#high;
      this.#high += top;
      k = MAX_ORDER;
    }
    // Split: keep the lower half, free the upper one, down to the wanted order.
    while (k > order) {
      k--;
      this.#pushFree(off + (1 << k), k);
    }
    return off;
  }
}

/** IPv6 addresses as 4 big-endian words each (a record holds an index here): IPv6 is rare, and one slab with a free
 * list keeps records fixed-size. */
export class Ipv6Slab {
  /** The addresses; replaced when the slab grows (read it through the slab each time). */
  words = new Uint32Array(0);
  #free: number[] = [];
  #high = 0;

  /** Store the 16-byte `ip`; returns its index. */
  alloc(ip: Uint8Array): number {
    let k = this.#free.pop();
    if (k === undefined) {
      k = this.#high++;
      if (k * 4 >= this.words.length) {
        const grown = new Uint32Array(Math.max(64, this.words.length * 2));
        grown.set(this.words);
        this.words = grown;
      }
    }
    const o = k * 4;
    for (let w = 0; w < 4; w++) {
      this.words[o + w] = (ip[4 * w]! << 24 | ip[4 * w + 1]! << 16 | ip[4 * w + 2]! << 8 | ip[4 * w + 3]!) >>> 0;
    }
    return k;
  }

  free(k: number): void {
    this.#free.push(k);
  }

  /** Whether the address at `k` is the 16-byte `ip`. */
  isAt(k: number, ip: Uint8Array): boolean {
    const words = this.words;
    for (let w = 0; w < 4; w++) {
      if (words[k * 4 + w] !== (ip[4 * w]! << 24 | ip[4 * w + 1]! << 16 | ip[4 * w + 2]! << 8 | ip[4 * w + 3]!) >>> 0) {
        return false;
      }
    }
    return true;
  }

  /** The address at `k` as fresh bytes. */
  bytes(k: number): Uint8Array {
    const ip = new Uint8Array(16);
    for (let w = 0; w < 4; w++) {
      const x = this.words[k * 4 + w]!;
      ip[4 * w] = x >>> 24;
      ip[4 * w + 1] = (x >>> 16) & 0xff;
      ip[4 * w + 2] = (x >>> 8) & 0xff;
      ip[4 * w + 3] = x & 0xff;
    }
    return ip;
  }
}
