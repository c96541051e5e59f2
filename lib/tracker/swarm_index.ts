// Lookups of the swarm store: SwarmIndex (info hash → swarm, open addressing over one 32-bit hash a slot) and each
// large swarm's peer-id table (peer id → record position, open addressing with 8-bit fingerprints). Both hash with a
// per-process secret seed: info hashes and peer ids are the announcer's to pick, so no one can aim them at one chain.
//
// Invariants of a peer-id table (`Swarm.table`, kept by swarms of more than INDEX_MIN_PEERS peers, dropped at half
// that): one cell per live record, `fingerprint << 24 | position + 1` (0 = empty), a power-of-two size at least twice
// the block's capacity, linear probing from the id's hash, backward-shift deletion (no tombstones). A record's cell is
// found through the id in the record, so a move updates the cell (setCell) while the old position still holds the id.

import { ID_WORDS, REC_WORDS, type Swarm, W_ID, word } from "./swarm_arena.ts";

/** Swarms larger than this get a peer id hash table; smaller ones are scanned linearly (faster and smaller). */
export const INDEX_MIN_PEERS = 32;
/** Peers one swarm may hold: a table cell keeps position + 1 in its low 24 bits (and a fingerprint above). */
export const MAX_SWARM_PEERS = 0xffffff - 1;
/** The position bits of a table cell. */
const CELL_POS = 0xffffff;

/** A secret per process: table hashes an announcer cannot aim collisions at (ids and info hashes are theirs to pick). */
const HASH_SEED = crypto.getRandomValues(new Uint32Array(1))[0]!;

/** Hash of a peer id's five words, seeded (see HASH_SEED): a client picks its own ids, so one must not be able to aim
 * them all at one probe chain. Every word counts: a hash of only some of them lets ids that differ in the others alone
 * (any client can send such ids) share one chain, and each announce then probes the whole swarm. */
function idHash(w0: number, w1: number, w2: number, w3: number, w4: number): number {
  // Every step mixes the seed in further; Murmur3's finalizer at the end, since the table masks the low bits.
  let h = Math.imul(w4 ^ HASH_SEED, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15) ^ w3, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ w2, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ w1, 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15) ^ w0, 0x846ca68b);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** idHash of the peer id in the record words at `rec[o...]`. */
function recordIdHash(rec: Uint32Array, o: number): number {
  return idHash(rec[o]!, rec[o + 1]!, rec[o + 2]!, rec[o + 3]!, rec[o + 4]!);
}

/**
 * Info hash → swarm: open addressing (linear probing, backward-shift deletion) over one 32-bit hash a slot, checked
 * before the swarm's own key words. A lookup hashes the words straight from the request's bytes: no 20-char string
 * to build and hash, and fewer cache lines than a Map's buckets, entry and key string. A slot holds the hash, not the
 * 20-byte key (the swarm object, read next anyway, has it), so the table stays small (docs/PERFORMANCE.md).
 */
export class SwarmIndex {
  #hashes = new Uint32Array(1024);
  #swarms: (Swarm | undefined)[] = new Array(1024).fill(undefined);
  #mask = 1023;
  #count = 0;
  /** The words of the hash being looked up. */
  readonly #w = new Int32Array(ID_WORDS);

  /** The swarm of `infoHash` (20 bytes at `at`), or undefined. */
  get(infoHash: Uint8Array, at = 0): Swarm | undefined {
    const w = this.#w;
    for (let i = 0; i < ID_WORDS; i++) w[i] = word(infoHash, at + 4 * i);
    const hash = bucket(w);
    const hashes = this.#hashes, swarms = this.#swarms, mask = this.#mask;
    for (let h = hash & mask;; h = (h + 1) & mask) {
      const swarm = swarms[h];
      if (swarm === undefined) return undefined;
      if (hashes[h] === hash && swarm.isKey(w)) return swarm;
    }
  }

  /** Add `swarm` (its hash not yet here). */
  add(swarm: Swarm): void {
    if ((this.#count + 1) * 2 > this.#swarms.length) this.#grow();
    this.#insert(this.#hashes, this.#swarms, this.#mask, this.#hashOf(swarm), swarm);
    this.#count++;
  }

  delete(swarm: Swarm): void {
    const hashes = this.#hashes, swarms = this.#swarms, mask = this.#mask;
    let hole = this.#hashOf(swarm) & mask;
    for (;; hole = (hole + 1) & mask) {
      const other = swarms[hole];
      if (other === undefined) return;
      if (other === swarm) break;
    }
    for (let j = (hole + 1) & mask;; j = (j + 1) & mask) {
      const other = swarms[j];
      if (other === undefined) break;
      const home = hashes[j]! & mask;
      // Move the entry back into the hole unless its home lies cyclically in (hole, j].
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        hashes[hole] = hashes[j]!;
        swarms[hole] = other;
        hole = j;
      }
    }
    swarms[hole] = undefined;
    this.#count--;
  }

  /** The longest probe run (cells from an entry's home to where it sits, plus one): a diagnostic of the spread. */
  longestProbe(): number {
    const hashes = this.#hashes, swarms = this.#swarms, mask = this.#mask;
    let longest = 0;
    for (let h = 0; h < swarms.length; h++) {
      if (swarms[h] !== undefined) longest = Math.max(longest, ((h - hashes[h]!) & mask) + 1);
    }
    return longest;
  }

  #hashOf(swarm: Swarm): number {
    const w = this.#w;
    w[0] = swarm.k0;
    w[1] = swarm.k1;
    w[2] = swarm.k2;
    w[3] = swarm.k3;
    w[4] = swarm.k4;
    return bucket(w);
  }

