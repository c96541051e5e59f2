// The UDP tracker transport (BEP 15 with BEP 41 URL data): one socket per address family with a receive loop that
// matches replies by transaction id and sender, connection ids cached per tracker, retransmission on 15·2^n s.

import { equals, toHex } from "../bytes.ts";
import { TrackerError } from "../errors.ts";
import { parseIp } from "./announce.ts";
import type { AnnounceParams, ClientAnnounceEvent } from "./tracker_url.ts";
import {
  type AnnounceResponse,
  decodeCompactPeers,
  FALLBACK_INTERVAL_S,
  MAX_MESSAGE_CHARS,
  type ScrapeStats,
} from "./tracker_reply.ts";
import {
  decodeUdpReply,
  encodeUdpRequest,
  UDP_MAX_SCRAPE_HASHES,
  UdpEvent,
  type UdpReply,
  type UdpRequest,
} from "./udp_codec.ts";

/** BEP 15: a connection id may be used for one minute after it was received. */
export const CONNECTION_ID_REUSE_MS = 60_000;
/** BEP 15: retransmit after 15·2^n seconds. */
export const UDP_RETRY_BASE_MS = 15_000;
/** Cap on n (BEP 15 allows up to 8, over an hour; the tier walker moving on to the next tracker serves better). */
export const UDP_MAX_RETRY_EXPONENT = 3;
/** Cap on one received datagram (replies stay under ~1,200 bytes; 74 peers of 18 bytes fit easily). */
export const MAX_UDP_REPLY_BYTES = 4096;

function realTimer(expire: () => void, ms: number): () => void {
  const timer = setTimeout(expire, ms);
  return () => clearTimeout(timer);
}

/** Options of UdpTrackerSocket. */
export interface UdpTrackerSocketOptions {
  /** Clock in ms (connection id age). */
  now?: () => number;
  /** Random in [0, 1) for transaction ids. */
  random?: () => number;
  /** First retransmission timeout (tests shrink it). */
  retryBaseMs?: number;
  maxRetryExponent?: number;
  /** Start a wait of `ms` that calls `expire` unless cancelled (default setTimeout); tests record the schedule. */
  setTimer?: (expire: () => void, ms: number) => () => void;
  /** Resolve a host name to an address; IP literals are never resolved. */
  resolve?: (hostname: string) => Promise<string>;
}

interface Waiter {
  hostname: string;
  port: number;
  resolve: (reply: UdpReply) => void;
}

interface FamilySocket {
  conn: Deno.DatagramConn;
  loop: Promise<void>;
  waiters: Map<number, Waiter>;
}

/**
 * Long-lived UDP tracker transport: one socket per address family, replies matched by transaction id and sender,
 * connection ids cached per tracker for CONNECTION_ID_REUSE_MS. Close it when done.
 */
export class UdpTrackerSocket {
  #now: () => number;
  #random: () => number;
  #retryBaseMs: number;
  #maxRetryExponent: number;
  #setTimer: (expire: () => void, ms: number) => () => void;
  #resolve: (hostname: string) => Promise<string>;
  #sockets = new Map<4 | 6, FamilySocket>();
  #connections = new Map<string, { id: Uint8Array; at: number }>();
  #isClosed = false;

  constructor(options: UdpTrackerSocketOptions = {}) {
    this.#now = options.now ?? (() => Date.now());
    this.#random = options.random ?? Math.random;
    this.#retryBaseMs = options.retryBaseMs ?? UDP_RETRY_BASE_MS;
    this.#maxRetryExponent = options.maxRetryExponent ?? UDP_MAX_RETRY_EXPONENT;
    this.#setTimer = options.setTimer ?? realTimer;
    this.#resolve = options.resolve ?? defaultResolve;
  }

