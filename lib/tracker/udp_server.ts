// The UDP tracker's sockets (BEP 15): receive loops over Deno.listenDatagram on IPv4 and IPv6, or batches through libc
// (lib/tracker/_udp_ffi.ts), each datagram answered by the handler of udp_handler.ts. Invariant: the store is the
// HTTP tracker's own object, so peers of both transports see each other.

import { errorText, TrackerError } from "../errors.ts";
import { unmapIPv4 } from "../net_address.ts";
import { formatHostPort } from "./announce.ts";
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
import { createUdpHandler, type UdpHandler, type UdpHandlerOptions, type UdpHandlerStats } from "./udp_handler.ts";

export {
  createUdpHandler,
  MAX_UDP_PEERS4,
  MAX_UDP_PEERS6,
  MAX_UDP_TRACKER_REPLY_BYTES,
  MIXED_SWARM_OVERSAMPLE,
  type UdpAccessHook,
  type UdpAccessRequest,
  type UdpHandler,
  type UdpHandlerOptions,
  type UdpHandlerStats,
} from "./udp_handler.ts";

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
  readonly io: "libc" | "deno";
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
      return current === null ? "libc" : "deno";
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
    // A dual-stack socket reports IPv4 senders as ::ffff:a.b.c.d: treat them as IPv4 (6-byte peers, IPv4 ids).
    const hostname = unmapIPv4(remote.hostname);
    const reply = handler.handle(data, hostname, remote.port);
    if (reply === null) continue;
    const wait = sender.send(reply, remote);
    if (wait !== null) await wait;
  }
}
