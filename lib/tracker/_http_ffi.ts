// An HTTP/1.1 server over libc through Deno's FFI (Linux), opt-in with `btool tracker --http-io libc`: non-blocking
// sockets and one epoll set, driven from the main thread; a Worker (lib/tracker/_http_wait_worker.ts) only blocks in
// epoll_wait while the main thread has nothing to do, and wakes it with a message. The main thread then handles what
// is ready for up to PUMP_BUDGET_MS. Why: fewer µs of CPU per connection and per request than Deno.serve, and GET
// announces answered synchronously from the request bytes (`rawRequest`), without a Request or a Response (figures:
// docs/PERFORMANCE.md). Everything else goes through the ordinary `(Request, info) => Response` handler.
// Limits come from lib/tracker/http_limits.ts (as Deno.serve's guard); connection state and its deadlines live in
// _http_conn.ts, what is done on a connection's socket in _http_sockets.ts, requests in _http_requests.ts, response
// bytes in _http_reply.ts. This file owns the epoll set, the accept loop and the lifecycle. Only IP literals, only
// Linux on x86_64/aarch64 with --allow-ffi.
// Invariants: the Worker and the main thread never wait on the epoll set at the same time (the main thread arms the
// Worker when it is done, the Worker disarms itself before it posts); at most one response per connection is being
// produced or written at a time (pipelined requests wait, in order); an exception while serving one connection closes
// that connection, never the loop.

import { TrackerError } from "../errors.ts";
import { formatHostPort } from "./announce.ts";
import { createSenderCache, EAGAIN, errno, formatSender, type SenderCache } from "./_libc.ts";
import type { HttpHandler } from "./http_guard.ts";
import { type HttpLimits, type HttpLimitsInput, resolveLimits } from "./http_limits.ts";
import type { Conn } from "./_http_conn.ts";
import {
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  EMFILE,
  ENFILE,
  ENOBUFS,
  ENOMEM,
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_CTL_MOD,
  EPOLL_DATA_OFFSET,
  EPOLL_EVENT_BYTES,
  EPOLLIN,
  EpollWaiter,
  type HttpLibc,
  type Listener,
  listenTcp,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
} from "./_http_epoll.ts";
import { internalError, type RawRequestHandler } from "./_http_requests.ts";
import { ConnSockets } from "./_http_sockets.ts";

export type { RawRequestHandler } from "./_http_requests.ts";

/** Events taken per epoll_wait. */
const MAX_EVENTS = 256;
/**
 * A wake-up handles events for up to this long before the event loop gets a turn (timers, UDP, async handlers)...
 * Each hand-over to the Worker costs two thread switches: under load one per ~2 ms instead of one per few events.
 */
const PUMP_BUDGET_MS = 2;
/** ...and waits this long for more once it has handled some (a busy server rarely waits it out). */
const PUMP_LINGER_MS = 1;
/** Connections accepted per readiness of the listening socket (others wait for the next round). */
const ACCEPT_BATCH = 64;
/** Pause of accept() after the process ran out of file descriptors. */
const ACCEPT_PAUSE_MS = 100;
/** How long shutdown() lets responses in progress finish. */
const SHUTDOWN_GRACE_MS = 5_000;

/** Options of createLibcHttpServer. */
export interface LibcHttpOptions {
  hostname: string;
  port: number;
  handler: HttpHandler;
  rawRequest?: RawRequestHandler;
  limits?: HttpLimitsInput;
  onWarning?: (message: string) => void;
  /** The waiting Worker's module (tests substitute a failing one). */
  workerUrl?: URL;
  /** Clock in ms (default Date.now): deadlines and the Date header. sweepIntervalMs 0: no timer, call sweep(). */
  now?: () => number;
}

/** A running libc HTTP server (the part of Deno.HttpServer callers use). */
export interface LibcHttpServer {
  readonly addr: Deno.NetAddr;
  /** Open connections (for tests and stats). */
  readonly connections: number;
  /** Bytes held for connections (input, output, chunk bookkeeping), all addresses. */
  readonly bufferedBytes: number;
  /** Bytes received since start (tests wait on it to know a piece was read). */
  readonly bytesRead: number;
  /** Close the connections past their deadlines now (the sweep timer's work). */
  sweep(): void;
  /** Stop accepting, let responses in progress finish (a few seconds at most), close everything. */
  shutdown(): Promise<void>;
  readonly finished: Promise<void>;
}

