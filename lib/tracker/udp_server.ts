// The UDP tracker (BEP 15, BEP 41 URL data): a pure datagram handler over the shared SwarmStore, and the receive
// loop over Deno.listenDatagram on IPv4 and IPv6. Keeps no per-client memory (connection ids are stateless), never
// answers junk or a bad connection id (no amplification, no reflection) and never sends a reply over ~1,200 bytes.
// Invariant: the store is the HTTP tracker's own object, so peers of both transports see each other.

import { allocBytes, toHex, writeU32BE } from "../bytes.ts";
import { errorText, TrackerError } from "../errors.ts";
import type { TrackerDb } from "../persist/db.ts";
import {
  type AnnounceEvent,
  type AnnounceRequest,
  clampNumWant,
  COMPACT_PEER4_BYTES,
  COMPACT_PEER6_BYTES,
  DEFAULT_INTERVAL_S,
  DEFAULT_NUMWANT_MAX,
  formatHostPort,
  jitterInterval,
  parseIp,
} from "./announce.ts";
import type { SwarmStore } from "./swarm_store.ts";
import {
  createFfiUdpSocket,
  createMessageVector,
  createSenderCache,
  CTL_READY,
  CTL_STOP,
  CTL_WORDS,
  type FfiUdpSocket,
  formatSender,
  sendMessages,
  setMessageLengths,
  sharedLayout,
  UDP_BATCH,
  UDP_NAME_BYTES,
  wakeReceiver,
} from "./_udp_ffi.ts";
import {
  type ConnectionIdIssuer,
  createConnectionIdIssuer,
  decodeUdpRequest,
  encodeUdpReply,
  UdpAction,
  type UdpAnnounceRequest,
  UdpEvent,
  type UdpScrapeEntry,
  type UdpScrapeRequest,
} from "./udp_codec.ts";

/** Largest reply we send (INTEROP.md 13: stay under one unfragmented datagram on any path). */
export const MAX_UDP_TRACKER_REPLY_BYTES = 1200;
/** Announce reply header: action, transaction id, interval, leechers, seeders. */
const ANNOUNCE_REPLY_HEADER_BYTES = 20;
/** Peers per reply to an IPv4 asker: (1200 − 20) / 6. */
export const MAX_UDP_PEERS4: number = Math.floor(
  (MAX_UDP_TRACKER_REPLY_BYTES - ANNOUNCE_REPLY_HEADER_BYTES) / COMPACT_PEER4_BYTES,
);
/** Peers per reply to an IPv6 asker: (1200 − 20) / 18. */
export const MAX_UDP_PEERS6: number = Math.floor(
  (MAX_UDP_TRACKER_REPLY_BYTES - ANNOUNCE_REPLY_HEADER_BYTES) / COMPACT_PEER6_BYTES,
);
/**
 * Receive buffer. The largest valid request is a scrape of 74 hashes (1,496 bytes) or an announce with 1 KiB of
 * BEP 41 URL data; a datagram that fills the whole buffer may have been cut by the kernel, so it is dropped.
 */
export const UDP_RECEIVE_BUFFER_BYTES = 2048;
/** Cap on sends not yet completed per socket: past it the receive loop waits (backpressure, bounded memory). */
export const MAX_UDP_PENDING_SENDS = 256;
/** Consecutive receive errors (other than closing and ICMP reports) after which a receive loop gives up. */
export const MAX_UDP_RECEIVE_FAILURES = 100;
/** Receive loops per socket: a few outstanding receives keep the socket busy while one datagram is handled. */
export const DEFAULT_UDP_RECEIVE_LOOPS = 2;

/** In a swarm mixing IPv4 and IPv6 peers, how many times numWant to sample when the asker's family fell short. */
export const MIXED_SWARM_OVERSAMPLE = 4;

/** What an access policy sees of a UDP request (private mode, listed mode). */
export interface UdpAccessRequest {
  type: "announce" | "scrape";
  /** One hash for an announce; every requested hash for a scrape. */
  infoHashes: readonly Uint8Array[];
  /** BEP 41 URL data (path and query of the udp:// URL, e.g. `/announce?passkey=…`); empty when none was sent. */
  urlData: Uint8Array;
  /** The sender's address, 4 or 16 bytes. */
  ip: Uint8Array;
  /** An announce's peer id and session counters, for per-user accounting (issue #6); absent on scrapes. */
  announce?: { peerId: Uint8Array; uploaded: number; downloaded: number; isStarted: boolean };
}

