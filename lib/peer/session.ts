// One torrent's peer session (BEP 3, 6, 10, 12, 15, 23, 27): wires the parts of `btool peer` together and runs the
// connected peers' loops. Dialing (known_peers, dialer), accepting (peer_listener), the peers (peer_table), requests
// (request_scheduler), assembly and verification (piece_flow), uploads (upload_server), bans (ban_policy), choking
// (choker), byte counts (transfer_stats), announces (tracker_loop).
// Never prints (onProgress/onWarning); owns its sockets and timers but not the Storage (the caller closes it).
//
// Invariants:
// - #peers (a PeerTable) holds every connection past its handshake, keyed by an opaque id ("p<n>") that is also the
//   picker's id, until its loop ends. At most `maxPeers` connections plus outgoing dials in progress (half-open
//   incoming sockets wait in the acceptor's gate and take no slot).
// - A piece is announced (`have`), served and counted as done only after picker.pieceVerified, which follows a
//   successful verification of the bytes written (PieceFlow).
// - Nothing in this file throws out of a peer's loop: a WireError or socket error ends that one connection.

import { toHex } from "../bytes.ts";
import { BtoolError, errorText, WireError } from "../errors.ts";
import type { Metainfo } from "../metainfo.ts";
import { pieceSize } from "../pieces.ts";
import { PieceWriter } from "../storage/piece_writer.ts";
import { TrackerTiers } from "../tracker/tracker_tiers.ts";
import type { Bitfield } from "../wire/bitfield.ts";
import type { WireMessage } from "../wire/messages.ts";
import type { AcceptingTorrent } from "./acceptor.ts";
import { BanPolicy } from "./ban_policy.ts";
import { BlockAssembler } from "./block_assembler.ts";
import { CHOKE_INTERVAL_MS, Choker } from "./choker.ts";
import { PeerConnection, type PeerConnectionOptions } from "./connection.ts";
import { dialPeer } from "./dialer.ts";
import { type KnownPeer, KnownPeers } from "./known_peers.ts";
import { openPeerListener, type PeerListener } from "./peer_listener.ts";
import { greet, handlePeerMessage, type PeerContext, type PeerEntry } from "./peer_messages.ts";
import { PeerTable } from "./peer_table.ts";
import { PiecePicker } from "./picker.ts";
import { PieceFlow } from "./piece_flow.ts";
import { RateLimiter } from "./rate_limiter.ts";
import { RequestScheduler } from "./request_scheduler.ts";
import type { TorrentRegistry } from "./torrent_registry.ts";
import { startTrackerLoop, type TrackerLoop } from "./tracker_loop.ts";
import { countDownloaded, countUploaded, createTransfer, tickTransfer } from "./transfer_stats.ts";
import { ReadCache, UploadServer } from "./upload_server.ts";
import {
  createPeerId,
  DEFAULT_MAX_PEERS,
  type Session,
  type SessionEvent,
  type SessionOptions,
  type SessionStatus,
  wantedPieces,
} from "./session_api.ts";

export * from "./session_api.ts";
// cli/peer.ts starts here: the first check comes with the session.
export { checkPieces } from "../storage/check.ts";

/** Status/rate tick. */
export const TICK_MS = 1_000;

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
  return new TorrentSession(meta, options);
}

/** The session: the peer table and the wiring between the parts. */
class TorrentSession implements Session, AcceptingTorrent {
  readonly meta: Metainfo;
  readonly peerId: Uint8Array;
  readonly port: number;
  readonly stopped: Promise<void>;

