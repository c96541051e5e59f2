// SwarmStore: the live peers of every torrent (BEP 3 announce semantics) and MemorySwarmStore, its compact in-memory
// implementation. Time (`nowMs`) and randomness (`random`) come in as parameters; nothing here touches I/O.
//
// Invariants of MemorySwarmStore (the shared mutable state of the tracker):
// - A peer is identified by (info hash, peer id). Each live peer owns one slot of a global slab of typed arrays
//   (peer id words, compact address, flags, last seen, left), reserved for maxPeers at construction; slots below
//   `highWater` that are not live are on the free stack.
// - Each swarm lists its slots in `slots`; `pos[slot]` is the slot's index in that list (swap-remove keeps it dense).
// - A swarm's `seeders` counts slots with FLAG_SEEDER; leechers are the rest. The store's totals are the sums.
// - `completed` counts each peer once (FLAG_COUNTED): on event=completed, or when a known leecher announces or stops
//   with left=0; it survives the peer and the swarm stays while it is > 0.
// - Swarms with more than INDEX_MIN_PEERS peers also keep `index` (peer id → slot); smaller ones are scanned.

import { toHex } from "../bytes.ts";
import { TrackerError } from "../errors.ts";
import {
  type AnnounceRequest,
  COMPACT_PEER4_BYTES,
  COMPACT_PEER6_BYTES,
  DEFAULT_NUMWANT_MAX,
  DEFAULT_PEER_TIMEOUT_S,
  INFO_HASH_BYTES,
  PEER_ID_BYTES,
  type ScrapeEntry,
} from "./announce.ts";

/** Default cap on live peers in one store (a hostile client can fill it, never exhaust memory). */
export const DEFAULT_MAX_PEERS = 5_000_000;
/** Default cap on swarms in one store. */
export const DEFAULT_MAX_TORRENTS = 1_000_000;
/** Swarms larger than this get a peer id index; smaller ones are scanned linearly (faster and smaller). */
export const INDEX_MIN_PEERS = 32;

/** What the store answers to an announce. */
export interface SwarmAnnounce {
  /** Seeders, the asker included (unless it stopped). */
  complete: number;
  /** Leechers, the asker included (unless it stopped). */
  incomplete: number;
  /** Compact IPv4 peers (6 bytes each), never the asker, no seeders for a seeder. A view valid until the next announce. */
  peers4: Uint8Array;
  /** Compact IPv6 peers (18 bytes each). A view valid until the next announce. */
  peers6: Uint8Array;
  /** Peer ids matching peers4 (20 bytes each), when `withPeerIds`. */
  peerIds4?: Uint8Array;
  /** Peer ids matching peers6, when `withPeerIds`. */
  peerIds6?: Uint8Array;
  /** This announce was the peer's first `completed`: the caller persists the count. */
  isNewlyCompleted: boolean;
  /** The swarm did not exist before this announce. */
  isNewSwarm: boolean;
}

/** Options of SwarmStore.announce. */
export interface SwarmAnnounceOptions {
  /** The peer's address: 4 or 16 bytes. */
  ip: Uint8Array;
  nowMs: number;
  /** Uniform in [0, 1): picks the sample when the swarm is larger than numWant. */
  random: () => number;
  /** Also return the peer ids (dictionary model). */
  withPeerIds?: boolean;
}

/** One live peer, as snapshotted and restored. */
export interface StoredPeer {
  infoHash: Uint8Array;
  peerId: Uint8Array;
  /** 4 or 16 bytes. */
  ip: Uint8Array;
  port: number;
  left: number;
  lastSeenMs: number;
  isCompletedCounted?: boolean;
}

/** Counts of one swarm. */
export interface SwarmCounts {
  infoHashHex: string;
  seeders: number;
  leechers: number;
  completed: number;
}

/** Totals over the whole store. */
export interface SwarmTotals {
  torrents: number;
  peers: number;
  seeders: number;
  leechers: number;
  completed: number;
}