/**
 * Access policy shared with the HTTP tracker: returns normally to allow, throws a TrackerError (its `reason` goes to
 * the client in an action-3 packet) to refuse.
 */
export type UdpAccessHook = (request: UdpAccessRequest) => void;

/** Options of createUdpHandler. */
export interface UdpHandlerOptions {
  /** The HTTP tracker's store (Tracker.store), so both transports share swarms. */
  store: SwarmStore;
  /** Completed counts are persisted here like the HTTP tracker does. */
  db?: TrackerDb;
  /** Connection ids; default: an issuer over `secret` (or 32 random bytes) and `now`. */
  connectionIds?: ConnectionIdIssuer;
  /** Long-lived secret of the default issuer. */
  secret?: Uint8Array;
  intervalS?: number;
  numWantMax?: number;
  /** Honour the announce `ip` field (a client-chosen address; INTEROP.md 7, issue #19). Default false. */
  isIpParamAllowed?: boolean;
  /** Private/listed mode (lib/tracker/access.ts); absent = open tracker. */
  access?: UdpAccessHook;
  /** Clock in ms (default Date.now). */
  now?: () => number;
  /** Uniform [0, 1) (default Math.random). */
  random?: () => number;
  /** Operator warnings (internal errors, db write failures). */
  onWarning?: (message: string) => void;
}

/** Counters of a handler since it was created. */
export interface UdpHandlerStats {
  received: number;
  connects: number;
  announces: number;
  scrapes: number;
  /** Action-3 replies sent (refusals, limits: only to senders with a valid connection id). */
  errors: number;
  /** Datagrams answered with nothing (junk, bad connection ids). */
  dropped: number;
}

/** Turns one datagram into the reply to send, or null for none. */
export interface UdpHandler {
  /**
   * `hostname` and `port` are the sender's, as the socket reports them (IPv4-mapped IPv6 is IPv4). Connection ids
   * depend on the address only.
   */
  handle(packet: Uint8Array, hostname: string, port: number): Uint8Array | null;
  readonly stats: UdpHandlerStats;
}

const EVENTS: Record<UdpEvent, AnnounceEvent> = {
  [UdpEvent.None]: "none",
  [UdpEvent.Completed]: "completed",
  [UdpEvent.Started]: "started",
  [UdpEvent.Stopped]: "stopped",
};

const EMPTY = new Uint8Array(0);
/** The port given to the connection id issuer: ids depend on the address only. */
const ID_PORT = 0;

