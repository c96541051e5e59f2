// Bencode (BEP 3): strict decode and canonical encode over Uint8Array, plus the raw byte span of any value.
// Byte strings stay bytes; dict keys are Latin-1 strings (one char per byte) so they order exactly as bytes.
// Hostile input is bounded: nesting depth cap, length prefixes checked against the remaining input before use.

import { toLatin1, utf8 } from "./bytes.ts";
import { BencodeError } from "./errors.ts";

/** A decoded bencode value. Dict keys are Latin-1 strings: one JS char per key byte. */
export type BencodeValue = number | Uint8Array | BencodeValue[] | BencodeDict;
/** A decoded dictionary, in file order. */
export type BencodeDict = Map<string, BencodeValue>;

/**
 * What `encodeBencode` accepts: decoded values plus JS strings (encoded as UTF-8) and plain objects
 * (keys encoded as UTF-8, `undefined` members skipped). Map keys are Latin-1, as `decodeBencode` makes them.
 */
export type BencodeInput =
  | number
  | string
  | Uint8Array
  | readonly BencodeInput[]
  | ReadonlyMap<string, BencodeInput>
  | { readonly [key: string]: BencodeInput | undefined };

/** Default nesting cap: real torrents nest 4 deep; 64 leaves room while stopping depth bombs. */
export const MAX_DEPTH = 64;

/** Decoder options. */
export interface DecodeOptions {
  /** Require sorted, unique dict keys (default true). Duplicate keys are refused either way. */
  isStrict?: boolean;
  /** Nesting cap (default MAX_DEPTH). */
  maxDepth?: number;
}

type PathPart = string | number;

