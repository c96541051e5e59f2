// The peers in each swarm's block of records: insert, update, move and remove them, keeping seeders first
// ([0, nSeed)), the block dense (swap-remove), the peer-id table in step and the store-wide peer counts and cap.
// No announce semantics (who may change a peer, completions): those are the store's.

import { TrackerError } from "../errors.ts";
import {
  FLAG_COUNTED,
  FLAG_IPV6,
  FLAG_KEYED,
  H_ADDR,
  H_PORT,
  HOT_WORDS,
  ID_WORDS,
  ipv4Word,
  Ipv6Slab,
  MIN_CAP,
  REC_WORDS,
  type RecordArena,
  type Swarm,
  TWO_32,
  W_ID,
  W_KEY,
  W_LEFT_HI,
  W_LEFT_LO,
  W_SEEN,
} from "./swarm_arena.ts";
import {
  cellOf,
  INDEX_MIN_PEERS,
  MAX_SWARM_PEERS,
  rebuildTable,
  setCell,
  tableDelete,
  tableInsert,
} from "./swarm_index.ts";

// Built once: a full store refuses every new peer, and an Error's stack capture costs more than a whole announce.
const FULL_PEERS = new TrackerError("tracker_full", "Tracker is full: too many peers");
const FULL_SWARM = new TrackerError("tracker_full", "Tracker is full: too many peers here");

/** The peer records of every swarm of one store, over its arena. */
export class PeerRecords {
  readonly #arena: RecordArena;
  readonly #maxPeers: number;
  readonly v6 = new Ipv6Slab();
  /** The peer id of the peer being put or looked up, as 5 words (the caller fills it). */
  readonly wantId = new Uint32Array(ID_WORDS);
  peerCount = 0;
  seederCount = 0;
  /** Set by upsertAt: the peer existed and was a leecher before. */
  wasLeecher = false;

  constructor(arena: RecordArena, maxPeers: number) {
    this.#arena = arena;
    this.#maxPeers = maxPeers;
  }

  /** Load `peerId` (20 bytes) into `wantId`. */
  loadWantId(peerId: Uint8Array): void {
    const w = this.wantId;
    for (let i = 0; i < ID_WORDS; i++) {
      const o = i * 4;
      w[i] = peerId[o]! | (peerId[o + 1]! << 8) | (peerId[o + 2]! << 16) | (peerId[o + 3]! << 24);
    }
  }

  /** Insert or update the peer in `wantId` found at `i` (-1: not there); returns its position. */
  upsertAt(swarm: Swarm, i: number, ip: Uint8Array, port: number, left: number, lastSeenS: number): number {
    const isSeeder = left === 0;
    if (i < 0) {
      if (this.peerCount >= this.#maxPeers) throw FULL_PEERS;
      if (swarm.n >= MAX_SWARM_PEERS) throw FULL_SWARM;
      if (swarm.n === swarm.cap) this.resize(swarm, swarm.cap * 2);
      const end = swarm.n++;
      if (isSeeder) {
        // A new seeder takes the first leecher's place; that leecher moves to the end.
        i = swarm.nSeed++;
        this.#move(swarm, i, end);
        this.seederCount++;
      } else i = end;
      const want = this.wantId;
      const o = swarm.base + i * REC_WORDS + W_ID;
      for (let w = 0; w < ID_WORDS; w++) swarm.rec[o + w] = want[w]!;
      swarm.rec[swarm.hbase + i * HOT_WORDS + H_PORT] = 0;
      if (swarm.table !== null) tableInsert(swarm, swarm.table, i);
      else if (swarm.n > INDEX_MIN_PEERS) rebuildTable(swarm);
      this.peerCount++;
      this.#setPeer(swarm, i, ip, port, left, lastSeenS);
      this.wasLeecher = false;
      return i;
    }
    const wasSeeder = i < swarm.nSeed;
    this.wasLeecher = !wasSeeder;
    this.#setPeer(swarm, i, ip, port, left, lastSeenS);
    if (isSeeder && !wasSeeder) {
      const to = swarm.nSeed++;
      this.#swap(swarm, i, to);
      i = to;
      this.seederCount++;
    } else if (!isSeeder && wasSeeder) {
      const to = --swarm.nSeed;
      this.#swap(swarm, i, to);
      i = to;
      this.seederCount--;
    }
    return i;
  }

  /** Write address, port, flags, last seen and left into the record at `i` (its id is already there). */
  #setPeer(swarm: Swarm, i: number, ip: Uint8Array, port: number, left: number, lastSeenS: number): void {
    const rec = swarm.rec;
    const o = swarm.base + i * REC_WORDS;
    const h = swarm.hbase + i * HOT_WORDS;
    const old = rec[h + H_PORT]! >>> 16;
    let flags = old & (FLAG_COUNTED | FLAG_KEYED);
    if (old & FLAG_IPV6) this.v6.free(rec[h + H_ADDR]!);
    if (ip.length === 16) {
      flags |= FLAG_IPV6;
      rec[h + H_ADDR] = this.v6.alloc(ip);
    } else rec[h + H_ADDR] = ipv4Word(ip);
    rec[h + H_PORT] = (flags << 16) | port;
    rec[o + W_SEEN] = lastSeenS;
    rec[o + W_LEFT_LO] = left % TWO_32;
    rec[o + W_LEFT_HI] = Math.floor(left / TWO_32);
  }

