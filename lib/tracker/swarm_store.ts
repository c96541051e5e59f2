// SwarmStore: the live peers of every torrent (BEP 3 announce semantics) and MemorySwarmStore, its compact in-memory
// implementation. Time (`nowMs`) and randomness (`random`) come in as parameters; nothing here touches I/O.
//
// Invariants of MemorySwarmStore (the shared mutable state of the tracker):
// - A peer is identified by (info hash, peer id), and only its own client changes it: one with the BEP 3 key the peer
//   is bound to (FLAG_KEYED), or, without one, from the peer's address (#19; docs/ARCHITECTURE.md).
// - Each swarm keeps its peers contiguous in one block of records at positions [0, n): [0, nSeed) are seeders,
//   [nSeed, n) leechers (a new peer is most often a leecher: it is appended, nothing moves). A record is split in two:
//   REC_WORDS cold words (peer id, last seen, left, key) at word `base` of `rec`, and HOT_WORDS hot words (address,
//   port + flags: what a reply copies) at word `hbase` of the same array, in its hot region. Removal and leecher/seeder changes move both halves
//   (swap-remove), so a block stays dense and a sample of aligned 8-record blocks reads one cache line per block. A
//   block holds `cap` = 2^order records: it starts at MIN_CAP, doubles when full and halves on sweep when a quarter
//   full.
// - Blocks up to 2^MAX_ORDER records live in one arena (a buddy allocator; free blocks are linked through their own
//   first cold words and marked in `#freeOrder`); a larger swarm has its own array (`order` -1) with both regions.
// - An IPv4 record holds the address in its first hot word; an IPv6 record (FLAG_IPV6) holds an index into the store's
//   `#v6` slab of 4-word addresses instead (IPv6 is rare; one slab with a free list keeps records fixed-size).
// - Swarms with more than INDEX_MIN_PEERS peers also keep `table`, an open-addressing hash (linear probing, backward
//   shift deletion) of peer id → cell (an 8-bit fingerprint of the id's hash, position + 1); smaller ones are
//   scanned. Every record move updates it.
// - `completed` counts each peer once (FLAG_COUNTED): on event=completed, or when a known leecher announces or stops
//   with left=0. A swarm goes with its last peer whatever its count: the caller persists each new completion
//   (isNewlyCompleted) and hands the count back through `completedOf` when the swarm comes again.

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
/** Swarms larger than this get a peer id hash table; smaller ones are scanned linearly (faster and smaller). */
export const INDEX_MIN_PEERS = 32;
/** Peers one swarm may hold: a table cell keeps position + 1 in its low 24 bits (and a fingerprint above). */
export const MAX_SWARM_PEERS = 0xffffff - 1;
/** The position bits of a table cell. */
const CELL_POS = 0xffffff;

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
  /** The BEP 3 key the peer is bound to (32 bits), if it sent one. */
  key?: number;
}

/**
 * The snapshot record (little-endian, fixed size): info hash (20 bytes) at 0, peer id (20) at 20, address (16) at 40
 * (IPv4 in its first 4 bytes, the rest zero, unless FLAG_IPV6), port (u16) at 56, flags (u8) at 58 (1 IPv6,
 * 2 completion counted, 4 keyed), a zero byte, last seen in seconds (u32) at 60, left (u64 as low, high u32) at 64,
 * key (u32, zero unless keyed) at 72.
 */
export const SWARM_RECORD_BYTES = 76;
/** Names the record layout; stored with each snapshot so that a changed layout is never misread. */
export const SWARM_RECORD_FORMAT = "btool-swarm-76-v2";
/** Flags byte of a snapshot record. */
export const SwarmRecordFlag = { Ipv6: 1, CompletionCounted: 2, Keyed: 4 } as const;

/** Where an export over the swarms stands (from `exportCursor()`). */
export interface SwarmExportCursor {
  /** Records exported so far. */
  readonly records: number;
  /** Every swarm has been exported. */
  readonly isDone: boolean;
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
  /** A new position for `exportRecords`, before the first swarm. */
  exportCursor(): SwarmExportCursor;
  /**
   * Copy the next live peers as SWARM_RECORD_BYTES-byte records (the snapshot format; see `SWARM_RECORD_FORMAT`)
   * into `out`, resuming at `cursor`: whole swarms while they fit, each copied in one go so that its records are
   * consistent. Between calls the store may change (announces, expiry): swarms not yet reached are exported as they
   * are then. A swarm larger than `out` is copied at once into the cursor and handed out over several calls.
   * @returns bytes written (whole records; at least one record unless the export is done); 0 when done
   */
  exportRecords(cursor: SwarmExportCursor, out: Uint8Array): number;
  /**
   * Put back the peers of exported records (whole records only), keeping last-seen times and completion flags.
   * Records last seen before `minLastSeenMs` or malformed (port 0) are skipped.
   * @returns peers restored
   * @throws {TrackerError} tracker_full when the store's caps are reached (peers before it stay restored)
   */
  importRecords(records: Uint8Array, options?: { minLastSeenMs?: number }): number;
  /** Set the completed count of a torrent's live swarm (none: nothing to do; see MemorySwarmStoreOptions.completedOf). */
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
  /**
   * The persisted completed count of a torrent (default: none, 0). The store keeps a count only while its swarm has
   * peers; it asks for it when it makes a swarm and when a torrent without one is scraped.
   */
  completedOf?: (infoHash: Uint8Array) => number;
}

const FLAG_IPV6 = 1;
/** The record's W_KEY word holds the key the peer announced with (BEP 3 `key`; any 32 bits, 0 included). */
const FLAG_KEYED = 2;
const FLAG_COUNTED = 4;
/** Cold record words (`rec`): 0–4 peer id, 5 last seen (s), 6–7 left (low, high 32 bits), 8 key (with FLAG_KEYED). */
const REC_WORDS = 9;
const W_ID = 0;
const W_SEEN = 5;
const W_LEFT_LO = 6;
const W_LEFT_HI = 7;
const W_KEY = 8;
const ID_WORDS = 5;
/** Hot record words (`hot`, what a reply copies, at the same record position): 0 IPv4 address (big-endian) or IPv6
 * slab index, 1 port | flags << 16. Kept apart so that a sample reads 8 bytes a peer (a block of SAMPLE_RUN peers is
 * two cache lines) instead of whole records. */
