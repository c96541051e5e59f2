import {
  type BencodeInput,
  bencodeSpan,
  type BencodeValue,
  decodeBencode,
  encodeBencode,
  MAX_DEPTH,
  rawValue,
} from "../../lib/bencode.ts";
import { fromLatin1, toLatin1, utf8 } from "../../lib/bytes.ts";
import { BencodeError } from "../../lib/errors.ts";
import { assertThrowsCode, deepEqual, equal, ok } from "../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";

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

// Golden bytes both ways: decode the bytes and compare with the value; encode the value and compare with the bytes.
const GOLDEN: [string, BencodeValue][] = [
  ["i0e", 0],
  ["i42e", 42],
  ["i-42e", -42],
  ["i9007199254740991e", Number.MAX_SAFE_INTEGER],
  ["i-9007199254740991e", -Number.MAX_SAFE_INTEGER],
  ["0:", new Uint8Array(0)],
  ["4:spam", utf8("spam")],
  ["3:\xff\x00\x80", fromLatin1("\xff\x00\x80")],
  ["le", []],
  ["l4:spami7ee", [utf8("spam"), 7]],
  ["de", new Map()],
  ["d3:cow3:moo4:spam4:eggse", new Map<string, BencodeValue>([["cow", utf8("moo")], ["spam", utf8("eggs")]])],
  ["d1:ald1:bi1eeee", new Map<string, BencodeValue>([["a", [new Map<string, BencodeValue>([["b", 1]])]]])],
  // Keys compare as bytes: "Z" (0x5a) < "a" (0x61) < "\xe9" (0xe9).
  ["d1:Zi1e1:ai2e1:\xe9i3ee", new Map<string, BencodeValue>([["Z", 1], ["a", 2], ["\xe9", 3]])],
];

for (const [text, value] of GOLDEN) {
  Deno.test(`decodeBencode()/encodeBencode() golden bytes ${JSON.stringify(text)}`, () => {
    const bytes = fromLatin1(text);
    deepEqual(decodeBencode(bytes), value);
    deepEqual(encodeBencode(value), bytes);
  });
}

Deno.test("encodeBencode() writes strings as UTF-8 with byte lengths and sorts object keys as UTF-8 bytes", () => {
  equal(toLatin1(encodeBencode("é")), "2:\xc3\xa9");
  equal(toLatin1(encodeBencode({ "é": 1, z: 2, a: undefined })), "d1:zi2e2:\xc3\xa9i1ee");
});

Deno.test("encodeBencode() writes exactly the nesting decodeBencode() reads: MAX_DEPTH containers (#19)", () => {
  // Empty lists, so no scalar sits below the innermost container (the encoder used to check depth only at values).
  const nest = (n: number) => {
    let v: BencodeInput = [];
    for (let i = 1; i < n; i++) v = [v];
    return v;
  };
  equal(decodeBencode(encodeBencode(nest(MAX_DEPTH))).toString(), "");
  assertThrowsCode(
    () => decodeBencode(fromLatin1("l".repeat(MAX_DEPTH + 1) + "e".repeat(MAX_DEPTH + 1))),
    BencodeError,
    "too_deep",
  );
  assertThrowsCode(() => encodeBencode(nest(MAX_DEPTH + 1)), BencodeError, "too_deep");
});

Deno.test("encodeBencode() refuses what it cannot encode canonically", () => {
  assertThrowsCode(() => encodeBencode(1.5), BencodeError, "integer_range");
  assertThrowsCode(() => encodeBencode(2 ** 53), BencodeError, "integer_range");
  assertThrowsCode(() => encodeBencode(new Map([["\u0100", 1]])), BencodeError, "invalid_key");
  let deep: BencodeInput = 1;
  for (let i = 0; i <= MAX_DEPTH + 1; i++) deep = [deep];
  assertThrowsCode(() => encodeBencode(deep), BencodeError, "too_deep");
});

// Every malformed case with its code. `isLenient` runs the decoder with isStrict: false.
const MALFORMED: [string, string, string, boolean?][] = [
  ["leading zero", "i03e", "invalid_integer"],
  ["leading zero in a negative", "i-03e", "invalid_integer"],
  ["negative zero", "i-0e", "invalid_integer"],
  ["no digits", "ie", "invalid_integer"],
  ["a lone minus", "i-e", "invalid_integer"],
  ["a plus sign", "i+1e", "invalid_integer"],
  ["a non-digit in an integer", "i1x2e", "invalid_integer"],
  ["an integer beyond 2^53", "i9007199254740992e", "integer_range"],
  ["an integer missing its e", "i12", "unexpected_end"],
  ["a list missing its e", "li1e", "unexpected_end"],
  ["a dict missing its e", "d1:ai1e", "unexpected_end"],
  ["a dict key without a value", "d1:ae", "unexpected_byte"],
  ["empty input", "", "unexpected_end"],
  ["a string length beyond the input", "5:abc", "length_beyond_input"],
  ["a huge string length", "99999999999999999999999:x", "length_beyond_input"],
  ["a length prefix without its colon", "3abc", "invalid_length"],
  ["a leading zero in a length", "03:abc", "invalid_length"],
  ["an unknown type byte", "x", "unexpected_byte"],
  ["a non-string key", "di1ei2ee", "key_not_string"],
  ["unsorted keys", "d1:bi1e1:ai2ee", "unsorted_keys"],
  ["duplicate keys", "d1:ai1e1:ai2ee", "duplicate_key"],
  ["duplicate keys when lenient", "d1:ai1e1:ai2ee", "duplicate_key", true],
  ["trailing bytes", "i1ei2e", "trailing_bytes"],
  ["a trailing newline", "le\n", "trailing_bytes"],
  ["a list depth bomb", "l".repeat(100_000), "too_deep"],
  ["a dict depth bomb", "d1:a".repeat(100_000), "too_deep"],
];