function formatPath(path: readonly PathPart[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : (out === "" ? p : "." + p);
  return out;
}

class Decoder {
  readonly #b: Uint8Array;
  readonly #isStrict: boolean;
  readonly #maxDepth: number;
  readonly #path: PathPart[] = [];
  pos = 0;

  constructor(bytes: Uint8Array, options: DecodeOptions) {
    this.#b = bytes;
    this.#isStrict = options.isStrict ?? true;
    this.#maxDepth = options.maxDepth ?? MAX_DEPTH;
  }

  fail(code: string, message: string, offset = this.pos): never {
    const path = formatPath(this.#path);
    throw new BencodeError(code, `${message} at offset ${offset}${path ? ` (in "${path}")` : ""}`, {
      offset,
      path,
    });
  }

  peek(): number {
    if (this.pos >= this.#b.length) this.fail("unexpected_end", "Cannot decode bencode: input ends early");
    return this.#b[this.pos]!;
  }

  /** Skip one value (validating it) and return its end offset. */
  skip(depth: number): number {
    const c = this.peek();
    if (c === 0x69) this.integer();
    else if (c >= 0x30 && c <= 0x39) this.stringSpan();
    else if (c === 0x6c || c === 0x64) {
      if (depth >= this.#maxDepth) {
        this.fail("too_deep", `Cannot decode bencode: nesting deeper than ${this.#maxDepth}`);
      }
      this.pos++;
      if (c === 0x6c) {
        let i = 0;
        while (this.peek() !== 0x65) {
          this.#path.push(i++);
          this.skip(depth + 1);
          this.#path.pop();
        }
      } else {
        let prev: Uint8Array | null = null;
        while (this.peek() !== 0x65) {
          const key = this.key(prev);
          prev = key.bytes;
          this.#path.push(key.text);
          this.skip(depth + 1);
          this.#path.pop();
        }
      }
      this.pos++;
    } else this.fail("unexpected_byte", `Cannot decode bencode: unexpected byte 0x${c.toString(16).padStart(2, "0")}`);
    return this.pos;
  }

  value(depth: number): BencodeValue {
    const c = this.peek();
    if (c === 0x69) return this.integer();
    if (c >= 0x30 && c <= 0x39) {
      const [start, end] = this.stringSpan();
      return this.#b.slice(start, end);
    }
    if (c === 0x6c || c === 0x64) {
      if (depth >= this.#maxDepth) {
        this.fail("too_deep", `Cannot decode bencode: nesting deeper than ${this.#maxDepth}`);
      }
      this.pos++;
      if (c === 0x6c) {
        const list: BencodeValue[] = [];
        while (this.peek() !== 0x65) {
          this.#path.push(list.length);
          list.push(this.value(depth + 1));
          this.#path.pop();
        }
        this.pos++;
        return list;
      }
      const dict: BencodeDict = new Map();
      let prev: Uint8Array | null = null;
      while (this.peek() !== 0x65) {
        const key = this.key(prev);
        prev = key.bytes;
        this.#path.push(key.text);
        dict.set(key.text, this.value(depth + 1));
        this.#path.pop();
      }
      this.pos++;
      return dict;
    }
    this.fail("unexpected_byte", `Cannot decode bencode: unexpected byte 0x${c.toString(16).padStart(2, "0")}`);
  }

  key(prev: Uint8Array | null): { bytes: Uint8Array; text: string } {
    const at = this.pos;
    const c = this.peek();
    if (c < 0x30 || c > 0x39) this.fail("key_not_string", "Cannot decode dict: key is not a byte string");
    const [start, end] = this.stringSpan();
    const bytes = this.#b.subarray(start, end);
    if (prev !== null) {
      const order = compareBytes(prev, bytes);
      if (order === 0) this.fail("duplicate_key", `Cannot decode dict: duplicate key "${toLatin1(bytes)}"`, at);
      if (order > 0 && this.#isStrict) {
        this.fail("unsorted_keys", `Cannot decode dict: key "${toLatin1(bytes)}" is out of order`, at);
      }
    }
    return { bytes, text: toLatin1(bytes) };
  }

  integer(): number {
    const start = this.pos;
    this.pos++; // 'i'
    let negative = false;
    if (this.peek() === 0x2d) {
      negative = true;
      this.pos++;
    }
    const digitsAt = this.pos;
    let value = 0;
    while (true) {
      const c = this.peek();
      if (c === 0x65) break;
      if (c < 0x30 || c > 0x39) this.fail("invalid_integer", "Cannot decode integer: unexpected character", this.pos);
      value = value * 10 + (c - 0x30);
      this.pos++;
    }
    const digits = this.pos - digitsAt;
    const text = () => toLatin1(this.#b.subarray(start, this.pos + 1));
    if (digits === 0) this.fail("invalid_integer", `Cannot decode integer: no digits in "${text()}"`, start);
    if (this.#b[digitsAt] === 0x30 && (digits > 1 || negative)) {
      this.fail("invalid_integer", `Cannot decode integer: leading zero or negative zero in "${text()}"`, start);
    }
    if (!Number.isSafeInteger(value)) {
      this.fail("integer_range", `Cannot decode integer: "${text()}" is out of range`, start);
    }
    this.pos++; // 'e'
    return negative ? -value : value;
  }

  /** Returns [start, end) of a byte string's payload. */
  stringSpan(): [number, number] {
    const at = this.pos;
    let length = 0;
    while (true) {
      const c = this.peek();
      if (c === 0x3a) break;
      if (c < 0x30 || c > 0x39) this.fail("invalid_length", "Cannot decode string: bad length prefix", at);
      length = length * 10 + (c - 0x30);
      // A prefix longer than the input can hold fails before any allocation.
      if (length > this.#b.length) {
        this.fail("length_beyond_input", "Cannot decode string: length exceeds the input", at);
      }
      this.pos++;
    }
    if (this.pos === at) this.fail("invalid_length", "Cannot decode string: empty length prefix", at);
    if (this.#b[at] === 0x30 && this.pos - at > 1) {
      this.fail("invalid_length", "Cannot decode string: leading zero in length prefix", at);
    }
    this.pos++; // ':'
    const end = this.pos + length;
    if (end > this.#b.length) this.fail("length_beyond_input", "Cannot decode string: length exceeds the input", at);
    const start = this.pos;
    this.pos = end;
    return [start, end];
  }

  /** Move to the value at `path`, returning its [start, end) span. */
  seek(path: readonly PathPart[]): [number, number] {
    for (let i = 0; i < path.length; i++) {
      const want = path[i]!;
      const c = this.peek();
      if (typeof want === "number") {
        if (c !== 0x6c) this.fail("not_found", `Cannot find "${formatPath(path.slice(0, i + 1))}": not a list`);
        this.pos++;
        for (let n = 0; n < want; n++) {
          if (this.peek() === 0x65) this.fail("not_found", `Cannot find "${formatPath(path.slice(0, i + 1))}"`);
          this.skip(i + 1);
        }
        if (this.peek() === 0x65) this.fail("not_found", `Cannot find "${formatPath(path.slice(0, i + 1))}"`);
      } else {
        if (c !== 0x64) this.fail("not_found", `Cannot find "${formatPath(path.slice(0, i + 1))}": not a dict`);
        this.pos++;
        let found = false;
        let prev: Uint8Array | null = null;
        while (this.peek() !== 0x65) {
          const key = this.key(prev);
          prev = key.bytes;
          if (key.text === want) {
            found = true;
            break;
          }
          this.skip(i + 1);
        }
        if (!found) this.fail("not_found", `Cannot find "${formatPath(path.slice(0, i + 1))}"`);
      }
      this.#path.push(want);
    }
    const start = this.pos;
    return [start, this.skip(path.length)];
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * Decode exactly one bencoded value filling all of `bytes`.
 * @throws {BencodeError} unexpected_end, unexpected_byte, invalid_integer, integer_range, invalid_length,
 *   length_beyond_input, key_not_string, duplicate_key, unsorted_keys, too_deep, trailing_bytes
 */
export function decodeBencode(bytes: Uint8Array, options: DecodeOptions = {}): BencodeValue {
  const d = new Decoder(bytes, options);
  const value = d.value(0);
  if (d.pos !== bytes.length) d.fail("trailing_bytes", "Cannot decode bencode: trailing bytes after the value");
  return value;
}

/**
 * The [start, end) byte span of the value at `path` (dict keys and list indexes) inside `bytes`,
 * exactly as written (for the info hash: SHA-1 of the raw `info` span).
 * @throws {BencodeError} not_found, or any decode code met on the way
 */
export function bencodeSpan(
  bytes: Uint8Array,
  path: readonly (string | number)[],
  options: DecodeOptions = {},
): { start: number; end: number } {
  const d = new Decoder(bytes, options);
  const [start, end] = d.seek(path);
  return { start, end };
}

/** The raw bytes of the value at `path` (a view into `bytes`). @throws {BencodeError} as bencodeSpan */
export function rawValue(
  bytes: Uint8Array,
  path: readonly (string | number)[],
  options: DecodeOptions = {},
): Uint8Array {
  const { start, end } = bencodeSpan(bytes, path, options);
  return bytes.subarray(start, end);
}

class Writer {
  buf = new Uint8Array(256);
  len = 0;
  reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  byte(c: number): void {
    this.reserve(1);
    this.buf[this.len++] = c;
  }
  ascii(s: string): void {
    this.reserve(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.len++] = s.charCodeAt(i);
  }
  bytes(b: Uint8Array): void {
    this.ascii(String(b.length));
    this.byte(0x3a);
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
}

function latin1Key(key: string): Uint8Array {
  const out = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c > 0xff) {
      throw new BencodeError("invalid_key", `Cannot encode dict key "${key}": Map keys must be Latin-1`, {
        offset: 0,
        path: "",
      });
    }
    out[i] = c;
  }
  return out;
}

function encodeInto(w: Writer, value: BencodeInput, depth: number): void {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) {
      throw new BencodeError("integer_range", `Cannot encode integer: "${value}" is not a safe integer`, {
        offset: w.len,
        path: "",
      });
    }
    w.ascii(`i${value}e`);
  } else if (typeof value === "string") {
    w.bytes(utf8(value));
  } else if (value instanceof Uint8Array) {
    w.bytes(value);
  } else if (depth >= MAX_DEPTH) {
    // The decoder's rule: a container at depth MAX_DEPTH is too deep (what we write, we can read).
    throw new BencodeError("too_deep", `Cannot encode bencode: nesting deeper than ${MAX_DEPTH}`, {
      offset: w.len,
      path: "",
    });
  } else if (Array.isArray(value)) {
    w.byte(0x6c);
    for (const item of value as readonly BencodeInput[]) encodeInto(w, item, depth + 1);
    w.byte(0x65);
  } else {
    const entries: [Uint8Array, BencodeInput][] = [];
    if (value instanceof Map) {
      for (const [k, v] of value as ReadonlyMap<string, BencodeInput>) entries.push([latin1Key(k), v]);
    } else {
      for (const [k, v] of Object.entries(value as Record<string, BencodeInput | undefined>)) {
        if (v !== undefined) entries.push([utf8(k), v]);
      }
    }
    entries.sort((a, b) => compareBytes(a[0], b[0]));
    w.byte(0x64);
    for (let i = 0; i < entries.length; i++) {
      const [k, v] = entries[i]!;
      if (i > 0 && compareBytes(entries[i - 1]![0], k) === 0) {
        throw new BencodeError("duplicate_key", `Cannot encode dict: duplicate key "${toLatin1(k)}"`, {
          offset: w.len,
          path: "",
        });
      }
      w.bytes(k);
      encodeInto(w, v, depth + 1);
    }
    w.byte(0x65);
  }
}

/**
 * Canonical bencode of `value`: dict keys sorted bytewise, integers without leading zeros.
 * @throws {BencodeError} integer_range, duplicate_key, invalid_key, too_deep
 */
export function encodeBencode(value: BencodeInput): Uint8Array {
  const w = new Writer();
  encodeInto(w, value, 0);
  return w.buf.slice(0, w.len);
}

/** True when `v` is a decoded dict. */
export function isDict(v: BencodeValue | undefined): v is BencodeDict {
  return v instanceof Map;
}

/** True when `v` is a decoded byte string. */
export function isBytes(v: BencodeValue | undefined): v is Uint8Array {
  return v instanceof Uint8Array;
}
