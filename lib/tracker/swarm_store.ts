// SwarmStore: the live peers of every torrent (BEP 3 announce semantics) and MemorySwarmStore, its compact in-memory
// implementation, which wires the record arena (swarm_arena.ts), the lookups (swarm_index.ts), the reply sample
// (swarm_sample.ts) and the snapshot records (swarm_records.ts). Time (`nowMs`) and randomness (`random`) come in as
// parameters; nothing here touches I/O.
//
// Invariants of MemorySwarmStore (the shared mutable state of the tracker):
// - A peer is identified by (info hash, peer id), and only its own client changes it: one with the BEP 3 key the peer
//   is bound to (FLAG_KEYED), or, without one, from the peer's address (#19; docs/ARCHITECTURE.md).
// - Each swarm keeps its peers contiguous in its block at positions [0, n): [0, nSeed) are seeders, [nSeed, n)
//   leechers (a new peer is most often a leecher: it is appended, nothing moves). Removal and leecher/seeder changes
//   move records (swap-remove, cold and hot words together, the peer-id table in step), so a block stays dense and a
//   sample reads whole aligned runs of hot words. A block doubles when full and halves on sweep when a quarter full.
// - `completed` counts each peer once (FLAG_COUNTED): on event=completed, or when a known leecher announces or stops
//   with left=0. A swarm goes with its last peer whatever its count: the caller persists each new completion
//   (isNewlyCompleted) and hands the count back through `completedOf` when the swarm comes again.

import { toHex } from "../bytes.ts";
import { TrackerError } from "../errors.ts";
import {
  type AnnounceRequest,
  DEFAULT_NUMWANT_MAX,
  DEFAULT_PEER_TIMEOUT_S,
  INFO_HASH_BYTES,
  PEER_ID_BYTES,
  type ScrapeEntry,
} from "./announce.ts";
import {
  capFor,
  FLAG_COUNTED,
  FLAG_IPV6,
  FLAG_KEYED,
  H_ADDR,
  H_PORT,
  HOT_WORDS,
  ID_WORDS,
  ipv4Word,
  MIN_CAP,
  REC_WORDS,
  RecordArena,
  Swarm,
  TWO_32,
  W_KEY,
  W_LEFT_HI,
  W_LEFT_LO,
  W_SEEN,
  writeId,
} from "./swarm_arena.ts";
import { findPeer, longestPeerProbe, SwarmIndex } from "./swarm_index.ts";
import {
  ExportCursor,
  exportSwarmRecords,
  isSameInfoHash,
  R_FLAGS,
  R_ID,
  R_KEY,
  R_LEFT,
  R_PORT,
  R_SEEN,
  readRecordIp,
  SWARM_RECORD_BYTES,
  type SwarmExportCursor,
  SwarmRecordFlag,
} from "./swarm_records.ts";
import { PeerRecords } from "./swarm_peers.ts";
import { EMPTY_BYTES, PeerSampler } from "./swarm_sample.ts";

export { INDEX_MIN_PEERS, MAX_SWARM_PEERS } from "./swarm_index.ts";
export { SWARM_RECORD_BYTES, SWARM_RECORD_FORMAT, type SwarmExportCursor, SwarmRecordFlag } from "./swarm_records.ts";

/** Default cap on live peers in one store (a hostile client can fill it, never exhaust memory). */
export const DEFAULT_MAX_PEERS = 5_000_000;
/** Default cap on swarms in one store. */
export const DEFAULT_MAX_TORRENTS = 1_000_000;

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

// The refusals of a full store, built once: a full store refuses every new peer, and an Error's stack capture costs
// more than a whole announce.
const FULL_TORRENTS = new TrackerError("tracker_full", "Tracker is full: too many torrents");
const PEER_ID_TAKEN = new TrackerError("peer_id_taken", "Peer id is in use by another client");

/** The in-memory SwarmStore: 44 bytes of records a peer (36 cold, 8 hot) in one arena, plus up to 2× growth slack,
 * and a Swarm object a torrent (figures in docs/PERFORMANCE.md). */
export class MemorySwarmStore implements SwarmStore {
  readonly #peerTimeoutS: number;
  readonly #maxPeers: number;
  readonly #maxTorrents: number;
  readonly #completedOf: ((infoHash: Uint8Array) => number) | undefined;
  /** Every swarm, in creation order (iteration, sweeps, exports); lookups by hash go through #index. */
  readonly #swarms = new Set<Swarm>();
  readonly #index = new SwarmIndex();
  readonly #arena: RecordArena;
  readonly #peers: PeerRecords;
  readonly #sampler: PeerSampler;
  #sweep: Iterator<Swarm> | null = null;

