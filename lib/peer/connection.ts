// One TCP peer (BEP 3, BEP 6): handshake with info-hash and self checks, framing through MessageDecoder, coalesced
// writes under a byte cap, keep-alive every 2 min, handshake and idle timeouts, refusal of bad requests (BEP 6
// reject) and of rejects we never asked for. A WireError or socket error closes this connection only; it never
// escapes as an unhandled rejection.

import { BtoolError, WireError } from "../errors.ts";
import { equals } from "../bytes.ts";
import type { InfoHash } from "../infohash.ts";
import { BLOCK_BYTES, isValidRequest, type PieceGeometry } from "../pieces.ts";
import { Bitfield } from "../wire/bitfield.ts";
import { MAX_WRITE_QUEUE_BYTES, WriteQueue } from "./_write_queue.ts";
import { closeQuietly, READ_RING_BYTES, readChunk, type ReadRing, readRing, writeAll } from "./_socket_io.ts";
import {
  createReserved,
  encodeHandshake,
  type Handshake,
  HANDSHAKE_BYTES,
  hasExtensionProtocol,
  hasFastExtension,
} from "../wire/handshake.ts";
import { MessageDecoder } from "../wire/message_decoder.ts";
import { encodeMessage, encodeMessages, encodePieceHeader, type WireMessage } from "../wire/messages.ts";

/** Send a keep-alive when nothing was sent for this long (BEP 3: "generally sent once every two minutes"). */
export const KEEP_ALIVE_INTERVAL_MS = 120_000;
/** Drop a peer that sent nothing (not even a keep-alive) for this long. */
export const IDLE_TIMEOUT_MS = 180_000;
/** Drop a peer whose handshake has not arrived after this long. */
export const HANDSHAKE_TIMEOUT_MS = 20_000;
export { READ_CHUNK_BYTES, READ_RING_BYTES } from "./_socket_io.ts";
export { MAX_WRITE_BATCH_BYTES, MAX_WRITE_QUEUE_BYTES } from "./_write_queue.ts";

/** Requests from one peer we hold unanswered; more are refused (reject with BEP 6, else ignored). */
export const MAX_PEER_REQUESTS = 2000;
/**
 * Our requests (BEP 6) remembered until the peer answers them with a piece or a reject; past this the oldest are
 * forgotten (a peer that chokes without rejecting would otherwise grow the set by a queue per choke).
 */
export const MAX_SENT_REQUESTS = 4096;

/** Options of `PeerConnection.open`. */
export interface PeerConnectionOptions {
  infoHash: InfoHash;
  /** Our peer id (20 bytes). */
  peerId: Uint8Array;
  /** Piece geometry, to check the peer's requests, haves and pieces. */
  geometry: PieceGeometry;
  /** Offer BEP 6 (default true). */
  isFastExtension?: boolean;
  /** Advertise BEP 10 (default false); the caller sends the extended handshake when both sides set the bit. */
  isExtensionProtocol?: boolean;
  handshakeTimeoutMs?: number;
  idleTimeoutMs?: number;
  keepAliveIntervalMs?: number;
  /**
   * Read into one reused buffer (default false): the bytes of a yielded message (a piece block, a bitfield, an
   * extended payload) are then valid only until the next message is asked for — copy what you keep. Saves a fresh
   * 64 KiB buffer per read and a copy per block that spans two reads.
   */
  isLendingMessages?: boolean;
}

/** A peer request we have not answered yet. */
export interface PeerRequest {
  pieceIndex: number;
  begin: number;
  length: number;
}

function requestKey(r: PeerRequest): string {
  return `${r.pieceIndex}:${r.begin}:${r.length}`;
}

/**
 * One established peer connection. Create with `PeerConnection.open` (sends and checks handshakes), then iterate
 * `messages()`; it ends when the connection closes, with the reason in `closeReason`.
 *
 * The connection tracks both sides' choke/interest state from the messages that pass through it, and the peer's
 * unanswered requests: incoming requests that are over 16 KiB, outside the torrent, sent while we choke the peer or
 * beyond MAX_PEER_REQUESTS are refused here (BEP 6 reject when negotiated) and never reach the caller.
 */
