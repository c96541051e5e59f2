// The deadline rule of the default HTTP stack's front (lib/tracker/http_front.ts), on plain numbers: none while a
// handler runs, headTimeoutMs until a first response, the longer of idleTimeoutMs and writeTimeoutMs after one; and
// the runtime entry it serves connections with is there in the pinned Deno.

import { equal, ok } from "../../_helpers/assert.ts";
import { FrontConn, isFrontExpired, serveOnConnection } from "../../../lib/tracker/http_front.ts";

const LIMITS = { headTimeoutMs: 1_000, idleTimeoutMs: 5_000, writeTimeoutMs: 3_000 };

Deno.test("isFrontExpired: headTimeoutMs from accept while no response was sent", () => {
  const c = new FrontConn("127.0.0.1", 10_000);
  equal(isFrontExpired(c, 10_999, LIMITS), false);
  equal(isFrontExpired(c, 11_000, LIMITS), true);
});

Deno.test("isFrontExpired: no deadline while a handler runs", () => {
  const c = new FrontConn("127.0.0.1", 0);
  c.open = 1;
  equal(isFrontExpired(c, 1_000_000, LIMITS), false);
});

Deno.test("isFrontExpired: after a response, the longer of idleTimeoutMs and writeTimeoutMs", () => {
  const c = new FrontConn("127.0.0.1", 0);
  c.hasAnswered = true;
  c.sinceMs = 2_000;
  equal(isFrontExpired(c, 6_999, LIMITS), false, "past writeTimeoutMs, before idleTimeoutMs");
  equal(isFrontExpired(c, 7_000, LIMITS), true);
  equal(isFrontExpired(c, 10_999, { ...LIMITS, writeTimeoutMs: 9_000 }), false);
  equal(isFrontExpired(c, 11_000, { ...LIMITS, writeTimeoutMs: 9_000 }), true);
});

Deno.test("serveOnConnection: the pinned Deno has Deno.serve's per-connection entry", () => {
  ok(serveOnConnection() !== null, "without it the default stack has no connection caps or deadlines");
});

Deno.test("isFrontExpired: a refused connection goes at the next sweep, once its handler has settled", () => {
  const c = new FrontConn("127.0.0.1", 0);
  c.isRefused = true;
  c.open = 1;
  equal(isFrontExpired(c, 0, LIMITS), false, "its refusal is still being produced");
  c.open = 0;
  equal(isFrontExpired(c, 0, LIMITS), true);
});