const HOT_WORDS = 2;
const H_ADDR = 0;
const H_PORT = 1;
/** Records a new swarm has room for (most swarms are small). */
const MIN_CAP = 2;
const TWO_32 = 4294967296;
/** Largest arena block: 2^16 records (2.5 MiB); larger swarms (rare) get their own arrays. */
const MAX_ORDER = 16;
const EMPTY_WORDS = new Uint32Array(0);
/** End of a free list. */
const NO_BLOCK = 0xffffffff;
/** Records taken in a row when sampling a large swarm: an aligned block of 16 hot records is 128 bytes, two adjacent
 * cache lines (arena blocks are aligned to their size, and a swarm's block holds at least MIN_CAP records). */
const SAMPLE_RUN = 16;

// The refusals of a full store, built once: a full store refuses every new peer, and an Error's stack capture costs
// more than a whole announce (~5 µs against ~2).
const FULL_PEERS = new TrackerError("tracker_full", "Tracker is full: too many peers");
const FULL_SWARM = new TrackerError("tracker_full", "Tracker is full: too many peers here");
const FULL_TORRENTS = new TrackerError("tracker_full", "Tracker is full: too many torrents");
const FULL_MEMORY = new TrackerError("tracker_full", "Tracker is full: no memory");
const PEER_ID_TAKEN = new TrackerError("peer_id_taken", "Peer id is in use by another client");

class Swarm {
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
function word(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24);
}

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
 * 20-byte key (the swarm object, read next anyway, has it): at 100,000 swarms the table has 262,144 slots, and whole
 * keys there cost 4 MB more.
 */
class SwarmIndex {
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

  /** The longest probe run (see MemorySwarmStore.longestProbes). */
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

/** The in-memory SwarmStore: 44 bytes per peer (36 cold, 8 hot) in one arena (plus up to 2× growth slack), ~150 per
 * swarm. */
export class MemorySwarmStore implements SwarmStore {
  readonly #peerTimeoutS: number;
  readonly #maxPeers: number;
  readonly #maxTorrents: number;
  readonly #completedOf: ((infoHash: Uint8Array) => number) | undefined;
  /** Every swarm, in creation order (iteration, sweeps, exports); lookups by hash go through #index. */
  readonly #swarms = new Set<Swarm>();
  readonly #index = new SwarmIndex();
  #peerCount = 0;
  #seederCount = 0;
  #sweep: Iterator<Swarm> | null = null;
  /** The peer id being looked up, as 5 words. */
  readonly #want = new Uint32Array(ID_WORDS);
  #v6 = new Uint32Array(0);
  #v6Free: number[] = [];
  #v6High = 0;
  readonly #out4: Uint8Array;
  readonly #out4View: DataView;
  readonly #out6: Uint8Array;
  readonly #outIds4: Uint8Array;
  readonly #outIds6: Uint8Array;
  /** Views of #out4 and #out6 by peer count, made once: a fresh view costs ~40 ns, and a reply needs one. */
  readonly #views4: Uint8Array[];
  readonly #views6: Uint8Array[];
  /** One reserved arena of records for every swarm's block (a buddy allocator over power-of-two blocks). Fresh
   * large ArrayBuffers are zero pages the OS commits only when first written, so RSS follows the blocks in use;
   * per-swarm ArrayBuffers cost ~100 bytes of allocator overhead each and fragment the native heap. */
  readonly #arena: Uint32Array;
  readonly #arenaCap: number;
  #arenaHigh = 0;
  /** Free arena blocks by order: doubly linked lists threaded through the free blocks' first two words (previous,
   * next record offset; NO_BLOCK ends), so allocation, buddy removal and freeing are O(1) with no JS objects. */
  readonly #freeHead = new Int32Array(MAX_ORDER + 1).fill(-1);
  /** By record offset / 2: 1 + the order of the free block starting there, or 0. */
  readonly #freeOrder: Int8Array;
  /** Blocks picked by one sample. */
  readonly #picked: Int32Array;
  /** Keeps the touch loop of #sample from being optimized away. */
  #touched = 0;
  #n4 = 0;
  #n6 = 0;
  /** Set by #upsert: the peer existed and was a leecher before this announce. */
  #wasLeecher = false;

  constructor(options: MemorySwarmStoreOptions = {}) {
    this.#peerTimeoutS = options.peerTimeoutS ?? DEFAULT_PEER_TIMEOUT_S;
    this.#maxPeers = options.maxPeers ?? DEFAULT_MAX_PEERS;
    this.#maxTorrents = options.maxTorrents ?? DEFAULT_MAX_TORRENTS;
    this.#completedOf = options.completedOf;
    const numWantMax = Math.max(1, options.numWantMax ?? DEFAULT_NUMWANT_MAX);
    this.#out4 = new Uint8Array(numWantMax * COMPACT_PEER4_BYTES);
    this.#out4View = new DataView(this.#out4.buffer);
    this.#out6 = new Uint8Array(numWantMax * COMPACT_PEER6_BYTES);
    this.#outIds4 = new Uint8Array(numWantMax * PEER_ID_BYTES);
    this.#outIds6 = new Uint8Array(numWantMax * PEER_ID_BYTES);
    this.#views4 = Array.from({ length: numWantMax + 1 }, (_, n) => this.#out4.subarray(0, n * COMPACT_PEER4_BYTES));
    this.#views6 = Array.from({ length: numWantMax + 1 }, (_, n) => this.#out6.subarray(0, n * COMPACT_PEER6_BYTES));
    this.#picked = new Int32Array(Math.ceil(numWantMax / SAMPLE_RUN) + 2);
    // Doubling leaves each block at most half empty, plus buddy slack and the tiny blocks of empty swarms.
    const top = 1 << MAX_ORDER;
    this.#arenaCap =
      (Math.ceil((2 * this.#maxPeers + 2 * MIN_CAP * Math.min(this.#maxTorrents, this.#maxPeers)) / top) +
        1) * top;
    // Cold words of every record first, then the hot region (HOT_WORDS a record, same record offsets).
    this.#arena = new Uint32Array(this.#arenaCap * (REC_WORDS + HOT_WORDS));
    this.#freeOrder = new Int8Array(this.#arenaCap >>> 1);
  }

  // --- arena --------------------------------------------------------------------------------------------------

  #pushFree(off: number, order: number): void {
    const arena = this.#arena;
    const next = this.#freeHead[order]!;
    arena[off * REC_WORDS] = NO_BLOCK;
    arena[off * REC_WORDS + 1] = next < 0 ? NO_BLOCK : next;
    if (next >= 0) arena[next * REC_WORDS] = off;
    this.#freeHead[order] = off;
    this.#freeOrder[off >>> 1] = order + 1;
  }

  #unlinkFree(off: number, order: number): void {
    const arena = this.#arena;
    const prev = arena[off * REC_WORDS]!;
    const next = arena[off * REC_WORDS + 1]!;
    if (prev === NO_BLOCK) this.#freeHead[order] = next === NO_BLOCK ? -1 : next;
    else arena[prev * REC_WORDS + 1] = next;
    if (next !== NO_BLOCK) arena[next * REC_WORDS] = prev;
    this.#freeOrder[off >>> 1] = 0;
  }

