// Stateless connection ids: HalfSipHash-2-4-64 against the reference vectors; ids bound to address and port, living
// through the previous period plus slack under an injected clock; secret-dependent; bad options refused.

import { assertThrowsCode, deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { toHex, utf8 } from "../../../lib/bytes.ts";
import { BtoolError } from "../../../lib/errors.ts";
import { createConnectionIdIssuer, halfSipHash64 } from "../../../lib/tracker/udp_connection_ids.ts";

Deno.test("halfSipHash64() matches the reference test vectors", () => {
  // vectors_hsip64 of the reference implementation: key 00..07, message 00..(i-1).
  const expected = [
    "218d1f59b9b83cc8",
    "be552412f8387315",
    "064f39ef7c50eb57",
    "ce0f1a45f7060679",
    "d5e78a175be52ea1",
    "cb9d7c3f2f3db580",
    "ce3e91358aa2bc25",
    "ff202728b07bc684",
    "edfee820bce4858c",
    "5b51cccc13888307",
  ];
  const data = Uint8Array.from({ length: 16 }, (_, i) => i);
  const key = Uint8Array.from({ length: 8 }, (_, i) => i);
  expected.forEach((hexOut, i) => equal(toHex(halfSipHash64(key, data.subarray(0, i))), hexOut, `length ${i}`));
  assertThrowsCode(() => halfSipHash64(new Uint8Array(7), data), BtoolError, "sip_key_length");
});

Deno.test("createConnectionIdIssuer() ids are bound to address and port and survive the previous period", () => {
  let t = 10 * 120_000 + 5_000;
  const issuer = createConnectionIdIssuer({ secret: utf8("secret-a"), now: () => t, slackMs: 60_000 });
  const id = issuer.issue("127.0.0.1", 6881);
  equal(id.length, 8);
  ok(issuer.verify(id, "127.0.0.1", 6881));
  ok(!issuer.verify(id, "127.0.0.2", 6881));
  ok(!issuer.verify(id, "127.0.0.1", 6882));
  ok(!issuer.verify(id.subarray(0, 7), "127.0.0.1", 6881));
  deepEqual(issuer.issue("127.0.0.1", 6881), id, "same bucket, same id");
  t += 120_000; // next period: previous accepted, a new id is issued
  ok(issuer.verify(id, "127.0.0.1", 6881));
  ok(toHex(issuer.issue("127.0.0.1", 6881)) !== toHex(id));
  // Issued at bucket start + 5 s: valid until the bucket is older than period + slack.
  t = 10 * 120_000 + 120_000 + 120_000 + 60_000 - 1;
  ok(issuer.verify(id, "127.0.0.1", 6881), "inside slack");
  t = 10 * 120_000 + 120_000 + 120_000 + 60_000;
  ok(!issuer.verify(id, "127.0.0.1", 6881), "expired");
});

Deno.test("createConnectionIdIssuer() ids depend on the secret and work for IPv6 addresses", () => {
  const now = () => 42;
  const a = createConnectionIdIssuer({ secret: utf8("one"), now });
  const b = createConnectionIdIssuer({ secret: utf8("two"), now });
  const id = a.issue("::1", 443);
  ok(a.verify(id, "::1", 443));
  ok(!b.verify(id, "::1", 443));
  const long = "2001:db8:1234:5678:9abc:def0:1234:5678";
  ok(a.verify(a.issue(long, 1), long, 1));
  ok(!a.verify(a.issue(long, 1), "::1", 1));
});

Deno.test("createConnectionIdIssuer() refuses an empty secret or a bad period", () => {
  assertThrowsCode(
    () => createConnectionIdIssuer({ secret: new Uint8Array(0), now: () => 0 }),
    BtoolError,
    "connection_id_options",
  );
  assertThrowsCode(
    () => createConnectionIdIssuer({ secret: utf8("x"), now: () => 0, periodMs: 0 }),
    BtoolError,
    "connection_id_options",
  );
});