  #insert(hashes: Uint32Array, swarms: (Swarm | undefined)[], mask: number, hash: number, swarm: Swarm): void {
    let h = hash & mask;
    while (swarms[h] !== undefined) h = (h + 1) & mask;
    hashes[h] = hash;
    swarms[h] = swarm;
  }

  #grow(): void {
    const oldHashes = this.#hashes, old = this.#swarms;
    const size = old.length * 2;
    const hashes = new Uint32Array(size);
    const swarms: (Swarm | undefined)[] = new Array(size).fill(undefined);
    for (let i = 0; i < old.length; i++) {
      const swarm = old[i];
      if (swarm !== undefined) this.#insert(hashes, swarms, size - 1, oldHashes[i]!, swarm);
    }
    this.#hashes = hashes;
    this.#swarms = swarms;
    this.#mask = size - 1;
  }
}

/** Table hash of the five info-hash words in `w` (seeded: see HASH_SEED). */
function bucket(w: Int32Array): number {
  let h = Math.imul(w[0]! ^ HASH_SEED, 0x9e3779b1) ^ w[1]!;
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b) ^ w[2]!;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) ^ w[3]!;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) ^ w[4]!;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Position of the peer whose id words are `want` in `swarm`, or -1. */
export function findPeer(swarm: Swarm, want: Uint32Array): number {
  const w4 = want[4]!, w3 = want[3]!, w2 = want[2]!, w1 = want[1]!, w0 = want[0]!;
  const rec = swarm.rec;
  const base = swarm.base;
  const table = swarm.table;
  if (table !== null) {
    const mask = table.length - 1;
    const hash = idHash(w0, w1, w2, w3, w4);
    const fp = hash >>> 24;
    for (let h = hash & mask;; h = (h + 1) & mask) {
      const v = table[h]!;
      if (v === 0) return -1;
      // The fingerprint spares most collisions a look at the record (a cache miss).
      if (v >>> 24 !== fp) continue;
      const pos = (v & CELL_POS) - 1;
      const o = base + pos * REC_WORDS + W_ID;
      if (rec[o + 4] === w4 && rec[o + 3] === w3 && rec[o + 2] === w2 && rec[o + 1] === w1 && rec[o] === w0) {
        return pos;
      }
    }
  }
  for (let i = 0, o = base + W_ID; i < swarm.n; i++, o += REC_WORDS) {
    if (rec[o + 4] === w4 && rec[o + 3] === w3 && rec[o + 2] === w2 && rec[o + 1] === w1 && rec[o] === w0) return i;
  }
  return -1;
}

/** Table cell holding position `pos` (the record at `pos` must still hold its id). */
export function cellOf(swarm: Swarm, table: Uint32Array, pos: number): number {
  const o = swarm.base + pos * REC_WORDS + W_ID;
  const mask = table.length - 1;
  let h = recordIdHash(swarm.rec, o) & mask;
  while ((table[h]! & CELL_POS) !== pos + 1) h = (h + 1) & mask;
  return h;
}

/** Add the cell of the record at `pos`. */
export function tableInsert(swarm: Swarm, table: Uint32Array, pos: number): void {
  const o = swarm.base + pos * REC_WORDS + W_ID;
  const mask = table.length - 1;
  const hash = recordIdHash(swarm.rec, o);
  let h = hash & mask;
  while (table[h] !== 0) h = (h + 1) & mask;
  table[h] = ((hash & ~CELL_POS) | (pos + 1)) >>> 0;
}

/** Point the cell at `cell` to position `pos` (its fingerprint stays). */
export function setCell(table: Uint32Array, cell: number, pos: number): void {
  table[cell] = ((table[cell]! & ~CELL_POS) | (pos + 1)) >>> 0;
}

/** Remove the cell of position `pos` (backward shift deletion keeps probe chains intact). */
export function tableDelete(swarm: Swarm, table: Uint32Array, pos: number): void {
  const rec = swarm.rec;
  const mask = table.length - 1;
  let hole = cellOf(swarm, table, pos);
  for (let j = (hole + 1) & mask;; j = (j + 1) & mask) {
    const v = table[j]!;
    if (v === 0) break;
    const o = swarm.base + ((v & CELL_POS) - 1) * REC_WORDS + W_ID;
    const home = recordIdHash(rec, o) & mask;
    // Move v back into the hole unless its home lies cyclically in (hole, j].
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      table[hole] = v;
      hole = j;
    }
  }
  table[hole] = 0;
}

/** Build `swarm`'s table afresh for its size (none when small). */
export function rebuildTable(swarm: Swarm): void {
  if (swarm.n <= INDEX_MIN_PEERS / 2) {
    swarm.table = null;
    return;
  }
  let size = 64;
  while (size < swarm.cap * 2) size *= 2;
  const table = new Uint32Array(size);
  swarm.table = table;
  for (let i = 0; i < swarm.n; i++) tableInsert(swarm, table, i);
}

/** The longest probe run in `swarm`'s peer-id table (0 without one): a diagnostic of how well ids spread. */
export function longestPeerProbe(swarm: Swarm): number {
  const table = swarm.table;
  if (table === null) return 0;
  const mask = table.length - 1;
  let longest = 0;
  for (let h = 0; h < table.length; h++) {
    const v = table[h]!;
    if (v === 0) continue;
    const home = recordIdHash(swarm.rec, swarm.base + ((v & CELL_POS) - 1) * REC_WORDS + W_ID) & mask;
    longest = Math.max(longest, ((h - home) & mask) + 1);
  }
  return longest;
}
