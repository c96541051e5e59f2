// The libc side of the libc HTTP server (lib/tracker/_http_epoll.ts) on 127.0.0.1, where libc applies (Linux
// x86_64/aarch64; else skipped with the reason printed): listenTcp() listens (a port in use is listen_failed, a host
// name is not its job), and EpollWaiter's Worker (lib/tracker/_http_wait_worker.ts) wakes the main thread when the set
// is ready, again after arm(), and stops; a Worker that stops at once leaves a warning and polling that still wakes.
// Waits are on events, never on time.

import { assertThrowsCode, equal, match, ok } from "../../_helpers/assert.ts";
import { fromUtf8, utf8 } from "../../../lib/bytes.ts";
import { TrackerError } from "../../../lib/errors.ts";
import {
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLL_DATA_OFFSET,
  EPOLL_EVENT_BYTES,
  EPOLLIN,
  EpollWaiter,
  HTTP_SYMBOLS,
  type HttpLibc,
  type Listener,
  listenTcp,
  SOCK_NONBLOCK,
} from "../../../lib/tracker/_http_epoll.ts";
import { openLibrary } from "../../../lib/tracker/_libc.ts";

const LIBC = openLibrary(HTTP_SYMBOLS);
if (LIBC === null) {
  console.log("_http_epoll_test: no libc path here (not Linux x86_64/aarch64, or no --allow-ffi): skipped");
}
LIBC?.close();
const WAIT_WORKER = new URL("../../../lib/tracker/_http_wait_worker.ts", import.meta.url);
const DYING_WORKER = new URL("../../integration/_http_dying_worker.ts", import.meta.url);
/** Bound on one wake-up (a Worker can take seconds to start on a loaded machine); not a measurement. */
const WAIT_BOUND_MS = 20_000;

Deno.test("listenTcp() leaves host names and scoped addresses to others", () => {
  equal(listenTcp("localhost", 0), null);
  equal(listenTcp("fe80::1%eth0", 0), null);
});

/** A listener on 127.0.0.1 in a fresh epoll set with an eventfd, as the libc server sets them up. */
function openSet(): { l: Listener; lib: HttpLibc; epollFd: number; wakeFd: number; close(): void } {
  const l = listenTcp("127.0.0.1", 0)!;
  const lib = l.lib;
  const epollFd = lib.symbols.epoll_create1(EPOLL_CLOEXEC);
  const wakeFd = lib.symbols.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ok(epollFd >= 0 && wakeFd >= 0);
  const ev = new Uint8Array(EPOLL_EVENT_BYTES);
  const view = new DataView(ev.buffer);
  for (const fd of [l.fd, wakeFd]) {
    view.setUint32(0, EPOLLIN, true);
    view.setInt32(EPOLL_DATA_OFFSET, fd, true);
    equal(lib.symbols.epoll_ctl(epollFd, EPOLL_CTL_ADD, fd, ev), 0);
  }
  return {
    l,
    lib,
    epollFd,
    wakeFd,
    close() {
      for (const fd of [wakeFd, epollFd, l.fd]) lib.symbols.close(fd);
      lib.close();
    },
  };
}

/** Accept the next connection (it has data: TCP_DEFER_ACCEPT) and read what it sent. */
function acceptAndRead(set: ReturnType<typeof openSet>): string {
  const fd = set.lib.symbols.accept4(set.l.fd, null, null, SOCK_NONBLOCK);
  ok(fd >= 0, "a connection is ready to accept");
  const buf = new Uint8Array(64);
  const n = Number(set.lib.symbols.recv(fd, buf, 64n, 0));
  set.lib.symbols.close(fd);
  return fromUtf8(buf.subarray(0, Math.max(0, n)));
}

/** `p`, or a failure naming `what` when it has not settled within WAIT_BOUND_MS (a lost wake-up fails, never hangs). */
async function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${WAIT_BOUND_MS} ms`)), WAIT_BOUND_MS);
  });
  try {
    return await Promise.race([p, bound]);
  } finally {
    clearTimeout(timer);
  }
}

async function connectAndSend(port: number, text: string): Promise<Deno.TcpConn> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  await c.write(utf8(text));
  return c;
}

Deno.test({
  name: "EpollWaiter wakes the main thread when the set is ready, again after arm(), and stops when asked",
  ignore: LIBC === null,
  fn: async () => {
    const set = openSet();
    const warnings: string[] = [];
    let wake = Promise.withResolvers<void>();
    const waiter = new EpollWaiter({
      lib: set.lib,
      epollFd: set.epollFd,
      wakeFd: set.wakeFd,
      url: WAIT_WORKER,
      onReady: () => wake.resolve(),
      warn: (m) => warnings.push(m),
    });
    const conns: Deno.TcpConn[] = [];
    try {
      conns.push(await connectAndSend(set.l.port, "first"));
      await within(wake.promise, "the first wake-up");
      equal(acceptAndRead(set), "first");
      wake = Promise.withResolvers<void>();
      conns.push(await connectAndSend(set.l.port, "second"));
      waiter.arm(); // done with the set: the Worker may wait on it again
      await within(wake.promise, "the wake-up after arm()");
      equal(acceptAndRead(set), "second");
      await waiter.stop();
      equal(warnings.length, 0, warnings.join("; "));
    } finally {
      for (const c of conns) c.close();
      await waiter.stop();
      set.close();
    }
  },
});

Deno.test({
  name: "EpollWaiter: a Worker that stops at once leaves a warning, and polling still wakes the main thread",
  ignore: LIBC === null,
  fn: async () => {
    const set = openSet();
    const warned = Promise.withResolvers<string>();
    const wake = Promise.withResolvers<void>();
    const waiter = new EpollWaiter({
      lib: set.lib,
      epollFd: set.epollFd,
      wakeFd: set.wakeFd,
      url: DYING_WORKER,
      onReady: () => wake.resolve(),
      warn: (m) => warned.resolve(m),
    });
    try {
      match(await within(warned.promise, "the warning"), /epoll Worker stopped; polling/);
      await within(wake.promise, "a wake-up by polling");
    } finally {
      await waiter.stop(); // clears the poll timer (the test's sanitizer would see it leak)
      set.close();
    }
  },
});

Deno.test({
  name: "listenTcp() on a port already listened on throws listen_failed",
  ignore: LIBC === null,
  fn: () => {
    const first = listenTcp("127.0.0.1", 0)!;
    try {
      assertThrowsCode(() => listenTcp("127.0.0.1", first.port), TrackerError, "listen_failed");
    } finally {
      first.lib.symbols.close(first.fd);
      first.lib.close();
    }
  },
});
