// Connection rules of the libc HTTP server (lib/tracker/_http_conn.ts), with an injected clock: which deadline a
// connection is under and when it expires (head/Slowloris, request, idle, write, linger), what it holds (chunk
// bookkeeping included).

import { equal, ok } from "../../_helpers/assert.ts";
import {
  CHUNK_ENTRY_BYTES,
  Conn,
  connBytes,
  connDeadline,
  isExpired,
  LINGER_MS,
} from "../../../lib/tracker/_http_conn.ts";
import { createChunkState } from "../../../lib/tracker/http1.ts";
import { resolveLimits } from "../../../lib/tracker/http_limits.ts";

const LIMITS = resolveLimits({
  headTimeoutMs: 1_000,
  requestTimeoutMs: 5_000,
  idleTimeoutMs: 10_000,
  writeTimeoutMs: 20_000,
});

Deno.test("isExpired(): a fresh connection that never sends a head is under headTimeoutMs, from accept", () => {
  const c = new Conn(3, "192.0.2.1", 1, 100);
  equal(connDeadline(c), "idle");
  equal(isExpired(c, 100 + 999, LIMITS), false);
  ok(isExpired(c, 100 + 1_000, LIMITS));
});

Deno.test("isExpired(): a head arriving in pieces expires headTimeoutMs after its first byte, however it trickles", () => {
  const c = new Conn(3, "h", 1, 0);
  c.hasAnswered = true;
  c.requestSinceMs = 50_000; // first byte of the head
  c.sinceMs = 59_000; // later progress does not move the head's deadline
  equal(connDeadline(c), "head");
  equal(isExpired(c, 50_999, LIMITS), false);
  ok(isExpired(c, 51_000, LIMITS));
  // Once the head is whole, the whole request gets requestTimeoutMs from the same first byte.
  c.isHeadDone = true;
  equal(connDeadline(c), "request");
  equal(isExpired(c, 54_999, LIMITS), false);
  ok(isExpired(c, 55_000, LIMITS));
});

Deno.test("isExpired(): idle after a response (idleTimeoutMs), write while output waits, never while busy", () => {
  const c = new Conn(3, "h", 1, 0);
  c.hasAnswered = true;
  c.sinceMs = 1_000;
  equal(isExpired(c, 10_999, LIMITS), false);
  ok(isExpired(c, 11_000, LIMITS));
  c.output = new Uint8Array(10);
  equal(connDeadline(c), "write");
  equal(isExpired(c, 20_999, LIMITS), false);
  ok(isExpired(c, 21_000, LIMITS));
  c.isBusy = true;
  equal(isExpired(c, 1e12, LIMITS), false);
  c.isBusy = false;
  c.output = null;
  c.isDraining = true;
  equal(connDeadline(c), "linger");
  ok(isExpired(c, 1_000 + LINGER_MS, LIMITS));
});

Deno.test("connBytes() counts input and output capacity and the chunk bookkeeping", () => {
  const c = new Conn(3, "h", 1, 0);
  equal(connBytes(c), 0);
  c.input = new Uint8Array(1024);
  c.output = new Uint8Array(100);
  c.chunk = createChunkState();
  for (let i = 0; i < 10; i++) c.chunk.parts.push(i, i + 1);
  equal(connBytes(c), 1024 + 100 + 10 * CHUNK_ENTRY_BYTES);
});
