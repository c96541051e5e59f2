// RateLimiter: a token bucket with a one-second burst, on an injected clock.

import { RateLimiter } from "../../../lib/peer/rate_limiter.ts";
import { equal, ok } from "../../_helpers/assert.ts";

Deno.test("RateLimiter.reserve() allows a one-second burst, then charges the debt in time", () => {
  let t = 1000;
  const limiter = new RateLimiter(1000, { now: () => t });
  equal(limiter.reserve(600), 0);
  equal(limiter.reserve(400), 0);
  equal(limiter.reserve(500), 500);
  equal(limiter.reserve(500), 1000);
  t += 1000; // 1000 bytes refilled: debt 1000 → 0
  equal(limiter.reserve(0), 0);
  t += 10_000; // refill never exceeds one second's worth
  equal(limiter.reserve(1000), 0);
  equal(limiter.reserve(1), 1);
});

Deno.test("RateLimiter.take() resolves at once within the burst and close() releases waiters", async () => {
  const limiter = new RateLimiter(1000, { now: () => 0 });
  await limiter.take(1000);
  let isReleased = false;
  const waiting = limiter.take(500).then(() => isReleased = true);
  await Promise.resolve();
  equal(isReleased, false);
  limiter.close();
  await waiting;
  ok(isReleased);
});
