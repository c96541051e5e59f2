// Our requests to peers (BEP 3 pipelining over the PiecePicker): how many blocks each peer gets in flight (adaptive
// to its rate, slow start, its BEP 10 `reqq`), which of ours are outstanding, and what a choke, a reject, a block or
// a timeout does to them. Works on the peer records the session passes in; time comes in (`now`).

import { BLOCK_BYTES } from "../pieces.ts";
import type { PeerConnection } from "./connection.ts";
import type { BlockRequest, PiecePicker } from "./picker.ts";

/** Fewest blocks kept in flight per unchoked peer. */
export const MIN_QUEUE_BLOCKS = 16;
/** Most blocks kept in flight per peer (4 MiB at 16 KiB). */
export const MAX_QUEUE_BLOCKS = 512;
/** The request queue covers this much time at the peer's current rate (libtorrent's request_queue_time is 3 s). */
export const QUEUE_TIME_S = 2;
/** Requests unanswered this long are given to other peers. */
export const REQUEST_TIMEOUT_MS = 60_000;
/** A peer whose requests timed out gets no new ones for this long. */
export const SNUB_MS = 60_000;

/** The adaptive request queue length for a peer sending `rate` bytes/s. */
export function queueBlocksFor(rate: number): number {
  const n = Math.ceil((rate * QUEUE_TIME_S) / BLOCK_BYTES);
  return Math.max(MIN_QUEUE_BLOCKS, Math.min(MAX_QUEUE_BLOCKS, n));
}

/** One number per block of the torrent (pieces have at most 65536 blocks of 16 KiB here). */
export function blockKey(r: { pieceIndex: number; begin: number }): number {
  return r.pieceIndex * 65536 + r.begin / BLOCK_BYTES;
}

/** What the scheduler keeps on each peer record. */
export interface RequestState {
  /** Our requests to this peer not answered yet (blockKey → request), to match pieces and rejects. */
  requested: Map<number, BlockRequest>;
  /** When a requested block last arrived (or requests started), for the request timeout. */
  lastBlockMs: number;
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

/** A peer as the scheduler sees it. */
export interface SchedulerPeer extends RequestState {
  /** The picker's id of this peer. */
  id: string;
  conn: PeerConnection;
  /** Bytes per second it sends us (recent average). */
  downloadRate: number;
}

/** A fresh RequestState for a peer connected at `nowMs`. */
export function createRequestState(nowMs: number): RequestState {
  return {
    requested: new Map(),
    lastBlockMs: nowMs,
    snubbedUntilMs: 0,
    queueFloor: MIN_QUEUE_BLOCKS,
    isSlowStart: true,
    maxRequests: null,
  };
}

/** Options of `RequestScheduler`. */
export interface RequestSchedulerOptions {
  now: () => number;
  /** False once the session stops: no new requests. */
  isActive: () => boolean;
}

/** Keeps each unchoked, interesting peer's request pipeline full. */
export class RequestScheduler {
  #picker: PiecePicker;
  #now: () => number;
  #isActive: () => boolean;

  constructor(picker: PiecePicker, options: RequestSchedulerOptions) {
    this.#picker = picker;
    this.#now = options.now;
    this.#isActive = options.isActive;
  }

  /** Top up `peer`'s requests (in batches: one write carries many), or say notInterested when it has nothing. */
  fill(peer: SchedulerPeer): void {
    const conn = peer.conn;
    if (!this.#isActive() || conn.isClosed || conn.peerChoking || !conn.amInterested || this.#picker.isComplete) return;
    const t = this.#now();
    if (peer.snubbedUntilMs > t) return;
    if (peer.requested.size === 0) peer.lastBlockMs = t;
    let queue = Math.max(peer.queueFloor, queueBlocksFor(peer.downloadRate));
    // Never queue more than the peer said it keeps (BEP 10 `reqq`): the excess would be dropped or rejected.
    if (peer.maxRequests !== null) queue = Math.min(queue, peer.maxRequests);
    const want = queue - peer.requested.size;
    if (want <= 0) return;
    // Refill in batches of a quarter queue, so each arrival does not cost a picker pass.
    if (peer.requested.size > 0 && want < Math.max(4, queue >> 2)) return;
    const reqs = this.#picker.nextRequests(peer.id, want);
    for (const r of reqs) peer.requested.set(blockKey(r), r);
    conn.sendMany(reqs.map((r) => ({ type: "request", pieceIndex: r.pieceIndex, begin: r.begin, length: r.length })))
      .catch(() => {});
    if (peer.requested.size === 0 && !this.#picker.isInteresting(peer.id)) {
      conn.send({ type: "notInterested" }).catch(() => {});
    }
  }

  /** A block arrived from `peer`: if we asked it, the pipeline bookkeeping (slow start, dry pipeline). */
  blockArrived(peer: SchedulerPeer, block: { pieceIndex: number; begin: number }): void {
    const key = blockKey(block);
    if (!peer.requested.delete(key)) return;
    peer.lastBlockMs = this.#now();
    // The pipeline ran dry: the peer answers faster than we ask.
    if (peer.requested.size === 0) peer.queueFloor = Math.min(MAX_QUEUE_BLOCKS, peer.queueFloor * 2);
    else if (peer.isSlowStart) peer.queueFloor = Math.min(MAX_QUEUE_BLOCKS, peer.queueFloor + 1);
  }

  /** Endgame: another peer delivered `request` first; cancel it at `peer`. */
  cancel(peer: SchedulerPeer, request: BlockRequest): void {
    peer.requested.delete(blockKey(request));
    peer.conn.send({ type: "cancel", ...request }).catch(() => {});
  }

  /**
   * `peer` choked us or left: its outstanding requests go back to the picker. (BEP 3: a choke voids them; with
   * BEP 6 the peer also rejects them, and a late piece is still accepted if we need it.)
   */
  releaseAll(peer: SchedulerPeer): void {
    for (const r of peer.requested.values()) this.#picker.releaseRequest(peer.id, r);
    peer.requested.clear();
  }

  /** `peer` rejected one of our requests; true when it was outstanding (others should refill). */
  rejected(peer: SchedulerPeer, block: { pieceIndex: number; begin: number }): boolean {
    const key = blockKey(block);
    const r = peer.requested.get(key);
    if (r === undefined) return false;
    peer.requested.delete(key);
    this.#picker.releaseRequest(peer.id, r);
    return true;
  }

  /** Its first rate is measured: from now on the rate sizes `peer`'s queue. */
  rateMeasured(peer: SchedulerPeer): void {
    if (!peer.isSlowStart || peer.downloadRate <= 0) return;
    peer.isSlowStart = false;
    peer.queueFloor = Math.max(MIN_QUEUE_BLOCKS, Math.min(peer.queueFloor, queueBlocksFor(peer.downloadRate)));
  }

  /** Give back the requests of peers that sent nothing for REQUEST_TIMEOUT_MS and snub them; returns those peers. */
  expire(peers: Iterable<SchedulerPeer>): SchedulerPeer[] {
    const t = this.#now();
    const out: SchedulerPeer[] = [];
    for (const p of peers) {
      if (p.requested.size === 0 || t - p.lastBlockMs < REQUEST_TIMEOUT_MS) continue;
      this.releaseAll(p);
      p.snubbedUntilMs = t + SNUB_MS;
      out.push(p);
    }
    return out;
  }
}