  constructor(options: MemorySwarmStoreOptions = {}) {
    this.#peerTimeoutS = options.peerTimeoutS ?? DEFAULT_PEER_TIMEOUT_S;
    this.#maxPeers = options.maxPeers ?? DEFAULT_MAX_PEERS;
    this.#maxTorrents = options.maxTorrents ?? DEFAULT_MAX_TORRENTS;
    this.#completedOf = options.completedOf;
    this.#arena = new RecordArena(this.#maxPeers, this.#maxTorrents);
    this.#peers = new PeerRecords(this.#arena, this.#maxPeers);
    this.#sampler = new PeerSampler(Math.max(1, options.numWantMax ?? DEFAULT_NUMWANT_MAX), this.#peers.v6);
  }

  announce(req: AnnounceRequest, options: SwarmAnnounceOptions): SwarmAnnounce {
    this.#peers.loadWantId(req.peerId);
    if (req.event === "stopped") return this.#stop(req, options.ip);
    const sizeBefore = this.#swarms.size;
    const swarm = this.#swarmFor(req.infoHash);
    const isNew = this.#swarms.size !== sizeBefore;
    const found = findPeer(swarm, this.#peers.wantId);
    // Only the peer's own client may move, complete or re-count it (#19).
    if (found >= 0 && !this.#isOwner(swarm, found, options.ip, req.key)) throw PEER_ID_TAKEN;
    const i = this.#peers.upsertAt(swarm, found, options.ip, req.port, req.left, Math.floor(options.nowMs / 1000));
    if (req.key !== undefined) this.#peers.bindKey(swarm, i, req.key);
    let isNewlyCompleted = false;
    // `completed` counts once per peer; so does a known leecher reaching left=0 without the event (some clients
    // skip it), but a peer first seen as a seeder does not count.
    const isFinished = req.event === "completed" || (req.left === 0 && this.#peers.wasLeecher);
    if (isFinished && ((swarm.rec[swarm.hbase + i * HOT_WORDS + H_PORT]! >>> 16) & FLAG_COUNTED) === 0) {
      this.#peers.markCounted(swarm, i);
      swarm.completed++;
      isNewlyCompleted = true;
    }
    const result = countsOf(swarm, isNewlyCompleted, isNew);
    if (req.numWant > 0) this.#sampler.sample(swarm, i, req.left === 0, req.numWant, options, result);
    return result;
  }

  /** An announce with event=stopped (the peer id in #wantId). */
  #stop(req: AnnounceRequest, ip: Uint8Array): SwarmAnnounce {
    const swarm = this.#index.get(req.infoHash);
    if (swarm === undefined) return countsOf(null, false, false);
    const i = findPeer(swarm, this.#peers.wantId);
    let isNewlyCompleted = false;
    // Someone else's stop (another key, or another address without one) is a stop of a peer we do not know.
    if (i >= 0 && this.#isOwner(swarm, i, ip, req.key)) {
      const flags = swarm.rec[swarm.hbase + i * HOT_WORDS + H_PORT]! >>> 16;
      // A leecher that stops with nothing left finished without saying so (aria2c with --seed-time=0).
      if (req.left === 0 && i >= swarm.nSeed && (flags & FLAG_COUNTED) === 0) {
        swarm.completed++;
        isNewlyCompleted = true;
      }
      this.#peers.removeAt(swarm, i);
    }
    const result = countsOf(swarm, isNewlyCompleted, false);
    if (swarm.n === 0) this.#dropSwarm(swarm);
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
    if ((flags & FLAG_IPV6) === 0) return ip.length === 4 && a === ipv4Word(ip);
    return ip.length === 16 && this.#peers.v6.isAt(a, ip);
  }

  #swarmFor(infoHash: Uint8Array): Swarm {
    return this.#index.get(infoHash) ?? this.#newSwarm(infoHash, 0, MIN_CAP);
  }

  /** A new swarm for the info hash at `b[at, at + 20)`, not yet stored. */
  #newSwarm(b: Uint8Array, at: number, cap: number): Swarm {
    if (this.#swarms.size >= this.#maxTorrents) throw FULL_TORRENTS;
    const swarm = new Swarm(b, at);
    if (this.#completedOf !== undefined) swarm.completed = this.#completedOf(b.subarray(at, at + INFO_HASH_BYTES));
    this.#arena.place(swarm, cap);
    this.#swarms.add(swarm);
    this.#index.add(swarm);
    return swarm;
  }

  #dropSwarm(swarm: Swarm): void {
    this.#swarms.delete(swarm);
    this.#index.delete(swarm);
    this.#arena.release(swarm);
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
    const ip = flags & FLAG_IPV6
      ? this.#peers.v6.bytes(a)
      : new Uint8Array([a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff]);
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
    this.#peers.loadWantId(peer.peerId);
    const i = this.#restore(swarm, peer.ip, peer.port, peer.left, Math.floor(peer.lastSeenMs / 1000));
    if (peer.isCompletedCounted === true) this.#peers.markCounted(swarm, i);
    if (peer.key !== undefined) this.#peers.bindKey(swarm, i, peer.key);
  }

  /** Put back the peer in #wantId as it was saved (no owner check: a snapshot is the store's own). */
  #restore(swarm: Swarm, ip: Uint8Array, port: number, left: number, lastSeenS: number): number {
    return this.#peers.upsertAt(swarm, findPeer(swarm, this.#peers.wantId), ip, port, left, lastSeenS);
  }

  exportCursor(): SwarmExportCursor {
    return new ExportCursor(this, this.#swarms.values());
  }

  exportRecords(cursor: SwarmExportCursor, out: Uint8Array): number {
    if (!(cursor instanceof ExportCursor) || cursor.owner !== this) {
      throw new TrackerError("bad_cursor", "Cannot export: the cursor belongs to another store");
    }
    return exportSwarmRecords(cursor, out, this.#peers.v6);
  }

  importRecords(records: Uint8Array, options: { minLastSeenMs?: number } = {}): number {
    const minLastSeenMs = options.minLastSeenMs ?? Number.NEGATIVE_INFINITY;
    const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
    const end = records.length - records.length % SWARM_RECORD_BYTES;
    const isKept = (at: number) =>
      view.getUint16(at + R_PORT, true) !== 0 && view.getUint32(at + R_SEEN, true) * 1000 >= minLastSeenMs;
    const ip4 = new Uint8Array(4);
    const ip6 = new Uint8Array(16);
    const want = this.#peers.wantId;
    let swarm: Swarm | null = null;
    /** Where the records of `swarm` began. */
    let swarmAt = 0;
    let restored = 0;
    for (let at = 0; at < end; at += SWARM_RECORD_BYTES) {
      if (!isKept(at)) continue;
      if (swarm === null || !isSameInfoHash(view, swarmAt, at)) {
        swarmAt = at;
        // Records of a swarm come together: size its block once instead of doubling it record by record.
        let run = 1;
        for (let b = at + SWARM_RECORD_BYTES; b < end && isSameInfoHash(view, at, b); b += SWARM_RECORD_BYTES) {
          if (isKept(b)) run++;
        }
        swarm = this.#index.get(records, at) ?? null;
        if (swarm === null) {
          swarm = this.#newSwarm(records, at, capFor(Math.min(run, this.#maxPeers)));
        } else if (swarm.n + run > swarm.cap) {
          this.#peers.resize(swarm, capFor(Math.min(swarm.n + run, this.#maxPeers)));
        }
      }
      for (let w = 0; w < ID_WORDS; w++) want[w] = view.getUint32(at + R_ID + 4 * w, true);
      const left = view.getUint32(at + R_LEFT + 4, true) * TWO_32 + view.getUint32(at + R_LEFT, true);
      const ip = readRecordIp(records, at, ip4, ip6);
      const i = this.#restore(swarm, ip, view.getUint16(at + R_PORT, true), left, view.getUint32(at + R_SEEN, true));
      const flags = records[at + R_FLAGS]!;
      if (flags & SwarmRecordFlag.CompletionCounted) this.#peers.markCounted(swarm, i);
      if (flags & SwarmRecordFlag.Keyed) this.#peers.bindKey(swarm, i, view.getUint32(at + R_KEY, true));
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
          this.#peers.removeAt(swarm, i);
          dropped++;
        }
      }
      // Whatever its completed count (that lives on where completedOf reads it): a count must not keep a swarm, or
      // one event=completed per random info hash would fill the torrent cap for good (#19).
      if (swarm.n === 0) this.#dropSwarm(swarm);
      else this.#peers.maybeShrink(swarm);
    }
    return dropped;
  }

  totals(): SwarmTotals {
    let completed = 0;
    for (const swarm of this.#swarms.values()) completed += swarm.completed;
    return {
      torrents: this.#swarms.size,
      peers: this.#peers.peerCount,
      seeders: this.#peers.seederCount,
      leechers: this.#peers.peerCount - this.#peers.seederCount,
      completed,
    };
  }

  /**
   * The longest probe run (cells from an entry's home to where it sits, plus one) in the peer-id table of the swarm of
   * `infoHash` (0 without a table) and in the swarm index: a diagnostic of how well ids spread, for tests and stats.
   */
  longestProbes(infoHash: Uint8Array): { peers: number; swarms: number } {
    const swarm = this.#index.get(infoHash);
    return { peers: swarm === undefined ? 0 : longestPeerProbe(swarm), swarms: this.#index.longestProbe() };
  }
}

/** An announce's answer with `swarm`'s counts (zeros for none) and no peers yet. */
function countsOf(swarm: Swarm | null, isNewlyCompleted: boolean, isNewSwarm: boolean): SwarmAnnounce {
  return {
    complete: swarm === null ? 0 : swarm.nSeed,
    incomplete: swarm === null ? 0 : swarm.n - swarm.nSeed,
    peers4: EMPTY_BYTES,
    peers6: EMPTY_BYTES,
    isNewlyCompleted,
    isNewSwarm,
  };
}
