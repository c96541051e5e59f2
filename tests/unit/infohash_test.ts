import { utf8 } from "../../lib/bytes.ts";
import { BtoolError } from "../../lib/errors.ts";
import { InfoHash } from "../../lib/infohash.ts";
import { assertThrowsCode, equal, ok } from "../_helpers/assert.ts";

Deno.test("InfoHash.fromInfoBytes() hashes the raw bytes", async () => {
  const h = await InfoHash.fromInfoBytes(utf8("abc"));
  equal(h.hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
  ok(h.equals(InfoHash.fromHex("A9993E364706816ABA3E25717850C26C9CD0D89D")));
});

Deno.test("InfoHash rejects 19 bytes and bad hex", () => {
  assertThrowsCode(() => new InfoHash(new Uint8Array(19)), BtoolError, "info_hash_length");
  assertThrowsCode(() => InfoHash.fromHex("xyz"), BtoolError, "info_hash_hex");
});
