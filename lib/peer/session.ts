// One torrent's peer session (BEP 3, 6, 12, 15, 23, 27): tracker announces, outgoing and incoming connections,
// picker-driven pipelined requests with endgame, SHA-1 verification before `have`, serving, choking, banning.
// Never prints (onProgress/onWarning); owns its sockets and timers but not the Storage (the caller closes it).
//
// Invariants (this file owns the session state):
// - #peers holds every connection past its handshake, keyed by an opaque id ("p<n>") that is also the picker's id.
//   At most one connection per remote peer id; at most `maxPeers` connections plus connects in progress.
// - A piece is announced (`have`), served and counted as done only after picker.pieceVerified, which follows a
//   successful Storage.verifyPiece of the bytes on disk.
// - #blockSources[i] names who sent each block of partial piece i; it is dropped when the piece passes or fails.
// - Nothing in this file throws out of a peer's loop: a WireError or socket error ends that one connection.

import { toHex } from "../bytes.ts";
import { BtoolError, errorText, TrackerError, WireError } from "../errors.ts";
import type { Metainfo } from "../metainfo.ts";
import { filePieces, pieceSegments } from "../file_map.ts";
import { BLOCK_BYTES, pieceSize } from "../pieces.ts";
import { sha1 } from "../sha1.ts";
import { type PieceRange, type PieceVerdict, PieceWriter, type PieceWriterOptions } from "../storage/piece_writer.ts";
import type { Storage } from "../storage/storage.ts";
import {
  announceToTiers,
  type ClientAnnounceEvent as AnnounceEvent,
  type TrackerPeer,
  TrackerTiers,
} from "../tracker/client.ts";
import { Bitfield } from "../wire/bitfield.ts";
import { decodeExtendedHandshake, encodeExtendedHandshake, type WireMessage } from "../wire/messages.ts";
import { CHOKE_INTERVAL_MS, type ChokerState, createChokerState, decideChokes, UNCHOKE_SLOTS } from "./choker.ts";
import { MAX_PEER_REQUESTS, PeerConnection, type PeerConnectionOptions } from "./connection.ts";
import { type AcceptingTorrent, type Acceptor, startAcceptor } from "./acceptor.ts";
import { TorrentRegistry } from "./torrent_registry.ts";
import { formatHostPort as formatAddress, unmapIPv4 } from "../net_address.ts";
import { type BlockRequest, PiecePicker } from "./picker.ts";

/** Our client name and version, sent as `v` in the BEP 10 extended handshake (matches the peer id prefix). */
export const CLIENT_NAME = "btool 0.1.0";
/** Default connection cap (`--max-peers`). */
export const DEFAULT_MAX_PEERS = 50;
/** Fewest blocks kept in flight per unchoked peer. */
export const MIN_QUEUE_BLOCKS = 16;
/** Most blocks kept in flight per peer (4 MiB at 16 KiB). */
export const MAX_QUEUE_BLOCKS = 512;
/** The request queue covers this much time at the peer's current rate (libtorrent's request_queue_time is 3 s). */
export const QUEUE_TIME_S = 2;
/** Strikes (hash failures attributed to a peer) before it is banned. */
export const BAN_STRIKES = 2;
/** Failed pieces with several sources remembered for smart banning (per-block hashes compared once it passes). */
export const MAX_SUSPECT_PIECES = 256;
/** Bound on one outgoing TCP connect. */
export const CONNECT_TIMEOUT_MS = 10_000;
/** Wait this long before re-trying an address that failed, doubled per failure up to MAX_RETRY_MS. */
export const RETRY_BASE_MS = 5_000;
/** Longest wait before re-trying a failed address. */
export const MAX_RETRY_MS = 10 * 60_000;
/** Addresses remembered from trackers and configuration. */
export const MAX_KNOWN_PEERS = 2_000;
/** Peers asked of the tracker per announce. */
export const NUM_WANT = 80;
/** First retry after a failed announce round, doubled up to MAX_ANNOUNCE_RETRY_S. */
export const ANNOUNCE_RETRY_BASE_S = 15;
/** Longest wait between failed announce rounds. */
export const MAX_ANNOUNCE_RETRY_S = 30 * 60;
/** Shortest interval we accept from a tracker (guards against 0 or tiny intervals). */
export const MIN_ANNOUNCE_INTERVAL_S = 5;
/** Bound on the `stopped` announce at shutdown. */
export const STOP_ANNOUNCE_TIMEOUT_MS = 5_000;
/** Written-but-unflushed block bytes held before reading from peers pauses. */
export const MAX_PENDING_WRITE_BYTES = 16 * 1024 * 1024;
/** Pieces up to this size are assembled in memory, hashed, then written at once. */
export const MAX_BUFFERED_PIECE_BYTES = 16 * 1024 * 1024;
/** Bytes of partial pieces held in memory at once; further pieces are written block by block. */
export const MAX_PIECE_BUFFER_BYTES = 32 * 1024 * 1024;
/** Bytes of recently served pieces kept in memory. */
export const READ_CACHE_BYTES = 16 * 1024 * 1024;
/** Requests unanswered this long are given to other peers. */
export const REQUEST_TIMEOUT_MS = 60_000;
/** A peer whose requests timed out gets no new ones for this long. */
export const SNUB_MS = 60_000;
/** Blocks read for one peer and not yet written to its socket. */
export const MAX_SERVE_INFLIGHT_BLOCKS = 16;
/** Status/rate tick. */
export const TICK_MS = 1_000;
/** Weight of the newest second in the exponential rate averages. */
const RATE_ALPHA = 0.4;

/** One status report (sent once per TICK_MS through onProgress and on demand by `status()`). */
export interface SessionStatus {
  /** Verified pieces (of all pieces). */
  havePieces: number;
  pieceCount: number;
  /** Bytes of verified pieces. */
  haveBytes: number;
  totalBytes: number;
  /** Payload bytes received / sent this session. */
  downloaded: number;
  uploaded: number;
  /** Bytes per second (recent average). */
  downloadRate: number;
  uploadRate: number;
  peers: number;
  /** Connected peers that have every piece. */
  seeds: number;
  isComplete: boolean;
  /** Peers banned for sending data that failed the hash. */
  banned: number;
}

/** What a session reports besides progress. */
export type SessionEvent =
  | { type: "listening"; port: number }
  | { type: "announced"; url: string; event: AnnounceEvent | "none"; peers: number; interval: number }
  | { type: "connected"; address: string; isIncoming: boolean }
  | { type: "pieceVerified"; pieceIndex: number }
  | { type: "hashFailed"; pieceIndex: number; peers: string[] }
  | { type: "banned"; address: string; reason: string }
  | { type: "complete" };