  /** Move the record at `from` to `to` (overwriting it), keeping the table in step. */
  #move(swarm: Swarm, from: number, to: number): void {
    if (from === to) return;
    if (swarm.table !== null) setCell(swarm.table, cellOf(swarm, swarm.table, from), to);
    const rec = swarm.rec;
    const f = swarm.base + from * REC_WORDS, t = swarm.base + to * REC_WORDS;
    for (let w = 0; w < REC_WORDS; w++) rec[t + w] = rec[f + w]!;
    const hf = swarm.hbase + from * HOT_WORDS, ht = swarm.hbase + to * HOT_WORDS;
    for (let w = 0; w < HOT_WORDS; w++) rec[ht + w] = rec[hf + w]!;
  }

  /** Exchange the records at `a` and `b`. */
  #swap(swarm: Swarm, a: number, b: number): void {
    if (a === b) return;
    const table = swarm.table;
    if (table !== null) {
      const ca = cellOf(swarm, table, a);
      const cb = cellOf(swarm, table, b);
      setCell(table, ca, b);
      setCell(table, cb, a);
    }
    swapWords(swarm.rec, swarm.base + a * REC_WORDS, swarm.base + b * REC_WORDS, REC_WORDS);
    swapWords(swarm.rec, swarm.hbase + a * HOT_WORDS, swarm.hbase + b * HOT_WORDS, HOT_WORDS);
  }

  resize(swarm: Swarm, cap: number): void {
    const old = swarm.rec, oldBase = swarm.base, oldOrder = swarm.order;
    const oldHbase = swarm.hbase;
    this.#arena.place(swarm, cap);
    swarm.rec.set(old.subarray(oldBase, oldBase + swarm.n * REC_WORDS), swarm.base);
    swarm.rec.set(old.subarray(oldHbase, oldHbase + swarm.n * HOT_WORDS), swarm.hbase);
    this.#arena.free(oldBase, oldOrder);
    if (swarm.table !== null || swarm.n > INDEX_MIN_PEERS) rebuildTable(swarm);
  }

  removeAt(swarm: Swarm, i: number): void {
    const h = swarm.hbase + i * HOT_WORDS;
    if ((swarm.rec[h + H_PORT]! >>> 16) & FLAG_IPV6) this.v6.free(swarm.rec[h + H_ADDR]!);
    if (swarm.table !== null) tableDelete(swarm, swarm.table, i);
    const last = swarm.n - 1;
    if (i < swarm.nSeed) {
      // Seeder: the last seeder fills the hole, the last record fills the last seeder's place.
      const lastSeed = swarm.nSeed - 1;
      this.#move(swarm, lastSeed, i);
      this.#move(swarm, last, lastSeed);
      swarm.nSeed--;
      this.seederCount--;
    } else this.#move(swarm, last, i);
    swarm.n = last;
    this.peerCount--;
    if (swarm.table !== null && swarm.n <= INDEX_MIN_PEERS / 2) swarm.table = null;
  }

  /** Shrink a swarm's block when it is at most a quarter full (after expiry). */
  maybeShrink(swarm: Swarm): void {
    const cap = swarm.cap;
    if (cap > MIN_CAP && swarm.n * 4 <= cap) this.resize(swarm, Math.max(MIN_CAP, cap >>> 1));
  }

  /** Bind the peer at `i` to `key`. */
  bindKey(swarm: Swarm, i: number, key: number): void {
    swarm.rec[swarm.base + i * REC_WORDS + W_KEY] = key >>> 0;
    const pw = swarm.hbase + i * HOT_WORDS + H_PORT;
    swarm.rec[pw] = swarm.rec[pw]! | (FLAG_KEYED << 16);
  }

  /** Mark the peer at `i`'s completion as counted. */
  markCounted(swarm: Swarm, i: number): void {
    const pw = swarm.hbase + i * HOT_WORDS + H_PORT;
    swarm.rec[pw] = swarm.rec[pw]! | (FLAG_COUNTED << 16);
  }
}

/** Exchange `count` words at `a` and at `b` of `words`. */
function swapWords(words: Uint32Array, a: number, b: number, count: number): void {
  for (let w = 0; w < count; w++) {
    const x = words[a + w]!;
    words[a + w] = words[b + w]!;
    words[b + w] = x;
  }
}
