// SHA-1: the only file that decides how SHA-1 is computed. Data of any size goes through WebCrypto (async; the
// digest runs off the JS thread, so several can be in flight); sha1Short serves the few synchronous callers of
// short inputs (a derived key), where WebCrypto has no synchronous form. One path, create's hash job, hashes with
// the system's OpenSSL through FFI when it may (openNativeSha1): there WebCrypto costs 30-50% more CPU per byte and
// node:crypto 40-60 ms of start-up per thread (docs/PERFORMANCE.md).

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

/** Synchronous SHA-1 of `data` into `out[at, at + 20)`. */
export type NativeSha1 = (data: Uint8Array, out: Uint8Array, at: number) => void;

const LIBCRYPTO_SYMBOLS = {
  SHA1: { parameters: ["buffer", "usize", "buffer"], result: "pointer" },
} as const;

let native: NativeSha1 | null | undefined;

/**
 * OpenSSL's SHA1() (libcrypto.so.3, the code mktorrent runs) through FFI, opened once per thread; null where it
 * cannot be used (not Linux, no --allow-ffi, no libcrypto), and callers then use sha1(). For create's hash job only.
 */
export function openNativeSha1(): NativeSha1 | null {
  if (native !== undefined) return native;
  native = null;
  if (Deno.build.os !== "linux") return native;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return native;
    const lib = Deno.dlopen("libcrypto.so.3", LIBCRYPTO_SYMBOLS);
    const digest = new Uint8Array(SHA1_BYTES);
    native = (data, out, at) => {
      // A view's pointer is its first byte; the call is synchronous, so nothing can move or detach it meanwhile.
      lib.symbols.SHA1(data as Uint8Array<ArrayBuffer>, BigInt(data.length), digest);
      out.set(digest, at);
    };
  } catch {
    native = null;
  }
  return native;
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
