// The write side of a PeerConnection (lib/peer/connection.ts): queued messages coalesced into socket writes of at
// most MAX_WRITE_BATCH_BYTES, one write at a time, under a byte cap a peer that does not read cannot lift.

import { writeAll } from "./_socket_io.ts";

/**
 * Bytes queued for one peer and not yet handed to the socket. A peer that requests but does not read would grow
 * the queue (each refused request queues a reject); reaching this closes the connection. Honest traffic stays far
 * below: the session keeps at most 16 blocks (256 KiB) of uploads in flight per peer.
 */
export const MAX_WRITE_QUEUE_BYTES = 1024 * 1024;
/** Largest single socket write we assemble from queued messages. */
export const MAX_WRITE_BATCH_BYTES = 256 * 1024;

interface Pending {
  bytes: Uint8Array[];
  size: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Messages waiting for one socket, written in order. */
export class WriteQueue {
  #conn: Deno.Conn;
  #onError: (err: unknown) => void;
  #queue: Pending[] = [];
  #queuedBytes = 0;
  #isWriting = false;
  #isClosed = false;
  /** Reused buffer for coalesced writes (only one write runs at a time). */
  #buffer: Uint8Array | null = null;
  /** When the last write completed (for keep-alives). */
  lastSentMs = Date.now();
  /** When the current flush started or last completed a write (detects a peer that stopped reading). */
  progressMs = 0;

  /** `onError` is told of a failed write (the queue is then closed). */
  constructor(conn: Deno.Conn, onError: (err: unknown) => void) {
    this.#conn = conn;
    this.#onError = onError;
  }

  /** Bytes queued and not handed to the socket yet. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** A write is in progress. */
  get isWriting(): boolean {
    return this.#isWriting;
  }

  /**
   * Queue one message's parts; resolves once written. Null when that would pass MAX_WRITE_QUEUE_BYTES (one message
   * may exceed it when nothing waits: a huge bitfield); the caller then drops the peer.
   */
  push(bytes: Uint8Array[]): Promise<void> | null {
    let size = 0;
    for (const b of bytes) size += b.length;
    if (this.#queue.length > 0 && this.#queuedBytes + size > MAX_WRITE_QUEUE_BYTES) return null;
    this.#queuedBytes += size;
    const done = new Promise<void>((resolve, reject) => this.#queue.push({ bytes, size, resolve, reject }));
    if (!this.#isWriting) void this.#flush();
    return done;
  }

  /** Fail every queued message with `err` and stop writing. */
  close(err: unknown): void {
    this.#isClosed = true;
    const queue = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    for (const p of queue) p.reject(err);
  }

  async #flush(): Promise<void> {
    this.#isWriting = true;
    this.progressMs = Date.now();
    try {
      while (this.#queue.length > 0 && !this.#isClosed) {
        const batch = this.#takeBatch();
        try {
          await writeAll(this.#conn, this.#gather(batch));
        } catch (err: unknown) {
          for (const p of batch.items) p.reject(err);
          this.#onError(err);
          return;
        }
        this.lastSentMs = this.progressMs = Date.now();
        for (const p of batch.items) p.resolve();
      }
    } finally {
      this.#isWriting = false;
    }
  }

  #takeBatch(): { items: Pending[]; size: number } {
    const items: Pending[] = [];
    let size = 0;
    while (this.#queue.length > 0 && (items.length === 0 || size + this.#queue[0]!.size <= MAX_WRITE_BATCH_BYTES)) {
      const p = this.#queue.shift()!;
      this.#queuedBytes -= p.size;
      items.push(p);
      size += p.size;
    }
    return { items, size };
  }

  #gather(batch: { items: Pending[]; size: number }): Uint8Array {
    const { items, size } = batch;
    if (items.length === 1 && items[0]!.bytes.length === 1) return items[0]!.bytes[0]!; // nothing to gather
    const out = size <= MAX_WRITE_BATCH_BYTES
      ? (this.#buffer ??= new Uint8Array(MAX_WRITE_BATCH_BYTES)).subarray(0, size)
      : new Uint8Array(size);
    let at = 0;
    for (const p of items) {
      for (const b of p.bytes) {
        out.set(b, at);
        at += b.length;
      }
    }
    return out;
  }
}
