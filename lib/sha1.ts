// SHA-1: the one file that says how btool computes SHA-1, and where each implementation is used (figures in
// docs/PERFORMANCE.md, "create" and "peer"):
// - WebCrypto (sha1() here), the default: info hashes, peer/verify piece checks, and create's piece hashes of small
//   inputs in pieces of up to 64 KiB; several digests in flight, since each runs off the JS thread.
// - node:crypto (lib/_sha1_node.ts), for create's other piece hashes only, on every hashing thread (the main thread
//   and the hash Workers): there WebCrypto costs measurably more than 5% more (issue #18's exception: it copies each
//   piece, and from 128 KiB a copy is a fresh mapping; lib/create_hashing.ts draws the line).
//   Imported only by create's hashers (tests/unit/sha1_test.ts checks); on the main thread it adds little, since
//   node:util already started the runtime's Node layer.
// - OpenSSL's SHA1() through FFI (openLibcSha1() here), opt-in only: `btool create --sha1 libc`; same bytes, same
//   caps as the default, its gain measured in docs/PERFORMANCE.md.
// - sha1Short(), plain JS, for the few synchronous callers of short inputs (a derived key).

import { BtoolError, errorText } from "./errors.ts";

/** Length of a SHA-1 digest in bytes. */
export const SHA1_BYTES = 20;

/** Largest input sha1Short accepts: it is a plain-JS fallback for keys, not for piece data. */
export const SHA1_SHORT_MAX_BYTES = 4096;

/**
 * SHA-1 digest (20 bytes) of `data`, by WebCrypto. The bytes are copied when called (WebCrypto's rule), so the
 * caller may reuse `data` as soon as this returns, before the promise settles.
 */
export async function sha1(data: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.digest("SHA-1", data as Uint8Array<ArrayBuffer>));
}

/** Synchronous SHA-1 of `data` into `out[at, at + 20)` (create's piece hashes: node:crypto or OpenSSL). */
export type SyncSha1 = (data: Uint8Array, out: Uint8Array, at: number) => void;

/** How `btool create` hashes pieces: "deno" (the default: the runtime's node:crypto) or "libc" (FFI). */
export type Sha1Choice = "deno" | "libc";

const LIBCRYPTO_SYMBOLS = {
  SHA1: { parameters: ["buffer", "usize", "buffer"], result: "pointer" },
} as const;

let libc: SyncSha1 | undefined;

/**
 * OpenSSL's SHA1() (libcrypto.so.3, the code mktorrent runs) through FFI, opened once per thread. Only for
 * `btool create --sha1 libc`: asked for, it must work or fail clearly, never fall back.
 * @throws {BtoolError} sha1_unavailable (not Linux, no --allow-ffi, no libcrypto.so.3)
 */
export function openLibcSha1(): SyncSha1 {
  if (libc !== undefined) return libc;
  const fail = (why: string, cause?: unknown): never => {
    throw new BtoolError(
      "sha1_unavailable",
      `Cannot hash with OpenSSL's SHA1() through FFI (--sha1 libc): ${why}`,
      cause === undefined ? undefined : { cause },
    );
  };
  if (Deno.build.os !== "linux") fail(`it needs Linux (this is ${Deno.build.os})`);
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") fail("it needs --allow-ffi");
  let lib: Deno.DynamicLibrary<typeof LIBCRYPTO_SYMBOLS>;
  try {
    lib = Deno.dlopen("libcrypto.so.3", LIBCRYPTO_SYMBOLS);
  } catch (err: unknown) {
    return fail(`libcrypto.so.3 could not be loaded (${errorText(err)})`, err);
  }
  const digest = new Uint8Array(SHA1_BYTES);
  libc = (data, out, at) => {
    // A view's pointer is its first byte; the call is synchronous, so nothing can move or detach it meanwhile.
    lib.symbols.SHA1(data as Uint8Array<ArrayBuffer>, BigInt(data.length), digest);
    out.set(digest, at);
  };
  return libc;
}

const W = new Int32Array(80);

/**
 * SHA-1 of a short input (at most SHA1_SHORT_MAX_BYTES), synchronously, in plain JS (FIPS 180-4 §6.1).
 * @throws {RangeError} when `data` is longer than SHA1_SHORT_MAX_BYTES
 */
export function sha1Short(data: Uint8Array): Uint8Array<ArrayBuffer> {
  if (data.length > SHA1_SHORT_MAX_BYTES) {
    throw new RangeError(`Cannot hash ${data.length} bytes with sha1Short: the limit is ${SHA1_SHORT_MAX_BYTES}`);
  }
  // Padding: 0x80, zeros, then the bit length as a 64-bit big-endian integer, to a multiple of 64 bytes.
  const padded = new Uint8Array(((data.length + 8) >>> 6) * 64 + 64);
  padded.set(data);
  padded[data.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 4, data.length * 8);
  let h0 = 0x67452301, h1 = 0xefcdab89 | 0, h2 = 0x98badcfe | 0, h3 = 0x10325476, h4 = 0xc3d2e1f0 | 0;
  for (let block = 0; block < padded.length; block += 64) {
    for (let t = 0; t < 16; t++) W[t] = view.getInt32(block + 4 * t);
    for (let t = 16; t < 80; t++) {
      const x = W[t - 3]! ^ W[t - 8]! ^ W[t - 14]! ^ W[t - 16]!;
      W[t] = (x << 1) | (x >>> 31);
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4;
    for (let t = 0; t < 80; t++) {
      const f = t < 20
        ? ((b & c) | (~b & d)) + 0x5a827999
        : t < 40
        ? (b ^ c ^ d) + 0x6ed9eba1
        : t < 60
        ? ((b & c) | (b & d) | (c & d)) + 0x8f1bbcdc
        : (b ^ c ^ d) + 0xca62c1d6;
      const temp = (((a << 5) | (a >>> 27)) + f + e + W[t]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = temp;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
  }
  const out = new Uint8Array(SHA1_BYTES);
  const outView = new DataView(out.buffer);
  [h0, h1, h2, h3, h4].forEach((h, i) => outView.setInt32(4 * i, h));
  return out;
}