  /**
   * BEP 15 announce (connect first unless a connection id is fresh).
   * @throws {TrackerError} tracker_failure (error reply), tracker_timeout, tracker_aborted, tracker_network
   */
  async announce(
    target: { hostname: string; port: number; urlData: Uint8Array },
    request: AnnounceParams,
    options: { signal?: AbortSignal } = {},
  ): Promise<AnnounceResponse> {
    const { signal } = options;
    const { family, address } = await this.#address(target.hostname);
    const reply = await this.#withConnection(family, address, target.port, signal, (connectionId, transactionId) => ({
      type: "announce",
      connectionId,
      transactionId,
      infoHash: request.infoHash,
      peerId: request.peerId,
      downloaded: request.downloaded,
      left: request.left,
      uploaded: request.uploaded,
      event: request.event === undefined ? UdpEvent.None : EVENT_NUMBERS[request.event],
      ip: 0,
      key: request.key ?? 0,
      numWant: request.numWant ?? -1,
      port: request.port,
      urlData: target.urlData,
    }));
    if (reply.type !== "announce") throw unexpected(reply);
    return {
      interval: reply.interval > 0 ? reply.interval : FALLBACK_INTERVAL_S,
      complete: reply.seeders,
      incomplete: reply.leechers,
      peers: decodeCompactPeers(reply.peers, family),
    };
  }

  /**
   * BEP 15 scrape, UDP_MAX_SCRAPE_HASHES per packet.
   * @throws {TrackerError} as announce
   */
  async scrape(
    target: { hostname: string; port: number },
    infoHashes: readonly Uint8Array[],
    options: { signal?: AbortSignal } = {},
  ): Promise<Map<string, ScrapeStats>> {
    const { signal } = options;
    const { family, address } = await this.#address(target.hostname);
    const out = new Map<string, ScrapeStats>();
    for (let i = 0; i < infoHashes.length; i += UDP_MAX_SCRAPE_HASHES) {
      const batch = infoHashes.slice(i, i + UDP_MAX_SCRAPE_HASHES);
      const reply = await this.#withConnection(family, address, target.port, signal, (connectionId, transactionId) => ({
        type: "scrape",
        connectionId,
        transactionId,
        infoHashes: [...batch],
      }));
      if (reply.type !== "scrape") throw unexpected(reply);
      batch.forEach((h, j) => {
        const f = reply.files[j];
        if (f !== undefined) {
          out.set(toHex(h), { complete: f.seeders, downloaded: f.completed, incomplete: f.leechers });
        }
      });
    }
    return out;
  }

  /** Close the sockets and wait for their receive loops to end. */
  async close(): Promise<void> {
    this.#isClosed = true;
    const sockets = [...this.#sockets.values()];
    this.#sockets.clear();
    for (const s of sockets) {
      try {
        s.conn.close();
      } catch {
        // already closed
      }
    }
    await Promise.all(sockets.map((s) => s.loop));
  }

  async #address(hostname: string): Promise<{ family: 4 | 6; address: string }> {
    const literal = ipFamily(hostname);
    if (literal !== null) return { family: literal, address: hostname };
    let address: string;
    try {
      address = await this.#resolve(hostname);
    } catch (err: unknown) {
      throw new TrackerError("tracker_network", `Cannot resolve tracker host: "${hostname}"`, { cause: err });
    }
    const family = ipFamily(address);
    if (family === null) throw new TrackerError("tracker_network", `Cannot resolve tracker host: "${hostname}"`);
    return { family, address };
  }

  // One logical request: attempt n waits 15·2^n s for the connect and for the request itself; a cached connection id
  // rejected with an error reply is dropped and the request retried once with a fresh connect; one that got no reply
  // is dropped too (the next attempt connects again).
  async #withConnection(
    family: 4 | 6,
    address: string,
    port: number,
    signal: AbortSignal | undefined,
    build: (connectionId: Uint8Array, transactionId: number) => UdpRequest,
  ): Promise<UdpReply> {
    const cacheKey = `${address}|${port}`;
    let isRetriedAfterError = false;
    for (let n = 0; n <= this.#maxRetryExponent; n++) {
      const timeoutMs = this.#retryBaseMs * 2 ** n;
      let cached = this.#connections.get(cacheKey);
      if (cached !== undefined && this.#now() - cached.at >= CONNECTION_ID_REUSE_MS) {
        this.#connections.delete(cacheKey);
        cached = undefined;
      }
      let connectionId: Uint8Array;
      if (cached !== undefined) connectionId = cached.id;
      else {
        const reply = await this.#exchange(family, address, port, timeoutMs, signal, (transactionId) => ({
          type: "connect",
          transactionId,
        }));
        if (reply === null) continue;
        if (reply.type === "error") throw failure(reply.message);
        if (reply.type !== "connect") throw unexpected(reply);
        connectionId = reply.connectionId.slice();
        this.#connections.set(cacheKey, { id: connectionId, at: this.#now() });
      }
      const reply = await this.#exchange(family, address, port, timeoutMs, signal, (t) => build(connectionId, t));
      if (reply === null) {
        // Trackers send nothing to an id they do not know (a restart with a new secret): connect afresh next time.
        this.#connections.delete(cacheKey);
        continue;
      }
      if (reply.type === "error") {
        this.#connections.delete(cacheKey);
        if (cached !== undefined && !isRetriedAfterError) {
          isRetriedAfterError = true;
          n--;
          continue;
        }
        throw failure(reply.message);
      }
      return reply;
    }
    throw new TrackerError("tracker_timeout", `UDP tracker did not answer: "${address}:${port}"`);
  }

  // Send one request and wait up to `timeoutMs` for the reply with its transaction id from that address.
  // Returns null on timeout.
  async #exchange(
    family: 4 | 6,
    address: string,
    port: number,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    build: (transactionId: number) => UdpRequest,
  ): Promise<UdpReply | null> {
    if (signal?.aborted) throw new TrackerError("tracker_aborted", "Tracker request aborted");
    const socket = this.#socket(family);
    let transactionId = Math.floor(this.#random() * 0x100000000) >>> 0;
    while (socket.waiters.has(transactionId)) transactionId = (transactionId + 1) >>> 0;
    const packet = encodeUdpRequest(build(transactionId));
    let cancelTimer: (() => void) | undefined;
    let onAbort: (() => void) | undefined;
    try {
      return await new Promise<UdpReply | null>((resolve, reject) => {
        socket.waiters.set(transactionId, { hostname: address, port, resolve });
        cancelTimer = this.#setTimer(() => resolve(null), timeoutMs);
        onAbort = () => reject(new TrackerError("tracker_aborted", "Tracker request aborted"));
        signal?.addEventListener("abort", onAbort, { once: true });
        socket.conn.send(packet, { transport: "udp", hostname: address, port }).catch((err: unknown) => {
          reject(
            new TrackerError("tracker_network", `Cannot send to UDP tracker: "${address}:${port}"`, { cause: err }),
          );
        });
      });
    } finally {
      cancelTimer?.();
      if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
      socket.waiters.delete(transactionId);
    }
  }

  #socket(family: 4 | 6): FamilySocket {
    if (this.#isClosed) throw new TrackerError("tracker_network", "UDP tracker socket is closed");
    const existing = this.#sockets.get(family);
    if (existing !== undefined) return existing;
    let conn: Deno.DatagramConn;
    try {
      conn = Deno.listenDatagram({ transport: "udp", hostname: family === 4 ? "0.0.0.0" : "::", port: 0 });
    } catch (err: unknown) {
      throw new TrackerError("tracker_network", `Cannot open a UDP socket (IPv${family})`, { cause: err });
    }
    const waiters = new Map<number, Waiter>();
    const socket: FamilySocket = { conn, waiters, loop: receiveLoop(conn, waiters) };
    this.#sockets.set(family, socket);
    return socket;
  }
}