/** Options of `createSession`. */
export interface SessionOptions {
  /** Where the data lives (already created by the caller). */
  storage: Storage;
  /** Pieces already verified (from a hash check or a resume file). Copied. */
  have?: Bitfield;
  /** Pieces to download; null/absent = every piece. */
  wanted?: Bitfield | null;
  /**
   * Files to keep (`--only`), as indexes into meta.files; absent = all. Only pieces touching them are fetched, and
   * only their bytes are written (pieces shared with other files are assembled in memory and written in part).
   */
  selectedFiles?: ReadonlySet<number>;
  /** Upload cap in bytes per second (absent: none). */
  uploadLimit?: number;
  /** Download cap in bytes per second (absent: none); reading from peers pauses when it is reached. */
  downloadLimit?: number;
  /** Our 20-byte peer id (default: "-BT0100-" + 12 random characters). */
  peerId?: Uint8Array;
  /** TCP port to listen on (0 = any free port). */
  port?: number;
  /** Address to listen on (default "::", dual-stack IPv6 + IPv4, or 0.0.0.0 where IPv6 is unavailable). */
  hostname?: string;
  /** Cap on connections (default DEFAULT_MAX_PEERS). */
  maxPeers?: number;
  /** Trackers to announce to (default: meta.announceList; BEP 27 private torrents only ever use their own). */
  announceList?: string[][];
  /** Extra peers to connect to (host, port), besides tracker peers. */
  peers?: { hostname: string; port: number }[];
  /** Announce to trackers at all (default true). */
  isAnnouncing?: boolean;
  /** Stop seeding once uploaded / totalLength reaches this ratio (onSeedRatio is called). */
  seedRatio?: number;
  /** Clock in ms (default Date.now). */
  now?: () => number;
  /** Uniform [0, 1) (default Math.random). */
  random?: () => number;
  onProgress?: (status: SessionStatus) => void;
  onEvent?: (event: SessionEvent) => void;
  /** Non-fatal problems: tracker failures and warnings, dropped peers worth mentioning. */
  onWarning?: (message: string) => void;
  /** Every wanted piece is verified and written. */
  onComplete?: () => void;
  /** The seed ratio was reached. */
  onSeedRatio?: () => void;
  /** A fatal storage error: the session stops itself and reports it here. */
  onFatal?: (err: unknown) => void;
  /** Handshake deadline: outgoing (default HANDSHAKE_TIMEOUT_MS) and incoming (default INCOMING_HANDSHAKE_TIMEOUT_MS). */
  handshakeTimeoutMs?: number;
  /** Incoming connections held before their handshake (default MAX_HALF_OPEN_INCOMING). */
  maxHalfOpen?: number;
  /** How downloaded pieces are verified and written (Worker on/off, and for tests its module and stall bound). */
  pieceWriter?: Omit<PieceWriterOptions, "onWarning">;
}

interface PeerEntry {
  id: string;
  conn: PeerConnection;
  address: string;
  remoteIdHex: string;
  isIncoming: boolean;
  connectedAtMs: number;
  pieces: Bitfield;
  downloaded: number;
  uploaded: number;
  /** Bytes counted in the current tick. */
  tickDown: number;
  tickUp: number;
  downloadRate: number;
  uploadRate: number;
  strikes: number;
  /** Our requests to this peer not answered yet (key → request), to match pieces and rejects. */
  requested: Map<number, BlockRequest>;
  /** When a requested block last arrived (or requests started), for the request timeout. */
  lastBlockMs: number;
  /** Its requests waiting to be read and sent, oldest first. */
  serveQueue: BlockRequest[];
  /** Blocks being read or written for it now. */
  serving: number;
  /** No requests to this peer before this time (it let requests time out). */
  snubbedUntilMs: number;
  /** Least queue length for this peer: doubled each time its pipeline runs dry (faster than the rate average). */
  queueFloor: number;
  /**
   * Until its first measured rate: the floor grows by one block per block answered (the queue doubles per round
   * trip, like TCP slow start) instead of waiting a whole tick at MIN_QUEUE_BLOCKS.
   */
  isSlowStart: boolean;
  /** Most requests this peer queues (its BEP 10 `reqq`), or null when it did not say. */
  maxRequests: number | null;
}

interface KnownPeer {
  hostname: string;
  port: number;
  failures: number;
  nextTryMs: number;
  isConnecting: boolean;
}

/** A running session. */
export interface Session {
  readonly meta: Metainfo;
  readonly peerId: Uint8Array;
  /** The TCP port we listen on. */
  readonly port: number;
  status(): SessionStatus;
  /** Verified pieces now. */
  haveBitfield(): Bitfield;
  /** Add a peer address to connect to. */
  addPeer(hostname: string, port: number): void;
  /** Stop: announce `stopped` (bounded), close every connection and the listener. Idempotent. */
  stop(): Promise<void>;
  /** Resolves when the session has stopped. */
  readonly stopped: Promise<void>;
}

/** A BEP 20 style peer id: "-BT0100-" then 12 random alphanumerics. */
export function createPeerId(random: () => number): Uint8Array {
  const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  let s = "-BT0100-";
  while (s.length < 20) s += alphabet[Math.floor(random() * alphabet.length)];
  return new TextEncoder().encode(s);
}

/** The adaptive request queue length for a peer sending `rate` bytes/s. */
export function queueBlocksFor(rate: number): number {
  const n = Math.ceil((rate * QUEUE_TIME_S) / BLOCK_BYTES);
  return Math.max(MIN_QUEUE_BLOCKS, Math.min(MAX_QUEUE_BLOCKS, n));
}

/** Strikes from one hash failure: a piece from a single peer convicts it; mixed pieces wait for smart banning. */
export function isSoleSource(sources: readonly string[]): boolean {
  return new Set(sources).size === 1;
}

/**
 * Check which pieces of `storage` are already there (SHA-1 of each piece against the torrent).
 * `onProgress(checkedBytes)` after each piece.
 * @throws {StorageError} io
 */
export async function checkPieces(
  storage: Storage,
  options: { onProgress?: (checkedBytes: number) => void; only?: Bitfield | null } = {},
): Promise<Bitfield> {
  const meta = storage.meta;
  const have = new Bitfield(meta.pieceCount);
  // A piece whose files are absent or too short cannot pass: skip it without a read (a fresh download's check).
  const sizes = await storage.fileSizes?.() ?? null;
  const isOnDisk = (i: number) =>
    sizes === null ||
    pieceSegments(meta, i).every((seg) => (sizes[seg.fileIndex] ?? -1) >= seg.fileOffset + seg.length);
  let done = 0;
  for (let i = 0; i < meta.pieceCount; i++) {
    if (isOnDisk(i) && await storage.verifyPiece(i)) have.set(i);
    done += pieceSize(meta, i);
    options.onProgress?.(done);
  }
  return have;
}

