// An HTTP/1.1 server over libc through Deno's FFI (Linux), opt-in with `btool tracker --http-io libc`: non-blocking
// sockets and one epoll set, driven from the main thread; a Worker (lib/tracker/_http_wait_worker.ts) only blocks in
// epoll_wait while the main thread has nothing to do, and wakes it with a message. The main thread then handles what
// is ready for up to PUMP_BUDGET_MS. Why: fewer µs of CPU per connection and per request than Deno.serve, and GET
// announces answered synchronously from the request bytes (`rawRequest`), without a Request or a Response (figures:
// docs/PERFORMANCE.md). Everything else goes through the ordinary `(Request, info) => Response` handler.
// Limits come from lib/tracker/http_limits.ts (as Deno.serve's guard); connection state and its deadlines live in
// _http_conn.ts, response bytes in _http_reply.ts. Only IP literals, only Linux on x86_64/aarch64 with --allow-ffi.
// Lengths go to libc as BigInt: a number for a usize parameter takes FFI's slow path (280 ns against 47 ns a call).
// Invariants: the Worker and the main thread never wait on the epoll set at the same time (the main thread arms the
// Worker when it is done, the Worker disarms itself before it posts); a connection's fd is closed once, by #close,
// which forgets the connection first (a reused fd number then belongs to a new Conn); at most one response per
// connection is being produced or written at a time (pipelined requests wait, in order), and while one is, the
// connection is not read; an exception while serving one connection closes that connection, never the loop.

