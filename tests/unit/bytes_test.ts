import {
  allocBytes,
  compare,
  concat,
  equals,
  fromHex,
  fromLatin1,
  HEX_DIGIT_VALUES,
  hexDigitValue,
  percentDecode,
  percentEncode,
  readBodyCapped,
  readI32BE,
  readU16BE,
  readU32BE,
  readU64BE,
  timingSafeEquals,
  toHex,
  toLatin1,
  writeU16BE,
  writeU32BE,
  writeU64BE,
} from "../../lib/bytes.ts";
import { deepEqual, equal, ok } from "../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";

Deno.test("toHex()/fromHex() round-trip and accept either case", () => {
  const b = new Uint8Array([0, 1, 0xab, 0xff]);
  equal(toHex(b), "0001abff");
  deepEqual(fromHex("0001ABff"), b);
  equal(fromHex("abc"), null);
  equal(fromHex("zz"), null);
});

Deno.test("percentDecode() decodes %XX byte-exactly and keeps + literal", () => {
  deepEqual(percentDecode("%00a+%20%2b%2B"), new Uint8Array([0, 0x61, 0x2b, 0x20, 0x2b, 0x2b]));
  equal(percentDecode("%4"), null);
  equal(percentDecode("%zz"), null);
  equal(percentDecode("\u0100"), null);
});

Deno.test("percentEncode() escapes everything outside unreserved and never emits +", () => {
  equal(percentEncode(new Uint8Array([0x41, 0x20, 0x2b, 0x7e, 0x00, 0xff])), "A%20%2b~%00%ff");
  const random = seededRandom(3);
  for (let i = 0; i < 50; i++) {
    const b = randomBytes(random, 20);
    deepEqual(percentDecode(percentEncode(b)), b);
  }
});

Deno.test("big-endian readers and writers agree", () => {
  const b = new Uint8Array(8);
  writeU32BE(b, 0, 0xdeadbeef);
  equal(readU32BE(b, 0), 0xdeadbeef);
  equal(readI32BE(b, 0), 0xdeadbeef | 0);
  writeU16BE(b, 4, 0xbeef);
  equal(readU16BE(b, 4), 0xbeef);
  writeU64BE(b, 0, 0x41727101980n);
  equal(readU64BE(b, 0), 0x41727101980n);
});

Deno.test("concat(), equals(), compare(), timingSafeEquals() and Latin-1 keys", () => {
  const a = new Uint8Array([1, 2]);
  const c = concat([a, new Uint8Array([3])]);
  deepEqual(c, new Uint8Array([1, 2, 3]));
  ok(equals(a, new Uint8Array([1, 2])));
  ok(!equals(a, c));
  ok(compare(a, c) < 0);
  ok(compare(new Uint8Array([2]), c) > 0);
  ok(timingSafeEquals(a, new Uint8Array([1, 2])));
  ok(!timingSafeEquals(a, new Uint8Array([1, 3])));
  const bin = new Uint8Array([0, 0x80, 0xff]);
  deepEqual(fromLatin1(toLatin1(bin)), bin);
});

Deno.test("toLatin1() gives one char per byte below, at and above its 8,192-byte chunk", () => {
  const random = seededRandom(20);
  for (const n of [0, 1, 8191, 8192, 8193, 20_000]) {
    const bytes = randomBytes(random, n);
    const text = toLatin1(bytes);
    equal(text.length, n);
    ok([...text].every((c, i) => c.charCodeAt(0) === bytes[i]), `length ${n}`);
    deepEqual(fromLatin1(text), bytes);
  }
});

Deno.test("hexDigitValue() and HEX_DIGIT_VALUES read hex digits of either case and nothing else", () => {
  const digits = "0123456789abcdefABCDEF";
  for (let code = 0; code < 256; code++) {
    const i = digits.indexOf(String.fromCharCode(code));
    const want = i < 0 ? -1 : i < 16 ? i : i - 6;
    equal(hexDigitValue(code), want, `code ${code}`);
    equal(HEX_DIGIT_VALUES[code], want, `code ${code}`);
  }
  equal(hexDigitValue(0x130), -1);
  equal(hexDigitValue(NaN), -1);
});

Deno.test("readBodyCapped() reads a body whole and refuses one past the cap", async () => {
  deepEqual(await readBodyCapped(new Response(new Uint8Array([1, 2, 3])), 3), new Uint8Array([1, 2, 3]));
  deepEqual(await readBodyCapped(new Response(null), 3), new Uint8Array(0));
  equal(await readBodyCapped(new Response(new Uint8Array(4)), 3), null);
  const streamed = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new Uint8Array(2));
      c.enqueue(new Uint8Array(2));
      c.close();
    },
  });
  equal(await readBodyCapped(new Response(streamed), 3), null);
});

Deno.test("allocBytes() gives zero-filled, disjoint arrays that stay valid, small or large", () => {
  const arrays: Uint8Array[] = [];
  // Enough to cross several slabs, with odd sizes and one past the slab threshold.
  for (let i = 0; i < 3000; i++) {
    const a = allocBytes(i === 1500 ? 100_000 : 1 + (i * 37) % 300);
    ok(a.every((b) => b === 0), `array ${i} is zero-filled`);
    a.fill(i & 0xff);
    arrays.push(a);
  }
  // No array was handed out twice or overlaps another: each still holds its own fill.
  arrays.forEach((a, i) => ok(a.every((b) => b === (i & 0xff)), `array ${i} kept its bytes`));
  equal(allocBytes(0).length, 0);
  equal(allocBytes(100_000).byteOffset, 0);
});
