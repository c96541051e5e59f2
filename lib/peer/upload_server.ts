// Serving peers' requests (BEP 3 upload): a per-peer queue with a few blocks read and not yet written, paced by the
// peer's socket and an optional shared RateLimiter, reading through a small cache of whole recent pieces (peers ask
// for a piece's blocks in a row). Owns no peers: the session passes them in and counts what was sent.

import { errorText } from "../errors.ts";
import type { Metainfo } from "../metainfo.ts";
import { pieceSize } from "../pieces.ts";
import type { Storage } from "../storage/storage.ts";
import type { PeerConnection, PeerRequest } from "./connection.ts";
import type { RateLimiter } from "./rate_limiter.ts";

/** Bytes of recently served pieces kept in memory. */
export const READ_CACHE_BYTES = 16 * 1024 * 1024;
/** Blocks read for one peer and not yet written to its socket. */
export const MAX_SERVE_INFLIGHT_BLOCKS = 16;

/** Recently served whole pieces, least recently used first, at most READ_CACHE_BYTES. */
export class ReadCache {
  #storage: Pick<Storage, "readPiece" | "readBlock">;
  #meta: Metainfo;
  #pieces = new Map<number, { data: Promise<Uint8Array>; size: number }>();
  #bytes = 0;

  constructor(meta: Metainfo, storage: Pick<Storage, "readPiece" | "readBlock">) {
    this.#meta = meta;
    this.#storage = storage;
  }

  /** Bytes of pieces held (or being read). */
  get bytes(): number {
    return this.#bytes;
  }

  /** One block, read through the cache (pieces over a quarter of it are read block by block). A copy. */
  read(index: number, begin: number, length: number): Promise<Uint8Array> {
    const size = pieceSize(this.#meta, index);
    if (size > READ_CACHE_BYTES / 4) return this.#storage.readBlock(index, begin, length);
    let piece = this.#pieces.get(index);
    if (piece === undefined) {
      const reading = this.#storage.readPiece(index);
      const entry = { data: reading, size };
      piece = entry;
      this.#pieces.set(index, entry);
      this.#bytes += size;
      reading.catch(() => {
        if (this.#pieces.get(index) === entry) {
          this.#pieces.delete(index);
          this.#bytes -= size;
        }
      });
      for (const [i, e] of this.#pieces) {
        if (this.#bytes <= READ_CACHE_BYTES) break;
        this.#pieces.delete(i);
        this.#bytes -= e.size;
      }
    } else {
      this.#pieces.delete(index);
      this.#pieces.set(index, piece);
    }
    // A copy: a queued block must not keep a whole evicted piece alive.
    return piece.data.then((data) => data.slice(begin, begin + length));
  }
}

/** A peer as the upload server sees it. */
export interface UploadPeer {
  conn: PeerConnection;
  /** Its requests waiting to be read and sent, oldest first (bounded by the connection's MAX_PEER_REQUESTS). */
  serveQueue: PeerRequest[];
  /** Blocks being read or written for it now. */
  serving: number;
}

/** Options of `UploadServer`. */
export interface UploadServerOptions {
  /** Read one block (a ReadCache's `read`). */
  read: (index: number, begin: number, length: number) => Promise<Uint8Array>;
  /** We have piece `index` verified. */
  hasPiece: (index: number) => boolean;
  /** Shared upload pace, or null. */
  limiter: RateLimiter | null;
  /** Keep a task until shutdown (the session awaits them). */
  track: (task: Promise<unknown>) => void;
  /** A block of `bytes` reached the peer's socket. */
  onUploaded: (peer: UploadPeer, bytes: number) => void;
  onWarning?: (message: string) => void;
}

/** Answers peers' requests. */
export class UploadServer {
  #o: UploadServerOptions;

  constructor(options: UploadServerOptions) {
    this.#o = options;
  }

  /** A request the connection accepted: refuse it if we lack the piece, else queue and serve it. */
  request<P extends UploadPeer>(peer: P, req: PeerRequest): void {
    if (!this.#o.hasPiece(req.pieceIndex)) {
      void peer.conn.reject(req).catch(() => {});
      return;
    }
    peer.serveQueue.push(req);
    this.#pump(peer);
  }

  /** Serve queued requests with at most MAX_SERVE_INFLIGHT_BLOCKS blocks read and not yet written per peer. */
  #pump(peer: UploadPeer): void {
    while (peer.serving < MAX_SERVE_INFLIGHT_BLOCKS && peer.serveQueue.length > 0 && !peer.conn.isClosed) {
      const req = peer.serveQueue.shift()!;
      if (!peer.conn.isRequestPending(req)) continue; // cancelled, or dropped by a choke
      peer.serving++;
      this.#o.track(
        this.#serveOne(peer, req).finally(() => {
          peer.serving--;
          this.#pump(peer);
        }),
      );
    }
  }

  async #serveOne(peer: UploadPeer, req: PeerRequest): Promise<void> {
    let block: Uint8Array;
    try {
      block = await this.#o.read(req.pieceIndex, req.begin, req.length);
    } catch (err: unknown) {
      this.#o.onWarning?.(`Cannot serve piece ${req.pieceIndex}: ${errorText(err)}`);
      void peer.conn.reject(req).catch(() => {});
      return;
    }
    try {
      if (this.#o.limiter !== null) await this.#o.limiter.take(block.length);
      // Resolves once written: the peer's socket sets the pace (backpressure).
      if (await peer.conn.sendPiece(req, block)) this.#o.onUploaded(peer, block.length);
    } catch {
      // connection closed
    }
  }
}