/** The tracker's view of live swarms; implemented in memory here. */
export interface SwarmStore {
  /**
   * Record `req` (insert, update or remove the peer) and pick peers for it.
   * @throws {TrackerError} tracker_full when a new peer or swarm would pass the store's caps
   */
  announce(req: AnnounceRequest, options: SwarmAnnounceOptions): SwarmAnnounce;
  /** Counts of one torrent (zeros when unknown). */
  scrape(infoHash: Uint8Array): ScrapeEntry;
  /** Counts of every swarm. */
  swarms(): Iterable<SwarmCounts>;
  /** The live peers of one torrent. */
  peersOf(infoHash: Uint8Array): StoredPeer[];
  /** Every live peer (for snapshots). */
  peers(): Iterable<StoredPeer>;
  /** Put back a snapshotted peer (keeps its last-seen time). */
  restorePeer(peer: StoredPeer): void;
  /** Set a torrent's completed count (from persistent state). */
  setCompleted(infoHash: Uint8Array, count: number): void;
  /** Drop peers silent since before `nowMs - peerTimeout`, examining at most `budget` peers; returns peers dropped. */
  expire(nowMs: number, budget?: number): number;
  totals(): SwarmTotals;
}

/** Options of MemorySwarmStore. */
export interface MemorySwarmStoreOptions {
  /** Peers silent this long expire (default DEFAULT_PEER_TIMEOUT_S). */
  peerTimeoutS?: number;
  maxPeers?: number;
  maxTorrents?: number;
  /** Largest numWant ever asked (sizes scratch buffers; default DEFAULT_NUMWANT_MAX). */
  numWantMax?: number;
}

const FLAG_IPV6 = 1;
const FLAG_SEEDER = 2;
const FLAG_COUNTED = 4;
const ID_WORDS = 5;
/** Per-slot record in #addr: 18 address+port bytes, then the flags byte (one cache line for sampling). */
const ADDR_STRIDE = 20;
const FLAGS_AT = COMPACT_PEER6_BYTES;

class Swarm {
  readonly key: string;
  slots: number[] = [];
  seeders = 0;
  completed = 0;
  index: Map<string, number> | null = null;
  constructor(key: string) {
    this.key = key;
  }
}

function bytesKey(b: Uint8Array): string {
  // One char per byte: a compact, exact Map key for binary ids. The 20-argument call builds a flat string at once.
  if (b.length === 20) {
    return String.fromCharCode(
      b[0]!,
      b[1]!,
      b[2]!,
      b[3]!,
      b[4]!,
      b[5]!,
      b[6]!,
      b[7]!,
      b[8]!,
      b[9]!,
      b[10]!,
      b[11]!,
      b[12]!,
      b[13]!,
      b[14]!,
      b[15]!,
      b[16]!,
      b[17]!,
      b[18]!,
      b[19]!,
    );
  }
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

function keyBytes(key: string): Uint8Array {
  const out = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) out[i] = key.charCodeAt(i);
  return out;
}

/** The in-memory SwarmStore: about 60 bytes per peer in a shared slab of typed arrays, plus ~300 per swarm. */
export class MemorySwarmStore implements SwarmStore {
  readonly #peerTimeoutS: number;
  readonly #maxPeers: number;
  readonly #maxTorrents: number;
  readonly #swarms = new Map<string, Swarm>();
  #cap = 0;
  #ids = new Uint32Array(0);
  #addr = new Uint8Array(0);
  #lastSeenS = new Uint32Array(0);
  #left = new Float64Array(0);
  #pos = new Int32Array(0);
  #free = new Int32Array(0);
  #freeCount = 0;
  #highWater = 0;
  #peerCount = 0;
  #seederCount = 0;
  #sweep: Iterator<Swarm> | null = null;
  readonly #want = new Uint32Array(5);
  readonly #out4: Uint8Array;
  readonly #out6: Uint8Array;
  readonly #outIds4: Uint8Array;
  readonly #outIds6: Uint8Array;
  #marks = new Uint32Array(256);
  #gen = 0;
  #n4 = 0;
  #n6 = 0;
  /** Set by #upsert: the peer existed and was a leecher before this announce. */
  #wasLeecher = false;

  constructor(options: MemorySwarmStoreOptions = {}) {
    this.#peerTimeoutS = options.peerTimeoutS ?? DEFAULT_PEER_TIMEOUT_S;
    this.#maxPeers = options.maxPeers ?? DEFAULT_MAX_PEERS;
    this.#maxTorrents = options.maxTorrents ?? DEFAULT_MAX_TORRENTS;
    const numWantMax = Math.max(1, options.numWantMax ?? DEFAULT_NUMWANT_MAX);
    this.#out4 = new Uint8Array(numWantMax * COMPACT_PEER4_BYTES);
    this.#out6 = new Uint8Array(numWantMax * COMPACT_PEER6_BYTES);
    this.#outIds4 = new Uint8Array(numWantMax * PEER_ID_BYTES);
    this.#outIds6 = new Uint8Array(numWantMax * PEER_ID_BYTES);
    this.#reserve(this.#maxPeers);
  }

