// Byte helpers: hex, concat, equality, ordering, big-endian integers and byte-exact percent coding.
// Pure functions over Uint8Array; imports nothing but errors.

const HEX_DIGITS = "0123456789abcdef";
const HEX_TABLE: string[] = Array.from({ length: 256 }, (_, i) => HEX_DIGITS[i >> 4]! + HEX_DIGITS[i & 15]!);

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX_TABLE[bytes[i]!]!;
  return out;
}

/** The value of each byte as a hex digit, either case (-1 for anything else): for decoders that read hex in place. */
export const HEX_DIGIT_VALUES: Int8Array = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let d = 0; d < 10; d++) t[48 + d] = d;
  for (let d = 0; d < 6; d++) t[97 + d] = t[65 + d] = 10 + d;
  return t;
})();

/** The value of the hex digit whose char code is `code` (either case), or -1. */
export function hexDigitValue(code: number): number {
  return code < 256 ? HEX_DIGIT_VALUES[code]! : -1;
}

/** Parse hex (either case) into bytes; returns null when `text` is not even-length hex. */
export function fromHex(text: string): Uint8Array | null {
  if (text.length % 2 !== 0) return null;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hexDigitValue(text.charCodeAt(2 * i));
    const lo = hexDigitValue(text.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) return null;
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/** Concatenate byte arrays into a new one. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** True when `a` and `b` hold the same bytes. */
export function equals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Compare `a` and `b` in constant time for equal lengths (for secrets such as passkeys). */
export function timingSafeEquals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Bytewise lexicographic order: negative, zero or positive. */
export function compare(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Read an unsigned 16-bit big-endian integer. */
export function readU16BE(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

/** Read an unsigned 32-bit big-endian integer. */
export function readU32BE(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) >>> 0) + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
}

/** Read a signed 32-bit big-endian integer. */
export function readI32BE(b: Uint8Array, at: number): number {
  return (b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!;
}

/** Read an unsigned 64-bit big-endian integer as bigint. */
export function readU64BE(b: Uint8Array, at: number): bigint {
  return (BigInt(readU32BE(b, at)) << 32n) | BigInt(readU32BE(b, at + 4));
}

/** Write an unsigned 16-bit big-endian integer. */
export function writeU16BE(b: Uint8Array, at: number, value: number): void {
  b[at] = (value >>> 8) & 0xff;
  b[at + 1] = value & 0xff;
}

/** Write a 32-bit big-endian integer (signed or unsigned bit pattern). */
export function writeU32BE(b: Uint8Array, at: number, value: number): void {
  b[at] = (value >>> 24) & 0xff;
  b[at + 1] = (value >>> 16) & 0xff;
  b[at + 2] = (value >>> 8) & 0xff;
  b[at + 3] = value & 0xff;
}

/** Write an unsigned 64-bit big-endian integer. */
export function writeU64BE(b: Uint8Array, at: number, value: bigint): void {
  writeU32BE(b, at, Number((value >> 32n) & 0xffffffffn));
  writeU32BE(b, at + 4, Number(value & 0xffffffffn));
}

/**
 * Decode `%XX` escapes (either hex case) byte-exactly; every other character is kept as its
 * Latin-1 byte, and `+` stays a literal `+` (opentracker's rule, see INTEROP.md 1).
 * Returns null on a malformed escape or a character above U+00FF.
 */
export function percentDecode(text: string): Uint8Array | null {
  const out = new Uint8Array(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 37) {
      const hi = hexDigitValue(text.charCodeAt(i + 1));
      const lo = hexDigitValue(text.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return null;
      out[n++] = (hi << 4) | lo;
      i += 2;
    } else if (c > 0xff) {
      return null;
    } else {
      out[n++] = c;
    }
  }
  return out.subarray(0, n);
}

function isUnreserved(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 46 ||
    c === 95 || c === 126;
}

/** Percent-encode every byte outside `A-Za-z0-9.-_~` (never emits `+`). */
export function percentEncode(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    out += isUnreserved(c) ? String.fromCharCode(c) : "%" + HEX_TABLE[c]!;
  }
  return out;
}

const UTF8_ENCODER = new TextEncoder();
const UTF8_DECODER = new TextDecoder();

/** UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array {
  return UTF8_ENCODER.encode(text);
}

/** Text of UTF-8 `bytes` (invalid sequences become U+FFFD). */
export function fromUtf8(bytes: Uint8Array): string {
  return UTF8_DECODER.decode(bytes);
}

/** Bytes per String.fromCharCode call in toLatin1 (far below engines' argument-count limits). */
const LATIN1_CHUNK_BYTES = 8192;

/** One JS char per byte (Latin-1): a lossless string key for binary data. */
export function toLatin1(bytes: Uint8Array): string {
  // apply() over the typed array itself is the fastest form for short keys (no spread, no per-char concatenation);
  // chunks keep the argument count bounded for long inputs.
  if (bytes.length <= LATIN1_CHUNK_BYTES) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  let out = "";
  for (let i = 0; i < bytes.length; i += LATIN1_CHUNK_BYTES) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + LATIN1_CHUNK_BYTES) as unknown as number[]);
  }
  return out;
}

/** Inverse of `toLatin1`. */
export function fromLatin1(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

/**
 * Read the whole body of a Request or Response, or return null once it passes `maxBytes` (declared by
 * Content-Length or counted while streaming); the rest of an oversized body is cancelled, never buffered.
 */
export async function readBodyCapped(
  message: { readonly body: ReadableStream<Uint8Array> | null; readonly headers: Headers },
  maxBytes: number,
): Promise<Uint8Array | null> {
  const body = message.body;
  if (body === null) return new Uint8Array(0);
  if (Number(message.headers.get("content-length") ?? "0") > maxBytes) {
    await body.cancel();
    return null;
  }
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return concat(chunks);
}

/** Bytes per slab of allocBytes: one fresh ArrayBuffer serves many small allocations. */
const SLAB_BYTES = 64 * 1024;
/** Requests above this size get their own buffer (a slab's tail stays useful). */
const SLAB_MAX_REQUEST = 4 * 1024;
let slab = new Uint8Array(0);
let slabAt = 0;

/**
 * A zero-filled `Uint8Array` of `length` bytes, like `new Uint8Array(length)` but carved from a shared slab: in Deno
 * 2.9 every fresh ArrayBuffer costs about 1 µs (measured: `new Uint8Array(20)` 0.86 µs, a view 0.04 µs), which is
 * most of a tracker announce's own cost. Regions are never reused (a bump pointer; a new slab when full), so a
 * result may be kept or handed to Deno (a Response body, a datagram) like any array. Its `.buffer` is the slab:
 * never transfer or detach it, and always honour `byteOffset`.
 */
export function allocBytes(length: number): Uint8Array<ArrayBuffer> {
  if (length > SLAB_MAX_REQUEST) return new Uint8Array(length);
  if (slabAt + length > slab.length) {
    slab = new Uint8Array(SLAB_BYTES);
    slabAt = 0;
  }
  const out = slab.subarray(slabAt, slabAt + length);
  // 8-byte steps keep later views aligned (cheap reads of whole words by anyone who wants them).
  slabAt += (length + 7) & ~7;
  return out;
}