  #o: SessionOptions;
  #now: () => number;
  #random: () => number;
  #maxPeers: number;
  #picker: PiecePicker;
  #pieceWriter: PieceWriter;
  #scheduler: RequestScheduler;
  #flow: PieceFlow;
  #uploads: UploadServer;
  #bans = new BanPolicy();
  #choker: Choker;
  #known: KnownPeers;
  #peers: PeerTable;
  #tasks = new Set<Promise<unknown>>();
  /** Our own listener (null when serving through a shared one). */
  #listener: PeerListener | null = null;
  #torrents: TorrentRegistry<AcceptingTorrent>;
  #tracker: TrackerLoop | null;
  #uploadLimiter: RateLimiter | null;
  #downloadLimiter: RateLimiter | null;
  #stopController = new AbortController();
  #timers: ReturnType<typeof setInterval>[];
  #resolveStopped: () => void;
  #stopping: Promise<void> | null = null;
  #dialing = 0;
  /** The torrent's payload bytes and rates. */
  #transfer = createTransfer();
  #haveBytes: number;
  #isStopping = false;
  #isCompleteAnnounced: boolean;
  #isSeedRatioReached = false;
  /** What peers' messages act on (lib/peer/peer_messages.ts). */
  #ctx: PeerContext;

  constructor(meta: Metainfo, options: SessionOptions) {
    this.meta = meta;
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.peerId = options.peerId ?? createPeerId(this.#random);
    this.#maxPeers = options.maxPeers ?? DEFAULT_MAX_PEERS;
    const selected = options.selectedFiles ?? null;
    const wanted = selected === null ? (options.wanted ?? null) : wantedPieces(meta, selected);
    const picker = this.#picker = new PiecePicker(meta, {
      random: this.#random,
      ...(options.have ? { have: options.have } : {}),
      ...(wanted ? { wanted } : {}),
    });
    this.#haveBytes = options.have ? bytesOfHave(meta, options.have) : 0;
    this.#isCompleteAnnounced = picker.isComplete;
    const warn = (m: string) => this.#warn(m);
    const track = (t: Promise<unknown>) => this.#track(t);
    this.#pieceWriter = new PieceWriter(options.storage, { ...options.pieceWriter, onWarning: warn });
    this.#uploadLimiter = options.uploadLimiter ??
      (options.uploadLimit === undefined ? null : new RateLimiter(options.uploadLimit, { now: this.#now }));
    this.#downloadLimiter = options.downloadLimiter ??
      (options.downloadLimit === undefined ? null : new RateLimiter(options.downloadLimit, { now: this.#now }));
    this.#scheduler = new RequestScheduler(picker, { now: this.#now, isActive: () => !this.#isStopping });
    this.#choker = new Choker({ now: this.#now, random: this.#random });
    this.#flow = new PieceFlow(meta, {
      picker,
      storage: options.storage,
      pieceWriter: this.#pieceWriter,
      assembler: new BlockAssembler(meta, selected),
      bans: this.#bans,
      track,
      fatal: (err) => this.#fatal(err),
      pieceVerified: (i) => this.#pieceVerified(i),
      hashFailed: (i, ids) => this.#hashFailed(i, ids),
      strike: (id, reason) => this.#strike(id, reason),
      refillAll: () => this.#refill(null),
    });
    const cache = new ReadCache(meta, options.storage);
    this.#uploads = new UploadServer({
      read: (i, b, l) => cache.read(i, b, l),
      hasPiece: (i) => picker.hasPiece(i),
      limiter: this.#uploadLimiter,
      track,
      onUploaded: (peer, n) => this.#countUp(peer as PeerEntry, n),
      onWarning: warn,
    });

    if (options.sharedListener === undefined) {
      this.#listener = openPeerListener({
        hostname: options.hostname,
        port: options.port,
        now: this.#now,
        onWarning: warn,
        maxHalfOpen: options.maxHalfOpen,
        handshakeTimeoutMs: options.handshakeTimeoutMs,
      });
    }
    const listener = options.sharedListener ?? this.#listener!;
    this.port = listener.port;
    this.#torrents = listener.torrents;
    this.#torrents.add(meta.infoHash, this);
    this.#peers = new PeerTable({
      ourPeerId: this.peerId,
      maxPeers: this.#maxPeers,
      pieceCount: meta.pieceCount,
      now: this.#now,
      isBanned: (idHex, address) => this.#bans.isBanned(idHex, address),
    });
    this.#known = new KnownPeers({ now: this.#now, ownPort: this.port });
    this.#ctx = {
      meta,
      picker,
      scheduler: this.#scheduler,
      uploads: this.#uploads,
      flow: this.#flow,
      choker: this.#choker,
      peers: this.#peers.byId,
      listenPort: this.port,
      isStopping: () => this.#isStopping,
      countDown: (n) => countDownloaded(this.#transfer, n),
      refill: (except) => this.#refill(except),
    };
    this.#tracker = this.#startTracker();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.stopped = promise;
    this.#resolveStopped = resolve;
    this.#timers = [setInterval(() => this.#tick(), TICK_MS), setInterval(() => this.#chokeRound(), CHOKE_INTERVAL_MS)];
    for (const p of options.peers ?? []) this.#known.add(p.hostname, p.port);
    // Load the piece Worker now (its start-up is in docs/PERFORMANCE.md), not at the first complete piece.
    if (!picker.isComplete) this.#pieceWriter.warmUp();
    queueMicrotask(() => {
      this.#emit({ type: "listening", port: this.port });
      this.#connectMore();
    });
  }

  status(): SessionStatus {
    const t = this.#transfer;
    return {
      havePieces: this.#picker.haveCount,
      pieceCount: this.meta.pieceCount,
      haveBytes: this.#haveBytes,
      totalBytes: this.meta.totalLength,
      downloaded: t.downloaded,
      uploaded: t.uploaded,
      downloadRate: t.downloadRate,
      uploadRate: t.uploadRate,
      peers: this.#peers.size,
      seeds: this.#peers.seedCount(),
      isComplete: this.#picker.isComplete,
      banned: this.#bans.bannedCount,
    };
  }

  haveBitfield(): Bitfield {
    return this.#picker.haveBitfield();
  }

  addPeer(hostname: string, port: number): void {
    this.#known.add(hostname, port);
    this.#connectMore();
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#isStopping = true;
      for (const t of this.#timers) clearInterval(t);
      if (this.#o.uploadLimiter === undefined) this.#uploadLimiter?.close();
      if (this.#o.downloadLimiter === undefined) this.#downloadLimiter?.close();
      this.#stopController.abort();
      // At once, as the dials: a `completed` due now must not start while we stop (the `stopped` below carries it).
      const halting = this.#tracker?.halt();
      this.#torrents.remove(this.meta.infoHash);
      await this.#listener?.close();
      await halting;
      for (const p of this.#peers.values()) p.conn.close();
      // Wait for every peer loop, write and verification to finish (bounded: sockets are closed).
      while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
      this.#pieceWriter.close();
      await this.#tracker?.announceStopped();
      this.#resolveStopped();
    })();
    return this.#stopping;
  }

  /** AcceptingTorrent: options for an incoming handshake, or null when we take no peer now. */
  incomingOptions(): PeerConnectionOptions | null {
    return this.#isStopping || !this.#peers.hasRoom() ? null : this.#connectionOptions();
  }

  /** AcceptingTorrent: an incoming connection past its handshake. */
  addIncoming(conn: PeerConnection, address: string): void {
    this.#startPeer(conn, address, true);
  }

  #warn(message: string): void {
    this.#o.onWarning?.(message);
  }

  #emit(event: SessionEvent): void {
    this.#o.onEvent?.(event);
  }

  #track(p: Promise<unknown>): void {
    const t = p.then(() => {}, (err: unknown) => this.#warn(`Internal error: ${errorText(err)}`));
    this.#tasks.add(t);
    void t.finally(() => this.#tasks.delete(t));
  }

  #connectionOptions(): PeerConnectionOptions {
    return {
      infoHash: this.meta.infoHash,
      peerId: this.peerId,
      geometry: this.meta,
      isExtensionProtocol: true,
      // Messages are handled before the next is read; the one block kept past that (a direct write) is copied.
      isLendingMessages: true,
      ...(this.#o.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: this.#o.handshakeTimeoutMs }),
    };
  }

  // Dialing -------------------------------------------------------------------------------------------------

  #connectMore(): void {
    if (this.#isStopping) return;
    const free = this.#maxPeers - this.#peers.size - this.#dialing;
    if (free <= 0) return;
    const isSkipped = (address: string) => this.#bans.isAddressBanned(address) || this.#peers.isConnectedTo(address);
    for (const k of this.#known.takeDue(free, isSkipped)) {
      this.#dialing++;
      this.#track(this.#dial(k));
    }
  }

  async #dial(k: KnownPeer): Promise<void> {
    try {
      const conn = await dialPeer(k.hostname, k.port, { signal: this.#stopController.signal });
      if (this.#isStopping) {
        conn.close();
        return;
      }
      const pc = await PeerConnection.open(conn, this.#connectionOptions());
      this.#known.connected(k);
      this.#startPeer(pc, k.address, false);
    } catch (err: unknown) {
      if (err instanceof WireError && err.code === "self_connection") this.#known.markSelf(k.hostname, k.port);
      else this.#known.failed(k);
    } finally {
      this.#dialing--;
    }
  }

  // Peers -----------------------------------------------------------------------------------------------------

  #startPeer(conn: PeerConnection, address: string, isIncoming: boolean): void {
    if (this.#isStopping) {
      conn.close();
      return;
    }
    const entry = this.#peers.admit(conn, address, isIncoming, this.#picker.isComplete);
    if (entry === null) return;
    this.#picker.addPeer(entry.id);
    this.#emit({ type: "connected", address, isIncoming });
    this.#track(this.#runPeer(entry));
  }

  async #runPeer(entry: PeerEntry): Promise<void> {
    const conn = entry.conn;
    try {
      greet(this.#ctx, conn);
      for await (const msg of conn.messages()) {
        if (this.#isStopping) break;
        handlePeerMessage(this.#ctx, entry, msg);
        if (msg.type === "piece" && this.#downloadLimiter !== null) await this.#downloadLimiter.take(msg.block.length);
        if (this.#flow.isBehind) await this.#flow.waitForWrites();
      }
    } catch (err: unknown) {
      if (!(err instanceof BtoolError)) throw err;
    } finally {
      conn.close();
      this.#peers.remove(entry.id);
      this.#bans.forget(entry.id);
      // Two finished peers have nothing to trade: do not dial it again soon. Others: wait a little.
      if (!entry.isIncoming) {
        this.#known.disconnected(entry.address, this.#picker.isComplete && entry.pieces.isComplete);
      }
      this.#picker.removePeer(entry.id);
      entry.requested.clear();
      // Blocks released by this peer go to others.
      this.#refill(null);
    }
  }

  #send(entry: PeerEntry, msg: WireMessage): void {
    entry.conn.send(msg).catch(() => {});
  }

  /** Top up every peer's requests (but `except`'s). */
  #refill(except: PeerEntry | null): void {
    if (this.#isStopping) return;
    for (const p of this.#peers.values()) if (p !== except) this.#scheduler.fill(p);
  }

  #countUp(entry: PeerEntry, n: number): void {
    countUploaded(entry, n);
    countUploaded(this.#transfer, n);
  }

  // Pieces and bans -------------------------------------------------------------------------------------------

  #pieceVerified(index: number): void {
    this.#haveBytes += pieceSize(this.meta, index);
    this.#emit({ type: "pieceVerified", pieceIndex: index });
    for (const p of this.#peers.values()) {
      if (!p.pieces.has(index)) this.#send(p, { type: "have", pieceIndex: index });
    }
    if (this.#picker.isComplete) this.#onComplete();
  }

  #hashFailed(index: number, ids: string[]): void {
    const addresses = ids.map((id) => this.#peers.get(id)?.address ?? id);
    this.#emit({ type: "hashFailed", pieceIndex: index, peers: addresses });
    this.#warn(`Piece ${index} failed its hash check (from ${addresses.join(", ") || "unknown peers"})`);
  }

  #strike(id: string, reason: string): void {
    const entry = this.#peers.get(id);
    // A banned peer stays in the table until its loop ends: later failures must not ban it again.
    if (entry === undefined || entry.conn.isClosed || !this.#bans.strike(entry)) return;
    this.#emit({ type: "banned", address: entry.address, reason });
    this.#warn(`Banned peer ${entry.address}: ${reason}`);
    entry.conn.close();
  }

  #onComplete(): void {
    for (const p of this.#peers.values()) {
      p.isSeeding = true;
      if (p.conn.amInterested) this.#send(p, { type: "notInterested" });
      if (p.pieces.isComplete) p.conn.close();
    }
    this.#emit({ type: "complete" });
    this.#o.onComplete?.();
    if (!this.#isCompleteAnnounced && this.#haveBytes === this.meta.totalLength) {
      this.#isCompleteAnnounced = true;
      this.#tracker?.complete();
    }
  }

  #fatal(err: unknown): void {
    if (this.#isStopping) return;
    this.#o.onFatal?.(err);
    void this.stop();
  }

  // Timers and trackers ---------------------------------------------------------------------------------------

  #chokeRound(): void {
    if (!this.#isStopping) this.#choker.round(this.#peers.values(), this.#picker.isComplete);
  }

  #tick(): void {
    if (this.#isStopping) return;
    const seconds = TICK_MS / 1000;
    tickTransfer(this.#transfer, seconds);
    for (const p of this.#peers.values()) {
      tickTransfer(p, seconds);
      this.#scheduler.rateMeasured(p);
      this.#scheduler.fill(p);
    }
    for (const snubbed of this.#scheduler.expire(this.#peers.values())) this.#refill(snubbed as PeerEntry);
    this.#connectMore();
    this.#o.onProgress?.(this.status());
    const ratio = this.#o.seedRatio;
    if (
      ratio !== undefined && !this.#isSeedRatioReached && this.#picker.isComplete &&
      this.#transfer.uploaded >= ratio * this.meta.totalLength
    ) {
      this.#isSeedRatioReached = true;
      this.#o.onSeedRatio?.();
    }
  }

  #startTracker(): TrackerLoop | null {
    const meta = this.meta;
    // BEP 27: a private torrent talks only to the trackers in its own metainfo.
    const list = meta.isPrivate ? meta.announceList : (this.#o.announceList ?? meta.announceList);
    const tiers = new TrackerTiers(list, { random: this.#random });
    if (!(this.#o.isAnnouncing ?? true) || tiers.order().length === 0) return null;
    const key = Math.floor(this.#random() * 0x1_0000_0000) >>> 0;
    const ourHex = toHex(this.peerId);
    return startTrackerLoop({
      tiers,
      params: () => ({
        infoHash: meta.infoHash.bytes,
        peerId: this.peerId,
        port: this.port,
        uploaded: this.#transfer.uploaded,
        downloaded: this.#transfer.downloaded,
        left: meta.totalLength - this.#haveBytes,
        key,
      }),
      onAnnounced: ({ url, event, response, waitS }) => {
        for (const p of response.peers) {
          if (p.peerId !== undefined && toHex(p.peerId) === ourHex) this.#known.markSelf(p.ip, p.port);
          else this.#known.add(p.ip, p.port);
        }
        this.#emit({ type: "announced", url, event, peers: response.peers.length, interval: waitS });
        this.#connectMore();
      },
      onWarning: (m) => this.#warn(m),
    });
  }
}