export class PeerConnection {
  /** The torrent of this connection (both handshakes name it). */
  readonly infoHash: InfoHash;
  readonly remotePeerId: Uint8Array;
  readonly remoteReserved: Uint8Array;
  /** Both sides set the BEP 6 bit. */
  readonly isFastExtension: boolean;
  /** Both sides set the BEP 10 bit (send and expect an extended handshake). */
  readonly isExtensionProtocol: boolean;
  /** We choke the peer (initially true). */
  amChoking = true;
  /** We are interested in the peer. */
  amInterested = false;
  /** The peer chokes us. */
  peerChoking = true;
  /** The peer is interested in us. */
  peerInterested = false;
  /** Block bytes received in `piece` messages (for rates and the tracker's `downloaded`). */
  downloadedBytes = 0;
  /** Block bytes sent in `piece` messages (for rates and the tracker's `uploaded`). */
  uploadedBytes = 0;

  #conn: Deno.Conn;
  #decoder: MessageDecoder;
  #geometry: PieceGeometry;
  #requests = new Map<string, PeerRequest>();
  /** Our requests not yet answered by a piece or reject (fast extension only), to refuse unsolicited rejects. */
  #sentRequests = new Set<string>();
  #writes: WriteQueue;
  #isClosed = false;
  #closeReason: unknown = null;
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastReceivedMs: number;
  #idleTimeoutMs: number;
  #keepAliveIntervalMs: number;
  #iterating = false;
  #reader: { buf: Uint8Array | null } = { buf: null };
  #ring: ReadRing | null;

