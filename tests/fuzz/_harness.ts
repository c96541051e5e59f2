// The fuzz harness (#19): seeded, deterministic runs of generated and mutated inputs against one target's properties.
// Every input gets its own random stream derived from (seed, index), so one failing input reproduces alone with
// `deno task fuzz -- --seed S --target T --start I --count 1`, unless state carried between inputs matters (the
// announce parsers reuse one scratch buffer, as the servers do): then the run up to it does. Pure: no clock, no files.

import { seededRandom } from "../_helpers/random.ts";
import { toHex } from "../../lib/bytes.ts";

/** A random number in [0, 1), seeded. */
export type Random = () => number;

/** One fuzz target: a parser or codec with its input grammar and its properties. */
export interface FuzzTarget {
  name: string;
  /** A grammar-aware input: a valid or nearly valid structure. */
  generate(random: Random): Uint8Array;
  /** Run one input; throw when a property breaks (the module's own typed errors must be caught here). */
  check(input: Uint8Array, random: Random): void | Promise<void>;
  /** Real-world inputs to mutate besides generated ones (fixtures). */
  corpus?: readonly Uint8Array[];
  /** Bytes that matter to the grammar ("i", "e", ":", "&", "%"...), used by byte-replacing mutations. */
  alphabet?: Uint8Array;
}

/** What runTarget did. */
export interface FuzzStats {
  target: string;
  generated: number;
  mutated: number;
  /** Of the mutated inputs, how many were built from the corpus. */
  fromCorpus: number;
}

/** A broken property, with everything needed to reproduce it. */
export class FuzzFailure extends Error {
  constructor(
    readonly target: string,
    readonly seed: number,
    readonly index: number,
    readonly input: Uint8Array,
    cause: unknown,
  ) {
    const shown = input.length > 256 ? `${toHex(input.subarray(0, 256))}... (${input.length} bytes)` : toHex(input);
    super(
      `Fuzz target "${target}" failed at input #${index} (seed ${seed}): ${
        cause instanceof Error ? cause.message : String(cause)
      }\n  input hex: ${shown}\n  reproduce: deno task fuzz -- --seed ${seed} --target ${target} --start ${index} --count 1\n` +
        `  (if it passes alone, state carried between inputs matters, as in a parser's reused scratch: rerun the run up ` +
        `to it with --count ${index + 1})`,
      { cause },
    );
    this.name = "FuzzFailure";
  }
}

/** Throw unless `ok`: a property check that names what broke. */
export function expect(ok: boolean, what: string): asserts ok {
  if (!ok) throw new Error(`property broken: ${what}`);
}

/** Run `fn`; an error of class `cls` is expected (returns it), anything else propagates. */
export function expectOnly<E extends Error>(
  fn: () => void,
  cls: abstract new (...args: never[]) => E,
): E | null {
  try {
    fn();
    return null;
  } catch (err: unknown) {
    if (err instanceof cls) return err;
    throw err;
  }
}

/** The per-input seed: (seed, index) mixed so that neighbouring indexes get unrelated streams. */
export function inputSeed(seed: number, index: number): number {
  let h = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}

/** An integer in [0, n). */
export function pick(random: Random, n: number): number {
  return Math.floor(random() * n);
}

/** One element of `items`. */
export function oneOf<T>(random: Random, items: readonly T[]): T {
  return items[pick(random, items.length)]!;
}

/** The input for `index`: a generated structure, or one (generated or from the corpus) with 1-4 mutations. */
export function makeInput(
  target: FuzzTarget,
  random: Random,
): { input: Uint8Array; kind: "generated" | "mutated" | "corpus" } {
  if (random() < 0.4) return { input: target.generate(random), kind: "generated" };
  const corpus = target.corpus ?? [];
  const isCorpus = corpus.length > 0 && random() < 0.3;
  let input = isCorpus ? oneOf(random, corpus) : target.generate(random);
  const n = 1 + pick(random, 4);
  for (let i = 0; i < n; i++) input = mutate(input, random, target);
  return { input, kind: isCorpus ? "corpus" : "mutated" };
}

const INTERESTING_BYTES = [0, 1, 0x7f, 0x80, 0xfe, 0xff, 0x20, 0x0a, 0x0d];
const INTERESTING_U32 = [0, 1, 0x7f, 0x80, 0xff, 0x4000, 0x4009, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];
const EXTREME_DECIMALS = [
  "0",
  "-0",
  "00",
  "-1",
  "1",
  "9007199254740991",
  "9007199254740992",
  "18446744073709551615",
  "99999999999999999999999999",
  "4294967296",
  "2147483648",
  "-9007199254740993",
];