/**
 * Serve HTTP/1.1 on `hostname:port` (an IP literal; "::" is dual-stack) through libc.
 * @returns null when this path does not apply here (another OS or CPU, no --allow-ffi, a host name)
 * @throws {TrackerError} listen_failed when the port cannot be bound
 */
export function createLibcHttpServer(options: LibcHttpOptions): LibcHttpServer | null {
  const listener = listenTcp(options.hostname, options.port);
  if (listener === null) return null;
  return new LibcServer(listener, options);
}

class LibcServer implements LibcHttpServer {
  readonly addr: Deno.NetAddr;
  readonly #lib: HttpLibc;
  readonly #s: HttpLibc["symbols"];
  #listenFd: number;
  readonly #epollFd: number;
  readonly #wakeFd: number;
  readonly #limits: HttpLimits;
  readonly #warn: (message: string) => void;
  readonly #now: () => number;
  readonly #sockets: ConnSockets;
  /** Where the wake eventfd's counter is read to (and dropped). */
  readonly #wakeBuf = new Uint8Array(8);
  readonly #events = new Uint8Array(MAX_EVENTS * EPOLL_EVENT_BYTES);
  readonly #eventView = new DataView(this.#events.buffer);
  readonly #ev = new Uint8Array(16);
  readonly #evView = new DataView(this.#ev.buffer);
  readonly #addrBuf = new Uint8Array(128);
  readonly #addrLen = new Uint8Array(4);
  readonly #addrLenView = new DataView(this.#addrLen.buffer);
  readonly #senders: SenderCache = createSenderCache();
  readonly #waiter: EpollWaiter;
  /** Everything is closed: late Worker messages are ignored. */
  #isDone = false;
  readonly #sweepTimer: ReturnType<typeof setInterval> | undefined;
  #acceptTimer: ReturnType<typeof setTimeout> | undefined;
  #isStopping = false;
  #shutdown: Promise<void> | null = null;
  readonly #finished = Promise.withResolvers<void>();