// Runs while the socket is open; each datagram costs O(1) work in a MAX_UDP_REPLY_BYTES buffer, and anything that is
// not the awaited reply from the awaited address is ignored, so junk cannot extend a wait (those are timed).
async function receiveLoop(conn: Deno.DatagramConn, waiters: Map<number, Waiter>): Promise<void> {
  for (;;) {
    let data: Uint8Array;
    let remote: Deno.Addr;
    try {
      [data, remote] = await conn.receive(new Uint8Array(MAX_UDP_REPLY_BYTES));
    } catch {
      return; // closed
    }
    if (remote.transport !== "udp") continue;
    const reply = decodeUdpReply(data);
    if (reply === null) continue;
    const waiter = waiters.get(reply.transactionId);
    // Only the tracker we asked may answer (a reply from elsewhere is ignored, not trusted).
    if (waiter === undefined || waiter.port !== remote.port || !sameAddress(waiter.hostname, remote.hostname)) continue;
    waiters.delete(reply.transactionId);
    // The reply's views point into `data`, which this loop never reuses.
    waiter.resolve(reply);
  }
}

const EVENT_NUMBERS: Record<ClientAnnounceEvent, UdpEvent> = {
  started: UdpEvent.Started,
  completed: UdpEvent.Completed,
  stopped: UdpEvent.Stopped,
};

function failure(message: string): TrackerError {
  return new TrackerError("tracker_failure", message.slice(0, MAX_MESSAGE_CHARS) || "UDP tracker error");
}

function unexpected(reply: UdpReply): TrackerError {
  return new TrackerError("tracker_bad_response", `UDP tracker sent an unexpected "${reply.type}" reply`);
}

async function defaultResolve(hostname: string): Promise<string> {
  if (hostname === "localhost") return "127.0.0.1";
  try {
    const a = await Deno.resolveDns(hostname, "A");
    if (a[0] !== undefined) return a[0];
  } catch {
    // try AAAA
  }
  const aaaa = await Deno.resolveDns(hostname, "AAAA");
  if (aaaa[0] === undefined) throw new TrackerError("tracker_network", `Cannot resolve tracker host: "${hostname}"`);
  return aaaa[0];
}

/** 4 or 6 for an IP literal, else null. */
function ipFamily(host: string): 4 | 6 | null {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) return 4;
  return host.includes(":") && parseIp(host) !== null ? 6 : null;
}

function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  const x = parseIp(a);
  const y = parseIp(b);
  return x !== null && y !== null && equals(x, y);
}
