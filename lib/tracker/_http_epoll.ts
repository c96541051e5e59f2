// The libc side of the libc HTTP server (lib/tracker/_http_ffi.ts): the symbols it binds, the socket and epoll
// constants, the listening socket, and the waiting Worker (lib/tracker/_http_wait_worker.ts) that blocks in
// epoll_wait while the main thread is idle. Linux on x86_64/aarch64 only (struct layouts of _libc.ts).

import { errorText } from "../errors.ts";
import { parseIp } from "./announce.ts";
import { type BoundSocket, intOption, openBoundSocket, openLibrary, SOL_SOCKET } from "./_libc.ts";

/** The libc symbols of the main thread. */
export const HTTP_SYMBOLS = {
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
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
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

export type HttpLibc = Deno.DynamicLibrary<typeof HTTP_SYMBOLS>;

export const SOCK_STREAM = 1;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SO_REUSEADDR = 2;
export const IPPROTO_TCP = 6;
export const TCP_NODELAY = 1;
export const TCP_DEFER_ACCEPT = 9;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_MORE = 0x8000;
export const SHUT_WR = 1;
/** Seconds a connection may stay silent before it is accepted anyway (see listenTcp). */
export const DEFER_ACCEPT_S = 1;
export const EPOLL_CLOEXEC = 0o2000000;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;
export const EPOLLIN = 0x1;
export const EPOLLOUT = 0x4;
export const EPOLLERR = 0x8;
export const EPOLLHUP = 0x10;
export const EFD_NONBLOCK = 0o4000;
export const EFD_CLOEXEC = 0o2000000;
export const EMFILE = 24;
export const ENFILE = 23;
export const ENOBUFS = 105;
export const ENOMEM = 12;

/** struct epoll_event: packed on x86_64 (12 bytes, data at 4), natural alignment elsewhere (16, data at 8). */
export const EPOLL_EVENT_BYTES = Deno.build.arch === "x86_64" ? 12 : 16;
export const EPOLL_DATA_OFFSET = Deno.build.arch === "x86_64" ? 4 : 8;

/** Indexes of the control words shared with the Worker. */
export const WAIT_ARMED = 0;
export const WAIT_STOP = 1;
const WAIT_CTL_WORDS = 4;

export interface Listener {
  lib: HttpLibc;
  fd: number;
  port: number;
}

/** Open, bind and listen; null where this path does not apply. */
export function listenTcp(hostname: string, port: number): Listener | null {
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
  // go. A client that stays silent is accepted anyway a second or so later (then headTimeoutMs runs).
  lib.symbols.setsockopt(sock.fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, intOption(DEFER_ACCEPT_S), 4);
  return { lib, fd: sock.fd, port: sock.port };
}

/** Options of EpollWaiter. */
export interface WaiterOptions {
  lib: HttpLibc;
  epollFd: number;
  /** An eventfd in the set: written to wake the Worker when it must stop. */
  wakeFd: number;
  url: URL;
  /** Something in the set is ready: handle it, then call arm(). */
  onReady: () => void;
  warn: (message: string) => void;
}

/**
 * The waiting Worker of one server. Protocol (Int32 words shared with it): arm() stores WAIT_ARMED = 1 when the main
 * thread is done with the set; the Worker stores 0 before it posts, so the two never wait on the set at once.
 * Without a Worker (it failed or stopped) the set is polled every 2 ms instead.
 */
export class EpollWaiter {
  #worker: Worker | null = null;
  readonly #wait: Int32Array;
  #pollTimer: ReturnType<typeof setInterval> | undefined;
  #isStopping = false;
  readonly #stopped = Promise.withResolvers<void>();
  readonly #o: WaiterOptions;

  constructor(o: WaiterOptions) {
    this.#o = o;
    const sab = new SharedArrayBuffer(WAIT_CTL_WORDS * 4);
    this.#wait = new Int32Array(sab);
    this.#start(o.url, sab);
  }

  #start(url: URL, sab: SharedArrayBuffer): void {
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
        this.#o.onReady();
        return;
      }
      this.#lost(worker, "the epoll Worker stopped");
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#lost(worker, `the epoll Worker failed (${e.message})`);
    };
    worker.postMessage({ epollFd: this.#o.epollFd, sab });
    this.arm();
  }

  #lost(worker: Worker, why: string): void {
    this.#worker = null;
    worker.terminate();
    this.#stopped.resolve();
    if (!this.#isStopping) this.#fallBackToPolling(why);
  }

  /** Without the Worker: look at the epoll set every few ms (costs a little CPU when idle; still serves). */
  #fallBackToPolling(why: string): void {
    this.#o.warn(`HTTP on libc: ${why}; polling for connections every 2 ms instead`);
    this.#pollTimer ??= setInterval(() => this.#o.onReady(), 2);
  }

  /** Let the Worker wait on the epoll set (the main thread is done with it until the Worker posts). */
  arm(): void {
    if (this.#worker === null) return;
    Atomics.store(this.#wait, WAIT_ARMED, 1);
    Atomics.notify(this.#wait, WAIT_ARMED);
  }

  /** Stop the Worker (or the polling); after this the set's fds may be closed. */
  async stop(): Promise<void> {
    this.#isStopping = true;
    clearInterval(this.#pollTimer);
    if (this.#worker === null) return;
    Atomics.store(this.#wait, WAIT_STOP, 1);
    Atomics.notify(this.#wait, WAIT_ARMED);
    const one = new Uint8Array(8);
    one[0] = 1;
    this.#o.lib.symbols.write(this.#o.wakeFd, one, 8n);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((r) => timer = setTimeout(r, 2_000));
    await Promise.race([this.#stopped.promise, timeout]);
    clearTimeout(timer);
    this.#worker?.terminate();
    this.#worker = null;
  }
}
