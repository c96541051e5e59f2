// An HTTP/1.1 server over libc through Deno's FFI (Linux): non-blocking sockets and one epoll set, driven from the
// main thread; a Worker (lib/_http_wait_worker.ts) only blocks in epoll_wait while the main thread has nothing to
// do, and wakes it with a message. The main thread then handles what is ready for up to PUMP_BUDGET_MS.
// Why: Deno.serve costs about 36-44 µs of CPU per connection-per-request and 11-13 µs per keep-alive request on this
// machine; this path costs 26 and 9-10 (a fixed-reply responder, measured side by side with wrk), and lets a
// tracker answer GET announces synchronously from the request bytes (`fast`), without a Request or a Response.
// Everything else goes through the ordinary `(Request, info) => Response` handler, so both paths serve the same app.
// Only IP literals, only Linux on x86_64/aarch64 with --allow-ffi (see _libc.ts); createFfiHttpServer returns null
// otherwise and the caller uses Deno.serve.
// Lengths go to libc as BigInt: a number for a usize parameter takes FFI's slow path (280 ns against 47 ns a call).
// Invariants: the Worker and the main thread never wait on the epoll set at the same time (the main thread arms the
// Worker when it is done, the Worker disarms itself before it posts); a connection's fd is closed once, by #close,
// which forgets the connection first (a reused fd number then belongs to a new Conn); at most one response per
// connection is being produced or written at a time (pipelined requests wait, in order), and while one is, the
// connection is not read.

import { errorText, TrackerError } from "../errors.ts";
import { formatHostPort, parseIp } from "./announce.ts";
import {
  type BoundSocket,
  createSenderCache,
  EAGAIN,
  EINTR,
  errno,
  formatSender,
  intOption,
  openBoundSocket,
  openLibrary,
  type SenderCache,
  SOL_SOCKET,
} from "./_libc.ts";
import {
  type ChunkedBody,
  type ChunkState,
  type ConnectionHeader,
  createChunkState,
  decodeChunked,
  hasHeadEnd,
  HEAD_INCOMPLETE,
  HEAD_OK,
  httpDate,
  isBodiless,
  reasonPhrase,
  RequestHeadParser,
  responseHead,
} from "./http1.ts";