  constructor(l: Listener, o: LibcHttpOptions) {
    this.#lib = l.lib;
    this.#s = l.lib.symbols;
    this.#listenFd = l.fd;
    this.addr = { transport: "tcp", hostname: o.hostname, port: l.port };
    this.#limits = resolveLimits(o.limits);
    this.#warn = o.onWarning ?? (() => {});
    this.#now = o.now ?? Date.now;
    this.#sockets = new ConnSockets({
      lib: l.lib,
      limits: this.#limits,
      handler: o.handler,
      rawRequest: o.rawRequest,
      now: this.#now,
      warn: this.#warn,
      authority: formatHostPort(o.hostname, l.port),
      isStopping: () => this.#isStopping,
      setEvents: (c, events) => this.#setEvents(c, events),
    });
    const s = this.#s;
    this.#epollFd = s.epoll_create1(EPOLL_CLOEXEC);
    this.#wakeFd = this.#epollFd < 0 ? -1 : s.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (this.#wakeFd < 0) {
      if (this.#epollFd >= 0) s.close(this.#epollFd);
      s.close(l.fd);
      l.lib.close();
      throw new TrackerError("listen_failed", "Cannot create an epoll set");
    }
    this.#ctl(EPOLL_CTL_ADD, this.#listenFd, EPOLLIN);
    this.#ctl(EPOLL_CTL_ADD, this.#wakeFd, EPOLLIN);
    if (this.#limits.sweepIntervalMs > 0) {
      this.#sweepTimer = setInterval(() => this.sweep(), this.#limits.sweepIntervalMs);
    }
    this.#waiter = new EpollWaiter({
      lib: this.#lib,
      epollFd: this.#epollFd,
      wakeFd: this.#wakeFd,
      url: o.workerUrl ?? new URL("./_http_wait_worker.ts", import.meta.url),
      onReady: () => this.#pump(),
      warn: this.#warn,
    });
  }

  get connections(): number {
    return this.#sockets.open;
  }

  get bytesRead(): number {
    return this.#sockets.bytesRead;
  }

  get bufferedBytes(): number {
    return this.#sockets.bufferedBytes;
  }

  get finished(): Promise<void> {
    return this.#finished.promise;
  }

  #ctl(op: number, fd: number, events: number): void {
    this.#evView.setUint32(0, events, true);
    this.#evView.setInt32(EPOLL_DATA_OFFSET, fd, true);
    this.#evView.setInt32(EPOLL_DATA_OFFSET + 4, 0, true);
    this.#s.epoll_ctl(this.#epollFd, op, fd, this.#ev);
  }

  /** Register `events` for `c` (0 takes it out of the set: ERR and HUP would otherwise still be reported). */
  #setEvents(c: Conn, events: number): void {
    if (c.isClosed || c.events === events) return;
    if (events === 0) this.#ctl(EPOLL_CTL_DEL, c.fd, 0);
    else this.#ctl(c.events === 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd, events);
    c.events = events;
  }

  /** Handle what is ready, a few rounds, then hand the waiting back to the Worker (always: see the invariants). */
  #pump(): void {
    if (this.#isDone) return;
    try {
      this.#rounds();
    } catch (err: unknown) {
      this.#warn(internalError(err));
    } finally {
      this.#waiter.arm();
    }
  }

  #rounds(): void {
    const s = this.#s, view = this.#eventView, conns = this.#sockets.conns;
    const started = performance.now();
    for (let timeout = 0;; timeout = PUMP_LINGER_MS) {
      const n = s.epoll_wait(this.#epollFd, this.#events, MAX_EVENTS, timeout);
      if (n <= 0) break;
      for (let i = 0; i < n; i++) {
        const at = i * EPOLL_EVENT_BYTES;
        const fd = view.getInt32(at + EPOLL_DATA_OFFSET, true);
        if (fd === this.#listenFd) this.#accept();
        else if (fd === this.#wakeFd) s.read(this.#wakeFd, this.#wakeBuf, 8n);
        else {
          const c = conns.get(fd);
          if (c !== undefined) this.#sockets.ready(c, view.getUint32(at, true));
        }
      }
      if (performance.now() - started >= PUMP_BUDGET_MS) break;
    }
  }

  #accept(): void {
    const s = this.#s;
    const now = this.#now();
    for (let i = 0; i < ACCEPT_BATCH; i++) {
      this.#addrLenView.setUint32(0, 128, true);
      const fd = s.accept4(this.#listenFd, this.#addrBuf, this.#addrLen, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        const e = errno(this.#lib);
        if (e === EAGAIN) return;
        if (e === EMFILE || e === ENFILE || e === ENOBUFS || e === ENOMEM) {
          this.#pauseAccept();
          return;
        }
        continue; // ECONNABORTED, EINTR, EPROTO...: that connection is gone, not the listener
      }
      formatSender(this.#addrBuf, 0, this.#senders);
      this.#sockets.accepted(fd, this.#senders.hostname, this.#senders.port, now);
    }
  }

  /** Out of file descriptors: stop accepting for a moment rather than spin on a readable listening socket. */
  #pauseAccept(): void {
    if (this.#acceptTimer !== undefined || this.#listenFd < 0) return;
    this.#warn("HTTP: out of file descriptors; not accepting for 100 ms");
    this.#ctl(EPOLL_CTL_DEL, this.#listenFd, 0);
    this.#acceptTimer = setTimeout(() => {
      this.#acceptTimer = undefined;
      if (this.#listenFd >= 0) this.#ctl(EPOLL_CTL_ADD, this.#listenFd, EPOLLIN);
    }, ACCEPT_PAUSE_MS);
  }

  sweep(): void {
    try {
      this.#sockets.closeExpired(this.#now(), this.#isStopping);
    } catch (err: unknown) {
      this.#warn(internalError(err));
    }
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= this.#stop();
    return this.#shutdown;
  }

  async #stop(): Promise<void> {
    this.#isStopping = true;
    clearTimeout(this.#acceptTimer);
    if (this.#listenFd >= 0) {
      this.#s.close(this.#listenFd);
      this.#listenFd = -1;
    }
    // Idle connections go now; responses in progress get a grace period (of real time: the injected clock may stand).
    const deadline = Date.now() + SHUTDOWN_GRACE_MS;
    this.sweep();
    while (this.#sockets.conns.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
      this.sweep();
    }
    this.#sockets.closeAll();
    clearInterval(this.#sweepTimer);
    await this.#waiter.stop();
    // The Worker no longer waits on the set: now its fds can be closed (their numbers may be reused at once).
    this.#isDone = true;
    this.#s.close(this.#wakeFd);
    this.#s.close(this.#epollFd);
    this.#lib.close();
    this.#finished.resolve();
  }
}
