// AdminAuth: the admin token compared in constant time, and wrong tokens limited per address with an injected clock
// (issue #19): a guesser is locked out, even with the right token, until its window passes; others are not.

import { equal } from "../../_helpers/assert.ts";
import { ipKey } from "../../../lib/tracker/access.ts";
import {
  AdminAuth,
  DEFAULT_ADMIN_FAILURE_WINDOW_MS,
  DEFAULT_MAX_ADMIN_FAILURES_PER_IP,
} from "../../../lib/tracker/admin_auth.ts";

const T0 = 1_700_000_000_000;
const TOKEN = "s3cret-token";
const A = ipKey(new Uint8Array([10, 0, 0, 1]));
const B = ipKey(new Uint8Array([10, 0, 0, 2]));

Deno.test("AdminAuth.check() tells none, admin and refused apart", () => {
  const auth = new AdminAuth(TOKEN);
  equal(auth.check(null, A, T0), "none");
  equal(auth.check(`Bearer ${TOKEN}`, A, T0), "admin");
  equal(auth.check(`Bearer ${TOKEN} `, A, T0), "admin");
  equal(auth.check(`Bearer ${TOKEN}x`, A, T0), "refused");
  equal(auth.check(`Basic ${TOKEN}`, A, T0), "refused");
  equal(auth.check("", A, T0), "refused");
});

Deno.test("AdminAuth.check() after N wrong tokens refuses even the right one until the window passes (#19)", () => {
  const auth = new AdminAuth(TOKEN);
  for (let i = 0; i < DEFAULT_MAX_ADMIN_FAILURES_PER_IP; i++) {
    equal(auth.check("Bearer guess" + i, A, T0 + i), "refused");
  }
  equal(auth.check(`Bearer ${TOKEN}`, A, T0 + 100), "limited");
  equal(auth.check("Bearer guess", A, T0 + 100), "limited");
  // Another address is not affected.
  equal(auth.check(`Bearer ${TOKEN}`, B, T0 + 100), "admin");
  // Still limited at the window's last millisecond, free after it.
  equal(auth.check(`Bearer ${TOKEN}`, A, T0 + DEFAULT_ADMIN_FAILURE_WINDOW_MS - 1), "limited");
  equal(auth.check(`Bearer ${TOKEN}`, A, T0 + DEFAULT_ADMIN_FAILURE_WINDOW_MS), "admin");
});

Deno.test("AdminAuth limiter: its table has a cap under a many-address attack and empties by itself (#19)", () => {
  const auth = new AdminAuth(TOKEN, { limiter: { maxIps: 1_000 } });
  for (let i = 0; i < 5_000; i++) auth.check("Bearer x", ipKey(new Uint8Array([10, 1, i >> 8, i & 0xff])), T0 + i);
  equal(auth.limiter.size, 1_000);
  // No more failures: a later check from anyone (here a public-looking admin call) drops every expired entry.
  equal(auth.check(`Bearer ${TOKEN}`, B, T0 + 5_000 + DEFAULT_ADMIN_FAILURE_WINDOW_MS), "admin");
  equal(auth.limiter.size, 0);
});