/** The libc symbols of the main thread. */
const HTTP_SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  accept4: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** The symbols of the waiting Worker. */
export const WAIT_SYMBOLS = {
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type HttpLibc = Deno.DynamicLibrary<typeof HTTP_SYMBOLS>;

const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SO_REUSEADDR = 2;
const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;
const TCP_DEFER_ACCEPT = 9;
const MSG_NOSIGNAL = 0x4000;
const MSG_MORE = 0x8000;
/** Seconds a connection may stay silent before it is accepted anyway (see listenTcp). */
const DEFER_ACCEPT_S = 1;
const EPOLL_CLOEXEC = 0o2000000;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLL_CTL_MOD = 3;
const EPOLLIN = 0x1;
const EPOLLOUT = 0x4;
const EPOLLERR = 0x8;
const EPOLLHUP = 0x10;
const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;
const EMFILE = 24;
const ENFILE = 23;
const ENOBUFS = 105;
const ENOMEM = 12;

/** struct epoll_event: packed on x86_64 (12 bytes, data at 4), natural alignment elsewhere (16, data at 8). */
export const EPOLL_EVENT_BYTES = Deno.build.arch === "x86_64" ? 12 : 16;
export const EPOLL_DATA_OFFSET = Deno.build.arch === "x86_64" ? 4 : 8;

/** Indexes of the control words shared with the Worker. */
export const WAIT_ARMED = 0;
export const WAIT_STOP = 1;
const WAIT_CTL_WORDS = 4;

/** Events taken per epoll_wait. */
const MAX_EVENTS = 256;
/**
 * A wake-up handles events for up to this long before the event loop gets a turn (timers, UDP, async handlers)...
 * Each hand-over to the Worker costs two thread switches: under load one per ~2 ms instead of one per few events
 * (close mode: 1.9k against 7.5k context switches a second, and 4 µs less CPU per connection).
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

/** Limits of the libc HTTP server; each bounds what one client (or all of them) can make it hold. */
export interface HttpLimits {
  /** Request line and headers (431 beyond). */
  maxHeadBytes: number;
  /** A request body (413 beyond). */
  maxBodyBytes: number;
  /** Open connections; new ones beyond are closed at once. */
  maxConnections: number;
  /** Unparsed input and unsent output held for all connections together; the connection that passes it is closed. */
  maxBufferedBytes: number;
  /** A request must arrive whole within this long of its first byte (Slowloris). */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  idleTimeoutMs: number;
  /** A response the client does not read for this long is dropped with its connection. */
  writeTimeoutMs: number;
  /** How often the timeouts are checked. */
  sweepIntervalMs: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  maxHeadBytes: 16_384,
  maxBodyBytes: 4 * 1_048_576,
  maxConnections: 16_384,
  maxBufferedBytes: 256 * 1_048_576,
  requestTimeoutMs: 15_000,
  idleTimeoutMs: 60_000,
  writeTimeoutMs: 60_000,
  sweepIntervalMs: 1_000,
};

/** The ordinary handler (Deno.serve's shape, with the part of its info a tracker reads). */
export type HttpHandler = (
  req: Request,
  info: { remoteAddr: Deno.NetAddr },
) => Response | Promise<Response>;

/**
 * A synchronous shortcut for GET requests: the body of a 200 text/plain response for the request target (path and
 * query, as sent) `request[targetStart, targetEnd)` from the client at `remoteHost`, or null to hand the request to
 * the ordinary handler. `request` and `header(lowerName)` (a request header) are valid only during the call; the
 * body returned is copied at once, so it may be a view the handler reuses. http1.ts targetText() reads the target as
 * text.
 */
export type FastHandler = (
  request: Uint8Array,
  targetStart: number,
  targetEnd: number,
  remoteHost: string,
  header: (lowerName: string) => string | null,
) => Uint8Array | null;

/** Options of createFfiHttpServer. */
export interface FfiHttpOptions {
  hostname: string;
  port: number;
  handler: HttpHandler;
  fast?: FastHandler;
  limits?: Partial<HttpLimits>;
  onWarning?: (message: string) => void;
  /** The waiting Worker's module (tests substitute a failing one). */
  workerUrl?: URL;
  /** Clock in ms (default Date.now): timeouts and the Date header. */
  now?: () => number;
}

/** A connection. */
class Conn {
  /** Unparsed input (a request not yet whole, or requests waiting behind the one in progress). */
  input: Uint8Array | null = null;
  inputLen = 0;
  /** Unsent output. */
  output: Uint8Array | null = null;
  outputAt = 0;
  /** Close once the output is sent. */
  isClosing = false;
  /** A response is being produced by the ordinary handler. */
  isBusy = false;
  isClosed = false;
  /** Registered epoll events; 0: not in the set. */
  events = 0;
  /** Last progress (ms): a request answered, output sent, or the first byte of a request received. */
  sinceMs: number;
  /** 100 Continue already sent for the request being received. */
  isContinueSent = false;
  /** Bytes of the partial request at the start of `input` known to hold no head end yet. */
  scanned = 0;
  /** The partial request's head is whole and valid; the request is this many bytes (a Content-Length body). */
  bodyNeed = 0;
  /** The partial request's chunked body, decoded so far, and where that body starts in it. */
  chunk: ChunkState | null = null;
  chunkBodyAt = 0;
  isNoDelay = false;

  constructor(readonly fd: number, readonly host: string, readonly port: number, nowMs: number) {
    this.sinceMs = nowMs;
  }
}

/** A running libc HTTP server (the part of Deno.HttpServer callers use). */
export interface FfiHttpServer {
  readonly addr: Deno.NetAddr;
  /** Open connections (for tests and stats). */
  readonly connections: number;
  /** Stop accepting, let responses in progress finish (a few seconds at most), close everything. */
  shutdown(): Promise<void>;
  readonly finished: Promise<void>;
}

interface Listener {
  lib: HttpLibc;
  fd: number;
  port: number;
  isV6: boolean;
}

/** Open, bind and listen; null where this path does not apply. */
function listenTcp(hostname: string, port: number): Listener | null {
  const ip = hostname.includes("%") ? null : parseIp(hostname);
  if (ip === null) return null;
  const lib = openLibrary(HTTP_SYMBOLS);
  if (lib === null) return null;
  const sock = openBoundSocket(lib, {
    hostname,
    ip,
    port,
    type: SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
    code: "listen_failed",
    label: "",
  }, (s: BoundSocket) => {
    // As Deno.serve: a restarted tracker can bind at once while old connections sit in TIME_WAIT.
    if (lib.symbols.setsockopt(s.fd, SOL_SOCKET, SO_REUSEADDR, intOption(1), 4) !== 0) s.fail("SO_REUSEADDR");
  });
  if (sock === null) return null;
  if (lib.symbols.listen(sock.fd, 4096) !== 0) sock.fail("listen");
  // Wake for a connection once its request has arrived (as nginx's `deferred`): accept, read, answer and close in one
  // go, instead of a wake-up at the handshake, an empty read and an epoll registration. An HTTP client speaks first;
  // one that stays silent is accepted anyway a second or so later. Best effort: without it, connections come earlier.
  lib.symbols.setsockopt(sock.fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, intOption(DEFER_ACCEPT_S), 4);
  return { lib, fd: sock.fd, port: sock.port, isV6: sock.isV6 };
}

/**
 * Serve HTTP/1.1 on `hostname:port` (an IP literal; "::" is dual-stack) through libc.
 * @returns null when this path does not apply here (the caller uses Deno.serve)
 * @throws {TrackerError} listen_failed when the port cannot be bound
 */
export function createFfiHttpServer(options: FfiHttpOptions): FfiHttpServer | null {
  const listener = listenTcp(options.hostname, options.port);
  if (listener === null) return null;
  return new LibcHttpServer(listener, options);
}

class LibcHttpServer implements FfiHttpServer {
  readonly addr: Deno.NetAddr;
  readonly #lib: HttpLibc;
  readonly #s: HttpLibc["symbols"];
  #listenFd: number;
  readonly #epollFd: number;
  readonly #wakeFd: number;
  readonly #handler: HttpHandler;
  readonly #fast: FastHandler | undefined;
  readonly #limits: HttpLimits;
  readonly #warn: (message: string) => void;
  readonly #now: () => number;
  readonly #conns = new Map<number, Conn>();
  readonly #parser = new RequestHeadParser();
  readonly #readBuf = new Uint8Array(READ_BYTES);
  #writeBuf = new Uint8Array(READ_BYTES);
  readonly #events = new Uint8Array(MAX_EVENTS * EPOLL_EVENT_BYTES);
  readonly #eventView = new DataView(this.#events.buffer);
  readonly #ev = new Uint8Array(16);
  readonly #evView = new DataView(this.#ev.buffer);
  readonly #addrBuf = new Uint8Array(128);
  readonly #addrLen = new Uint8Array(4);
  readonly #addrLenView = new DataView(this.#addrLen.buffer);
  readonly #one = Uint8Array.of(1, 0, 0, 0);
  readonly #senders: SenderCache = createSenderCache();
  /** The request being answered by `fast` and its header lookup (one function for all requests). */
  #headerData: Uint8Array = new Uint8Array(0);
  readonly #header = (name: string) => this.#parser.header(this.#headerData, name);
  #buffered = 0;
  #worker: Worker | null = null;
  readonly #wait: Int32Array;
  /** Everything is closed: late Worker messages are ignored. */
  #isDone = false;
  #pollTimer: ReturnType<typeof setInterval> | undefined;
  readonly #sweepTimer: ReturnType<typeof setInterval>;
  #acceptTimer: ReturnType<typeof setTimeout> | undefined;
  #isStopping = false;
  #shutdown: Promise<void> | null = null;
  readonly #finished = Promise.withResolvers<void>();
  readonly #workerStopped = Promise.withResolvers<void>();
  /** The Date header's text and the fast path's response head up to "content-length: ", for `#dateSecond`. */
  #date = "";
  #fastHead = new Uint8Array(0);
  #dateSecond = -1;

  constructor(l: Listener, o: FfiHttpOptions) {
    this.#lib = l.lib;
    this.#s = l.lib.symbols;
    this.#listenFd = l.fd;
    this.addr = { transport: "tcp", hostname: o.hostname, port: l.port };
    this.#handler = o.handler;
    this.#fast = o.fast;
    this.#limits = { ...DEFAULT_HTTP_LIMITS, ...o.limits };
    this.#warn = o.onWarning ?? (() => {});
    this.#now = o.now ?? Date.now;
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
    const sab = new SharedArrayBuffer(WAIT_CTL_WORDS * 4);
    this.#wait = new Int32Array(sab);
    this.#sweepTimer = setInterval(() => this.#sweep(), this.#limits.sweepIntervalMs);
    this.#startWorker(o.workerUrl ?? new URL("../_http_wait_worker.ts", import.meta.url), sab);
  }

  get connections(): number {
    return this.#conns.size;
  }

  get finished(): Promise<void> {
    return this.#finished.promise;
  }

  #startWorker(url: URL, sab: SharedArrayBuffer): void {
    let worker: Worker;
    try {
      worker = new Worker(url, { type: "module" });
    } catch (err: unknown) {
      this.#fallBackToPolling(`cannot start the epoll Worker (${errorText(err)})`);
      return;
    }
    this.#worker = worker;
    worker.onmessage = (e: MessageEvent<number | "stopped">) => {
      if (e.data !== "stopped") {
        this.#pump();
        return;
      }
      this.#worker = null;
      worker.terminate();
      this.#workerStopped.resolve();
      if (!this.#isStopping) this.#fallBackToPolling("the epoll Worker stopped");
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#worker = null;
      worker.terminate();
      this.#workerStopped.resolve();
      if (!this.#isStopping) this.#fallBackToPolling(`the epoll Worker failed (${e.message})`);
    };
    worker.postMessage({ epollFd: this.#epollFd, sab });
    this.#arm();
  }

  /** Without the Worker: look at the epoll set every few ms (costs a little CPU when idle; still serves). */
  #fallBackToPolling(why: string): void {
    this.#warn(`HTTP on libc: ${why}; polling for connections every 2 ms instead`);
    this.#pollTimer ??= setInterval(() => this.#pump(), 2);
  }

  /** Let the Worker wait on the epoll set (the main thread is done with it until the Worker posts). */
  #arm(): void {
    if (this.#worker === null) return;
    Atomics.store(this.#wait, WAIT_ARMED, 1);
    Atomics.notify(this.#wait, WAIT_ARMED);
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

  /** Handle what is ready, a few rounds, then hand the waiting back to the Worker. */
  #pump(): void {
    if (this.#isDone) return;
    const s = this.#s, view = this.#eventView;
    const started = performance.now();
    for (let timeout = 0;; timeout = PUMP_LINGER_MS) {
      const n = s.epoll_wait(this.#epollFd, this.#events, MAX_EVENTS, timeout);
      if (n <= 0) break;
      for (let i = 0; i < n; i++) {
        const at = i * EPOLL_EVENT_BYTES;
        const events = view.getUint32(at, true);
        const fd = view.getInt32(at + EPOLL_DATA_OFFSET, true);
        if (fd === this.#listenFd) this.#accept();
        else if (fd === this.#wakeFd) s.read(this.#wakeFd, this.#readBuf, 8n);
        else {
          const c = this.#conns.get(fd);
          if (c === undefined) continue;
          if (c.output !== null) {
            if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) !== 0) this.#flush(c);
          } else if (!c.isBusy) this.#read(c);
        }
      }
      if (performance.now() - started >= PUMP_BUDGET_MS) break;
    }
    this.#arm();
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
      if (this.#conns.size >= this.#limits.maxConnections || this.#isStopping) {
        s.close(fd);
        continue;
      }
      formatSender(this.#addrBuf, 0, this.#senders);
      const c = new Conn(fd, this.#senders.hostname, this.#senders.port, now);
      // The request is usually there already: read it now, and skip the epoll registration and the table entry when
      // it is answered whole (nothing can look c up by fd before this returns: no epoll_wait runs meanwhile).
      this.#read(c);
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
        let data: Uint8Array;
        if (c.inputLen === 0) data = this.#readBuf.subarray(0, n);
        else {
          if (!this.#keepInput(c, this.#readBuf.subarray(0, n))) return;
          data = c.input!.subarray(0, c.inputLen);
        }
        this.#process(c, data);
        if (c.isClosed || c.isBusy || c.output !== null || n < READ_BYTES) return;
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

  /** Append `bytes` to c's input; false (and the connection closed) when that passes the global buffer cap. */
  #keepInput(c: Conn, bytes: Uint8Array): boolean {
    const need = c.inputLen + bytes.length;
    if (c.input === null || need > c.input.length) {
      const grown = new Uint8Array(Math.max(need, (c.input?.length ?? 0) * 2, 1024));
      if (c.input !== null) grown.set(c.input.subarray(0, c.inputLen));
      this.#buffered += grown.length - (c.input?.length ?? 0);
      c.input = grown;
      if (this.#buffered > this.#limits.maxBufferedBytes) {
        this.#warn(`HTTP: buffered input passed ${this.#limits.maxBufferedBytes} bytes; dropping ${c.host}`);
        this.#close(c);
        return false;
      }
    }
    c.input.set(bytes, c.inputLen);
    c.inputLen = need;
    return true;
  }

  /**
   * Answer the whole requests at the start of `data`; keep the rest as c's input. A request that is not whole yet
   * costs each later read only its new bytes: the head-end search, the Content-Length wait and the chunked decoder
   * go on where they stopped (c.scanned, c.bodyNeed, c.chunk), and the head is parsed again once, when it is whole.
   */
  #process(c: Conn, data: Uint8Array): void {
    const p = this.#parser, limits = this.#limits;
    let at = 0;
    while (at < data.length && !c.isClosed && !c.isBusy && c.output === null && !c.isClosing) {
      const avail = data.length - at;
      // State about a partial request is about the one at the start of c.input (`at` 0 of a continued read).
      const isResumed = at === 0 && (c.scanned > 0 || c.bodyNeed > 0 || c.chunk !== null);
      if (isResumed && c.bodyNeed > 0 && avail < c.bodyNeed) break;
      // A head seen in part before is searched from where that search stopped (a fresh one is parsed at once: the
      // parser finds its end too).
      if (isResumed && c.bodyNeed === 0 && c.chunk === null) {
        if (!hasHeadEnd(data, at + Math.max(0, c.scanned - 2))) {
          if (avail > limits.maxHeadBytes) return this.#refuse(c, 431);
          c.scanned = avail;
          break;
        }
      }
      let chunked: ChunkedBody | null = null;
      if (isResumed && c.chunk !== null) {
        const r = decodeChunked(data, at + c.chunkBodyAt, limits.maxBodyBytes, c.chunk);
        if (r === HEAD_INCOMPLETE) break;
        if (typeof r === "number") return this.#refuse(c, r);
        chunked = r;
      }
      const r = p.parse(data, at, limits.maxHeadBytes);
      if (r === HEAD_INCOMPLETE) {
        // Not whole yet (for a resumed head: the empty line found was one a request may start with). Later reads
        // search only their new bytes.
        c.scanned = avail;
        break;
      }
      if (r !== HEAD_OK) return this.#refuse(c, r);
      let body: Uint8Array | null = null;
      let next = p.headEnd;
      if (p.isChunked) {
        if (chunked === null) {
          c.chunk = createChunkState();
          c.chunkBodyAt = p.headEnd - at;
          const first = decodeChunked(data, p.headEnd, limits.maxBodyBytes, c.chunk);
          if (first === HEAD_INCOMPLETE) {
            this.#sendContinue(c);
            break;
          }
          if (typeof first === "number") return this.#refuse(c, first);
          chunked = first;
        }
        body = chunked.body;
        next = chunked.end;
      } else if (p.contentLength > 0) {
        if (p.contentLength > limits.maxBodyBytes) return this.#refuse(c, 413);
        if (p.headEnd + p.contentLength > data.length) {
          c.bodyNeed = p.headEnd - at + p.contentLength;
          this.#sendContinue(c);
          break;
        }
        next = p.headEnd + p.contentLength;
        body = data.slice(p.headEnd, next);
      }
      c.scanned = c.bodyNeed = 0;
      c.chunk = null;
      c.isContinueSent = false;
      this.#dispatch(c, data, body);
      at = next;
    }
    if (c.isClosed) return;
    const rest = data.length - at;
    if (rest === 0) {
      // Nothing waits: an idle keep-alive connection holds no buffer.
      if (c.input !== null) this.#buffered -= c.input.length;
      c.input = null;
      c.inputLen = 0;
      return;
    }
    if (data.buffer === c.input?.buffer) {
      if (at > 0) c.input.copyWithin(0, at, data.length);
      c.inputLen = rest;
    } else {
      // A request starts arriving in pieces: its time limit runs from now (later pieces do not reset it).
      if (at === 0) c.sinceMs = this.#now();
      this.#keepInput(c, data.subarray(at));
    }
  }

  /** `Expect: 100-continue` and the body is not here yet: tell the client to send it (once per request). */
  #sendContinue(c: Conn): void {
    if (!this.#parser.isExpectContinue || c.isContinueSent) return;
    c.isContinueSent = true;
    this.#s.send(c.fd, ENCODED_CONTINUE, BigInt(ENCODED_CONTINUE.length), MSG_NOSIGNAL);
  }

  /** Answer the request just parsed (its bytes are `data`, valid only during this call). */
  #dispatch(c: Conn, data: Uint8Array, body: Uint8Array | null): void {
    const p = this.#parser;
    const isKeepAlive = !p.isClose && !this.#isStopping;
    const connection: ConnectionHeader = !isKeepAlive ? "close" : p.isHttp10 ? "keep-alive" : "";
    if (p.isGet && this.#fast !== undefined) {
      let bytes: Uint8Array | null;
      try {
        this.#headerData = data;
        bytes = this.#fast(data, p.targetStart, p.targetEnd, c.host, this.#header);
      } catch (err: unknown) {
        this.#warn(`Internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        return this.#refuse(c, 500);
      }
      if (bytes !== null) return this.#sendFast(c, bytes, connection);
    }
    // The ordinary handler: everything it needs is copied out of `data` now.
    const method = p.methodText(data);
    const isHead = p.isHead;
    let req: Request;
    try {
      const host = p.hostText(data);
      const authority = host !== null && HOST_RE.test(host) ? host : formatHostPort(this.addr.hostname, this.addr.port);
      const target = p.targetText(data);
      const path = target.startsWith("/") ? target : absoluteFormPath(target);
      if (path === null) return this.#refuse(c, 400);
      req = new Request(`http://${authority}${path}`, {
        method,
        headers: p.headerList(data),
        ...(body === null || method === "GET" || isHead ? {} : { body: body as Uint8Array<ArrayBuffer> }),
      });
    } catch {
      return this.#refuse(c, 400);
    }
    c.isBusy = true;
    this.#setEvents(c, 0);
    const info = { remoteAddr: { transport: "tcp" as const, hostname: c.host, port: c.port } };
    // A shutdown that began while the handler ran closes the connection after this response.
    const connectionNow = (): ConnectionHeader => this.#isStopping ? "close" : connection;
    new Promise<Response>((resolve) => resolve(this.#handler(req, info)))
      .then((res) => this.#serialize(res, isHead, connectionNow()))
      .catch((err: unknown) => {
        // The request was read whole, so the stream is intact: the connection goes on as the request asked.
        this.#warn(`Internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        const said = connectionNow();
        return { bytes: this.#errorResponse(500, said), connection: said };
      })
      .then(({ bytes, connection: said }) => {
        c.isBusy = false;
        if (c.isClosed) return;
        this.#send(c, bytes, bytes.length, said === "close");
        if (c.isClosed || c.output !== null) return;
        this.#setEvents(c, EPOLLIN);
        if (c.inputLen > 0) this.#process(c, c.input!.subarray(0, c.inputLen));
      });
  }

  /** The response's bytes, and the Connection header they carry (the connection closes after "close"). */
  async #serialize(
    res: Response,
    isHead: boolean,
    connection: ConnectionHeader,
  ): Promise<{ bytes: Uint8Array; connection: ConnectionHeader }> {
    const body = res.body === null || isBodiless(res.status)
      ? new Uint8Array(0)
      : new Uint8Array(await res.arrayBuffer());
    const head = ENCODER.encode(responseHead(res.status, res.headers, body.length, connection, this.#httpDate()));
    if (isHead || body.length === 0) return { bytes: head, connection };
    const out = new Uint8Array(head.length + body.length);
    out.set(head);
    out.set(body, head.length);
    return { bytes: out, connection };
  }

  #errorResponse(status: number, connection: ConnectionHeader = "close"): Uint8Array {
    const body = `${status} ${reasonPhrase(status)}\n`;
    return ENCODER.encode(
      responseHead(status, [["content-type", "text/plain"]], body.length, connection, this.#httpDate()) + body,
    );
  }

  /** Refuse a malformed request with `status`, then close (the rest of the stream cannot be trusted). */
  #refuse(c: Conn, status: number): void {
    c.inputLen = 0;
    const bytes = this.#errorResponse(status);
    this.#send(c, bytes, bytes.length, true);
  }

  #httpDate(): string {
    const now = this.#now();
    const second = Math.floor(now / 1000);
    if (second !== this.#dateSecond) {
      this.#dateSecond = second;
      this.#date = httpDate(now);
      this.#fastHead = ENCODER.encode(
        `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ndate: ${this.#date}\r\ncontent-length: `,
      );
    }
    return this.#date;
  }

  /** A 200 text/plain response with `body`, written straight from the shared output buffer. */
  #sendFast(c: Conn, body: Uint8Array, connection: ConnectionHeader): void {
    this.#httpDate();
    const head = this.#fastHead;
    const tail = connection === "" ? CRLF_CRLF : connection === "close" ? CLOSE_TAIL : KEEP_ALIVE_TAIL;
    const total = head.length + 10 + tail.length + body.length;
    if (this.#writeBuf.length < total) this.#writeBuf = new Uint8Array(total * 2);
    const out = this.#writeBuf;
    out.set(head);
    let at = head.length;
    // Content-Length digits.
    const len = body.length;
    let digits = 1;
    for (let v = len; v >= 10; v = Math.floor(v / 10)) digits++;
    for (let i = digits - 1, v = len; i >= 0; i--, v = Math.floor(v / 10)) out[at + i] = 48 + (v % 10);
    at += digits;
    for (let i = 0; i < tail.length; i++) out[at + i] = tail[i]!;
    at += tail.length;
    if (len <= 64) {
      for (let i = 0; i < len; i++) out[at + i] = body[i]!;
    } else out.set(body, at);
    at += len;
    this.#send(c, out, at, connection === "close");
  }

  /**
   * Send `bytes[0, len)`; what the socket does not take now is kept and sent when it becomes writable. A last response
   * goes with MSG_MORE: the close right after sends it and the FIN in one segment, one packet less per connection.
   */
  #send(c: Conn, bytes: Uint8Array, len: number, isCloseAfter: boolean): void {
    const n = Number(this.#s.send(c.fd, bytes, BigInt(len), isCloseAfter ? MSG_NOSIGNAL | MSG_MORE : MSG_NOSIGNAL));
    if (n === len) {
      // Idle time counts from the response (a slow handler must not eat the keep-alive time).
      if (isCloseAfter) this.#close(c);
      else c.sinceMs = this.#now();
      return;
    }
    if (n < 0) {
      const e = errno(this.#lib);
      if (e !== EAGAIN && e !== EINTR) return this.#close(c);
    }
    const sent = Math.max(n, 0);
    c.output = bytes.slice(sent, len);
    c.outputAt = 0;
    this.#buffered += c.output.length;
    c.isClosing = isCloseAfter;
    c.sinceMs = this.#now();
    if (!c.isNoDelay) {
      // A response in several segments: its last one must not wait for an ACK (Nagle).
      c.isNoDelay = true;
      this.#s.setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, this.#one, 4);
    }
    if (this.#buffered > this.#limits.maxBufferedBytes) {
      this.#warn(`HTTP: unsent output passed ${this.#limits.maxBufferedBytes} bytes; dropping ${c.host}`);
      return this.#close(c);
    }
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
    this.#buffered -= out.length;
    c.output = null;
    if (c.isClosing) return this.#close(c);
    this.#setEvents(c, EPOLLIN);
    if (c.inputLen > 0) this.#process(c, c.input!.subarray(0, c.inputLen));
  }

  #close(c: Conn): void {
    if (c.isClosed) return;
    c.isClosed = true;
    if (this.#conns.get(c.fd) === c) this.#conns.delete(c.fd);
    if (c.input !== null) this.#buffered -= c.input.length;
    if (c.output !== null) this.#buffered -= c.output.length;
    c.input = c.output = null;
    c.inputLen = 0;
    this.#s.close(c.fd);
  }

  /** Close connections past their timeouts. */
  #sweep(): void {
    const now = this.#now(), l = this.#limits;
    for (const c of this.#conns.values()) {
      if (c.isBusy) continue;
      const age = now - c.sinceMs;
      const limit = c.output !== null ? l.writeTimeoutMs : c.inputLen > 0 ? l.requestTimeoutMs : l.idleTimeoutMs;
      if (age >= limit || (this.#isStopping && c.output === null)) this.#close(c);
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
    // Idle connections go now; responses in progress get a grace period.
    const deadline = this.#now() + SHUTDOWN_GRACE_MS;
    this.#sweep();
    while (this.#conns.size > 0 && this.#now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
      this.#sweep();
    }
    for (const c of [...this.#conns.values()]) this.#close(c);
    clearInterval(this.#sweepTimer);
    clearInterval(this.#pollTimer);
    if (this.#worker !== null) {
      Atomics.store(this.#wait, WAIT_STOP, 1);
      Atomics.notify(this.#wait, WAIT_ARMED);
      const one = new Uint8Array(8);
      one[0] = 1;
      this.#s.write(this.#wakeFd, one, 8n);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<void>((r) => timer = setTimeout(r, 2_000));
      await Promise.race([this.#workerStopped.promise, timeout]);
      clearTimeout(timer);
      this.#worker?.terminate();
      this.#worker = null;
    }
    // The Worker no longer waits on the set: now its fds can be closed (their numbers may be reused at once).
    this.#isDone = true;
    this.#s.close(this.#wakeFd);
    this.#s.close(this.#epollFd);
    this.#lib.close();
    this.#finished.resolve();
  }
}

const ENCODER = new TextEncoder();
const ENCODED_CONTINUE = ENCODER.encode("HTTP/1.1 100 Continue\r\n\r\n");
const CRLF_CRLF = ENCODER.encode("\r\n\r\n");
const CLOSE_TAIL = ENCODER.encode("\r\nconnection: close\r\n\r\n");
const KEEP_ALIVE_TAIL = ENCODER.encode("\r\nconnection: keep-alive\r\n\r\n");
/** A Host value safe to put in a URL: a name or IPv4 literal, or a bracketed IPv6 literal, and an optional port. */
const HOST_RE = /^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** The path of an absolute-form target (`http://host/path?q`), or null. */
function absoluteFormPath(target: string): string | null {
  const m = /^https?:\/\/[^/?#]*(.*)$/i.exec(target);
  if (m === null) return null;
  const rest = m[1]!;
  return rest === "" ? "/" : rest.startsWith("/") ? rest : rest.startsWith("?") ? `/${rest}` : null;
}
