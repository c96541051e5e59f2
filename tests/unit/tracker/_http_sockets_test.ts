// The socket side of the libc HTTP server (lib/tracker/_http_sockets.ts) over a fake libc: recv, send, close,
// setsockopt and shutdown are JS functions over in-memory queues and errno is a cell of ours (no socket, no epoll).

import { type Conn, LINGER_BYTES } from "../../../lib/tracker/_http_conn.ts";
import {
  EPOLLIN,
  EPOLLOUT,
  type HttpLibc,
  IPPROTO_TCP,
  SHUT_WR,
  TCP_NODELAY,
} from "../../../lib/tracker/_http_epoll.ts";
import { ConnSockets } from "../../../lib/tracker/_http_sockets.ts";
import { EAGAIN } from "../../../lib/tracker/_libc.ts";
import { targetText } from "../../../lib/tracker/http1.ts";
import { type HttpLimitsInput, resolveLimits } from "../../../lib/tracker/http_limits.ts";
import { deepEqual, equal, ok } from "../../_helpers/assert.ts";

const enc = (text: string) => new TextEncoder().encode(text);
const dec = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** In-memory sockets by fd. `take` caps the bytes one send() accepts (null: all of them). */
class FakeLibc {
  readonly #errno = new Int32Array(1);
  readonly inbox = new Map<number, (Uint8Array | "eof")[]>();
  readonly sent = new Map<number, string>();
  readonly closed: number[] = [];
  readonly options: number[][] = [];
  readonly shutdowns: number[][] = [];
  take: number | null = null;

  readonly symbols = {
    recv: (fd: number, buf: Uint8Array, len: bigint, _flags: number): bigint => {
      const next = this.inbox.get(fd)?.shift();
      if (next === undefined) return this.#fail(EAGAIN);
      if (next === "eof") return 0n;
      const n = Math.min(next.length, Number(len));
      buf.set(next.subarray(0, n));
      if (n < next.length) this.inbox.get(fd)!.unshift(next.subarray(n));
      return BigInt(n);
    },
    send: (fd: number, bytes: Uint8Array, len: bigint, _flags: number): bigint => {
      const n = Math.min(Number(len), this.take ?? Infinity);
      if (n === 0) return this.#fail(EAGAIN);
      this.sent.set(fd, (this.sent.get(fd) ?? "") + dec(bytes.subarray(0, n)));
      return BigInt(n);
    },
    close: (fd: number): number => (this.closed.push(fd), 0),
    setsockopt: (fd: number, level: number, name: number): number => (this.options.push([fd, level, name]), 0),
    shutdown: (fd: number, how: number): number => (this.shutdowns.push([fd, how]), 0),
    __errno_location: () => Deno.UnsafePointer.of(this.#errno),
  };

  #fail(code: number): bigint {
    this.#errno[0] = code;
    return -1n;
  }

  /** The peer on `fd` sends `text` (or ends). */
  push(fd: number, text: string | "eof"): void {
    const q = this.inbox.get(fd) ?? [];
    q.push(text === "eof" ? "eof" : enc(text));
    this.inbox.set(fd, q);
  }
}

function sockets(limits: HttpLimitsInput = {}, now = () => 0) {
  const lib = new FakeLibc();
  const events = new Map<number, number>();
  const s = new ConnSockets({
    lib: lib as unknown as HttpLibc,
    limits: resolveLimits(limits),
    handler: () => new Response("handler"),
    rawRequest: (b, start, end) => enc(`raw ${targetText(b, start, end)}`),
    now,
    warn: () => {},
    authority: "127.0.0.1:6969",
    isStopping: () => false,
    setEvents: (c: Conn, e: number) => void events.set(c.fd, e),
  });
  return { s, lib, events };
}

