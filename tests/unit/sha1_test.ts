import { toHex, utf8 } from "../../lib/bytes.ts";
import { createSha1, sha1 } from "../../lib/sha1.ts";
import { equal } from "../_helpers/assert.ts";

Deno.test("sha1() matches the FIPS 180 test vector", () => {
  equal(toHex(sha1(utf8("abc"))), "a9993e364706816aba3e25717850c26c9cd0d89d");
});

Deno.test("createSha1() gives the same digest incrementally", () => {
  equal(toHex(createSha1().update(utf8("a")).update(utf8("bc")).digest()), toHex(sha1(utf8("abc"))));
});
