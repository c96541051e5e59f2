// The request side of the libc HTTP server (lib/tracker/_http_requests.ts) over a fake ConnIo (no socket, an
// injected clock): raw-request answers, pipelining in order, a head in pieces (its deadline from the first byte),
// body caps chosen by route, refusals that linger, and the ordinary handler's errors.

import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { Conn } from "../../../lib/tracker/_http_conn.ts";
import { type ConnIo, RequestReader } from "../../../lib/tracker/_http_requests.ts";
import { targetText } from "../../../lib/tracker/http1.ts";
import type { HttpHandler } from "../../../lib/tracker/http_guard.ts";
import { MAX_SMALL_BODY_BYTES, resolveLimits } from "../../../lib/tracker/http_limits.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** A fake socket side: records what is sent; keeps input as the server does. */
function fakeIo(): ConnIo & { sent: { text: string; isCloseAfter: boolean }[]; closed: number } {
  const io = {
    isStopping: false,
    authority: "127.0.0.1:6969",
    sent: [] as { text: string; isCloseAfter: boolean }[],
    closed: 0,
    send(c: Conn, bytes: Uint8Array, len: number, isCloseAfter: boolean) {
      io.sent.push({ text: dec(bytes.subarray(0, len)), isCloseAfter });
      c.hasAnswered = true;
    },
    sendNow(_c: Conn, bytes: Uint8Array) {
      io.sent.push({ text: dec(bytes), isCloseAfter: false });
    },
    pause() {},
    resume() {},
    keepInput(c: Conn, bytes: Uint8Array) {
      const next = new Uint8Array(c.inputLen + bytes.length);
      if (c.input !== null) next.set(c.input.subarray(0, c.inputLen));
      next.set(bytes, c.inputLen);
      c.input = next;
      c.inputLen = next.length;
      return true;
    },
    account: () => true,
    close(c: Conn) {
      c.isClosed = true;
      io.closed++;
    },
  };
  return io;
}

function reader(o: { handler?: HttpHandler; now?: () => number } = {}) {
  const io = fakeIo();
  const r = new RequestReader({
    handler: o.handler ?? ((req) => new Response(`handler ${new URL(req.url).pathname}`)),
    rawRequest: (b, s, e) => {
      const t = targetText(b, s, e);
      return t.startsWith("/raw") ? enc(`raw ${t}`) : null;
    },
    limits: resolveLimits(),
    now: o.now ?? (() => 0),
    warn: () => {},
    io,
  });
  return { r, io };
}

/** Feed `text` to c as one read does: straight, or appended to what c keeps. */
function feed(r: RequestReader, io: ConnIo, c: Conn, text: string): void {
  if (c.inputLen === 0) return r.process(c, enc(text));
  io.keepInput(c, enc(text));
  r.process(c, c.input!.subarray(0, c.inputLen));
}

Deno.test("RequestReader: pipelined raw GETs are answered in order, keep-alive, from one read", () => {
  const { r, io } = reader();
  const c = new Conn(5, "192.0.2.1", 1000, 0);
  r.process(c, enc("GET /raw/1 HTTP/1.1\r\nHost: t\r\n\r\nGET /raw/2 HTTP/1.1\r\nHost: t\r\n\r\n"));
  equal(io.sent.length, 2);
  ok(io.sent[0]!.text.startsWith("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"));
  ok(io.sent[0]!.text.endsWith("\r\n\r\nraw /raw/1"));
  ok(io.sent[1]!.text.endsWith("raw /raw/2"));
  deepEqual(io.sent.map((s) => s.isCloseAfter), [false, false]);
  equal(c.inputLen, 0, "nothing kept");
});

Deno.test("RequestReader: a head in pieces is kept, its deadline runs from its first byte, then it is answered", () => {
  let now = 1_000;
  const { r, io } = reader({ now: () => now });
  const c = new Conn(5, "h", 1, 0);
  feed(r, io, c, "GET /raw/x HTTP/1.1\r\nHo");
  equal(io.sent.length, 0);
  equal(c.requestSinceMs, 1_000);
  now = 1_500;
  feed(r, io, c, "st: t\r\n");
  equal(c.requestSinceMs, 1_000, "a later piece does not move the deadline");
  feed(r, io, c, "\r\n");
  equal(io.sent.length, 1);
  ok(io.sent[0]!.text.endsWith("raw /raw/x"));
  equal(c.requestSinceMs, -1);
});

Deno.test("RequestReader: a body's cap comes from its route: 413 (and a lingering close) past the small cap", () => {
  const { r, io } = reader();
  const c = new Conn(5, "h", 1, 0);
  r.process(c, enc(`POST /stats HTTP/1.1\r\nHost: t\r\nContent-Length: ${MAX_SMALL_BODY_BYTES + 1}\r\n\r\n`));
  equal(io.sent.length, 1);
  ok(io.sent[0]!.text.startsWith("HTTP/1.1 413 Content Too Large\r\n"));
  ok(io.sent[0]!.text.endsWith("\r\n\r\n413 Content Too Large\n"));
  ok(io.sent[0]!.isCloseAfter);
  ok(c.isLingerAfter, "the client's unread body is drained before the close");
  // The bulk API takes 6 MiB: the reader waits for the body instead.
  const bulk = new Conn(6, "h", 1, 0);
  r.process(bulk, enc(`POST /api/torrents HTTP/1.1\r\nHost: t\r\nContent-Length: ${6 * 1_048_576}\r\n\r\n{`));
  equal(io.sent.length, 1, "nothing sent for it yet");
  equal(bulk.bodyNeed, bulk.inputLen - 1 + 6 * 1_048_576);
  ok(bulk.isHeadDone);
});

Deno.test("RequestReader: a malformed head gets hyper's bare 400; the ordinary handler's throw a 500", async () => {
  const { r, io } = reader({
    handler: () => {
      throw new Error("boom");
    },
  });
  const c = new Conn(5, "h", 1, 0);
  r.process(c, enc("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"));
  ok(io.sent[0]!.text.startsWith("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n"));
  const d = new Conn(6, "h", 1, 0);
  r.process(d, enc("GET /x HTTP/1.1\r\nHost: a\r\n\r\n"));
  ok(d.isBusy, "the handler runs");
  for (let i = 0; i < 10 && io.sent.length < 2; i++) await Promise.resolve();
  equal(io.sent.length, 2);
  ok(io.sent[1]!.text.startsWith("HTTP/1.1 500 Internal Server Error\r\n"));
  equal(io.sent[1]!.isCloseAfter, false, "the request was read whole: the connection goes on");
});