const GET = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nhost: t\r\n${extra}\r\n`;

Deno.test("ConnSockets.accepted() answers a request in the first read and files the keep-alive connection", () => {
  const { s, lib, events } = sockets();
  lib.push(7, GET("/a"));
  s.accepted(7, "10.0.0.1", 5000, 0);
  ok(lib.sent.get(7)!.startsWith("HTTP/1.1 200 OK\r\n"));
  ok(lib.sent.get(7)!.endsWith("raw /a"));
  equal(s.open, 1);
  ok(s.conns.has(7));
  equal(events.get(7), EPOLLIN);
  equal(s.bytesRead, GET("/a").length);
});

Deno.test("ConnSockets.accepted() closes a connection answered whole with connection: close, never filing it", () => {
  const { s, lib, events } = sockets();
  lib.push(7, GET("/a", "connection: close\r\n"));
  s.accepted(7, "10.0.0.1", 5000, 0);
  ok(lib.sent.get(7)!.endsWith("raw /a"));
  deepEqual(lib.closed, [7]);
  equal(s.open, 0);
  equal(s.conns.size, 0);
  equal(events.has(7), false);
});

Deno.test("ConnSockets.accepted() closes sockets past maxConnections and maxPerAddress without reading them", () => {
  const { s, lib } = sockets({ maxConnections: 2, maxPerAddress: 1 });
  s.accepted(3, "10.0.0.1", 1, 0);
  lib.push(4, GET("/b"));
  s.accepted(4, "10.0.0.1", 2, 0); // a second from one address
  s.accepted(5, "10.0.0.2", 1, 0);
  s.accepted(6, "10.0.0.3", 1, 0); // a third in all
  deepEqual(lib.closed, [4, 6]);
  equal(s.open, 2);
  equal(lib.sent.has(4), false);
});

Deno.test("ConnSockets keeps what the socket does not take and sends it when writable, then reads again", () => {
  const { s, lib, events } = sockets();
  lib.take = 10;
  lib.push(7, GET("/slow"));
  s.accepted(7, "10.0.0.1", 5000, 0);
  equal(lib.sent.get(7)!.length, 10);
  equal(events.get(7), EPOLLOUT);
  deepEqual(lib.options, [[7, IPPROTO_TCP, TCP_NODELAY]]);
  ok(s.bufferedBytes > 0);
  const c = s.conns.get(7)!;
  lib.take = null;
  s.ready(c, EPOLLOUT);
  ok(lib.sent.get(7)!.endsWith("raw /slow"));
  equal(events.get(7), EPOLLIN);
  equal(s.bufferedBytes, 0);
  // Readable again: the next request on the connection is answered.
  lib.push(7, GET("/next"));
  s.ready(c, EPOLLIN);
  ok(lib.sent.get(7)!.endsWith("raw /next"));
});

Deno.test("ConnSockets.ready() closes at EOF and frees the address's slot", () => {
  const { s, lib } = sockets({ maxPerAddress: 1 });
  s.accepted(7, "10.0.0.1", 5000, 0);
  const c = s.conns.get(7)!;
  lib.push(7, "eof");
  s.ready(c, EPOLLIN);
  deepEqual(lib.closed, [7]);
  ok(c.isClosed);
  equal(s.open, 0);
  equal(s.conns.size, 0);
  s.accepted(8, "10.0.0.1", 5001, 0);
  equal(s.open, 1);
});

Deno.test("ConnSockets lingers after a refusal: shuts writing, drains, closes past LINGER_BYTES or at EOF", () => {
  const { s, lib } = sockets();
  lib.push(7, "NOT HTTP\r\n\r\n");
  s.accepted(7, "10.0.0.1", 5000, 0);
  ok(lib.sent.get(7)!.startsWith("HTTP/1.1 400"));
  deepEqual(lib.shutdowns, [[7, SHUT_WR]]);
  const c = s.conns.get(7)!;
  ok(c.isDraining && !c.isClosed);
  lib.push(7, "more junk");
  s.ready(c, EPOLLIN);
  equal(c.isClosed, false);
  lib.push(7, "eof");
  s.ready(c, EPOLLIN);
  ok(c.isClosed);
  deepEqual(lib.closed, [7]);
  // A client that keeps sending is cut off once it passes LINGER_BYTES.
  lib.push(9, "NOT HTTP\r\n\r\n");
  s.accepted(9, "10.0.0.2", 5000, 0);
  const flood = s.conns.get(9)!;
  lib.push(9, "x".repeat(LINGER_BYTES));
  s.ready(flood, EPOLLIN);
  equal(flood.isClosed, false);
  lib.push(9, "x");
  s.ready(flood, EPOLLIN);
  ok(flood.isClosed);
});

Deno.test("ConnSockets.closeExpired() closes connections silent past their deadline, closeAll() the rest", () => {
  const { s, lib } = sockets({ headTimeoutMs: 100 });
  s.accepted(7, "10.0.0.1", 5000, 0);
  s.accepted(8, "10.0.0.2", 5000, 50);
  s.closeExpired(99, false);
  equal(lib.closed.length, 0);
  s.closeExpired(100, false);
  deepEqual(lib.closed, [7]);
  s.closeAll();
  deepEqual(lib.closed, [7, 8]);
  equal(s.open, 0);
});