for (const [what, text, code, isLenient] of MALFORMED) {
  Deno.test(`decodeBencode() rejects ${what} (${code})`, () => {
    assertThrowsCode(() => decodeBencode(fromLatin1(text), { isStrict: !isLenient }), BencodeError, code);
  });
}

Deno.test("decodeBencode() accepts unsorted keys when not strict, keeping file order", () => {
  const v = decodeBencode(utf8("d1:bi1e1:ai2ee"), { isStrict: false });
  deepEqual([...(v as Map<string, BencodeValue>).keys()], ["b", "a"]);
});

Deno.test("decodeBencode() reports the byte offset and key path of an error", () => {
  const err = assertThrowsCode(() => decodeBencode(utf8("d1:ald1:bi03eeee")), BencodeError, "invalid_integer");
  equal(err.offset, 9);
  equal(err.path, "a[0].b");
  ok(err.message.includes('"i03e"'), err.message);
  const deep = assertThrowsCode(() => decodeBencode(utf8("l".repeat(10)), { maxDepth: 3 }), BencodeError, "too_deep");
  equal(deep.offset, 3);
});

Deno.test("rawValue() returns exact bytes and fails with not_found", () => {
  const bytes = utf8("d1:ali1ei2ee1:bd1:ci3eee");
  equal(new TextDecoder().decode(rawValue(bytes, ["a", 1])), "i2e");
  equal(new TextDecoder().decode(rawValue(bytes, ["b", "c"])), "i3e");
  assertThrowsCode(() => rawValue(bytes, ["z"]), BencodeError, "not_found");
  assertThrowsCode(() => rawValue(bytes, ["a", 2]), BencodeError, "not_found");
  assertThrowsCode(() => rawValue(bytes, ["a", "x"]), BencodeError, "not_found");
});

function randomValue(random: () => number, depth: number): BencodeValue {
  const r = random();
  if (depth > 4 || r < 0.3) return Math.floor((random() - 0.5) * 2 ** (1 + Math.floor(random() * 53)));
  if (r < 0.6) return randomBytes(random, Math.floor(random() * 20));
  if (r < 0.8) return Array.from({ length: Math.floor(random() * 5) }, () => randomValue(random, depth + 1));
  const m = new Map<string, BencodeValue>();
  for (let i = Math.floor(random() * 5); i > 0; i--) {
    m.set(toLatin1(randomBytes(random, Math.floor(random() * 4))), randomValue(random, depth + 1));
  }
  return m;
}

Deno.test("encodeBencode()/decodeBencode() round-trip random values (seeded property)", () => {
  const seed = 20261122;
  const random = seededRandom(seed);
  for (let i = 0; i < 500; i++) {
    const value = randomValue(random, 0);
    const bytes = encodeBencode(value);
    const back = decodeBencode(bytes);
    deepEqual(encodeBencode(back), bytes, `seed ${seed}, iteration ${i}`);
  }
});

Deno.test("decodeBencode() throws only BencodeError on mutated input (seeded property)", () => {
  const seed = 7;
  const random = seededRandom(seed);
  const alphabet = fromLatin1("ilde0123456789:-x");
  for (let i = 0; i < 2000; i++) {
    const bytes = encodeBencode(randomValue(random, 0)).slice();
    const edits = 1 + Math.floor(random() * 3);
    for (let e = 0; e < edits && bytes.length > 0; e++) {
      bytes[Math.floor(random() * bytes.length)] = alphabet[Math.floor(random() * alphabet.length)]!;
    }
    const cut = random() < 0.3 ? bytes.subarray(0, Math.floor(random() * bytes.length)) : bytes;
    try {
      const v = decodeBencode(cut);
      // Whatever decodes must be canonical, so it re-encodes to the same bytes.
      deepEqual(encodeBencode(v), cut, `seed ${seed}, iteration ${i}`);
    } catch (err: unknown) {
      if (!(err instanceof BencodeError)) {
        throw new Error(`seed ${seed}, iteration ${i}: ${String(err)}`, { cause: err });
      }
    }
  }
});