  /** A free block of 2^order records (its record offset). @throws {TrackerError} tracker_full */
  #arenaAlloc(order: number): number {
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
      if (this.#arenaHigh + top > this.#arenaCap) throw FULL_MEMORY;
      off = this.#arenaHigh;
      this.#arenaHigh += top;
      k = MAX_ORDER;
    }
    // Split: keep the lower half, free the upper one, down to the wanted order.
    while (k > order) {
      k--;
      this.#pushFree(off + (1 << k), k);
    }
    return off;
  }

  #arenaFree(off: number, order: number): void {
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

  /** Give `swarm` a new block of `cap` records (the caller copies and frees the old one). */
  #place(swarm: Swarm, cap: number): void {
    const order = 31 - Math.clz32(cap);
    if (order <= MAX_ORDER) {
      const off = this.#arenaAlloc(order);
      swarm.rec = this.#arena;
      swarm.base = off * REC_WORDS;
      swarm.hbase = this.#arenaCap * REC_WORDS + off * HOT_WORDS;
      swarm.order = order;
    } else {
      swarm.rec = new Uint32Array(cap * (REC_WORDS + HOT_WORDS));
      swarm.base = 0;
      swarm.hbase = cap * REC_WORDS;
      swarm.order = -1;
    }
    swarm.cap = cap;
  }

  #dropSwarm(swarm: Swarm): void {
    this.#swarms.delete(swarm);
    this.#index.delete(swarm);
    if (swarm.order >= 0) this.#arenaFree(swarm.base / REC_WORDS, swarm.order);
    swarm.rec = EMPTY_WORDS;
    swarm.order = -1;
  }

  #loadWant(peerId: Uint8Array): void {
    const w = this.#want;
    for (let i = 0; i < ID_WORDS; i++) {
      const o = i * 4;
      w[i] = peerId[o]! | (peerId[o + 1]! << 8) | (peerId[o + 2]! << 16) | (peerId[o + 3]! << 24);
    }
  }

  // --- peer id → position -------------------------------------------------------------------------------------

  /** Position of the peer (words in #want) in `swarm`, or -1. */
  #find(swarm: Swarm): number {
    const want = this.#want;
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
  #cellOf(swarm: Swarm, table: Uint32Array, pos: number): number {
    const rec = swarm.rec;
    const o = swarm.base + pos * REC_WORDS + W_ID;
    const mask = table.length - 1;
    let h = recordIdHash(rec, o) & mask;
    while ((table[h]! & CELL_POS) !== pos + 1) h = (h + 1) & mask;
    return h;
  }

  #tableInsert(swarm: Swarm, table: Uint32Array, pos: number): void {
    const rec = swarm.rec;
    const o = swarm.base + pos * REC_WORDS + W_ID;
    const mask = table.length - 1;
    const hash = recordIdHash(rec, o);
    let h = hash & mask;
    while (table[h] !== 0) h = (h + 1) & mask;
    table[h] = ((hash & ~CELL_POS) | (pos + 1)) >>> 0;
  }

  /** Point the cell at `cell` to position `pos` (its fingerprint stays). */
  #setCell(table: Uint32Array, cell: number, pos: number): void {
    table[cell] = ((table[cell]! & ~CELL_POS) | (pos + 1)) >>> 0;
  }

  /** Remove the cell of position `pos` (backward shift deletion keeps probe chains intact). */
  #tableDelete(swarm: Swarm, table: Uint32Array, pos: number): void {
    const rec = swarm.rec;
    const mask = table.length - 1;
    let hole = this.#cellOf(swarm, table, pos);
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

  #rebuildTable(swarm: Swarm): void {
    if (swarm.n <= INDEX_MIN_PEERS / 2) {
      swarm.table = null;
      return;
    }
    let size = 64;
    while (size < swarm.cap * 2) size *= 2;
    const table = new Uint32Array(size);
    swarm.table = table;
    for (let i = 0; i < swarm.n; i++) this.#tableInsert(swarm, table, i);
  }

  // --- records ------------------------------------------------------------------------------------------------

  /** Move the record at `from` to `to` (overwriting it), keeping the table in step. */
  #move(swarm: Swarm, from: number, to: number): void {
    if (from === to) return;
    if (swarm.table !== null) this.#setCell(swarm.table, this.#cellOf(swarm, swarm.table, from), to);
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
      const ca = this.#cellOf(swarm, table, a);
      const cb = this.#cellOf(swarm, table, b);
      this.#setCell(table, ca, b);
      this.#setCell(table, cb, a);
    }
    swapWords(swarm.rec, swarm.base + a * REC_WORDS, swarm.base + b * REC_WORDS, REC_WORDS);
    swapWords(swarm.rec, swarm.hbase + a * HOT_WORDS, swarm.hbase + b * HOT_WORDS, HOT_WORDS);
  }

  #resize(swarm: Swarm, cap: number): void {
    const old = swarm.rec, oldBase = swarm.base, oldOrder = swarm.order;
    const oldHbase = swarm.hbase;
    this.#place(swarm, cap);
    swarm.rec.set(old.subarray(oldBase, oldBase + swarm.n * REC_WORDS), swarm.base);
    swarm.rec.set(old.subarray(oldHbase, oldHbase + swarm.n * HOT_WORDS), swarm.hbase);
    if (oldOrder >= 0) this.#arenaFree(oldBase / REC_WORDS, oldOrder);
    if (swarm.table !== null || swarm.n > INDEX_MIN_PEERS) this.#rebuildTable(swarm);
  }

  #removeAt(swarm: Swarm, i: number): void {
    const h = swarm.hbase + i * HOT_WORDS;
    if ((swarm.rec[h + H_PORT]! >>> 16) & FLAG_IPV6) this.#freeV6(swarm.rec[h + H_ADDR]!);
    if (swarm.table !== null) this.#tableDelete(swarm, swarm.table, i);
    const last = swarm.n - 1;
    if (i < swarm.nSeed) {
      // Seeder: the last seeder fills the hole, the last record fills the last seeder's place.
      const lastSeed = swarm.nSeed - 1;
      this.#move(swarm, lastSeed, i);
      this.#move(swarm, last, lastSeed);
      swarm.nSeed--;
      this.#seederCount--;
    } else this.#move(swarm, last, i);
    swarm.n = last;
    this.#peerCount--;
    if (swarm.table !== null && swarm.n <= INDEX_MIN_PEERS / 2) swarm.table = null;
  }

  /** Shrink a swarm's arrays when it is at most a quarter full (after expiry). */
  #maybeShrink(swarm: Swarm): void {
    const cap = swarm.cap;
    if (cap > MIN_CAP && swarm.n * 4 <= cap) this.#resize(swarm, Math.max(MIN_CAP, cap >>> 1));
  }

  #allocV6(ip: Uint8Array): number {
    let k = this.#v6Free.pop();
    if (k === undefined) {
      k = this.#v6High++;
      if (k * 4 >= this.#v6.length) {
        const grown = new Uint32Array(Math.max(64, this.#v6.length * 2));
        grown.set(this.#v6);
        this.#v6 = grown;
      }
    }
    const o = k * 4;
    for (let w = 0; w < 4; w++) {
      this.#v6[o + w] = (ip[4 * w]! << 24 | ip[4 * w + 1]! << 16 | ip[4 * w + 2]! << 8 | ip[4 * w + 3]!) >>> 0;
    }
    return k;
  }

  #freeV6(k: number): void {
    this.#v6Free.push(k);
  }

  /** Write address, port, flags, last seen and left into the record at `i` (its id is already there). */
  #setPeer(swarm: Swarm, i: number, ip: Uint8Array, port: number, left: number, lastSeenS: number): void {
    const rec = swarm.rec;
    const o = swarm.base + i * REC_WORDS;
    const h = swarm.hbase + i * HOT_WORDS;
    const old = rec[h + H_PORT]! >>> 16;
    let flags = old & (FLAG_COUNTED | FLAG_KEYED);
    if (old & FLAG_IPV6) this.#freeV6(rec[h + H_ADDR]!);
    if (ip.length === 16) {
      flags |= FLAG_IPV6;
      rec[h + H_ADDR] = this.#allocV6(ip);
    } else {
      rec[h + H_ADDR] = ((ip[0]! << 24) | (ip[1]! << 16) | (ip[2]! << 8) | ip[3]!) >>> 0;
    }
    rec[h + H_PORT] = (flags << 16) | port;
    rec[o + W_SEEN] = lastSeenS;
    rec[o + W_LEFT_LO] = left % TWO_32;
    rec[o + W_LEFT_HI] = Math.floor(left / TWO_32);
  }

  #swarmFor(infoHash: Uint8Array): Swarm {
    return this.#index.get(infoHash) ?? this.#newSwarm(infoHash, 0, MIN_CAP);
  }

  /** A new swarm for the info hash at `b[at, at + 20)`, not yet stored. */
  #newSwarm(b: Uint8Array, at: number, cap: number): Swarm {
    if (this.#swarms.size >= this.#maxTorrents) throw FULL_TORRENTS;
    const swarm = new Swarm(b, at);
    if (this.#completedOf !== undefined) swarm.completed = this.#completedOf(b.subarray(at, at + INFO_HASH_BYTES));
    this.#place(swarm, cap);
    this.#swarms.add(swarm);
    this.#index.add(swarm);
    return swarm;
  }

  /** Insert or update the peer in #want; returns its position (seeders first, leechers after). */
  #upsert(swarm: Swarm, ip: Uint8Array, port: number, left: number, lastSeenS: number): number {
    return this.#upsertAt(swarm, this.#find(swarm), ip, port, left, lastSeenS);
  }

  /** #upsert of the peer found at `i` (-1: not there). */
  #upsertAt(swarm: Swarm, i: number, ip: Uint8Array, port: number, left: number, lastSeenS: number): number {
    const isSeeder = left === 0;
    if (i < 0) {
      if (this.#peerCount >= this.#maxPeers) throw FULL_PEERS;
      if (swarm.n >= MAX_SWARM_PEERS) throw FULL_SWARM;
      if (swarm.n === swarm.cap) this.#resize(swarm, swarm.cap * 2);
      const end = swarm.n++;
      if (isSeeder) {
        // A new seeder takes the first leecher's place; that leecher moves to the end.
        i = swarm.nSeed++;
        this.#move(swarm, i, end);
        this.#seederCount++;
      } else i = end;
      const want = this.#want;
      const o = swarm.base + i * REC_WORDS + W_ID;
      for (let w = 0; w < ID_WORDS; w++) swarm.rec[o + w] = want[w]!;
      swarm.rec[swarm.hbase + i * HOT_WORDS + H_PORT] = 0;
      if (swarm.table !== null) this.#tableInsert(swarm, swarm.table, i);
      else if (swarm.n > INDEX_MIN_PEERS) this.#rebuildTable(swarm);
      this.#peerCount++;
      this.#setPeer(swarm, i, ip, port, left, lastSeenS);
      this.#wasLeecher = false;
      return i;
    }
    const wasSeeder = i < swarm.nSeed;
    this.#wasLeecher = !wasSeeder;
    this.#setPeer(swarm, i, ip, port, left, lastSeenS);
    if (isSeeder && !wasSeeder) {
      const to = swarm.nSeed++;
      this.#swap(swarm, i, to);
      i = to;
      this.#seederCount++;
    } else if (!isSeeder && wasSeeder) {
      const to = --swarm.nSeed;
      this.#swap(swarm, i, to);
      i = to;
      this.#seederCount--;
    }
    return i;
  }

  announce(req: AnnounceRequest, options: SwarmAnnounceOptions): SwarmAnnounce {
    this.#loadWant(req.peerId);
    if (req.event === "stopped") {
      const swarm = this.#index.get(req.infoHash);
      if (swarm === undefined) {
        return { complete: 0, incomplete: 0, peers4: EMPTY, peers6: EMPTY, isNewlyCompleted: false, isNewSwarm: false };
      }
      const i = this.#find(swarm);
      let isNewlyCompleted = false;
      // Someone else's stop (another key, or another address without one) is a stop of a peer we do not know.
      if (i >= 0 && this.#isOwner(swarm, i, options.ip, req.key)) {
        const flags = swarm.rec[swarm.hbase + i * HOT_WORDS + H_PORT]! >>> 16;
        // A leecher that stops with nothing left finished without saying so (aria2c with --seed-time=0).
        if (req.left === 0 && i >= swarm.nSeed && (flags & FLAG_COUNTED) === 0) {
          swarm.completed++;
          isNewlyCompleted = true;
        }
        this.#removeAt(swarm, i);
      }
      const result = {
        complete: swarm.nSeed,
        incomplete: swarm.n - swarm.nSeed,
        peers4: EMPTY,
        peers6: EMPTY,
        isNewlyCompleted,
        isNewSwarm: false,
      };
      if (swarm.n === 0) this.#dropSwarm(swarm);
      return result;
    }
    const sizeBefore = this.#swarms.size;
    const swarm = this.#swarmFor(req.infoHash);
    const isNew = this.#swarms.size !== sizeBefore;
    const found = this.#find(swarm);
    // Only the peer's own client may move, complete or re-count it (#19).
    if (found >= 0 && !this.#isOwner(swarm, found, options.ip, req.key)) throw PEER_ID_TAKEN;
    const i = this.#upsertAt(swarm, found, options.ip, req.port, req.left, Math.floor(options.nowMs / 1000));
    if (req.key !== undefined) this.#bindKey(swarm, i, req.key);
    let isNewlyCompleted = false;
    // `completed` counts once per peer; so does a known leecher reaching left=0 without the event (some clients
    // skip it), but a peer first seen as a seeder does not count.
    const isFinished = req.event === "completed" || (req.left === 0 && this.#wasLeecher);
    const pw = swarm.hbase + i * HOT_WORDS + H_PORT;
    if (isFinished && ((swarm.rec[pw]! >>> 16) & FLAG_COUNTED) === 0) {
      swarm.rec[pw] = swarm.rec[pw]! | (FLAG_COUNTED << 16);
      swarm.completed++;
      isNewlyCompleted = true;
    }
    const result: SwarmAnnounce = {
      complete: swarm.nSeed,
      incomplete: swarm.n - swarm.nSeed,
      peers4: EMPTY,
      peers6: EMPTY,
      isNewlyCompleted,
      isNewSwarm: isNew,
    };
    if (req.numWant > 0) this.#sample(swarm, i, req.left === 0, req.numWant, options, result);
    return result;
  }

  /**
   * Whether an announce with `key` from `ip` comes from the client of the peer at `i`: a peer that announced with a
   * key is its key's (wherever it comes from: a laptop changes networks), one without a key is its address's.
   */
  #isOwner(swarm: Swarm, i: number, ip: Uint8Array, key: number | undefined): boolean {
    const rec = swarm.rec;
    const h = swarm.hbase + i * HOT_WORDS;
    const flags = rec[h + H_PORT]! >>> 16;
    if ((flags & FLAG_KEYED) !== 0) return key !== undefined && rec[swarm.base + i * REC_WORDS + W_KEY] === key >>> 0;
    const a = rec[h + H_ADDR]!;
    if ((flags & FLAG_IPV6) === 0) {
      return ip.length === 4 && a === ((ip[0]! << 24) | (ip[1]! << 16) | (ip[2]! << 8) | ip[3]!) >>> 0;
    }
    if (ip.length !== 16) return false;
    const v6 = this.#v6;
    for (let w = 0; w < 4; w++) {
      if (v6[a * 4 + w] !== (ip[4 * w]! << 24 | ip[4 * w + 1]! << 16 | ip[4 * w + 2]! << 8 | ip[4 * w + 3]!) >>> 0) {
        return false;
      }
    }
    return true;
  }

  /** Bind the peer at `i` to `key` (a no-op when it already is: only its own key gets here). */
  #bindKey(swarm: Swarm, i: number, key: number): void {
    swarm.rec[swarm.base + i * REC_WORDS + W_KEY] = key;
    const pw = swarm.hbase + i * HOT_WORDS + H_PORT;
    swarm.rec[pw] = swarm.rec[pw]! | (FLAG_KEYED << 16);
  }

  /** Copy the peer at position `i` into the output buffers (peers4 or peers6, and its id when `withIds`). */
  #take(swarm: Swarm, i: number, withIds: boolean): void {
    const h = swarm.hbase + i * HOT_WORDS;
    const a = swarm.rec[h + H_ADDR]!;
    const pw = swarm.rec[h + H_PORT]!;
    if (((pw >>> 16) & FLAG_IPV6) === 0) {
      const at = this.#n4 * COMPACT_PEER4_BYTES;
      this.#out4View.setUint32(at, a);
      this.#out4View.setUint16(at + 4, pw & 0xffff);
      if (withIds) writeId(swarm.rec, swarm.base + i * REC_WORDS, this.#outIds4, this.#n4 * PEER_ID_BYTES);
      this.#n4++;
      return;
    }
    const out = this.#out6;
    let at = this.#n6 * COMPACT_PEER6_BYTES;
    const v6 = this.#v6;
    for (let w = 0; w < 4; w++) {
      const x = v6[a * 4 + w]!;
      out[at++] = x >>> 24;
      out[at++] = x >>> 16;
      out[at++] = x >>> 8;
      out[at++] = x;
    }
    out[at++] = pw >>> 8;
    out[at] = pw;
    if (withIds) writeId(swarm.rec, swarm.base + i * REC_WORDS, this.#outIds6, this.#n6 * PEER_ID_BYTES);
    this.#n6++;
  }

  /**
   * Fill result's peers with up to `numWant` random eligible peers (not `self`; no seeders for a seeder).
   * Eligible peers are one contiguous range [lo, n): leechers [nSeed, n) for a seeder, everyone for a leecher.
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
    const lo = isSeeder ? swarm.nSeed : 0;
    const hi = swarm.n;
    const eligible = isSeeder ? hi - lo : hi - lo - 1;
    const want = Math.min(numWant, eligible, this.#out4.length / COMPACT_PEER4_BYTES);
    if (want <= 0) return;
    const withIds = options.withPeerIds === true;
    this.#n4 = 0;
    this.#n6 = 0;
    if (want === eligible) {
      for (let i = lo; i < hi; i++) if (i !== self) this.#take(swarm, i, withIds);
    } else {
      // Whole aligned blocks of SAMPLE_RUN positions (two cache lines of hot words each), picked uniformly without
      // repetition, so every eligible peer is equally likely and a sample of 50 reads about 4 blocks. A bounded
      // number of random picks (a repeat is found in the few picked so far: no table of marks to touch), then the
      // unpicked blocks in order from a random one. Blocks are aligned on swarm positions (block k here is the swarm's
      // block b0 + k), so the first one and the last may be partial.
      const b0 = (lo / SAMPLE_RUN) | 0;
      const blocks = Math.ceil(hi / SAMPLE_RUN) - b0;
      const random = options.random;
      // Pick the blocks first (enough for `want` plus one, in case one holds the asker or is short), then touch each
      // one's cache line in a loop of independent loads, so that their memory latencies overlap instead of adding
      // up block after block (a sample is a few cache misses: most of its cost in a large store).
      const picked = this.#picked;
      const needed = Math.min(Math.ceil(want / SAMPLE_RUN) + 1, picked.length, blocks);
      let count = 0;
      for (let tries = needed * 3; tries > 0 && count < needed; tries--) {
        const b = (random() * blocks) | 0;
        if (!isPicked(picked, count, b)) picked[count++] = b;
      }
      const rec = swarm.rec;
      const hbase = swarm.hbase;
      let touch = 0;
      for (let k = 0; k < count; k++) {
        const first = (b0 + picked[k]!) * SAMPLE_RUN;
        const h = hbase + first * HOT_WORDS;
        touch |= rec[h]!;
        // The block's second line, when it holds peers.
        if (first + SAMPLE_RUN / 2 < hi) touch |= rec[h + (SAMPLE_RUN / 2) * HOT_WORDS]!;
      }
      this.#touched = touch;
      let taken = 0;
      for (let k = 0; k < count && taken < want; k++) {
        taken += this.#takeBlock(swarm, b0 + picked[k]!, lo, hi, self, want - taken, withIds, random);
      }
      if (taken < want) {
        const start = (random() * blocks) | 0;
        for (let k = 0; k < blocks && taken < want; k++) {
          const b = start + k < blocks ? start + k : start + k - blocks;
          if (!isPicked(picked, count, b)) {
            taken += this.#takeBlock(swarm, b0 + b, lo, hi, self, want - taken, withIds, random);
          }
        }
      }
    }
    result.peers4 = this.#views4[this.#n4]!;
    result.peers6 = this.#n6 === 0 ? EMPTY : this.#views6[this.#n6]!;
    if (withIds) {
      result.peerIds4 = this.#outIds4.slice(0, this.#n4 * PEER_ID_BYTES);
      result.peerIds6 = this.#outIds6.slice(0, this.#n6 * PEER_ID_BYTES);
    }
  }

  /**
   * Take the peers of block `b` (positions [b·SAMPLE_RUN, +SAMPLE_RUN) within [lo, hi), without `self`), at most `max`:
   * all of them when they fit, otherwise `max` in a row from a random offset, wrapping inside the block, so that no
   * place in a block is favoured. Returns the peers taken.
   */
  #takeBlock(
    swarm: Swarm,
    b: number,
    lo: number,
    hi: number,
    self: number,
    max: number,
    withIds: boolean,
    random: () => number,
  ): number {
    const from = Math.max(b * SAMPLE_RUN, lo);
    const size = Math.min(b * SAMPLE_RUN + SAMPLE_RUN, hi) - from;
    const count = self >= from && self < from + size ? size - 1 : size;
    const rot = count <= max ? 0 : (random() * size) | 0;
    const n = count <= max ? count : max;
    if (rot === 0 && n === size && !withIds) {
      // A whole block without the asker (most of a sample): IPv4 peers inline (no call, the output index in a local),
      // IPv6 ones via #take.
      const rec = swarm.rec;
      const hbase = swarm.hbase;
      const view = this.#out4View;
      let n4 = this.#n4;
      for (let h = hbase + from * HOT_WORDS, end = h + size * HOT_WORDS; h < end; h += HOT_WORDS) {
        const pw = rec[h + H_PORT]!;
        if ((pw & (FLAG_IPV6 << 16)) !== 0) {
          this.#n4 = n4;
          this.#take(swarm, (h - hbase) / HOT_WORDS, false);
          n4 = this.#n4;
          continue;
        }
        const at = n4++ * COMPACT_PEER4_BYTES;
        view.setUint32(at, rec[h + H_ADDR]!);
        view.setUint16(at + 4, pw & 0xffff);
      }
      this.#n4 = n4;
      return n;
    }
    // The block holding the asker, the last one of a sample, or peer ids asked for: one peer at a time.
    let taken = 0;
    for (let k = 0; k < size && taken < n; k++) {
      const i = from + (rot + k < size ? rot + k : rot + k - size);
      if (i === self) continue;
      taken++;
      this.#take(swarm, i, withIds);
    }
    return taken;
  }

  scrape(infoHash: Uint8Array): ScrapeEntry {
    const swarm = this.#index.get(infoHash);
    if (swarm === undefined) return { complete: 0, downloaded: this.#completedOf?.(infoHash) ?? 0, incomplete: 0 };
    return { complete: swarm.nSeed, downloaded: swarm.completed, incomplete: swarm.n - swarm.nSeed };
  }

  *swarms(): Iterable<SwarmCounts> {
    for (const swarm of this.#swarms.values()) {
      yield {
        infoHashHex: toHex(swarm.infoHash()),
        seeders: swarm.nSeed,
        leechers: swarm.n - swarm.nSeed,
        completed: swarm.completed,
      };
    }
  }

  #stored(infoHash: Uint8Array, swarm: Swarm, i: number): StoredPeer {
    const rec = swarm.rec;
    const o = swarm.base + i * REC_WORDS;
    const h = swarm.hbase + i * HOT_WORDS;
    const pw = rec[h + H_PORT]!;
    const flags = pw >>> 16;
    const a = rec[h + H_ADDR]!;
    let ip: Uint8Array;
    if (flags & FLAG_IPV6) {
      ip = new Uint8Array(16);
      for (let w = 0; w < 4; w++) {
        const x = this.#v6[a * 4 + w]!;
        ip[4 * w] = x >>> 24;
        ip[4 * w + 1] = (x >>> 16) & 0xff;
        ip[4 * w + 2] = (x >>> 8) & 0xff;
        ip[4 * w + 3] = x & 0xff;
      }
    } else ip = new Uint8Array([a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff]);
    const peerId = new Uint8Array(PEER_ID_BYTES);
    writeId(rec, o, peerId, 0);
    return {
      infoHash,
      peerId,
      ip,
      port: pw & 0xffff,
      left: rec[o + W_LEFT_HI]! * TWO_32 + rec[o + W_LEFT_LO]!,
      lastSeenMs: rec[o + W_SEEN]! * 1000,
      isCompletedCounted: (flags & FLAG_COUNTED) !== 0,
      ...((flags & FLAG_KEYED) !== 0 ? { key: rec[o + W_KEY]! } : {}),
    };
  }

  peersOf(infoHash: Uint8Array): StoredPeer[] {
    const swarm = this.#index.get(infoHash);
    if (swarm === undefined) return [];
    const out: StoredPeer[] = [];
    for (let i = 0; i < swarm.n; i++) out.push(this.#stored(infoHash, swarm, i));
    return out;
  }

  *peers(): Iterable<StoredPeer> {
    for (const swarm of this.#swarms.values()) {
      if (swarm.n === 0) continue;
      const infoHash = swarm.infoHash();
      // Consumers (snapshots) iterate synchronously, so the records cannot move under us.
      for (let i = 0; i < swarm.n; i++) yield this.#stored(infoHash, swarm, i);
    }
  }

  restorePeer(peer: StoredPeer): void {
    if (peer.infoHash.length !== INFO_HASH_BYTES || peer.peerId.length !== PEER_ID_BYTES) return;
    if ((peer.ip.length !== 4 && peer.ip.length !== 16) || peer.port < 1 || peer.port > 65535) return;
    const swarm = this.#swarmFor(peer.infoHash);
    this.#loadWant(peer.peerId);
    const i = this.#upsert(swarm, peer.ip, peer.port, peer.left, Math.floor(peer.lastSeenMs / 1000));
    if (peer.isCompletedCounted === true) {
      const pw = swarm.hbase + i * HOT_WORDS + H_PORT;
      swarm.rec[pw] = swarm.rec[pw]! | (FLAG_COUNTED << 16);
    }
    if (peer.key !== undefined) this.#bindKey(swarm, i, peer.key >>> 0);
  }

  exportCursor(): SwarmExportCursor {
    return new ExportCursor(this, this.#swarms.values());
  }

  exportRecords(cursor: SwarmExportCursor, out: Uint8Array): number {
    if (!(cursor instanceof ExportCursor) || cursor.store !== this) {
      throw new TrackerError("bad_cursor", "Cannot export: the cursor belongs to another store");
    }
    const cap = out.length - out.length % SWARM_RECORD_BYTES;
    if (cap === 0) throw new TrackerError("bad_buffer", "Cannot export: the buffer holds no whole record");
    const c = cursor;
    if (c.overflow !== null) {
      const n = Math.min(cap, c.overflow.length - c.overflowAt);
      out.set(c.overflow.subarray(c.overflowAt, c.overflowAt + n));
      c.overflowAt += n;
      if (c.overflowAt === c.overflow.length) c.overflow = null;
      return n;
    }
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    let at = 0;
    while (!c.isIterDone) {
      let swarm = c.pending;
      c.pending = null;
      if (swarm === null) {
        const next = c.iter.next();
        if (next.done === true) {
          c.isIterDone = true;
          break;
        }
        swarm = next.value;
      }
      // A dropped swarm has n = 0 (a swarm is only dropped empty).
      const n = swarm.n;
      if (n === 0) continue;
      const bytes = n * SWARM_RECORD_BYTES;
      if (at + bytes <= cap) {
        this.#writeRecords(swarm, view, at);
        at += bytes;
        c.records += n;
        continue;
      }
      if (at > 0) {
        c.pending = swarm; // next call, whole
        break;
      }
      // Larger than `out`: copy it whole now, hand it out over the next calls.
      const whole = new Uint8Array(bytes);
      this.#writeRecords(swarm, new DataView(whole.buffer), 0);
      c.records += n;
      out.set(whole.subarray(0, cap));
      c.overflow = whole;
      c.overflowAt = cap;
      return cap;
    }
    return at;
  }

  /** Write every record of `swarm` as snapshot records at byte `at` of `view`. */
  #writeRecords(swarm: Swarm, view: DataView, at: number): void {
    const rec = swarm.rec;
    const v6 = this.#v6;
    const h0 = swarm.k0, h1 = swarm.k1, h2 = swarm.k2, h3 = swarm.k3, h4 = swarm.k4;
    const end = swarm.base + swarm.n * REC_WORDS;
    for (let o = swarm.base, h = swarm.hbase; o < end; o += REC_WORDS, h += HOT_WORDS, at += SWARM_RECORD_BYTES) {
      view.setUint32(at, h0, true);
      view.setUint32(at + 4, h1, true);
      view.setUint32(at + 8, h2, true);
      view.setUint32(at + 12, h3, true);
      view.setUint32(at + 16, h4, true);
      view.setUint32(at + R_ID, rec[o + W_ID]!, true);
      view.setUint32(at + R_ID + 4, rec[o + W_ID + 1]!, true);
      view.setUint32(at + R_ID + 8, rec[o + W_ID + 2]!, true);
      view.setUint32(at + R_ID + 12, rec[o + W_ID + 3]!, true);
      view.setUint32(at + R_ID + 16, rec[o + W_ID + 4]!, true);
      const pw = rec[h + H_PORT]!;
      const flags = pw >>> 16;
      const a = rec[h + H_ADDR]!;
      let recordFlags = 0;
      if (flags & FLAG_IPV6) {
        // Slab words hold the address big-endian, as the bytes go on the wire.
        view.setUint32(at + R_ADDR, v6[a * 4]!);
        view.setUint32(at + R_ADDR + 4, v6[a * 4 + 1]!);
        view.setUint32(at + R_ADDR + 8, v6[a * 4 + 2]!);
        view.setUint32(at + R_ADDR + 12, v6[a * 4 + 3]!);
        recordFlags = SwarmRecordFlag.Ipv6;
      } else {
        view.setUint32(at + R_ADDR, a);
        view.setUint32(at + R_ADDR + 4, 0);
        view.setUint32(at + R_ADDR + 8, 0);
        view.setUint32(at + R_ADDR + 12, 0);
      }
      if (flags & FLAG_COUNTED) recordFlags |= SwarmRecordFlag.CompletionCounted;
      if (flags & FLAG_KEYED) recordFlags |= SwarmRecordFlag.Keyed;
      // Port, flags and the zero byte as one little-endian word.
      view.setUint32(at + R_PORT, (pw & 0xffff) | recordFlags << 16, true);
      view.setUint32(at + R_SEEN, rec[o + W_SEEN]!, true);
      view.setUint32(at + R_LEFT, rec[o + W_LEFT_LO]!, true);
      view.setUint32(at + R_LEFT + 4, rec[o + W_LEFT_HI]!, true);
      view.setUint32(at + R_KEY, (flags & FLAG_KEYED) !== 0 ? rec[o + W_KEY]! : 0, true);
    }
  }

  importRecords(records: Uint8Array, options: { minLastSeenMs?: number } = {}): number {
    const minLastSeenMs = options.minLastSeenMs ?? Number.NEGATIVE_INFINITY;
    const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
    const end = records.length - records.length % SWARM_RECORD_BYTES;
    const isKept = (at: number) =>
      view.getUint16(at + R_PORT, true) !== 0 && view.getUint32(at + R_SEEN, true) * 1000 >= minLastSeenMs;
    const ip4 = new Uint8Array(4);
    const ip6 = new Uint8Array(16);
    const want = this.#want;
    let swarm: Swarm | null = null;
    let h0 = 0, h1 = 0, h2 = 0, h3 = 0, h4 = 0;
    let restored = 0;
    for (let at = 0; at < end; at += SWARM_RECORD_BYTES) {
      if (!isKept(at)) continue;
      if (
        swarm === null || view.getUint32(at, true) !== h0 || view.getUint32(at + 4, true) !== h1 ||
        view.getUint32(at + 8, true) !== h2 || view.getUint32(at + 12, true) !== h3 ||
        view.getUint32(at + 16, true) !== h4
      ) {
        h0 = view.getUint32(at, true);
        h1 = view.getUint32(at + 4, true);
        h2 = view.getUint32(at + 8, true);
        h3 = view.getUint32(at + 12, true);
        h4 = view.getUint32(at + 16, true);
        // Records of a swarm come together: size its block once instead of doubling it record by record.
        let run = 1;
        for (let b = at + SWARM_RECORD_BYTES; b < end; b += SWARM_RECORD_BYTES) {
          if (
            view.getUint32(b, true) !== h0 || view.getUint32(b + 4, true) !== h1 ||
            view.getUint32(b + 8, true) !== h2 || view.getUint32(b + 12, true) !== h3 ||
            view.getUint32(b + 16, true) !== h4
          ) break;
          if (isKept(b)) run++;
        }
        swarm = this.#index.get(records, at) ?? null;
        if (swarm === null) {
          swarm = this.#newSwarm(records, at, capFor(Math.min(run, this.#maxPeers)));
        } else if (swarm.n + run > swarm.cap) {
          this.#resize(swarm, capFor(Math.min(swarm.n + run, this.#maxPeers)));
        }
      }
      for (let w = 0; w < ID_WORDS; w++) want[w] = view.getUint32(at + R_ID + 4 * w, true);
      const flags = records[at + R_FLAGS]!;
      let ip: Uint8Array;
      if (flags & SwarmRecordFlag.Ipv6) {
        for (let b = 0; b < 16; b++) ip6[b] = records[at + R_ADDR + b]!;
        ip = ip6;
      } else {
        for (let b = 0; b < 4; b++) ip4[b] = records[at + R_ADDR + b]!;
        ip = ip4;
      }
      const left = view.getUint32(at + R_LEFT + 4, true) * TWO_32 + view.getUint32(at + R_LEFT, true);
      const i = this.#upsert(swarm, ip, view.getUint16(at + R_PORT, true), left, view.getUint32(at + R_SEEN, true));
      if (flags & SwarmRecordFlag.CompletionCounted) {
        const pw = swarm.hbase + i * HOT_WORDS + H_PORT;
        swarm.rec[pw] = swarm.rec[pw]! | (FLAG_COUNTED << 16);
      }
      if (flags & SwarmRecordFlag.Keyed) this.#bindKey(swarm, i, view.getUint32(at + R_KEY, true));
      restored++;
    }
    return restored;
  }

  setCompleted(infoHash: Uint8Array, count: number): void {
    // Never makes a swarm: one without peers would only wait for the sweep, and counts of every torrent ever seen
    // would pass the torrent cap.
    const swarm = this.#index.get(infoHash);
    if (swarm !== undefined) swarm.completed = count;
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
      // Downwards: a removal only moves already-examined records (from higher positions) into the hole.
      for (let i = swarm.n - 1; i >= 0; i--) {
        examined++;
        if (swarm.rec[swarm.base + i * REC_WORDS + W_SEEN]! < cutoffS) {
          this.#removeAt(swarm, i);
          dropped++;
        }
      }
      // Whatever its completed count (that lives on where completedOf reads it): a count must not keep a swarm, or
      // one event=completed per random info hash would fill the torrent cap for good (#19).
      if (swarm.n === 0) this.#dropSwarm(swarm);
      else this.#maybeShrink(swarm);
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

  /**
   * The longest probe run (cells from an entry's home to where it sits, plus one) in the peer-id table of the swarm of
   * `infoHash` (0 without a table) and in the swarm index: a diagnostic of how well ids spread, for tests and stats.
   */
  longestProbes(infoHash: Uint8Array): { peers: number; swarms: number } {
    const swarm = this.#index.get(infoHash);
    let peers = 0;
    const table = swarm?.table ?? null;
    if (swarm !== undefined && table !== null) {
      const mask = table.length - 1;
      for (let h = 0; h < table.length; h++) {
        const v = table[h]!;
        if (v === 0) continue;
        const home = recordIdHash(swarm.rec, swarm.base + ((v & CELL_POS) - 1) * REC_WORDS + W_ID) & mask;
        peers = Math.max(peers, ((h - home) & mask) + 1);
      }
    }
    return { peers, swarms: this.#index.longestProbe() };
  }
}

/** `b` is one of `picked[0, count)`. */
function isPicked(picked: Int32Array, count: number, b: number): boolean {
  for (let k = 0; k < count; k++) if (picked[k] === b) return true;
  return false;
}

/** The block size (a power of two, at least MIN_CAP) that holds `records`. */
function capFor(records: number): number {
  let cap = MIN_CAP;
  while (cap < records) cap *= 2;
  return cap;
}

/** Byte offsets in a snapshot record (SWARM_RECORD_BYTES). */
const R_ID = 20;
const R_ADDR = 40;
const R_PORT = 56;
const R_FLAGS = 58;
const R_SEEN = 60;
const R_LEFT = 64;
const R_KEY = 72;

/** MemorySwarmStore's SwarmExportCursor: a Map iterator over the swarms stays valid while the map changes. */
class ExportCursor implements SwarmExportCursor {
  readonly store: MemorySwarmStore;
  readonly iter: Iterator<Swarm>;
  records = 0;
  isIterDone = false;
  /** The swarm reached that did not fit into the last buffer (written whole, by the next call). */
  pending: Swarm | null = null;
  /** A swarm larger than the caller's buffer, copied whole, handed out from `overflowAt`. */
  overflow: Uint8Array | null = null;
  overflowAt = 0;
  constructor(store: MemorySwarmStore, iter: Iterator<Swarm>) {
    this.store = store;
    this.iter = iter;
  }
  get isDone(): boolean {
    return this.isIterDone && this.overflow === null;
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

/** Write the peer id of the record at word `o` into `out[at, at + 20)`. */
function writeId(rec: Uint32Array, o: number, out: Uint8Array, at: number): void {
  for (let w = 0; w < ID_WORDS; w++) {
    const v = rec[o + W_ID + w]!;
    out[at + 4 * w] = v & 0xff;
    out[at + 4 * w + 1] = (v >>> 8) & 0xff;
    out[at + 4 * w + 2] = (v >>> 16) & 0xff;
    out[at + 4 * w + 3] = v >>> 24;
  }
}

const EMPTY = new Uint8Array(0);