/** The pieces holding bytes of the selected files (indexes into meta.files). */
export function wantedPieces(meta: Metainfo, selectedFiles: ReadonlySet<number>): Bitfield {
  const wanted = new Bitfield(meta.pieceCount);
  for (const f of selectedFiles) {
    const range = filePieces(meta, f);
    if (range === null) continue;
    for (let i = range.first; i <= range.last; i++) wanted.set(i);
  }
  return wanted;
}

/**
 * A token bucket for byte rates: `take(n)` resolves when n more bytes fit under `bytesPerSecond` (bursts up to one
 * second's worth). Callers that arrive while in debt wait their turn. `close()` releases every waiter.
 */
export class RateLimiter {
  #rate: number;
  #tokens: number;
  #lastMs: number;
  #now: () => number;
  #waiters = new Set<{ timer: ReturnType<typeof setTimeout>; resolve: () => void }>();

  constructor(bytesPerSecond: number, options: { now?: () => number } = {}) {
    this.#rate = Math.max(1, bytesPerSecond);
    this.#now = options.now ?? Date.now;
    this.#tokens = this.#rate;
    this.#lastMs = this.#now();
  }

  /** Milliseconds a caller taking `n` bytes now must wait (and the bytes are counted as taken). */
  reserve(n: number): number {
    const t = this.#now();
    this.#tokens = Math.min(this.#rate, this.#tokens + ((t - this.#lastMs) * this.#rate) / 1000);
    this.#lastMs = t;
    this.#tokens -= n;
    return this.#tokens >= 0 ? 0 : (-this.#tokens * 1000) / this.#rate;
  }

  /** Wait until `n` bytes may pass. */
  take(n: number): Promise<void> {
    const waitMs = this.reserve(n);
    if (waitMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          resolve();
        }, waitMs),
        resolve,
      };
      this.#waiters.add(waiter);
    });
  }

  /** Release every waiter now (shutdown). */
  close(): void {
    for (const w of this.#waiters) {
      clearTimeout(w.timer);
      w.resolve();
    }
    this.#waiters.clear();
  }
}

function blockKey(r: { pieceIndex: number; begin: number }): number {
  return r.pieceIndex * 65536 + r.begin / BLOCK_BYTES;
}

/**
 * Listen on `hostname`, or by default on `::` — dual-stack on Linux (IPv4 peers arrive as ::ffff:a.b.c.d) — falling
 * back to 0.0.0.0 where IPv6 is unavailable.
 */
function listenTcp(hostname: string | undefined, port: number): Deno.Listener {
  if (hostname !== undefined) return Deno.listen({ hostname, port, transport: "tcp" });
  try {
    return Deno.listen({ hostname: "::", port, transport: "tcp" });
  } catch {
    return Deno.listen({ hostname: "0.0.0.0", port, transport: "tcp" });
  }
}

function isLoopbackOrAny(host: string): boolean {
  return host.startsWith("127.") || host === "::1" || host === "0.0.0.0" || host === "::" || host === "localhost";
}

function bytesOfHave(meta: Metainfo, have: Bitfield): number {
  let n = 0;
  for (const i of have.setIndexes()) n += pieceSize(meta, i);
  return n;
}

/**
 * Start a session for `storage.meta`: listens, announces, connects and trades until `stop()`.
 * @throws {BtoolError} listen_failed when the port cannot be bound
 */
