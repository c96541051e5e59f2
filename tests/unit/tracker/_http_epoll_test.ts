// The libc side of the libc HTTP server (lib/tracker/_http_epoll.ts) on 127.0.0.1, where libc applies (Linux
// x86_64/aarch64; else skipped with the reason printed): listenTcp() listens (a port in use is listen_failed, a host
// name is not its job), and EpollWaiter's Worker (lib/tracker/_http_wait_worker.ts) wakes the main thread when the set
// is ready, again after arm(), and stops; a Worker that stops at once leaves a warning and polling that still wakes.
// Waits are on events, never on time.

import { within } from "../../_helpers/wait.ts";
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

async function connectAndSend(port: number, text: string): Promise<Deno.TcpConn> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  await c.write(utf8(text));
  return c;
}

/** An EpollWaiter of `url` over `set` that counts its wake-ups and keeps its warnings; `until` waits on either. */
function startWaiter(set: ReturnType<typeof openSet>, url: URL) {
  const seen = { wakes: 0, warnings: [] as string[] };
  let changed = Promise.withResolvers<void>();
  const bump = () => {
    const was = changed;
    changed = Promise.withResolvers<void>();
    was.resolve();
  };
  const waiter = new EpollWaiter({
    lib: set.lib,
    epollFd: set.epollFd,
    wakeFd: set.wakeFd,
    url,
    onReady: () => {
      seen.wakes++;
      bump();
    },
    warn: (m) => {
      seen.warnings.push(m);
      bump();
    },
  });
  const until = async (what: string, isDone: () => boolean) => {
    while (!isDone()) await within(changed.promise, what);
  };
  return { waiter, seen, until };
}

Deno.test({
  name: "EpollWaiter wakes the main thread when the set is ready, again after arm(), and stops when asked",
  ignore: LIBC === null,
  fn: async () => {
    const set = openSet();
    const { waiter, seen, until } = startWaiter(set, WAIT_WORKER);
    const conns: Deno.TcpConn[] = [];
    try {
      conns.push(await connectAndSend(set.l.port, "first"));
      await until("the first wake-up", () => seen.wakes === 1);
      equal(acceptAndRead(set), "first");
      conns.push(await connectAndSend(set.l.port, "second"));
      waiter.arm(); // done with the set: the Worker may wait on it again
      await until("the wake-up after arm()", () => seen.wakes === 2);
      equal(acceptAndRead(set), "second");
      await waiter.stop();
      equal(seen.warnings.length, 0, seen.warnings.join("; "));
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
    const { waiter, seen, until } = startWaiter(set, DYING_WORKER);
    try {
      await until("the warning", () => seen.warnings.length > 0);
      match(seen.warnings[0]!, /epoll Worker stopped; polling/);
      const wakes = seen.wakes;
      await until("a wake-up by polling", () => seen.wakes > wakes);
    } finally {
      await waiter.stop(); // clears the poll timer
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
