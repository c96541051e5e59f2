// Fuzz target: the bencode decoder (lib/bencode.ts). Properties: only BencodeError escapes; whatever decodes strictly
// re-encodes to the same bytes; a lenient decode re-encodes to canonical bytes that decode strictly; rawValue's span
// of any path decodes to the value decodeBencode found there.

import { type BencodeInput, type BencodeValue, decodeBencode, encodeBencode, rawValue } from "../../lib/bencode.ts";
import { equals, fromLatin1 } from "../../lib/bytes.ts";
import { BencodeError } from "../../lib/errors.ts";
import { expect, expectOnly, type FuzzTarget, oneOf, pick, type Random } from "./_harness.ts";

const INTEGERS = [
  0,
  1,
  -1,
  9,
  10,
  -10,
  255,
  2 ** 31,
  -(2 ** 31),
  2 ** 32,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
];
const KEYS = [
  "info",
  "length",
  "name",
  "piece length",
  "pieces",
  "files",
  "path",
  "a",
  "",
  "\u00ff",
  "m",
  "ut_metadata",
];

/** A random bencode value (Map keys Latin-1, as the decoder makes them). */
export function randomValue(random: Random, depth: number): BencodeInput {
  const r = random();
  if (r < 0.25) return random() < 0.5 ? oneOf(random, INTEGERS) : pick(random, 2001) - 1000;
  if (r < 0.55 || depth >= 4) {
    const n = random() < 0.8 ? pick(random, 12) : pick(random, 300);
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) bytes[i] = random() < 0.7 ? 97 + pick(random, 26) : pick(random, 256);
    return bytes;
  }
  const n = pick(random, 6);
  if (r < 0.75) return Array.from({ length: n }, () => randomValue(random, depth + 1));
  const dict = new Map<string, BencodeInput>();
  for (let i = 0; i < n; i++) {
    const key = random() < 0.6
      ? oneOf(random, KEYS)
      : String.fromCharCode(...Array.from({ length: pick(random, 6) }, () => pick(random, 256)));
    dict.set(key, randomValue(random, depth + 1));
  }
  return dict;
}

/** Text-level shapes the value generator never makes: deep nesting near the cap, huge length prefixes. */
function edgeShape(random: Random): Uint8Array {
  switch (pick(random, 3)) {
    case 0: {
      const n = 60 + pick(random, 10);
      const open = random() < 0.5 ? "l" : "d1:a";
      return fromLatin1(open.repeat(n) + "i0e" + "e".repeat(n));
    }
    case 1:
      return fromLatin1(`${oneOf(random, ["4294967296", "9007199254740993", "99999999999999999999"])}:abc`);
    default:
      return fromLatin1(`i${oneOf(random, ["-0", "00", "01", "-", "", "9007199254740992", "1e"])}e`);
  }
}

function generate(random: Random): Uint8Array {
  if (random() < 0.1) return edgeShape(random);
  return encodeBencode(randomValue(random, 0));
}

/** The value at `path` inside `v`, or undefined. */
function walk(v: BencodeValue, random: Random): { path: (string | number)[]; value: BencodeValue } {
  const path: (string | number)[] = [];
  let value = v;
  for (let steps = 0; steps < 6 && random() < 0.8; steps++) {
    if (Array.isArray(value) && value.length > 0) {
      const i = pick(random, value.length);
      path.push(i);
      value = value[i]!;
    } else if (value instanceof Map && value.size > 0) {
      const key = oneOf(random, [...value.keys()]);
      path.push(key);
      value = value.get(key)!;
    } else break;
  }
  return { path, value };
}

function check(input: Uint8Array, random: Random): void {
  let strict: BencodeValue | undefined;
  expectOnly(() => (strict = decodeBencode(input)), BencodeError);
  if (strict !== undefined) expect(equals(encodeBencode(strict), input), "encode(decode(x)) === x for strict input");

  let lenient: BencodeValue | undefined;
  expectOnly(() => (lenient = decodeBencode(input, { isStrict: false })), BencodeError);
  expect(strict === undefined || lenient !== undefined, "what decodes strictly decodes leniently");
  if (lenient === undefined) return;
  const canonical = encodeBencode(lenient);
  expect(equals(encodeBencode(decodeBencode(canonical)), canonical), "canonical re-encoding decodes strictly");

  const { path, value } = walk(lenient, random);
  const span = rawValue(input, path, { isStrict: false });
  expect(
    equals(encodeBencode(decodeBencode(span, { isStrict: false })), encodeBencode(value)),
    `rawValue(${JSON.stringify(path)}) decodes to the value found there`,
  );
}

/** The bencode decoder target. */
export const bencodeTarget: FuzzTarget = {
  name: "bencode",
  generate,
  check,
  alphabet: fromLatin1("ilde0123456789:-"),
};