  /**
   * Reserve the slab for `maxPeers` up front. Fresh large ArrayBuffers are zero pages that the OS commits only when
   * first written, so RSS follows the live slots; growing by copying instead left freed buffers behind in RSS.
   */
  #reserve(cap: number): void {
    this.#ids = new Uint32Array(cap * ID_WORDS);
    this.#addr = new Uint8Array(cap * ADDR_STRIDE);
    this.#lastSeenS = new Uint32Array(cap);
    this.#left = new Float64Array(cap);
    this.#pos = new Int32Array(cap);
    this.#free = new Int32Array(cap);
    this.#cap = cap;
  }

  #allocSlot(): number {
    // Reuse freed slots first; otherwise take the next never-used one (untouched pages stay uncommitted).
    if (this.#freeCount > 0) return this.#free[--this.#freeCount]!;
    return this.#highWater++;
  }

  /** Position of the peer (words in #want) in `swarm.slots`, or -1. */
  #find(swarm: Swarm, peerId: Uint8Array): number {
    if (swarm.index !== null) {
      const slot = swarm.index.get(bytesKey(peerId));
      return slot === undefined ? -1 : this.#pos[slot]!;
    }
    const want = this.#want;
    const ids = this.#ids;
    const slots = swarm.slots;
    // The last words are the random part of a peer id; the first word is often a shared client prefix.
    const w4 = want[4]!, w3 = want[3]!, w2 = want[2]!, w1 = want[1]!, w0 = want[0]!;
    for (let i = 0; i < slots.length; i++) {
      const o = slots[i]! * ID_WORDS;
      if (ids[o + 4] === w4 && ids[o + 3] === w3 && ids[o + 2] === w2 && ids[o + 1] === w1 && ids[o] === w0) return i;
    }
    return -1;
  }

  #loadWant(peerId: Uint8Array): void {
    const w = this.#want;
    for (let i = 0; i < ID_WORDS; i++) {
      const o = i * 4;
      w[i] = peerId[o]! | (peerId[o + 1]! << 8) | (peerId[o + 2]! << 16) | (peerId[o + 3]! << 24);
    }
  }

  #peerIdOf(slot: number): Uint8Array {
    const out = new Uint8Array(PEER_ID_BYTES);
    this.#writePeerId(slot, out, 0);
    return out;
  }

  #writePeerId(slot: number, out: Uint8Array, at: number): void {
    const o = slot * ID_WORDS;
    for (let i = 0; i < ID_WORDS; i++) {
      const v = this.#ids[o + i]!;
      out[at + 4 * i] = v & 0xff;
      out[at + 4 * i + 1] = (v >>> 8) & 0xff;
      out[at + 4 * i + 2] = (v >>> 16) & 0xff;
      out[at + 4 * i + 3] = v >>> 24;
    }
  }

  #removeAt(swarm: Swarm, i: number): void {
    const slots = swarm.slots;
    const slot = slots[i]!;
    const flags = this.#addr[slot * ADDR_STRIDE + FLAGS_AT]!;
    if (flags & FLAG_SEEDER) {
      swarm.seeders--;
      this.#seederCount--;
    }
    const last = slots.pop()!;
    if (i < slots.length) {
      slots[i] = last;
      this.#pos[last] = i;
    }
    if (swarm.index !== null) {
      swarm.index.delete(bytesKey(this.#peerIdOf(slot)));
      if (slots.length < INDEX_MIN_PEERS / 2) swarm.index = null;
    }
    this.#addr[slot * ADDR_STRIDE + FLAGS_AT] = 0;
    this.#free[this.#freeCount++] = slot;
    this.#peerCount--;
  }

  #setPeer(slot: number, ip: Uint8Array, port: number, left: number, lastSeenS: number, keep: number): void {
    const a = slot * ADDR_STRIDE;
    this.#addr.set(ip, a);
    this.#addr[a + ip.length] = port >>> 8;
    this.#addr[a + ip.length + 1] = port & 0xff;
    this.#addr[slot * ADDR_STRIDE + FLAGS_AT] = (keep & FLAG_COUNTED) | (ip.length === 16 ? FLAG_IPV6 : 0) |
      (left === 0 ? FLAG_SEEDER : 0);
    this.#lastSeenS[slot] = lastSeenS;
    this.#left[slot] = left;
  }

  #swarmFor(key: string): { swarm: Swarm; isNew: boolean } {
    let swarm = this.#swarms.get(key);
    if (swarm !== undefined) return { swarm, isNew: false };
    if (this.#swarms.size >= this.#maxTorrents) {
      throw new TrackerError("tracker_full", "Tracker is full: too many torrents");
    }
    swarm = new Swarm(key);
    this.#swarms.set(key, swarm);
    return { swarm, isNew: true };
  }

  /** Insert or update; returns the peer's position in swarm.slots. */
  #upsert(swarm: Swarm, peerId: Uint8Array, ip: Uint8Array, port: number, left: number, lastSeenS: number): number {
    let i = this.#find(swarm, peerId);
    let slot: number;
    const isNewPeer = i < 0;
    if (isNewPeer) {
      if (this.#peerCount >= this.#maxPeers) throw new TrackerError("tracker_full", "Tracker is full: too many peers");
      slot = this.#allocSlot();
      const o = slot * ID_WORDS;
      this.#ids.set(this.#want, o);
      i = swarm.slots.length;
      swarm.slots.push(slot);
      this.#pos[slot] = i;
      this.#peerCount++;
      this.#addr[slot * ADDR_STRIDE + FLAGS_AT] = 0;
      if (swarm.index !== null) swarm.index.set(bytesKey(peerId), slot);
      else if (swarm.slots.length > INDEX_MIN_PEERS) {
        swarm.index = new Map();
        for (const s of swarm.slots) swarm.index.set(bytesKey(this.#peerIdOf(s)), s);
      }
    } else slot = swarm.slots[i]!;
    const before = this.#addr[slot * ADDR_STRIDE + FLAGS_AT]!;
    this.#wasLeecher = !isNewPeer && (before & FLAG_SEEDER) === 0;
    this.#setPeer(slot, ip, port, left, lastSeenS, before);
    const isSeeder = left === 0;
    if (isSeeder !== ((before & FLAG_SEEDER) !== 0)) {
      const d = isSeeder ? 1 : -1;
      swarm.seeders += d;
      this.#seederCount += d;
    }
    return i;
  }

  announce(req: AnnounceRequest, options: SwarmAnnounceOptions): SwarmAnnounce {
    const key = bytesKey(req.infoHash);
    this.#loadWant(req.peerId);
    if (req.event === "stopped") {
      const swarm = this.#swarms.get(key);
      if (swarm === undefined) {
        return { complete: 0, incomplete: 0, peers4: EMPTY, peers6: EMPTY, isNewlyCompleted: false, isNewSwarm: false };
      }
      const i = this.#find(swarm, req.peerId);
      let isNewlyCompleted = false;
      if (i >= 0) {
        const flags = this.#addr[swarm.slots[i]! * ADDR_STRIDE + FLAGS_AT]!;
        // A leecher that stops with nothing left finished without saying so (aria2c with --seed-time=0).
        if (req.left === 0 && (flags & (FLAG_SEEDER | FLAG_COUNTED)) === 0) {
          swarm.completed++;
          isNewlyCompleted = true;
        }
        this.#removeAt(swarm, i);
      }
      const result = {
        complete: swarm.seeders,
        incomplete: swarm.slots.length - swarm.seeders,
        peers4: EMPTY,
        peers6: EMPTY,
        isNewlyCompleted,
        isNewSwarm: false,
      };
      if (swarm.slots.length === 0 && swarm.completed === 0) this.#swarms.delete(key);
      return result;
    }
    const { swarm, isNew } = this.#swarmFor(key);
    const i = this.#upsert(swarm, req.peerId, options.ip, req.port, req.left, Math.floor(options.nowMs / 1000));
    const slot = swarm.slots[i]!;
    let isNewlyCompleted = false;
    // `completed` counts once per peer; so does a known leecher reaching left=0 without the event (some clients
    // skip it), but a peer first seen as a seeder does not count.
    const isFinished = req.event === "completed" || (req.left === 0 && this.#wasLeecher);
    if (isFinished && (this.#addr[slot * ADDR_STRIDE + FLAGS_AT]! & FLAG_COUNTED) === 0) {
      this.#addr[slot * ADDR_STRIDE + FLAGS_AT] = this.#addr[slot * ADDR_STRIDE + FLAGS_AT]! | FLAG_COUNTED;
      swarm.completed++;
      isNewlyCompleted = true;
    }
    const result: SwarmAnnounce = {
      complete: swarm.seeders,
      incomplete: swarm.slots.length - swarm.seeders,
      peers4: EMPTY,
      peers6: EMPTY,
      isNewlyCompleted,
      isNewSwarm: isNew,
    };
    if (req.numWant > 0) this.#sample(swarm, i, req.left === 0, req.numWant, options, result);
    return result;
  }

  /** Copy one peer into the output buffers. */
  #take(slot: number, withIds: boolean): void {
    const a = slot * ADDR_STRIDE;
    const addr = this.#addr;
    if (this.#addr[slot * ADDR_STRIDE + FLAGS_AT]! & FLAG_IPV6) {
      const o = this.#n6 * COMPACT_PEER6_BYTES;
      this.#out6.set(addr.subarray(a, a + COMPACT_PEER6_BYTES), o);
      if (withIds) this.#writePeerId(slot, this.#outIds6, this.#n6 * PEER_ID_BYTES);
      this.#n6++;
    } else {
      const o = this.#n4 * COMPACT_PEER4_BYTES;
      const out = this.#out4;
      out[o] = addr[a]!;
      out[o + 1] = addr[a + 1]!;
      out[o + 2] = addr[a + 2]!;
      out[o + 3] = addr[a + 3]!;
      out[o + 4] = addr[a + 4]!;
      out[o + 5] = addr[a + 5]!;
      if (withIds) this.#writePeerId(slot, this.#outIds4, this.#n4 * PEER_ID_BYTES);
      this.#n4++;
    }
  }

  /**
   * Fill result's peers with up to `numWant` random eligible peers (not `self`; no seeders for a seeder).
   * The peer arrays are views into scratch buffers, valid until the next announce.
   */
  #sample(
    swarm: Swarm,
    self: number,
    isSeeder: boolean,
    numWant: number,
    options: SwarmAnnounceOptions,
    result: SwarmAnnounce,
  ): void {
    const slots = swarm.slots;
    const n = slots.length;
    const eligible = isSeeder ? n - swarm.seeders : n - 1;
    const want = Math.min(numWant, eligible, this.#out4.length / COMPACT_PEER4_BYTES);
    if (want <= 0) return;
    const addr = this.#addr;
    const withIds = options.withPeerIds === true;
    this.#n4 = 0;
    this.#n6 = 0;
    if (want === eligible) {
      for (let i = 0; i < n; i++) {
        const slot = slots[i]!;
        if (i !== self && !(isSeeder && (addr[slot * ADDR_STRIDE + FLAGS_AT]! & FLAG_SEEDER))) {
          this.#take(slot, withIds);
        }
      }
    } else {
      // Rejection sampling over positions, marked with a generation stamp (no per-call allocation), a bounded
      // number of tries, then a linear fill from a random start.
      if (this.#marks.length < n) this.#marks = new Uint32Array(Math.max(n, 2 * this.#marks.length));
      const marks = this.#marks;
      let gen = ++this.#gen;
      if (gen === 0xffffffff) {
        marks.fill(0);
        gen = this.#gen = 1;
      }
      marks[self] = gen;
      const random = options.random;
      let taken = 0;
      for (let tries = want * 3; tries > 0 && taken < want; tries--) {
        const i = (random() * n) | 0;
        if (marks[i] === gen) continue;
        marks[i] = gen;
        const slot = slots[i]!;
        if (isSeeder && (addr[slot * ADDR_STRIDE + FLAGS_AT]! & FLAG_SEEDER)) continue;
        this.#take(slot, withIds);
        taken++;
      }
      const start = (random() * n) | 0;
      for (let k = 0; k < n && taken < want; k++) {
        const i = (start + k) % n;
        if (marks[i] === gen) continue;
        const slot = slots[i]!;
        if (isSeeder && (addr[slot * ADDR_STRIDE + FLAGS_AT]! & FLAG_SEEDER)) continue;
        this.#take(slot, withIds);
        taken++;
      }
    }
    result.peers4 = this.#out4.subarray(0, this.#n4 * COMPACT_PEER4_BYTES);
    result.peers6 = this.#n6 === 0 ? EMPTY : this.#out6.subarray(0, this.#n6 * COMPACT_PEER6_BYTES);
    if (withIds) {
      result.peerIds4 = this.#outIds4.slice(0, this.#n4 * PEER_ID_BYTES);
      result.peerIds6 = this.#outIds6.slice(0, this.#n6 * PEER_ID_BYTES);
    }
  }

  scrape(infoHash: Uint8Array): ScrapeEntry {
    const swarm = this.#swarms.get(bytesKey(infoHash));
    if (swarm === undefined) return { complete: 0, downloaded: 0, incomplete: 0 };
    return { complete: swarm.seeders, downloaded: swarm.completed, incomplete: swarm.slots.length - swarm.seeders };
  }

  *swarms(): Iterable<SwarmCounts> {
    for (const swarm of this.#swarms.values()) {
      yield {
        infoHashHex: toHex(keyBytes(swarm.key)),
        seeders: swarm.seeders,
        leechers: swarm.slots.length - swarm.seeders,
        completed: swarm.completed,
      };
    }
  }

  #stored(infoHash: Uint8Array, slot: number): StoredPeer {
    const flags = this.#addr[slot * ADDR_STRIDE + FLAGS_AT]!;
    const ipLength = flags & FLAG_IPV6 ? 16 : 4;
    const a = slot * ADDR_STRIDE;
    return {
      infoHash,
      peerId: this.#peerIdOf(slot),
      ip: this.#addr.slice(a, a + ipLength),
      port: (this.#addr[a + ipLength]! << 8) | this.#addr[a + ipLength + 1]!,
      left: this.#left[slot]!,
      lastSeenMs: this.#lastSeenS[slot]! * 1000,
      isCompletedCounted: (flags & FLAG_COUNTED) !== 0,
    };
  }

  peersOf(infoHash: Uint8Array): StoredPeer[] {
    const swarm = this.#swarms.get(bytesKey(infoHash));
    if (swarm === undefined) return [];
    return swarm.slots.map((slot) => this.#stored(infoHash, slot));
  }

  *peers(): Iterable<StoredPeer> {
    for (const swarm of this.#swarms.values()) {
      if (swarm.slots.length === 0) continue;
      const infoHash = keyBytes(swarm.key);
      // Consumers (snapshots) iterate synchronously, so the list cannot change under us.
      for (const slot of swarm.slots) yield this.#stored(infoHash, slot);
    }
  }

  restorePeer(peer: StoredPeer): void {
    if (peer.infoHash.length !== INFO_HASH_BYTES || peer.peerId.length !== PEER_ID_BYTES) return;
    if ((peer.ip.length !== 4 && peer.ip.length !== 16) || peer.port < 1 || peer.port > 65535) return;
    const { swarm } = this.#swarmFor(bytesKey(peer.infoHash));
    this.#loadWant(peer.peerId);
    const i = this.#upsert(swarm, peer.peerId, peer.ip, peer.port, peer.left, Math.floor(peer.lastSeenMs / 1000));
    if (peer.isCompletedCounted === true) {
      const slot = swarm.slots[i]!;
      this.#addr[slot * ADDR_STRIDE + FLAGS_AT] = this.#addr[slot * ADDR_STRIDE + FLAGS_AT]! | FLAG_COUNTED;
    }
  }

  setCompleted(infoHash: Uint8Array, count: number): void {
    if (count <= 0 && !this.#swarms.has(bytesKey(infoHash))) return;
    this.#swarmFor(bytesKey(infoHash)).swarm.completed = count;
  }

  expire(nowMs: number, budget: number = Number.POSITIVE_INFINITY): number {
    const cutoffS = Math.floor(nowMs / 1000) - this.#peerTimeoutS;
    let examined = 0;
    let dropped = 0;
    // Resume where the last call stopped and wrap around at most once per call (so a full sweep covers everyone).
    let isFresh = this.#sweep === null;
    this.#sweep ??= this.#swarms.values();
    while (examined < budget) {
      const next = this.#sweep.next();
      if (next.done) {
        if (isFresh) {
          this.#sweep = null;
          break;
        }
        this.#sweep = this.#swarms.values();
        isFresh = true;
        continue;
      }
      const swarm = next.value;
      const slots = swarm.slots;
      for (let i = slots.length - 1; i >= 0; i--) {
        examined++;
        if (this.#lastSeenS[slots[i]!]! < cutoffS) {
          this.#removeAt(swarm, i);
          dropped++;
        }
      }
      if (slots.length === 0 && swarm.completed === 0) this.#swarms.delete(swarm.key);
    }
    return dropped;
  }

  totals(): SwarmTotals {
    let completed = 0;
    for (const swarm of this.#swarms.values()) completed += swarm.completed;
    return {
      torrents: this.#swarms.size,
      peers: this.#peerCount,
      seeders: this.#seederCount,
      leechers: this.#peerCount - this.#seederCount,
      completed,
    };
  }
}

const EMPTY = new Uint8Array(0);
