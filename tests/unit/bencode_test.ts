import { bencodeSpan, decodeBencode, encodeBencode } from "../../lib/bencode.ts";
import { utf8 } from "../../lib/bytes.ts";
import { BencodeError } from "../../lib/errors.ts";
import { assertThrowsCode, deepEqual, equal } from "../_helpers/assert.ts";

Deno.test("encodeBencode() sorts keys and round-trips through decodeBencode()", () => {
  const bytes = encodeBencode({ b: 1, a: [utf8("x"), -3] });
  equal(new TextDecoder().decode(bytes), "d1:al1:xi-3ee1:bi1ee");
  deepEqual(encodeBencode(decodeBencode(bytes)), bytes);
});

Deno.test("decodeBencode() rejects a leading zero", () => {
  assertThrowsCode(() => decodeBencode(utf8("i03e")), BencodeError, "invalid_integer");
});

Deno.test("bencodeSpan() finds the raw info span", () => {
  const bytes = utf8("d4:infod1:xi1ee1:zi2ee");
  const { start, end } = bencodeSpan(bytes, ["info"]);
  equal(new TextDecoder().decode(bytes.subarray(start, end)), "d1:xi1ee");
});