export function createSession(meta: Metainfo, options: SessionOptions): Session {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const storage = options.storage;
  const peerId = options.peerId ?? createPeerId(random);
  const maxPeers = options.maxPeers ?? DEFAULT_MAX_PEERS;
  const selected = options.selectedFiles ?? null;
  const wanted = selected === null ? (options.wanted ?? null) : wantedPieces(meta, selected);
  const picker = new PiecePicker(meta, {
    random,
    ...(options.have ? { have: options.have } : {}),
    ...(wanted ? { wanted } : {}),
  });
  const warn = (m: string) => options.onWarning?.(m);
  const emit = (e: SessionEvent) => options.onEvent?.(e);
  const pieceWriter = new PieceWriter(storage, { ...options.pieceWriter, onWarning: warn });

  let listener: Deno.Listener;
  try {
    listener = listenTcp(options.hostname, options.port ?? 0);
  } catch (err: unknown) {
    throw new BtoolError("listen_failed", `Cannot listen on port ${options.port ?? 0}: ${errorText(err)}`, {
      cause: err,
    });
  }
  const port = (listener.addr as Deno.NetAddr).port;

  const peers = new Map<string, PeerEntry>();
  const known = new Map<string, KnownPeer>();
  const bannedIds = new Set<string>();
  const bannedAddresses = new Set<string>();
  const selfAddresses = new Set<string>();
  const blockSources = new Map<number, (string | null)[]>();
  /** Partial pieces assembled in memory (null: written block by block and verified from disk). */
  const pieceBuffers = new Map<number, Uint8Array | null>();
  let bufferedBytes = 0;
  /** Free piece-sized buffers (with the live ones, at most MAX_PIECE_BUFFER_BYTES). */
  const bufferPool: Uint8Array[] = [];
  /** Recently served pieces, least recently used first. */
  const readCache = new Map<number, { data: Promise<Uint8Array>; size: number }>();
  let readCacheBytes = 0;
  /** Failed mixed-source pieces: per block, (source, SHA-1 of what it sent). */
  const suspects = new Map<number, { source: string | null; hashHex: string }[]>();
  const tasks = new Set<Promise<unknown>>();
  let nextPeerNumber = 1;
  let connecting = 0;
  let downloaded = 0;
  let uploaded = 0;
  let downloadRate = 0;
  let uploadRate = 0;
  let tickDown = 0;
  let tickUp = 0;
  let haveBytes = options.have ? bytesOfHave(meta, options.have) : 0;
  let pendingWriteBytes = 0;
  let writeDrained: PromiseWithResolvers<void> | null = null;
  let isStopping = false;
  let isCompleteAnnounced = picker.isComplete;
  let isSeedRatioReached = false;
  let chokerState: ChokerState = createChokerState();
  const uploadLimiter = options.uploadLimit === undefined ? null : new RateLimiter(options.uploadLimit, { now });
  const downloadLimiter = options.downloadLimit === undefined ? null : new RateLimiter(options.downloadLimit, { now });
  const stopController = new AbortController();
  const { promise: stopped, resolve: resolveStopped } = Promise.withResolvers<void>();
  let wakeTracker: (() => void) | null = null;
  let pendingEvent: AnnounceEvent | undefined = "started";

  function track<T>(p: Promise<T>): void {
    const t = p.then(() => {}, (err: unknown) => warn(`Internal error: ${errorText(err)}`));
    tasks.add(t);
    void t.finally(() => tasks.delete(t));
  }

  function status(): SessionStatus {
    let seeds = 0;
    for (const p of peers.values()) if (p.pieces.isComplete) seeds++;
    return {
      havePieces: picker.haveCount,
      pieceCount: meta.pieceCount,
      haveBytes,
      totalBytes: meta.totalLength,
      downloaded,
      uploaded,
      downloadRate,
      uploadRate,
      peers: peers.size,
      seeds,
      isComplete: picker.isComplete,
      banned: bannedIds.size,
    };
  }

  function left(): number {
    return meta.totalLength - haveBytes;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Connections

  function addKnown(host: string, p: number): void {
    const hostname = unmapIPv4(host);
    const address = formatAddress(hostname, p);
    if (known.has(address) || known.size >= MAX_KNOWN_PEERS) return;
    if (p === port && isLoopbackOrAny(hostname)) return; // ourselves
    if (p <= 0 || p > 65535) return;
    known.set(address, { hostname, port: p, failures: 0, nextTryMs: 0, isConnecting: false });
  }

  function isConnectedTo(address: string): boolean {
    for (const p of peers.values()) if (p.address === address) return true;
    return false;
  }

  function connectMore(): void {
    if (isStopping) return;
    const t = now();
    for (const [address, k] of known) {
      if (peers.size + connecting >= maxPeers) return;
      if (k.isConnecting || k.nextTryMs > t) continue;
      if (bannedAddresses.has(address) || selfAddresses.has(address) || isConnectedTo(address)) continue;
      k.isConnecting = true;
      connecting++;
      track(connectTo(address, k));
    }
  }

  async function connectTo(address: string, k: KnownPeer): Promise<void> {
    let conn: Deno.TcpConn | null = null;
    try {
      conn = await withTimeout(
        Deno.connect({ hostname: k.hostname, port: k.port }),
        CONNECT_TIMEOUT_MS,
        stopController.signal,
      );
      if (isStopping) {
        conn.close();
        return;
      }
      const pc = await PeerConnection.open(conn, connectionOptions());
      conn = null;
      k.failures = 0;
      startPeer(pc, address, false);
    } catch (err: unknown) {
      if (conn !== null) {
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
      if (err instanceof WireError && err.code === "self_connection") selfAddresses.add(address);
      k.failures++;
      k.nextTryMs = now() + Math.min(MAX_RETRY_MS, RETRY_BASE_MS * 2 ** Math.min(16, k.failures - 1));
    } finally {
      k.isConnecting = false;
      connecting--;
    }
  }

  function connectionOptions(): PeerConnectionOptions {
    return {
      infoHash: meta.infoHash,
      peerId,
      geometry: meta,
      isExtensionProtocol: true,
      // Messages are handled before the next is read; the one block kept past that (a direct write) is copied.
      isLendingMessages: true,
      ...(options.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: options.handshakeTimeoutMs }),
    };
  }

  function startPeer(conn: PeerConnection, address: string, isIncoming: boolean): void {
    const remoteIdHex = toHex(conn.remotePeerId);
    if (isStopping || bannedIds.has(remoteIdHex) || bannedAddresses.has(address)) {
      conn.close();
      return;
    }
    for (const other of peers.values()) {
      if (other.remoteIdHex !== remoteIdHex) continue;
      // Both sides dialled each other: keep the connection opened by the peer with the smaller id, so both ends
      // keep the same one.
      const ourHex = toHex(peerId);
      const initiator = (incoming: boolean) => incoming ? remoteIdHex : ourHex;
      if (initiator(isIncoming) < initiator(other.isIncoming) && isIncoming !== other.isIncoming) {
        other.conn.close();
      } else {
        conn.close();
        return;
      }
    }
    if (peers.size >= maxPeers) {
      conn.close();
      return;
    }
    const entry: PeerEntry = {
      id: `p${nextPeerNumber++}`,
      conn,
      address,
      remoteIdHex,
      isIncoming,
      connectedAtMs: now(),
      pieces: new Bitfield(meta.pieceCount),
      downloaded: 0,
      uploaded: 0,
      tickDown: 0,
      tickUp: 0,
      downloadRate: 0,
      uploadRate: 0,
      strikes: 0,
      requested: new Map(),
      lastBlockMs: now(),
      snubbedUntilMs: 0,
      serveQueue: [],
      serving: 0,
      queueFloor: MIN_QUEUE_BLOCKS,
      isSlowStart: true,
      maxRequests: null,
    };
    peers.set(entry.id, entry);
    picker.addPeer(entry.id);
    emit({ type: "connected", address, isIncoming });
    track(runPeer(entry));
  }

  async function runPeer(entry: PeerEntry): Promise<void> {
    const conn = entry.conn;
    try {
      if (conn.isExtensionProtocol) {
        // BEP 10: the extended handshake goes right after the BitTorrent handshake. We offer no extensions; `reqq`
        // tells the peer how many requests we hold unanswered before refusing more.
        const payload = encodeExtendedHandshake({
          extensions: new Map(),
          clientName: CLIENT_NAME,
          listenPort: port,
          maxRequests: MAX_PEER_REQUESTS,
        });
        void conn.send({ type: "extended", extendedId: 0, payload }).catch(() => {});
      }
      const have = picker.haveBitfield();
      if (conn.isFastExtension && have.isComplete) void conn.send({ type: "haveAll" }).catch(() => {});
      else if (conn.isFastExtension && have.isEmpty) void conn.send({ type: "haveNone" }).catch(() => {});
      else if (!have.isEmpty) void conn.send({ type: "bitfield", bytes: have.toBytes() }).catch(() => {});
      for await (const msg of conn.messages()) {
        if (isStopping) break;
        handleMessage(entry, msg);
        if (msg.type === "piece" && downloadLimiter !== null) await downloadLimiter.take(msg.block.length);
        if (pendingWriteBytes > MAX_PENDING_WRITE_BYTES) await waitForWrites();
      }
    } catch (err: unknown) {
      if (!(err instanceof BtoolError)) throw err;
    } finally {
      conn.close();
      peers.delete(entry.id);
      const k = entry.isIncoming ? undefined : known.get(entry.address);
      if (k !== undefined) {
        // Two finished peers have nothing to trade: do not dial it again soon. Others: wait a little.
        const isUseless = picker.isComplete && entry.pieces.isComplete;
        k.nextTryMs = now() + (isUseless ? MAX_RETRY_MS : RETRY_BASE_MS);
      }
      picker.removePeer(entry.id);
      entry.requested.clear();
      // Blocks released by this peer go to others.
      if (!isStopping) { for (const p of peers.values()) fillRequests(p); }
    }
  }

  function waitForWrites(): Promise<void> {
    writeDrained ??= Promise.withResolvers<void>();
    return writeDrained.promise;
  }

  function send(entry: PeerEntry, msg: WireMessage): void {
    entry.conn.send(msg).catch(() => {});
  }

  function handleMessage(entry: PeerEntry, msg: WireMessage): void {
    switch (msg.type) {
      case "bitfield": {
        const bf = Bitfield.fromBytes(msg.bytes, meta.pieceCount);
        entry.pieces = bf;
        picker.peerBitfield(entry.id, bf);
        updateInterest(entry);
        return;
      }
      case "haveAll":
        entry.pieces = new Bitfield(meta.pieceCount, { isFull: true });
        picker.peerHaveAll(entry.id);
        updateInterest(entry);
        return;
      case "haveNone":
        entry.pieces = new Bitfield(meta.pieceCount);
        picker.peerBitfield(entry.id, entry.pieces);
        updateInterest(entry);
        return;
      case "have":
        entry.pieces.set(msg.pieceIndex);
        if (picker.peerHave(entry.id, msg.pieceIndex) && !entry.conn.amInterested) updateInterest(entry);
        else if (entry.conn.amInterested) fillRequests(entry);
        if (picker.isComplete && entry.pieces.isComplete && peerIsDone(entry)) entry.conn.close();
        return;
      case "choke":
        // Outstanding requests are void (BEP 3); with BEP 6 the peer rejects them explicitly, but releasing
        // them now is correct either way: a late piece is still accepted if we need it.
        for (const r of entry.requested.values()) picker.releaseRequest(entry.id, r);
        entry.requested.clear();
        return;
      case "unchoke":
        fillRequests(entry);
        return;
      case "interested":
        if (entry.conn.amChoking && !isStopping && unchokedCount() < UNCHOKE_SLOTS) send(entry, { type: "unchoke" });
        return;
      case "notInterested":
        if (picker.isComplete && entry.pieces.isComplete) entry.conn.close();
        return;
      case "request":
        serve(entry, msg);
        return;
      case "piece":
        receive(entry, msg);
        return;
      case "reject": {
        const key = blockKey(msg);
        const r = entry.requested.get(key);
        if (r !== undefined) {
          entry.requested.delete(key);
          picker.releaseRequest(entry.id, r);
          // Do not immediately re-ask the same peer in a loop: others get it on their next fill.
          for (const p of peers.values()) if (p !== entry) fillRequests(p);
        }
        return;
      }
      case "cancel":
      case "keepAlive":
      case "port":
      case "suggest":
      case "allowedFast":
      case "unknown":
        return;
      case "extended":
        if (msg.extendedId === 0 && entry.conn.isExtensionProtocol) {
          const hs = decodeExtendedHandshake(msg.payload);
          entry.maxRequests = hs.maxRequests ?? null;
        }
        return;
      default: {
        const never: never = msg;
        throw new WireError("unexpected", `Unexpected message ${String(never)}`);
      }
    }
  }

  function peerIsDone(entry: PeerEntry): boolean {
    return !entry.conn.peerInterested;
  }

  function unchokedCount(): number {
    let n = 0;
    for (const p of peers.values()) if (!p.conn.amChoking) n++;
    return n;
  }

  function updateInterest(entry: PeerEntry): void {
    const isInteresting = picker.isInteresting(entry.id);
    if (isInteresting && !entry.conn.amInterested) send(entry, { type: "interested" });
    else if (!isInteresting && entry.conn.amInterested) send(entry, { type: "notInterested" });
    if (isInteresting) fillRequests(entry);
    // Two finished peers have nothing to trade.
    if (picker.isComplete && entry.pieces.isComplete) entry.conn.close();
  }

  function fillRequests(entry: PeerEntry): void {
    const conn = entry.conn;
    if (isStopping || conn.isClosed || conn.peerChoking || !conn.amInterested || picker.isComplete) return;
    if (entry.snubbedUntilMs > now()) return;
    if (entry.requested.size === 0) entry.lastBlockMs = now();
    let queue = Math.max(entry.queueFloor, queueBlocksFor(entry.downloadRate));
    // Never queue more than the peer said it keeps (BEP 10 `reqq`): the excess would be dropped or rejected.
    if (entry.maxRequests !== null) queue = Math.min(queue, entry.maxRequests);
    const want = queue - entry.requested.size;
    if (want <= 0) return;
    // Batch: ask for at least a few blocks at once, so each arrival does not cost a picker pass.
    // Refill in batches of a quarter queue: one socket write carries many requests.
    if (entry.requested.size > 0 && want < Math.max(4, queue >> 2)) return;
    const reqs = picker.nextRequests(entry.id, want);
    for (const r of reqs) entry.requested.set(blockKey(r), r);
    // One write and one promise for the whole refill.
    conn.sendMany(reqs.map((r) => ({ type: "request", pieceIndex: r.pieceIndex, begin: r.begin, length: r.length })))
      .catch(() => {});
    if (entry.requested.size === 0 && !picker.isInteresting(entry.id)) send(entry, { type: "notInterested" });
  }

  function serve(entry: PeerEntry, req: BlockRequest): void {
    if (!picker.hasPiece(req.pieceIndex)) {
      void entry.conn.reject(req).catch(() => {});
      return;
    }
    // The connection caps unanswered requests (MAX_PEER_REQUESTS), so this queue is bounded too.
    entry.serveQueue.push(req);
    pumpServe(entry);
  }

  /** Serve queued requests with at most MAX_SERVE_INFLIGHT_BLOCKS blocks read and not yet written per peer. */
  function pumpServe(entry: PeerEntry): void {
    while (entry.serving < MAX_SERVE_INFLIGHT_BLOCKS && entry.serveQueue.length > 0 && !entry.conn.isClosed) {
      const req = entry.serveQueue.shift()!;
      if (!entry.conn.isRequestPending(req)) continue; // cancelled, or dropped by a choke
      entry.serving++;
      track(
        serveOne(entry, req).finally(() => {
          entry.serving--;
          pumpServe(entry);
        }),
      );
    }
  }

  async function serveOne(entry: PeerEntry, req: BlockRequest): Promise<void> {
    let block: Uint8Array;
    try {
      block = await readForServe(req.pieceIndex, req.begin, req.length);
    } catch (err: unknown) {
      warn(`Cannot serve piece ${req.pieceIndex}: ${errorText(err)}`);
      void entry.conn.reject(req).catch(() => {});
      return;
    }
    try {
      if (uploadLimiter !== null) await uploadLimiter.take(block.length);
      // Resolves once written: the peer's socket sets the pace (backpressure).
      if (await entry.conn.sendPiece(req, block)) {
        entry.uploaded += block.length;
        entry.tickUp += block.length;
        uploaded += block.length;
        tickUp += block.length;
      }
    } catch {
      // connection closed
    }
  }

  /** Peers ask for a piece's blocks in a row: read the piece once and serve its blocks from memory. */
  function readForServe(index: number, begin: number, length: number): Promise<Uint8Array> {
    const size = pieceSize(meta, index);
    if (size > READ_CACHE_BYTES / 4) return storage.readBlock(index, begin, length);
    let piece = readCache.get(index);
    if (piece === undefined) {
      const reading = storage.readPiece(index);
      piece = { data: reading, size };
      readCache.set(index, piece);
      readCacheBytes += size;
      const entry = piece;
      reading.catch(() => {
        if (readCache.get(index) === entry) {
          readCache.delete(index);
          readCacheBytes -= size;
        }
      });
      for (const [i, e] of readCache) {
        if (readCacheBytes <= READ_CACHE_BYTES) break;
        readCache.delete(i);
        readCacheBytes -= e.size;
      }
    } else {
      readCache.delete(index);
      readCache.set(index, piece);
    }
    // A copy: a queued block must not keep a whole evicted piece alive.
    return piece.data.then((data) => data.slice(begin, begin + length));
  }

  function receive(entry: PeerEntry, msg: { pieceIndex: number; begin: number; block: Uint8Array }): void {
    const key = blockKey(msg);
    const r = entry.requested.get(key);
    if (r !== undefined) {
      entry.requested.delete(key);
      entry.lastBlockMs = now();
      // The pipeline ran dry: the peer answers faster than we ask.
      if (entry.requested.size === 0) entry.queueFloor = Math.min(MAX_QUEUE_BLOCKS, entry.queueFloor * 2);
      else if (entry.isSlowStart) entry.queueFloor = Math.min(MAX_QUEUE_BLOCKS, entry.queueFloor + 1);
    }
    const length = msg.block.length;
    entry.downloaded += length;
    entry.tickDown += length;
    downloaded += length;
    tickDown += length;
    const index = msg.pieceIndex;
    const result = picker.blockReceived(entry.id, { pieceIndex: index, begin: msg.begin, length });
    if (result.type === "accepted") {
      for (const c of result.cancel) {
        const other = peers.get(c.peerId);
        if (other === undefined) continue;
        other.requested.delete(blockKey(c.request));
        send(other, { type: "cancel", ...c.request });
      }
      let sources = blockSources.get(index);
      if (sources === undefined) {
        sources = new Array<string | null>(Math.ceil(pieceSize(meta, index) / BLOCK_BYTES)).fill(null);
        blockSources.set(index, sources);
      }
      sources[msg.begin / BLOCK_BYTES] = entry.id;
      let buffer = pieceBuffers.get(index);
      if (buffer === undefined) {
        const size = pieceSize(meta, index);
        // Pieces shared with unselected files (--only) are always assembled in memory: only part is written.
        buffer = (size <= MAX_BUFFERED_PIECE_BYTES && bufferedBytes + size <= MAX_PIECE_BUFFER_BYTES) ||
            !isWholePieceSelected(index)
          ? (size === meta.pieceLength ? bufferPool.pop() : undefined) ?? new Uint8Array(size)
          : null;
        if (buffer !== null) bufferedBytes += size;
        pieceBuffers.set(index, buffer);
      }
      if (buffer !== null) {
        // Assemble in memory: one hash, one write per piece, and bad data never reaches the disk.
        buffer.set(msg.block, msg.begin);
        if (result.isPieceComplete) {
          pieceBuffers.delete(index);
          track(finishBuffered(index, buffer));
        }
      } else {
        if (result.isPieceComplete) pieceBuffers.delete(index);
        pendingWriteBytes += length;
        const done = storage.writeBlock(index, msg.begin, msg.block.slice()).then(
          () => {
            if (result.isPieceComplete) return finishOnDisk(index);
          },
          (err: unknown) => fatal(err),
        ).finally(() => writeDone(length));
        track(done);
      }
    }
    fillRequests(entry);
  }

  function writeDone(length: number): void {
    pendingWriteBytes -= length;
    if (pendingWriteBytes <= MAX_PENDING_WRITE_BYTES / 2 && writeDrained !== null) {
      writeDrained.resolve();
      writeDrained = null;
    }
  }

  async function finishBuffered(index: number, buffer: Uint8Array): Promise<void> {
    const size = buffer.length;
    let data: Uint8Array | null = null;
    try {
      // Hashed and written off the JS thread (`buffer` is handed over; `data` comes back); counted as pending
      // writes so that reading pauses when that lags.
      pendingWriteBytes += size;
      let verdict: PieceVerdict["verdict"];
      try {
        ({ verdict, data } = await pieceWriter.verifyAndWrite(index, buffer, selectedRanges(index) ?? undefined));
      } catch (err: unknown) {
        fatal(err);
        return;
      } finally {
        writeDone(size);
      }
      if (verdict === "written") pieceGood(index, data);
      else if (verdict === "bad") await pieceBad(index, data);
      else pieceLost(index);
    } finally {
      bufferedBytes -= size;
      // Reuse full-size buffers: every block of the next piece overwrites its span before the piece is complete.
      // Pooled plus live buffers stay within MAX_PIECE_BUFFER_BYTES.
      if (
        data !== null && size === meta.pieceLength &&
        bufferedBytes + (bufferPool.length + 1) * size <= MAX_PIECE_BUFFER_BYTES
      ) {
        bufferPool.push(data);
      }
    }
  }

  /** The bytes of a complete piece were lost with a failed piece Worker: fetch it again (nobody is to blame). */
  function pieceLost(index: number): void {
    blockSources.delete(index);
    picker.pieceFailed(index);
    for (const p of peers.values()) fillRequests(p);
  }

  async function finishOnDisk(index: number): Promise<void> {
    let ok: boolean;
    try {
      ok = await storage.verifyPiece(index);
    } catch (err: unknown) {
      fatal(err);
      return;
    }
    if (ok) pieceGood(index, null);
    else await pieceBad(index, null);
  }

  function pieceGood(index: number, data: Uint8Array | null): void {
    blockSources.delete(index);
    const suspect = suspects.get(index);
    if (suspect !== undefined) {
      suspects.delete(index);
      track(convictFromSuspect(index, suspect, data));
    }
    picker.pieceVerified(index);
    haveBytes += pieceSize(meta, index);
    emit({ type: "pieceVerified", pieceIndex: index });
    for (const p of peers.values()) {
      if (!p.pieces.has(index)) send(p, { type: "have", pieceIndex: index });
    }
    if (picker.isComplete) onComplete();
  }

  async function pieceBad(index: number, data: Uint8Array | null): Promise<void> {
    const sources = blockSources.get(index) ?? [];
    blockSources.delete(index);
    const ids = picker.pieceFailed(index);
    const addresses = ids.map((id) => peers.get(id)?.address ?? id);
    emit({ type: "hashFailed", pieceIndex: index, peers: addresses });
    warn(`Piece ${index} failed its hash check (from ${addresses.join(", ") || "unknown peers"})`);
    if (isSoleSource(ids)) {
      strike(ids[0]!, `sent piece ${index} with a bad hash`);
    } else if (suspects.size < MAX_SUSPECT_PIECES) {
      // Remember what each peer sent, to find the liar once the piece passes (smart ban).
      try {
        const bytes = data ?? await storage.readPiece(index);
        const hashes = await blockHashes(bytes, sources.length);
        suspects.set(index, sources.map((source, b) => ({ source, hashHex: toHex(hashes[b]!) })));
      } catch {
        // unreadable: no smart ban for this piece
      }
    }
    for (const p of peers.values()) fillRequests(p);
  }

  async function convictFromSuspect(
    index: number,
    suspect: { source: string | null; hashHex: string }[],
    known: Uint8Array | null,
  ): Promise<void> {
    let data: Uint8Array;
    try {
      data = known ?? await storage.readPiece(index);
    } catch {
      return;
    }
    const guilty = new Set<string>();
    const hashes = await blockHashes(data, suspect.length);
    suspect.forEach((s, b) => {
      if (s.source !== null && toHex(hashes[b]!) !== s.hashHex) guilty.add(s.source);
    });
    for (const id of guilty) strike(id, `sent bad blocks in piece ${index}`);
  }

  function strike(id: string, reason: string): void {
    const entry = peers.get(id);
    // A banned peer stays in `peers` until its loop ends: later failures must not ban it again.
    if (entry === undefined || entry.conn.isClosed) return;
    entry.strikes++;
    if (entry.strikes < BAN_STRIKES) return;
    bannedIds.add(entry.remoteIdHex);
    bannedAddresses.add(entry.address);
    emit({ type: "banned", address: entry.address, reason });
    warn(`Banned peer ${entry.address}: ${reason}`);
    entry.conn.close();
  }

  function onComplete(): void {
    for (const p of peers.values()) {
      if (p.conn.amInterested) send(p, { type: "notInterested" });
      if (p.pieces.isComplete) p.conn.close();
    }
    emit({ type: "complete" });
    options.onComplete?.();
    if (!isCompleteAnnounced && haveBytes === meta.totalLength) {
      isCompleteAnnounced = true;
      pendingEvent = "completed";
      wakeTracker?.();
    }
  }

  function fatal(err: unknown): void {
    if (isStopping) return;
    options.onFatal?.(err);
    void stop();
  }

  // ---------------------------------------------------------------------------------------------------------
  // Choking, rates, status

  function chokeRound(): void {
    if (isStopping) return;
    const decision = decideChokes(
      [...peers.values()].map((p) => ({
        id: p.id,
        isInterested: p.conn.peerInterested,
        downloadRate: p.downloadRate,
        uploadRate: p.uploadRate,
        connectedAtMs: p.connectedAtMs,
      })),
      chokerState,
      { now: now(), random, isSeeding: picker.isComplete },
    );
    chokerState = decision.state;
    for (const p of peers.values()) {
      const isUnchoked = decision.unchoke.has(p.id);
      if (isUnchoked && p.conn.amChoking) send(p, { type: "unchoke" });
      else if (!isUnchoked && !p.conn.amChoking) send(p, { type: "choke" });
    }
  }

  /** The ranges of piece `index` to write (those in selected files), or null for all of it. */
  function selectedRanges(index: number): PieceRange[] | null {
    if (selected === null || isWholePieceSelected(index)) return null;
    const start = index * meta.pieceLength;
    const ranges: PieceRange[] = [];
    for (const seg of pieceSegments(meta, index)) {
      if (!selected.has(seg.fileIndex)) continue;
      ranges.push({ begin: meta.files[seg.fileIndex]!.offset + seg.fileOffset - start, length: seg.length });
    }
    return ranges;
  }

  function isWholePieceSelected(index: number): boolean {
    if (selected === null) return true;
    return pieceSegments(meta, index).every((seg) =>
      selected.has(seg.fileIndex) || meta.files[seg.fileIndex]!.isPadding
    );
  }

  /** Give back the requests of peers that sent nothing for REQUEST_TIMEOUT_MS, and stop asking them for a while. */
  function checkRequestTimeouts(): void {
    const t = now();
    for (const p of peers.values()) {
      if (p.requested.size === 0 || t - p.lastBlockMs < REQUEST_TIMEOUT_MS) continue;
      for (const r of p.requested.values()) picker.releaseRequest(p.id, r);
      p.requested.clear();
      p.snubbedUntilMs = t + SNUB_MS;
      for (const other of peers.values()) if (other !== p) fillRequests(other);
    }
  }

  function tick(): void {
    if (isStopping) return;
    const seconds = TICK_MS / 1000;
    downloadRate = downloadRate * (1 - RATE_ALPHA) + (tickDown / seconds) * RATE_ALPHA;
    uploadRate = uploadRate * (1 - RATE_ALPHA) + (tickUp / seconds) * RATE_ALPHA;
    tickDown = tickUp = 0;
    for (const p of peers.values()) {
      p.downloadRate = p.downloadRate * (1 - RATE_ALPHA) + (p.tickDown / seconds) * RATE_ALPHA;
      p.uploadRate = p.uploadRate * (1 - RATE_ALPHA) + (p.tickUp / seconds) * RATE_ALPHA;
      p.tickDown = p.tickUp = 0;
      if (p.isSlowStart && p.downloadRate > 0) {
        // Slow start is over: from now on the measured rate sizes the queue.
        p.isSlowStart = false;
        p.queueFloor = Math.max(MIN_QUEUE_BLOCKS, Math.min(p.queueFloor, queueBlocksFor(p.downloadRate)));
      }
      fillRequests(p);
    }
    checkRequestTimeouts();
    connectMore();
    options.onProgress?.(status());
    if (
      options.seedRatio !== undefined && !isSeedRatioReached && picker.isComplete &&
      uploaded >= options.seedRatio * meta.totalLength
    ) {
      isSeedRatioReached = true;
      options.onSeedRatio?.();
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Trackers

  const tiers = new TrackerTiers(
    // BEP 27: a private torrent talks only to the trackers in its own metainfo.
    meta.isPrivate ? meta.announceList : (options.announceList ?? meta.announceList),
    { random },
  );
  const trackerKey = Math.floor(random() * 0x1_0000_0000) >>> 0;

  function announceParams(event: AnnounceEvent | undefined) {
    return {
      infoHash: meta.infoHash.bytes,
      peerId,
      port,
      uploaded,
      downloaded,
      left: left(),
      numWant: event === "stopped" ? 0 : NUM_WANT,
      key: trackerKey,
      ...(event === undefined ? {} : { event }),
    };
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeTracker = null;
        stopController.signal.removeEventListener("abort", done);
        resolve();
      }
      wakeTracker = done;
      stopController.signal.addEventListener("abort", done);
    });
  }

  async function trackerLoop(): Promise<void> {
    let retryS = ANNOUNCE_RETRY_BASE_S;
    while (!isStopping) {
      const event = pendingEvent;
      let waitS: number;
      try {
        const { url, response } = await announceToTiers(tiers, announceParams(event), {
          signal: stopController.signal,
          onWarning: (u, err) => warn(`Tracker ${u}: ${err.message}`),
        });
        if (pendingEvent === event) pendingEvent = undefined;
        if (response.warning !== undefined) warn(`Tracker ${url} warning: ${response.warning}`);
        for (const p of response.peers) addKnown(p.ip, p.port);
        for (const p of response.peers) if (p.peerId !== undefined && toHex(p.peerId) === toHex(peerId)) skipSelf(p);
        waitS = Math.max(MIN_ANNOUNCE_INTERVAL_S, response.interval);
        retryS = ANNOUNCE_RETRY_BASE_S;
        emit({ type: "announced", url, event: event ?? "none", peers: response.peers.length, interval: waitS });
        connectMore();
      } catch (err: unknown) {
        if (isStopping) return;
        if (!(err instanceof TrackerError)) throw err;
        warn(`Announce failed: ${err.message}`);
        waitS = retryS;
        retryS = Math.min(MAX_ANNOUNCE_RETRY_S, retryS * 2);
      }
      if (isStopping) return;
      if (pendingEvent !== undefined && pendingEvent !== event) continue;
      await sleep(waitS * 1000);
    }
  }

  function skipSelf(p: TrackerPeer): void {
    const address = `${p.ip}:${p.port}`;
    known.delete(address);
    selfAddresses.add(address);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Start and stop

  const tickTimer = setInterval(tick, TICK_MS);
  const chokeTimer = setInterval(chokeRound, CHOKE_INTERVAL_MS);
  const torrents = new TorrentRegistry<AcceptingTorrent>();
  torrents.add(meta.infoHash, {
    // Half-open incoming sockets wait in the acceptor's gate, not in `connecting`: they take no peer slot.
    incomingOptions: () => isStopping || peers.size >= maxPeers ? null : connectionOptions(),
    addIncoming: (pc, address) => startPeer(pc, address, true),
  });
  const acceptor: Acceptor = startAcceptor(listener, {
    torrents,
    now,
    onWarning: warn,
    ...(options.maxHalfOpen === undefined ? {} : { maxHalfOpen: options.maxHalfOpen }),
    ...(options.handshakeTimeoutMs === undefined ? {} : { timeoutMs: options.handshakeTimeoutMs }),
  });
  const isAnnouncing = (options.isAnnouncing ?? true) && tiers.order().length > 0;
  const trackerTask = isAnnouncing ? trackerLoop().catch((err: unknown) => warn(errorText(err))) : Promise.resolve();
  for (const p of options.peers ?? []) addKnown(p.hostname, p.port);
  // Load the piece Worker now (tens of ms), not when the first piece is complete; stop() closes it.
  if (!picker.isComplete) pieceWriter.warmUp();
  queueMicrotask(() => {
    emit({ type: "listening", port });
    connectMore();
  });

  let stopPromise: Promise<void> | null = null;
  function stop(): Promise<void> {
    stopPromise ??= (async () => {
      isStopping = true;
      clearInterval(tickTimer);
      clearInterval(chokeTimer);
      uploadLimiter?.close();
      downloadLimiter?.close();
      stopController.abort();
      await acceptor.close();
      await trackerTask;
      for (const p of peers.values()) p.conn.close();
      // Wait for every peer loop, write and verification to finish (bounded: sockets are closed).
      while (tasks.size > 0) await Promise.allSettled([...tasks]);
      pieceWriter.close();
      if (isAnnouncing) {
        const timeout = new AbortController();
        const timer = setTimeout(() => timeout.abort(), STOP_ANNOUNCE_TIMEOUT_MS);
        try {
          await announceToTiers(tiers, announceParams("stopped"), { signal: timeout.signal, timeoutMs: 5000 });
        } catch {
          // best effort
        } finally {
          clearTimeout(timer);
        }
      }
      resolveStopped();
    })();
    return stopPromise;
  }

  return {
    meta,
    peerId,
    port,
    status,
    haveBitfield: () => picker.haveBitfield(),
    addPeer(hostname, p) {
      addKnown(hostname, p);
      connectMore();
    },
    stop,
    stopped,
  };
}

/** SHA-1 of each of the first `count` blocks of a piece, all in flight at once. */
function blockHashes(piece: Uint8Array, count: number): Promise<Uint8Array[]> {
  return Promise.all(
    Array.from({ length: count }, (_, b) => sha1(piece.subarray(b * BLOCK_BYTES, (b + 1) * BLOCK_BYTES))),
  );
}

/** `p` bounded by `ms` and by `signal`; a connection that arrives too late is closed. */
function withTimeout<T extends Deno.Conn>(p: Promise<T>, ms: number, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let isSettled = false;
    const giveUp = (err: Error) => {
      if (isSettled) return;
      isSettled = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      reject(err);
      p.then((c) => c.close(), () => {});
    };
    const onAbort = () => giveUp(new WireError("connect_aborted", "Connect aborted: the session is stopping"));
    const timer = setTimeout(() => giveUp(new WireError("connect_timeout", `Connect timed out after ${ms} ms`)), ms);
    signal.addEventListener("abort", onAbort);
    p.then((c) => {
      if (isSettled) return;
      isSettled = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      resolve(c);
    }, (err: unknown) => {
      if (isSettled) return;
      isSettled = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      reject(err);
    });
  });
}