/** Build the datagram handler: pure apart from the store, the db and the injected clock. */
export function createUdpHandler(options: UdpHandlerOptions): UdpHandler {
  const { store, db, access } = options;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const onWarning = options.onWarning ?? (() => {});
  const intervalS = options.intervalS ?? DEFAULT_INTERVAL_S;
  const numWantMax = options.numWantMax ?? DEFAULT_NUMWANT_MAX;
  const isIpParamAllowed = options.isIpParamAllowed === true;
  const connectionIds = options.connectionIds ?? createConnectionIdIssuer({
    secret: options.secret ?? crypto.getRandomValues(new Uint8Array(32)),
    now,
  });
  const stats: UdpHandlerStats = { received: 0, connects: 0, announces: 0, scrapes: 0, errors: 0, dropped: 0 };
  // Ids are bound to the sender's address, not its port (as opentracker does): libtorrent shares one connection id
  // cache among all sessions of a process, and NATs may change the source port between connect and announce.
  // Reflection needs a spoofed address, which still cannot get an id.
  const decodeOptions = { connectionIds, address: "", port: ID_PORT };
  let lastHostname = "";
  let lastIp: Uint8Array | null = null;

  function error(transactionId: number, message: string): Uint8Array {
    stats.errors++;
    return encodeUdpReply({ type: "error", transactionId, message });
  }

  function announce(r: UdpAnnounceRequest, senderIp: Uint8Array): Uint8Array {
    access?.({
      type: "announce",
      infoHashes: [r.infoHash],
      urlData: r.urlData,
      ip: senderIp,
      announce: {
        peerId: r.peerId,
        uploaded: r.uploaded,
        downloaded: r.downloaded,
        isStarted: r.event === UdpEvent.Started,
      },
    });
    // BEP 15: `ip` 0 means the sender's address; anything else only when the operator allows it (INTEROP.md 7).
    // `key` binds the peer id to this client in the store: another address moves the peer only with the same key.
    let ip = senderIp;
    if (isIpParamAllowed && r.ip !== 0) {
      ip = new Uint8Array([r.ip >>> 24, (r.ip >>> 16) & 0xff, (r.ip >>> 8) & 0xff, r.ip & 0xff]);
    }
    if (r.port === 0) throw new TrackerError("invalid_port", `Invalid port: "0"`);
    // Peers of the asker's family only (6 bytes on IPv4, 18 on IPv6, BEP 15), capped so the reply fits 1,200 bytes.
    const isV6 = senderIp.length === 16;
    const numWant = Math.min(clampNumWant(r.numWant, numWantMax), isV6 ? MAX_UDP_PEERS6 : MAX_UDP_PEERS4);
    const req: AnnounceRequest = {
      infoHash: r.infoHash,
      peerId: r.peerId,
      port: r.port,
      uploaded: r.uploaded,
      downloaded: r.downloaded,
      left: r.left,
      event: EVENTS[r.event],
      numWant,
      isCompact: true,
      isNoPeerId: true,
      key: r.key,
    };
    const nowMs = now();
    let s = store.announce(req, { ip, nowMs, random });
    const isNewlyCompleted = s.isNewlyCompleted;
    // The store samples both families; in a mixed swarm the asker's share can fall short. Ask once more (an
    // idempotent re-announce without event) for more peers, so the asker's family alone can fill numWant.
    const peerBytes = isV6 ? COMPACT_PEER6_BYTES : COMPACT_PEER4_BYTES;
    const other = isV6 ? s.peers4 : s.peers6;
    if (other.length > 0 && (isV6 ? s.peers6 : s.peers4).length < numWant * peerBytes) {
      const more = Math.min(numWantMax, numWant * MIXED_SWARM_OVERSAMPLE);
      if (more > numWant) s = store.announce({ ...req, event: "none", numWant: more }, { ip, nowMs, random });
    }
    if (isNewlyCompleted && db !== undefined) {
      try {
        db.addCompleted(toHex(r.infoHash), 1, nowMs);
      } catch (err: unknown) {
        onWarning(`Cannot save a completed count: ${errorText(err)}`);
      }
    }
    const peers = isV6 ? s.peers6 : s.peers4;
    const cut = Math.min(peers.length, numWant * peerBytes);
    stats.announces++;
    // BEP 15 announce reply, written directly (the hot path): action 1, transaction id, interval, leechers, seeders,
    // then the peers copied out of the store's scratch buffer. Counts are < 2^32 (the store's caps).
    const out = allocBytes(ANNOUNCE_REPLY_HEADER_BYTES + cut);
    out[3] = UdpAction.Announce;
    writeU32BE(out, 4, r.transactionId);
    writeU32BE(out, 8, jitterInterval(intervalS, random));
    writeU32BE(out, 12, s.incomplete);
    writeU32BE(out, 16, s.complete);
    out.set(cut === peers.length ? peers : peers.subarray(0, cut), ANNOUNCE_REPLY_HEADER_BYTES);
    return out;
  }

  function scrape(r: UdpScrapeRequest, senderIp: Uint8Array): Uint8Array {
    access?.({ type: "scrape", infoHashes: r.infoHashes, urlData: EMPTY, ip: senderIp });
    const files: UdpScrapeEntry[] = [];
    for (const h of r.infoHashes) {
      const e = store.scrape(h);
      files.push({ seeders: e.complete, completed: e.downloaded, leechers: e.incomplete });
    }
    stats.scrapes++;
    return encodeUdpReply({ type: "scrape", transactionId: r.transactionId, files });
  }

  function handle(packet: Uint8Array, hostname: string, _port: number): Uint8Array | null {
    stats.received++;
    decodeOptions.address = hostname;
    const d = decodeUdpRequest(packet, decodeOptions);
    if (d.type === "drop") {
      stats.dropped++;
      return null;
    }
    if (d.type === "error") return error(d.transactionId, d.message);
    const r = d.request;
    if (r.type === "connect") {
      stats.connects++;
      return encodeUdpReply({
        type: "connect",
        transactionId: r.transactionId,
        connectionId: connectionIds.issue(hostname, ID_PORT),
      });
    }
    // One-entry cache: a busy client (or a load balancer) repeats its address; parsing it costs more than the rest
    // of a connection id check. Bounded, and keyed by the exact text, so it is not per-client memory.
    if (hostname !== lastHostname) {
      lastIp = parseIp(hostname);
      lastHostname = hostname;
    }
    const ip = lastIp;
    if (ip === null) {
      stats.dropped++;
      return null;
    }
    try {
      return r.type === "announce" ? announce(r, ip) : scrape(r, ip);
    } catch (err: unknown) {
      if (err instanceof TrackerError) return error(r.transactionId, err.reason);
      onWarning(`Internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      return error(r.transactionId, "internal error");
    }
  }

  return { handle, stats };
}

/** Where and how startUdpServer listens. */
export interface UdpListenOptions {
  /** "0.0.0.0" (IPv4), "::" (IPv4 and IPv6: dual-stack, or two sockets), or one address. Default "0.0.0.0". */
  hostname?: string;
  /** UDP port; 0 picks a free one (the same for both families). */
  port: number;
  /** Concurrent receive loops per socket (default DEFAULT_UDP_RECEIVE_LOOPS; Deno.listenDatagram only). */
  receiveLoops?: number;
  /**
   * "auto" (default): batches through libc (recvmmsg on a Worker, sendmmsg; lib/tracker/_udp_ffi.ts) where that
   * applies (Linux x86_64/aarch64, --allow-ffi, an IP literal), Deno.listenDatagram otherwise; "deno": always
   * Deno.listenDatagram.
   */
  io?: "auto" | "deno";
  /** Operator warnings (receive failures). */
  onWarning?: (message: string) => void;
  /** The libc path's receive Worker entry (tests replace it; default lib/_udp_recv_worker.ts). */
  receiveWorkerUrl?: URL;
}

/** Options of startUdpTracker: the handler's, plus where to listen. */
export interface UdpTrackerOptions extends UdpHandlerOptions, UdpListenOptions {}

/** A running UDP tracker. */
export interface UdpTracker {
  /** The bound addresses (one, or two when `::` is not dual-stack); all share one port. */
  readonly addrs: Deno.NetAddr[];
  readonly port: number;
  readonly stats: UdpHandlerStats;
  /** How datagrams are received and sent: batched through libc, or Deno.listenDatagram. */
  readonly io: "ffi" | "deno";
  /** Close the sockets and wait for the receive loops to end. */
  close(): Promise<void>;
}

/**
 * Open the UDP socket(s) and serve `createUdpHandler(options)` until close().
 * @throws {TrackerError} udp_listen_failed when the port cannot be bound
 */
export function startUdpTracker(options: UdpTrackerOptions): UdpTracker {
  return startUdpServer(createUdpHandler(options), options);
}

/**
 * Open the UDP socket(s) and answer each datagram with `handler` until close() (startUdpTracker's I/O, also used by
 * bench/_udp_bare.ts so that a fixed responder measures exactly this machinery).
 * @throws {TrackerError} udp_listen_failed when the port cannot be bound
 */
export function startUdpServer(handler: UdpHandler, options: UdpListenOptions): UdpTracker {
  const onWarning = options.onWarning ?? (() => {});
  const hostname = options.hostname ?? "0.0.0.0";
  const sock = options.io === "deno" ? null : createFfiUdpSocket(hostname, options.port);
  if (sock === null) return serveLoops(handler, hostname, options.port, options.receiveLoops, onWarning);
  // If the receive Worker dies or cannot load, the port moves to Deno.listenDatagram: UDP keeps being answered.
  let current: UdpTracker | null = null;
  let isClosing = false;
  const served = serveBatches(sock, handler, onWarning, options.receiveWorkerUrl, () => {
    if (isClosing) return;
    onWarning("UDP receive Worker stopped: serving UDP with Deno.listenDatagram from now on");
    void served.stop().then(() => {
      if (isClosing) return;
      try {
        current = serveLoops(handler, hostname, sock.port, options.receiveLoops, onWarning);
      } catch (err: unknown) {
        onWarning(`UDP stopped: cannot listen again on port ${sock.port}: ${errorText(err)}`);
      }
    });
  });
  let closing: Promise<void> | null = null;
  return {
    addrs: [sock.addr],
    port: sock.port,
    stats: handler.stats,
    get io() {
      return current === null ? "ffi" : "deno";
    },
    close: () =>
      closing ??= (async () => {
        isClosing = true;
        await served.stop();
        await current?.close();
      })(),
  };
}

/** Serve with Deno.listenDatagram: `loops` concurrent receive loops per socket. */
function serveLoops(
  handler: UdpHandler,
  hostname: string,
  port: number,
  receiveLoops: number | undefined,
  onWarning: (message: string) => void,
): UdpTracker {
  const conns = openSockets(hostname, port);
  const loopsPerSocket = Math.max(1, receiveLoops ?? DEFAULT_UDP_RECEIVE_LOOPS);
  const loops: Promise<void>[] = [];
  for (const conn of conns) {
    const sender = createSender(conn);
    for (let i = 0; i < loopsPerSocket; i++) loops.push(receiveLoop(conn, handler, sender, onWarning));
  }
  let isClosed = false;
  return {
    addrs: conns.map((c) => c.addr as Deno.NetAddr),
    port: (conns[0]!.addr as Deno.NetAddr).port,
    stats: handler.stats,
    io: "deno",
    async close() {
      if (isClosed) return;
      isClosed = true;
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      await Promise.all(loops);
    },
  };
}

/** Bytes of a send slot: a reply never passes MAX_UDP_TRACKER_REPLY_BYTES (error texts are short too). */
const SEND_SLOT_BYTES = 2048;

/**
 * Serve `sock` in batches: its Worker (lib/_udp_recv_worker.ts) receives up to UDP_BATCH datagrams at a time into the
 * shared buffer; here each is copied out, handled, and the batch's replies leave in one sendmmsg. `stop()` raises the
 * stop flag, wakes the Worker's receive with a datagram to ourselves, waits until it has stopped reading the socket,
 * then closes the socket.
 */
function serveBatches(
  sock: FfiUdpSocket,
  handler: UdpHandler,
  onWarning: (message: string) => void,
  workerUrl: URL | undefined,
  onFailed: () => void,
): { stop(): Promise<void> } {
  const { lib, fd } = sock;
  const batch = UDP_BATCH;
  const slot = UDP_RECEIVE_BUFFER_BYTES;
  const { dataAt, namesAt, lensAt, totalBytes } = sharedLayout(batch, slot);
  const sab = new SharedArrayBuffer(totalBytes);
  const ctl = new Int32Array(sab, 0, CTL_WORDS);
  const shared = new Uint8Array(sab);
  const lens = new Int32Array(sab, lensAt, batch * 2);
  // One datagram at a time in a private buffer: decoders may read text from it (TextDecoder refuses shared memory),
  // and, as in the Deno.listenDatagram loop, it is handled synchronously before the next one overwrites it.
  const packet = new Uint8Array(slot);
  const out = new Uint8Array(batch * SEND_SLOT_BYTES);
  const names = new Uint8Array(batch * UDP_NAME_BYTES);
  const v = createMessageVector(batch, SEND_SLOT_BYTES, out, names);
  const sender = createSenderCache();
  const { promise: stopped, resolve: onStopped } = Promise.withResolvers<void>();
  const worker = new Worker(workerUrl ?? new URL("../_udp_recv_worker.ts", import.meta.url), { type: "module" });
  let isStopping = false;

  worker.onmessage = (e: MessageEvent<number | "stopped">) => {
    if (e.data === "stopped") {
      onStopped();
      if (!isStopping) onFailed();
      return;
    }
    const got = Atomics.load(ctl, CTL_READY);
    let m = 0;
    for (let i = 0; i < got; i++) {
      const len = lens[i * 2]!;
      if (len >= slot || !formatSender(shared, namesAt + i * UDP_NAME_BYTES, sender)) {
        handler.stats.received++;
        handler.stats.dropped++;
        continue;
      }
      packet.set(shared.subarray(dataAt + i * slot, dataAt + i * slot + len));
      let reply: Uint8Array | null;
      try {
        reply = handler.handle(packet.subarray(0, len), sender.hostname, sender.port);
      } catch (err: unknown) {
        onWarning(`UDP handler failed: ${errorText(err)}`);
        continue;
      }
      if (reply === null || reply.length > SEND_SLOT_BYTES) continue;
      out.set(reply, m * SEND_SLOT_BYTES);
      names.set(shared.subarray(namesAt + i * UDP_NAME_BYTES, namesAt + (i + 1) * UDP_NAME_BYTES), m * UDP_NAME_BYTES);
      setMessageLengths(v, m, lens[i * 2 + 1]!, reply.length);
      m++;
    }
    if (m > 0) sendMessages(lib, fd, v, m);
    Atomics.store(ctl, CTL_READY, 0);
    Atomics.notify(ctl, CTL_READY);
  };
  worker.onerror = (e: ErrorEvent) => {
    e.preventDefault();
    onWarning(`UDP receive Worker failed: ${e.message}`);
    onStopped();
    if (!isStopping) onFailed();
  };
  worker.postMessage({ fd, sab, batch, slotBytes: slot });

  let stopping: Promise<void> | null = null;
  return {
    stop: () =>
      stopping ??= (async () => {
        isStopping = true;
        Atomics.store(ctl, CTL_STOP, 1);
        Atomics.notify(ctl, CTL_READY);
        wakeReceiver(sock);
        await stopped;
        worker.terminate();
        lib.symbols.close(fd);
        lib.close();
      })(),
  };
}

function listen(hostname: string, port: number): Deno.DatagramConn {
  try {
    return Deno.listenDatagram({ transport: "udp", hostname, port });
  } catch (err: unknown) {
    throw new TrackerError("udp_listen_failed", `Cannot listen on UDP ${formatHostPort(hostname, port)}`, {
      cause: err,
    });
  }
}

// "::" first: on Linux (net.ipv6.bindv6only = 0) that socket is dual-stack and also receives IPv4 (senders appear as
// ::ffff:a.b.c.d), so binding 0.0.0.0 on the same port then fails and one socket serves both. If it succeeds, the
// IPv6 socket is v6-only and the second socket serves IPv4.
function openSockets(hostname: string, port: number): Deno.DatagramConn[] {
  if (hostname !== "::") return [listen(hostname, port)];
  const v6 = listen("::", port);
  const boundPort = (v6.addr as Deno.NetAddr).port;
  try {
    return [v6, Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: boundPort })];
  } catch (err: unknown) {
    if (err instanceof Deno.errors.AddrInUse) return [v6];
    v6.close();
    throw new TrackerError("udp_listen_failed", `Cannot listen on UDP 0.0.0.0:${boundPort}`, { cause: err });
  }
}

interface Sender {
  send(reply: Uint8Array, to: Deno.NetAddr): Promise<void> | null;
}

// Sends are not awaited one by one (that would serialize the loop on the kernel); at most MAX_UDP_PENDING_SENDS are in
// flight per socket, and past that the caller waits for one to finish. A failed send (e.g. ICMP unreachable surfaced
// as an error) only loses that reply.
function createSender(conn: Deno.DatagramConn): Sender {
  let pending = 0;
  let waiters: (() => void)[] = [];
  const done = () => {
    pending--;
    if (waiters.length > 0 && pending < MAX_UDP_PENDING_SENDS) {
      const w = waiters;
      waiters = [];
      for (const resolve of w) resolve();
    }
  };
  return {
    send(reply, to) {
      pending++;
      conn.send(reply, to).then(done, done);
      if (pending < MAX_UDP_PENDING_SENDS) return null;
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
  };
}

async function receiveLoop(
  conn: Deno.DatagramConn,
  handler: UdpHandler,
  sender: Sender,
  onWarning: (message: string) => void,
): Promise<void> {
  // One buffer per loop: a datagram is handled synchronously before this loop receives again, and replies are fresh
  // arrays, so nothing aliases it.
  const buf = new Uint8Array(UDP_RECEIVE_BUFFER_BYTES);
  let failures = 0;
  for (;;) {
    let data: Uint8Array;
    let remote: Deno.Addr;
    try {
      [data, remote] = await conn.receive(buf);
    } catch (err: unknown) {
      if (err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted) return; // closed
      // An ICMP error from an earlier send can surface on receive (e.g. ConnectionReset): keep serving. Anything
      // else is reported; only a run of failures with no datagram in between stops this loop (no busy spin).
      if (err instanceof Deno.errors.ConnectionReset || err instanceof Deno.errors.ConnectionRefused) continue;
      if (++failures >= MAX_UDP_RECEIVE_FAILURES) {
        onWarning(`UDP receive loop stopped after ${failures} failures: ${errorText(err)}`);
        return;
      }
      onWarning(`UDP receive failed: ${errorText(err)}`);
      continue;
    }
    failures = 0;
    if (remote.transport !== "udp" || data.length >= UDP_RECEIVE_BUFFER_BYTES) {
      handler.stats.received++;
      handler.stats.dropped++;
      continue;
    }
    const hostname = unmapIpv4(remote.hostname);
    const reply = handler.handle(data, hostname, remote.port);
    if (reply === null) continue;
    const wait = sender.send(reply, remote);
    if (wait !== null) await wait;
  }
}

// A dual-stack socket reports IPv4 senders as ::ffff:a.b.c.d: treat them as IPv4 (6-byte peers, IPv4 ids).
function unmapIpv4(hostname: string): string {
  return hostname.length > 7 && hostname.startsWith("::ffff:") && hostname.indexOf(".") > 0
    ? hostname.slice(7)
    : hostname;
}