import { TrackerError } from "../errors.ts";
import { formatHostPort } from "./announce.ts";
import { createSenderCache, EAGAIN, EINTR, errno, formatSender, type SenderCache } from "./_libc.ts";
import type { HttpHandler } from "./http_guard.ts";
import { type HttpLimits, type HttpLimitsInput, resolveLimits } from "./http_limits.ts";
import { AddressTable } from "./address_table.ts";
import { Conn, connBytes, isExpired, LINGER_BYTES } from "./_http_conn.ts";
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
  EPOLLERR,
  EPOLLHUP,
  EPOLLIN,
  EPOLLOUT,
  EpollWaiter,
  type HttpLibc,
  IPPROTO_TCP,
  type Listener,
  listenTcp,
  MSG_MORE,
  MSG_NOSIGNAL,
  SHUT_WR,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  TCP_NODELAY,
} from "./_http_epoll.ts";
import { type ConnIo, internalError, type RawRequestHandler, RequestReader } from "./_http_requests.ts";

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
/** Bytes read per recv (one shared buffer). */
const READ_BYTES = 65_536;
const READ_BYTES_BIG = BigInt(READ_BYTES);
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
  readonly #reader: RequestReader;
  /** Connections that outlived their first read, by fd. */
  readonly #conns = new Map<number, Conn>();
  /** Open connections, those answered within their first read included. */
  #open = 0;
  #bytesRead = 0;
  readonly #table: AddressTable;
  readonly #readBuf = new Uint8Array(READ_BYTES);
  readonly #events = new Uint8Array(MAX_EVENTS * EPOLL_EVENT_BYTES);
  readonly #eventView = new DataView(this.#events.buffer);
  readonly #ev = new Uint8Array(16);
  readonly #evView = new DataView(this.#ev.buffer);
  readonly #addrBuf = new Uint8Array(128);
  readonly #addrLen = new Uint8Array(4);
  readonly #addrLenView = new DataView(this.#addrLen.buffer);
  readonly #one = Uint8Array.of(1, 0, 0, 0);
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
    this.#table = new AddressTable(this.#limits);
    this.#warn = o.onWarning ?? (() => {});
    this.#now = o.now ?? Date.now;
    this.#reader = new RequestReader({
      handler: o.handler,
      rawRequest: o.rawRequest,
      limits: this.#limits,
      now: this.#now,
      warn: this.#warn,
      io: this.#io,
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

  /** The socket side as the request side sees it. */
  readonly #io: ConnIo = ((server: LibcServer): ConnIo => ({
    get isStopping() {
      return server.#isStopping;
    },
    get authority() {
      return formatHostPort(server.addr.hostname, server.addr.port);
    },
    send: (c, bytes, len, isCloseAfter) => server.#send(c, bytes, len, isCloseAfter),
    sendNow: (c, bytes) => void server.#s.send(c.fd, bytes, BigInt(bytes.length), MSG_NOSIGNAL),
    pause: (c) => server.#setEvents(c, 0),
    resume: (c) => server.#setEvents(c, EPOLLIN),
    keepInput: (c, bytes) => server.#keepInput(c, bytes),
    account: (c) => server.#account(c),
    close: (c) => server.#close(c),
  }))(this);

  get connections(): number {
    return this.#open;
  }

  get bytesRead(): number {
    return this.#bytesRead;
  }

  get bufferedBytes(): number {
    return this.#table.bytes;
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
    const s = this.#s, view = this.#eventView;
    const started = performance.now();
    for (let timeout = 0;; timeout = PUMP_LINGER_MS) {
      const n = s.epoll_wait(this.#epollFd, this.#events, MAX_EVENTS, timeout);
      if (n <= 0) break;
      for (let i = 0; i < n; i++) {
        const at = i * EPOLL_EVENT_BYTES;
        const fd = view.getInt32(at + EPOLL_DATA_OFFSET, true);
        if (fd === this.#listenFd) this.#accept();
        else if (fd === this.#wakeFd) s.read(this.#wakeFd, this.#readBuf, 8n);
        else {
          const c = this.#conns.get(fd);
          if (c !== undefined) this.#onReady(c, view.getUint32(at, true));
        }
      }
      if (performance.now() - started >= PUMP_BUDGET_MS) break;
    }
  }

  /** One connection's readiness; what it throws closes it alone. */
  #onReady(c: Conn, events: number): void {
    try {
      if (c.output !== null) {
        if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) !== 0) this.#flush(c);
      } else if (c.isDraining) this.#drain(c);
      else if (!c.isBusy) this.#read(c);
    } catch (err: unknown) {
      this.#warn(internalError(err));
      this.#close(c);
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
      const host = this.#senders.hostname;
      if (this.#open >= this.#limits.maxConnections || this.#isStopping || !this.#table.open(host)) {
        s.close(fd);
        continue;
      }
      this.#open++;
      const c = new Conn(fd, host, this.#senders.port, now);
      c.isCounted = true;
      // The request is usually there already: read it now, and skip the epoll registration and the table entry when
      // it is answered whole (nothing can look c up by fd before this returns: no epoll_wait runs meanwhile).
      try {
        this.#read(c);
      } catch (err: unknown) {
        this.#warn(internalError(err));
        this.#close(c);
      }
      if (c.isClosed) continue;
      this.#conns.set(fd, c);
      if (!c.isBusy && c.output === null) this.#setEvents(c, EPOLLIN);
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

  #read(c: Conn): void {
    const s = this.#s;
    for (let reads = 0; reads < 4; reads++) {
      const n = Number(s.recv(c.fd, this.#readBuf, READ_BYTES_BIG, 0));
      if (n > 0) {
        this.#bytesRead += n;
        let data: Uint8Array;
        if (c.inputLen === 0) data = this.#readBuf.subarray(0, n);
        else {
          if (!this.#keepInput(c, this.#readBuf.subarray(0, n))) return;
          data = c.input!.subarray(0, c.inputLen);
        }
        this.#reader.process(c, data);
        if (c.isClosed || c.isBusy || c.output !== null || c.isDraining || n < READ_BYTES) return;
      } else if (n === 0) {
        this.#close(c);
        return;
      } else {
        const e = errno(this.#lib);
        if (e === EINTR) continue;
        if (e !== EAGAIN) this.#close(c);
        return;
      }
    }
  }

  /** Count what c holds now against the caps; false (and c closed, 413 or dropped) when it passes one. */
  #account(c: Conn): boolean {
    const bytes = connBytes(c);
    const delta = bytes - c.heldBytes;
    if (delta === 0) return true;
    c.heldBytes = bytes;
    const over = this.#table.hold(c.host, delta);
    if (bytes > this.#limits.maxConnectionBytes && c.output === null) {
      this.#reader.refuse(c, 413);
      return false;
    }
    if (over === "" && bytes <= this.#limits.maxConnectionBytes) return true;
    const what = over === "" ? "connection" : over;
    this.#warn(`HTTP: buffered input or unsent output passed the ${what} cap; dropping ${c.host}`);
    this.#close(c);
    return false;
  }

  /** Append `bytes` to c's input; false (and the connection closed) when that passes a memory cap. */
  #keepInput(c: Conn, bytes: Uint8Array): boolean {
    const need = c.inputLen + bytes.length;
    if (c.input === null || need > c.input.length) {
      // A Content-Length body gets exactly its size; else double (never past the connection's cap).
      const want = Math.max(need, c.bodyNeed, Math.min((c.input?.length ?? 0) * 2, this.#limits.maxConnectionBytes));
      const grown = new Uint8Array(Math.max(want, 1024));
      if (c.input !== null) grown.set(c.input.subarray(0, c.inputLen));
      c.input = grown;
      if (!this.#account(c)) return false;
    }
    c.input.set(bytes, c.inputLen);
    c.inputLen = need;
    return true;
  }

  /**
   * Send `bytes[0, len)`; what the socket does not take now is kept and sent when it becomes writable. A last response
   * goes with MSG_MORE: the close right after sends it and the FIN in one segment, one packet less per connection.
   */
  #send(c: Conn, bytes: Uint8Array, len: number, isCloseAfter: boolean): void {
    const n = Number(this.#s.send(c.fd, bytes, BigInt(len), isCloseAfter ? MSG_NOSIGNAL | MSG_MORE : MSG_NOSIGNAL));
    c.hasAnswered = true;
    if (n === len) {
      // Idle time counts from the response (a slow handler must not eat the keep-alive time).
      if (isCloseAfter) this.#closeAfterOutput(c);
      else c.sinceMs = this.#now();
      return;
    }
    if (n < 0) {
      const e = errno(this.#lib);
      if (e !== EAGAIN && e !== EINTR) return this.#close(c);
    }
    c.output = bytes.slice(Math.max(n, 0), len);
    c.outputAt = 0;
    c.isClosing = isCloseAfter;
    c.sinceMs = this.#now();
    if (!c.isNoDelay) {
      // A response in several segments: its last one must not wait for an ACK (Nagle).
      c.isNoDelay = true;
      this.#s.setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, this.#one, 4);
    }
    if (!this.#account(c)) return;
    this.#setEvents(c, EPOLLOUT);
  }

  /** The socket is writable again: send more of c's output. */
  #flush(c: Conn): void {
    const out = c.output!;
    const rest = out.length - c.outputAt;
    const n = Number(this.#s.send(c.fd, c.outputAt === 0 ? out : out.subarray(c.outputAt), BigInt(rest), MSG_NOSIGNAL));
    if (n < 0) {
      const e = errno(this.#lib);
      if (e !== EAGAIN && e !== EINTR) this.#close(c);
      return;
    }
    c.outputAt += n;
    c.sinceMs = this.#now();
    if (c.outputAt < out.length) return;
    c.output = null;
    if (c.isClosing) return this.#closeAfterOutput(c);
    if (!this.#account(c)) return;
    this.#setEvents(c, EPOLLIN);
    if (c.inputLen > 0) this.#reader.process(c, c.input!.subarray(0, c.inputLen));
  }

  /** The last response is sent: close, or for a refusal shut the writing side and drain what the client still sends. */
  #closeAfterOutput(c: Conn): void {
    if (!c.isLingerAfter || this.#s.shutdown(c.fd, SHUT_WR) !== 0) return this.#close(c);
    c.isDraining = true;
    c.sinceMs = this.#now();
    c.input = null;
    c.inputLen = 0;
    c.chunk = null;
    this.#account(c);
    // Reached from the first read (accept) too: then this files it so that epoll reports the rest.
    this.#conns.set(c.fd, c);
    this.#setEvents(c, EPOLLIN);
  }

  /** Read and drop a draining connection's input; close at EOF, an error, or LINGER_BYTES. */
  #drain(c: Conn): void {
    for (;;) {
      const n = Number(this.#s.recv(c.fd, this.#readBuf, READ_BYTES_BIG, 0));
      if (n > 0) {
        c.drainedBytes += n;
        if (c.drainedBytes <= LINGER_BYTES) continue;
      } else if (n < 0) {
        const e = errno(this.#lib);
        if (e === EINTR) continue;
        if (e === EAGAIN) return;
      }
      return this.#close(c);
    }
  }

  #close(c: Conn): void {
    if (c.isClosed) return;
    c.isClosed = true;
    if (this.#conns.get(c.fd) === c) this.#conns.delete(c.fd);
    if (c.heldBytes !== 0) this.#table.hold(c.host, -c.heldBytes);
    c.heldBytes = 0;
    if (c.isCounted) {
      c.isCounted = false;
      this.#open--;
      this.#table.close(c.host);
    }
    c.input = c.output = null;
    c.inputLen = 0;
    c.chunk = null;
    this.#s.close(c.fd);
  }

  sweep(): void {
    try {
      const now = this.#now(), l = this.#limits, isStopping = this.#isStopping;
      for (const c of this.#conns.values()) {
        if (isExpired(c, now, l) || (isStopping && !c.isBusy && c.output === null)) this.#close(c);
      }
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
    while (this.#conns.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
      this.sweep();
    }
    for (const c of [...this.#conns.values()]) this.#close(c);
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