  private constructor(conn: Deno.Conn, decoder: MessageDecoder, handshake: Handshake, options: PeerConnectionOptions) {
    this.#conn = conn;
    this.#decoder = decoder;
    this.#geometry = options.geometry;
    this.infoHash = options.infoHash;
    this.remotePeerId = handshake.peerId;
    this.remoteReserved = handshake.reserved;
    this.isFastExtension = (options.isFastExtension ?? true) && hasFastExtension(handshake.reserved);
    this.isExtensionProtocol = (options.isExtensionProtocol ?? false) && hasExtensionProtocol(handshake.reserved);
    decoder.isFastExtension = this.isFastExtension;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    this.#keepAliveIntervalMs = options.keepAliveIntervalMs ?? KEEP_ALIVE_INTERVAL_MS;
    this.#lastReceivedMs = Date.now();
    this.#writes = new WriteQueue(conn, (err) => this.#closeWith(err));
    this.#ring = options.isLendingMessages ? { buf: null, at: 0, lapEnd: READ_RING_BYTES } : null;
    const tick = Math.max(1, Math.min(this.#idleTimeoutMs, this.#keepAliveIntervalMs) / 4);
    this.#timer = setInterval(() => this.#tick(), tick);
  }

  /**
   * Send our handshake and read the peer's, on a connected socket. On failure the socket is closed.
   * @throws {WireError} handshake_protocol, handshake_timeout, handshake_closed, info_hash_mismatch, self_connection
   */
  static open(conn: Deno.Conn, options: PeerConnectionOptions): Promise<PeerConnection> {
    return guardHandshake(conn, options.handshakeTimeoutMs, async () => {
      const writing = writeAll(conn, ourHandshake(options));
      writing.catch(() => {}); // awaited below; a failure before that must not be an unhandled rejection
      const decoder = new MessageDecoder({ pieceCount: options.geometry.pieceCount });
      let handshake: Handshake | null = null;
      const reader: { buf: Uint8Array | null } = { buf: null };
      while (handshake === null) {
        const chunk = await readChunk(conn, reader);
        if (chunk === null) throw new WireError("handshake_closed", "Peer closed the connection during the handshake");
        decoder.push(chunk);
        handshake = decoder.readHandshake();
      }
      if (!handshake.infoHash.equals(options.infoHash)) {
        throw new WireError("info_hash_mismatch", `Peer handshake is for another torrent: "${handshake.infoHash.hex}"`);
      }
      checkNotSelf(handshake, options);
      await writing;
      return new PeerConnection(conn, decoder, handshake, options);
    });
  }

  /**
   * Read an incoming peer's handshake first, then answer for the torrent its info hash names: `resolve` returns
   * that torrent's options, or null when it is not ours. Reads exactly the handshake, so what follows is decoded
   * with the torrent's geometry. On failure the socket is closed.
   * @throws {WireError} handshake_protocol, handshake_timeout, handshake_closed, unknown_info_hash, self_connection
   */
  static accept(
    conn: Deno.Conn,
    resolve: (infoHash: InfoHash) => PeerConnectionOptions | null,
    limits: { handshakeTimeoutMs?: number } = {},
  ): Promise<PeerConnection> {
    return guardHandshake(conn, limits.handshakeTimeoutMs, async () => {
      const bytes = new Uint8Array(HANDSHAKE_BYTES);
      for (let at = 0; at < bytes.length;) {
        const n = await conn.read(bytes.subarray(at));
        if (n === null) throw new WireError("handshake_closed", "Peer closed the connection during the handshake");
        at += n;
      }
      const first = new MessageDecoder();
      first.push(bytes);
      const handshake = first.readHandshake()!; // 68 bytes: a handshake or a handshake_protocol error
      const options = resolve(handshake.infoHash);
      if (options === null) {
        throw new WireError(
          "unknown_info_hash",
          `Peer handshake is for a torrent we do not serve: "${handshake.infoHash.hex}"`,
        );
      }
      checkNotSelf(handshake, options);
      await writeAll(conn, ourHandshake(options));
      return new PeerConnection(
        conn,
        new MessageDecoder({ pieceCount: options.geometry.pieceCount }),
        handshake,
        options,
      );
    });
  }

  /** Why the connection closed (a WireError for protocol violations), or null while open / after `close()`. */
  get closeReason(): unknown {
    return this.#closeReason;
  }

  /** The peer's address. */
  get remoteAddr(): Deno.Addr {
    return this.#conn.remoteAddr;
  }

  /** True once closed. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Requests from the peer not yet answered with a piece or reject, nor cancelled. */
  get pendingRequests(): number {
    return this.#requests.size;
  }

  /** True when the peer asked for this block and has not cancelled it: serve it with `sendPiece`. */
  isRequestPending(request: PeerRequest): boolean {
    return this.#requests.has(requestKey(request));
  }

  /**
   * Incoming messages until the connection closes. Refused requests are answered here and not yielded. Each
   * yielded `piece` block is the caller's to keep, unless the connection was opened with `isLendingMessages`. Only
   * one iteration at a time; leaving the loop early closes the connection.
   */
  async *messages(): AsyncGenerator<WireMessage, void, undefined> {
    if (this.#iterating) throw new BtoolError("connection_state", "PeerConnection.messages() is already iterating");
    this.#iterating = true;
    try {
      while (!this.#isClosed) {
        let msg = this.#decoder.next();
        while (msg === null) {
          const chunk = this.#ring === null
            ? await readChunk(this.#conn, this.#reader)
            : await readRing(this.#conn, this.#ring, this.#decoder.bufferedBytes);
          if (chunk === null) return;
          this.#lastReceivedMs = Date.now();
          this.#decoder.push(chunk);
          msg = this.#decoder.next();
        }
        if (this.#accept(msg)) yield msg;
      }
    } catch (err: unknown) {
      if (!this.#isClosed) this.#closeReason = err;
    } finally {
      this.#iterating = false;
      this.close();
    }
  }

  /**
   * Queue a message; resolves once written. Updates our choke/interest state. When we choke a peer, its pending
   * requests are dropped (BEP 6: rejected explicitly when negotiated).
   */
  send(msg: WireMessage): Promise<void> {
    switch (msg.type) {
      case "choke":
        this.amChoking = true;
        return this.#chokeAndReject();
      case "unchoke":
        this.amChoking = false;
        break;
      case "interested":
        this.amInterested = true;
        break;
      case "notInterested":
        this.amInterested = false;
        break;
      case "reject":
        this.#requests.delete(requestKey(msg));
        break;
      case "request":
        this.#noteSent(msg);
        break;
      case "piece":
        return this.sendPiece(msg, msg.block).then(() => {});
      default:
        break;
    }
    return this.#enqueue([encodeMessage(msg)]);
  }

  /**
   * Queue several `request`, `cancel` or `have` messages as one write with one promise (a refill of the request
   * pipeline sends dozens at once). Resolves once written.
   */
  sendMany(msgs: readonly Extract<WireMessage, { type: "request" | "cancel" | "have" }>[]): Promise<void> {
    if (msgs.length === 0) return Promise.resolve();
    for (const m of msgs) if (m.type === "request") this.#noteSent(m);
    return this.#enqueue([encodeMessages(msgs)]);
  }

  /**
   * Answer a pending request with its block; returns false (and sends nothing) when the request is no longer
   * pending (cancelled, or dropped by a choke).
   */
  async sendPiece(request: Omit<PeerRequest, "length">, block: Uint8Array): Promise<boolean> {
    const key = requestKey({ ...request, length: block.length });
    if (!this.#requests.delete(key)) return false;
    await this.#enqueue([encodePieceHeader(request.pieceIndex, request.begin, block.length), block]);
    this.uploadedBytes += block.length;
    return true;
  }

  /** Refuse a pending request (BEP 6 reject when negotiated, else it is just forgotten). */
  reject(request: PeerRequest): Promise<void> {
    if (!this.#requests.delete(requestKey(request))) return Promise.resolve();
    if (!this.isFastExtension) return Promise.resolve();
    return this.#enqueue([encodeMessage({ type: "reject", ...request })]);
  }

  /** Bytes queued and not handed to the socket yet (at most MAX_WRITE_QUEUE_BYTES). */
  get queuedBytes(): number {
    return this.#writes.queuedBytes;
  }

  /** Close the socket and stop the timers (idempotent). */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    clearInterval(this.#timer);
    closeQuietly(this.#conn);
    this.#sentRequests.clear();
    this.#writes.close(new WireError("connection_closed", "Peer connection closed"));
  }

  #closeWith(err: unknown): void {
    if (this.#isClosed) return;
    this.#closeReason = err;
    this.close();
  }

  #tick(): void {
    const now = Date.now();
    if (now - this.#lastReceivedMs >= this.#idleTimeoutMs) {
      this.#closeWith(new WireError("idle_timeout", `Peer sent nothing for ${this.#idleTimeoutMs} ms`));
      return;
    }
    if (this.#writes.isWriting && now - this.#writes.progressMs >= this.#idleTimeoutMs) {
      // The peer stopped reading: our writes have made no progress for as long as we let a peer stay silent.
      this.#closeWith(new WireError("write_timeout", `Peer read nothing for ${this.#idleTimeoutMs} ms`));
      return;
    }
    if (now - this.#writes.lastSentMs >= this.#keepAliveIntervalMs && !this.#writes.isWriting) {
      this.#enqueue([encodeMessage({ type: "keepAlive" })]).catch(() => {});
    }
  }

  /** Update state from an incoming message; false when the message was handled here and is not yielded. */
  #accept(msg: WireMessage): boolean {
    switch (msg.type) {
      case "choke":
        this.peerChoking = true;
        return true;
      case "unchoke":
        this.peerChoking = false;
        return true;
      case "interested":
        this.peerInterested = true;
        return true;
      case "notInterested":
        this.peerInterested = false;
        return true;
      case "have":
      case "suggest":
      case "allowedFast":
        if (msg.pieceIndex >= this.#geometry.pieceCount) {
          throw new WireError("piece_range", `Invalid ${msg.type}: piece "${msg.pieceIndex}" out of range`);
        }
        return true;
      case "bitfield":
        Bitfield.fromBytes(msg.bytes, this.#geometry.pieceCount);
        return true;
      case "request": {
        const valid = isValidRequest(this.#geometry, { index: msg.pieceIndex, begin: msg.begin, length: msg.length }, {
          maxLength: BLOCK_BYTES,
        });
        if (!valid || this.amChoking || this.#requests.size >= MAX_PEER_REQUESTS) {
          if (this.isFastExtension) {
            const { pieceIndex, begin, length } = msg;
            this.#enqueue([encodeMessage({ type: "reject", pieceIndex, begin, length })]).catch(() => {});
          }
          return false;
        }
        this.#requests.set(requestKey(msg), { pieceIndex: msg.pieceIndex, begin: msg.begin, length: msg.length });
        return true;
      }
      case "cancel":
        this.#requests.delete(requestKey(msg));
        return true;
      case "piece": {
        const span = { index: msg.pieceIndex, begin: msg.begin, length: msg.block.length };
        if (!isValidRequest(this.#geometry, span, { maxLength: BLOCK_BYTES })) {
          throw new WireError("piece_range", `Invalid piece: "${msg.pieceIndex}:${msg.begin}" out of range`);
        }
        this.#sentRequests.delete(`${msg.pieceIndex}:${msg.begin}:${msg.block.length}`);
        this.downloadedBytes += msg.block.length;
        return true;
      }
      case "reject":
        // BEP 6: a reject answers one of our requests; one for a block we never asked for is a protocol error.
        if (!this.#sentRequests.delete(requestKey(msg))) {
          throw new WireError(
            "unrequested_reject",
            `Peer rejected a block we never requested: "${msg.pieceIndex}:${msg.begin}:${msg.length}"`,
          );
        }
        return true;
      default:
        return true;
    }
  }

  #chokeAndReject(): Promise<void> {
    const parts = [encodeMessage({ type: "choke" })];
    if (this.isFastExtension) {
      for (const r of this.#requests.values()) parts.push(encodeMessage({ type: "reject", ...r }));
    }
    this.#requests.clear();
    return this.#enqueue(parts);
  }

  /** Remember one of our requests until the peer answers it (only a BEP 6 peer answers every request). */
  #noteSent(r: PeerRequest): void {
    if (!this.isFastExtension) return;
    if (this.#sentRequests.size >= MAX_SENT_REQUESTS) {
      this.#sentRequests.delete(this.#sentRequests.values().next().value!);
    }
    this.#sentRequests.add(requestKey(r));
  }

  #enqueue(bytes: Uint8Array[]): Promise<void> {
    if (this.#isClosed) return Promise.reject(new WireError("connection_closed", "Peer connection closed"));
    const done = this.#writes.push(bytes);
    if (done !== null) return done;
    const err = new WireError("write_queue_full", `Peer left over ${MAX_WRITE_QUEUE_BYTES} bytes unread`);
    this.#closeWith(err);
    return Promise.reject(err);
  }
}

function ourHandshake(options: PeerConnectionOptions): Uint8Array {
  return encodeHandshake({
    reserved: createReserved({
      isFastExtension: options.isFastExtension ?? true,
      isExtensionProtocol: options.isExtensionProtocol ?? false,
    }),
    infoHash: options.infoHash,
    peerId: options.peerId,
  });
}

function checkNotSelf(handshake: Handshake, options: PeerConnectionOptions): void {
  if (equals(handshake.peerId, options.peerId)) {
    throw new WireError("self_connection", "Peer is ourselves: same peer id");
  }
}

/** Run a handshake bounded by `timeoutMs` (default HANDSHAKE_TIMEOUT_MS); on any failure the socket is closed. */
async function guardHandshake<T>(conn: Deno.Conn, timeoutMs: number | undefined, run: () => Promise<T>): Promise<T> {
  let isTimedOut = false;
  const timer = setTimeout(() => {
    isTimedOut = true;
    closeQuietly(conn);
  }, timeoutMs ?? HANDSHAKE_TIMEOUT_MS);
  try {
    if ("setNoDelay" in conn && typeof conn.setNoDelay === "function") conn.setNoDelay(true);
    return await run();
  } catch (err: unknown) {
    closeQuietly(conn);
    if (isTimedOut) throw new WireError("handshake_timeout", "Peer handshake timed out", { cause: err });
    if (err instanceof WireError) throw err;
    throw new WireError("handshake_closed", "Peer connection failed during the handshake", { cause: err });
  } finally {
    clearTimeout(timer);
  }
}