/** One mutation of `input` (a new array): bit flips, byte sets, splices, truncation, extreme length fields. */
export function mutate(input: Uint8Array, random: Random, target: FuzzTarget): Uint8Array {
  const b = input.slice();
  const at = pick(random, Math.max(1, b.length));
  switch (pick(random, 10)) {
    case 0: // bit flip
      if (b.length > 0) b[at] = b[at]! ^ (1 << pick(random, 8));
      return b;
    case 1: // interesting byte or grammar byte
      if (b.length > 0) {
        const alphabet = target.alphabet;
        b[at] = alphabet !== undefined && random() < 0.6
          ? oneOf(random, [...alphabet])
          : oneOf(random, INTERESTING_BYTES);
      }
      return b;
    case 2: // truncate
      return b.subarray(0, pick(random, b.length + 1));
    case 3: { // delete a range
      const n = 1 + pick(random, 16);
      return concat2(b.subarray(0, at), b.subarray(at + n));
    }
    case 4: { // duplicate a range in place
      const n = 1 + pick(random, 32);
      return concat2(b.subarray(0, at + n), b.subarray(at));
    }
    case 5: { // splice with another input (generated, or the same one)
      const other = random() < 0.5 ? target.generate(random) : b;
      const from = pick(random, other.length + 1);
      return concat2(b.subarray(0, at), other.subarray(from, from + 1 + pick(random, 64)));
    }
    case 6: { // insert random bytes
      const n = 1 + pick(random, 8);
      const ins = new Uint8Array(n);
      for (let i = 0; i < n; i++) ins[i] = pick(random, 256);
      return concat2(concat2(b.subarray(0, at), ins), b.subarray(at));
    }
    case 7: { // a 32-bit big-endian field set to an extreme (binary length prefixes and counters)
      if (b.length < 4) return b;
      const p = pick(random, b.length - 3);
      const v = oneOf(random, INTERESTING_U32) + (random() < 0.2 ? pick(random, 3) - 1 : 0);
      new DataView(b.buffer, b.byteOffset).setUint32(p, v >>> 0);
      return b;
    }
    case 8: { // a decimal digit run replaced by an extreme number (bencode lengths and integers, query values)
      const runs: number[] = [];
      for (let i = 0; i < b.length; i++) if (isDigit(b[i]!) && (i === 0 || !isDigit(b[i - 1]!))) runs.push(i);
      if (runs.length === 0) return b;
      const s = oneOf(random, runs);
      let e = s;
      while (e < b.length && isDigit(b[e]!)) e++;
      const text = new TextEncoder().encode(oneOf(random, EXTREME_DECIMALS));
      return concat2(concat2(b.subarray(0, s), text), b.subarray(e));
    }
    default: { // swap two ranges' order (moves structure around)
      const cut = pick(random, b.length + 1);
      return concat2(b.subarray(cut), b.subarray(0, cut));
    }
  }
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function concat2(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Options of runTarget. */
export interface RunOptions {
  seed: number;
  count: number;
  /** First input index (default 0): with count 1, reruns one input alone. */
  start?: number;
  /** Called before each input (the task's watchdog and per-input timing hook here). */
  onInput?: (index: number) => void;
}

/**
 * Run `count` inputs through `target` (input i uses the random stream inputSeed(seed, i)).
 * @throws {FuzzFailure} at the first input that breaks a property
 */
export async function runTarget(target: FuzzTarget, options: RunOptions): Promise<FuzzStats> {
  const stats: FuzzStats = { target: target.name, generated: 0, mutated: 0, fromCorpus: 0 };
  const start = options.start ?? 0;
  for (let index = start; index < start + options.count; index++) {
    options.onInput?.(index);
    const random = seededRandom(inputSeed(options.seed, index));
    let input: Uint8Array = new Uint8Array(0);
    try {
      const made = makeInput(target, random);
      input = made.input;
      if (made.kind === "generated") stats.generated++;
      else stats.mutated++;
      if (made.kind === "corpus") stats.fromCorpus++;
      await target.check(input, random);
    } catch (err: unknown) {
      throw new FuzzFailure(target.name, options.seed, index, input, err);
    }
  }
  return stats;
}
