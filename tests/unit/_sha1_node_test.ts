// nodeSha1 (lib/_sha1_node.ts), create's piece SHA-1: FIPS 180 vectors, written at the offset asked and nowhere
// else (the Workers fill one digest array piece by piece).

import { nodeSha1 } from "../../lib/_sha1_node.ts";
import { toHex, utf8 } from "../../lib/bytes.ts";
import { equal } from "../_helpers/assert.ts";

Deno.test("nodeSha1() gives the FIPS 180 digests of the empty string and abc", () => {
  const out = new Uint8Array(20);
  nodeSha1(new Uint8Array(0), out, 0);
  equal(toHex(out), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  nodeSha1(utf8("abc"), out, 0);
  equal(toHex(out), "a9993e364706816aba3e25717850c26c9cd0d89d");
});

Deno.test("nodeSha1() writes its 20 bytes at `at` and leaves the rest of the array alone", () => {
  const out = new Uint8Array(60).fill(0xee);
  nodeSha1(utf8("abc"), out, 20);
  equal(toHex(out.subarray(0, 20)), "ee".repeat(20));
  equal(toHex(out.subarray(20, 40)), "a9993e364706816aba3e25717850c26c9cd0d89d");
  equal(toHex(out.subarray(40)), "ee".repeat(20));
});
