// HTTP/1.1 message syntax for the libc HTTP server (lib/tracker/_http_ffi.ts), RFC 9112: a request-head parser that
// works on bytes in place (no string until a caller asks for one), chunked body decoding and response heads.
// Pure functions and one reusable parser object: no sockets, no clock.
// It refuses what hyper (Deno.serve) refuses, with hyper's status (400), so that both stacks agree (measured with the
// same bytes, tests/integration/http_contract_test.ts): bare CR, whitespace before a header's colon, obs-fold, a
// repeated Host, Transfer-Encoding other than one "chunked" (and with Content-Length or in HTTP/1.0: smuggling), a
// Content-Length repeated with another value, a version other than HTTP/1.0 or 1.1, a head over the byte or line cap.
// Like hyper it takes bare LF line ends in the head, leading empty lines, no Host at all, and ignores an Expect other
// than 100-continue. Chunk lines must end in CRLF (hyper never completes a body without them).

import { toLatin1 } from "../bytes.ts";
import { MAX_HEADER_LINES } from "./http_limits.ts";

/** parse() result: the head is not complete yet. */
export const HEAD_INCOMPLETE = -1;
/** parse() result: a complete, valid head. */
export const HEAD_OK = 0;

const CR = 13, LF = 10, SP = 32, HT = 9, COLON = 58;

/** tchar of RFC 9110 (method and header-name characters). */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  TCHAR[c.charCodeAt(0)] = 1;
}

const decoder = new TextDecoder();

/** Lower-cased ASCII of `b[s, e)` equals `lower` (already lower case). */
function nameEquals(b: Uint8Array, s: number, e: number, lower: string): boolean {
  if (e - s !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) if ((b[s + i]! | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** Whether the comma-separated list `b[s, e)` holds `token` (lower case), case-insensitively. */
function hasToken(b: Uint8Array, s: number, e: number, token: string): boolean {
  let p = s;
  while (p < e) {
    let q = p;
    while (q < e && b[q] !== 44) q++;
    let a = p, z = q;
    while (a < z && (b[a] === SP || b[a] === HT)) a++;
    while (z > a && (b[z - 1] === SP || b[z - 1] === HT)) z--;
    if (nameEquals(b, a, z, token)) return true;
    p = q + 1;
  }
  return false;
}

/** `b[s, e)` as text, each byte one character (header values are ASCII; obs-text keeps its byte value). */
export function latin1(b: Uint8Array, s: number, e: number): string {
  return toLatin1(b.subarray(s, e));
}

/**
 * A request target `b[s, e)` as text: as sent when it is visible ASCII, else with each byte >= 0x80 percent-encoded
 * (as Deno.serve's URL parsing does), so that a client sending a raw info hash still means the same bytes.
 */
export function targetText(b: Uint8Array, s: number, e: number): string {
  let isRaw = false;
  for (let i = s; i < e && !isRaw; i++) isRaw = b[i]! >= 0x80;
  if (!isRaw) return decoder.decode(b.subarray(s, e));
  let out = "";
  for (let i = s; i < e; i++) {
    const c = b[i]!;
    out += c < 0x80 ? String.fromCharCode(c) : `%${c.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * A request-head parser, reused for every request of a server (its fields describe the last head parsed; offsets
 * point into the buffer given to parse(), valid until that buffer changes).
 */
export class RequestHeadParser {
  /** Just after the empty line that ends the head: where a body starts. */
  headEnd = 0;
  methodStart = 0;
  methodEnd = 0;
  targetStart = 0;
  targetEnd = 0;
  /** The target holds bytes outside visible ASCII (>= 0x80): targetText() percent-encodes them. */
  isTargetRaw = false;
  isGet = false;
  isHead = false;
  isHttp10 = false;
  /** The connection ends after this request's response. */
  isClose = false;
  /** -1 when absent. */
  contentLength = -1;
  isChunked = false;
  isExpectContinue = false;
  hostStart = -1;
  hostEnd = -1;
  /** Offsets of the header lines: name start, colon, value start, value end (four per line). */
  lines: number[] = [];

  /**
   * Parse the request head at `b[at...]` (`b` ends where the received bytes end).
   * @returns HEAD_OK, HEAD_INCOMPLETE, or the HTTP status to refuse it with (400; hyper's for all of these)
   */
  parse(b: Uint8Array, at: number, maxHeadBytes: number): number {
    const end = b.length;
    let p = at;
    // Empty lines before the request line (RFC 9112 2.2); a bare CR is not one.
    while (p < end && (b[p] === LF || (b[p] === CR && b[p + 1] === LF))) p += b[p] === CR ? 2 : 1;
    let nl = b.indexOf(LF, p);
    // The limit counts from `at`: empty lines before the request line count too (else they pile up unbounded).
    if (nl < 0) return end - at > maxHeadBytes ? 400 : HEAD_INCOMPLETE;
    let le = nl > p && b[nl - 1] === CR ? nl - 1 : nl;
    // Request line: method SP target SP HTTP/1.x
    let q = p;
    while (q < le && b[q]! < 128 && TCHAR[b[q]!] === 1) q++;
    if (q === p || q >= le || b[q] !== SP) return 400;
    this.methodStart = p;
    this.methodEnd = q;
    const ml = q - p;
    this.isGet = ml === 3 && b[p] === 71 && b[p + 1] === 69 && b[p + 2] === 84;
    this.isHead = ml === 4 && b[p] === 72 && b[p + 1] === 69 && b[p + 2] === 65 && b[p + 3] === 68;
    q++;
    this.targetStart = q;
    let isRaw = false;
    for (; q < le; q++) {
      const c = b[q]!;
      if (c <= SP || c === 0x7f) break;
      if (c >= 0x80) isRaw = true;
    }
    this.targetEnd = q;
    this.isTargetRaw = isRaw;
    if (q === this.targetStart || q >= le || b[q] !== SP) return 400;
    q++;
    if (
      le - q !== 8 || b[q] !== 72 || b[q + 1] !== 84 || b[q + 2] !== 84 || b[q + 3] !== 80 || b[q + 4] !== 47 ||
      b[q + 6] !== 46
    ) return 400;
    const major = b[q + 5]! - 48, minor = b[q + 7]! - 48;
    if (major < 0 || major > 9 || minor < 0 || minor > 9) return 400;
    if (major !== 1 || minor > 1) return 400;
    this.isHttp10 = minor === 0;
    let isClose = false, isKeepAlive = false, isChunked = false, hasTransferEncoding = false;
    let contentLength = -1, isExpectContinue = false;
    this.hostStart = this.hostEnd = -1;
    const lines = this.lines;
    lines.length = 0;
    for (;;) {
      const ls = nl + 1;
      nl = b.indexOf(LF, ls);
      if (nl < 0) return end - at > maxHeadBytes ? 400 : HEAD_INCOMPLETE;
      le = nl > ls && b[nl - 1] === CR ? nl - 1 : nl;
      if (le === ls) break;
      if (lines.length >= MAX_HEADER_LINES * 4 || nl + 1 - at > maxHeadBytes) return 400;
      if (b[ls] === SP || b[ls] === HT) return 400; // obs-fold
      let colon = ls;
      while (colon < le && b[colon]! < 128 && TCHAR[b[colon]!] === 1) colon++;
      if (colon === ls || colon >= le || b[colon] !== COLON) return 400;
      let vs = colon + 1, ve = le;
      while (vs < ve && (b[vs] === SP || b[vs] === HT)) vs++;
      while (ve > vs && (b[ve - 1] === SP || b[ve - 1] === HT)) ve--;
      for (let i = vs; i < ve; i++) {
        const c = b[i]!;
        if ((c < SP && c !== HT) || c === 0x7f) return 400;
      }
      lines.push(ls, colon, vs, ve);
      switch (colon - ls) {
        case 4:
          if (nameEquals(b, ls, colon, "host")) {
            if (this.hostStart >= 0) return 400; // two Hosts: which one names the target? (hyper: 400)
            this.hostStart = vs;
            this.hostEnd = ve;
          }
          break;
        case 6:
          // Any other expectation is ignored, as hyper does.
          if (nameEquals(b, ls, colon, "expect") && nameEquals(b, vs, ve, "100-continue")) isExpectContinue = true;
          break;
        case 10:
          if (nameEquals(b, ls, colon, "connection")) {
            if (hasToken(b, vs, ve, "close")) isClose = true;
            if (hasToken(b, vs, ve, "keep-alive")) isKeepAlive = true;
          }
          break;
        case 14:
          if (nameEquals(b, ls, colon, "content-length")) {
            if (ve === vs || ve - vs > 15) return 400;
            let n = 0;
            for (let i = vs; i < ve; i++) {
              const d = b[i]! - 48;
              if (d < 0 || d > 9) return 400;
              n = n * 10 + d;
            }
            if (contentLength >= 0 && contentLength !== n) return 400;
            contentLength = n;
          }
          break;
        case 17:
          if (nameEquals(b, ls, colon, "transfer-encoding")) {
            // Exactly one "chunked": a coding list, or a second header, is where proxies and servers disagree.
            if (hasTransferEncoding || !nameEquals(b, vs, ve, "chunked")) return 400;
            hasTransferEncoding = isChunked = true;
          }
          break;
      }
    }
    this.headEnd = nl + 1;
    if (this.headEnd - at > maxHeadBytes) return 400;
    if (hasTransferEncoding && (contentLength >= 0 || this.isHttp10)) return 400;
    this.contentLength = contentLength;
    this.isChunked = isChunked;
    this.isExpectContinue = isExpectContinue;
    this.isClose = this.isHttp10 ? !isKeepAlive : isClose;
    return HEAD_OK;
  }

  /** The method, as sent. */
  methodText(b: Uint8Array): string {
    return decoder.decode(b.subarray(this.methodStart, this.methodEnd));
  }

  /**
   * The request target as text: as sent when it is visible ASCII, else with each byte >= 0x80 percent-encoded (as
   * Deno.serve's URL parsing does), so that a client sending a raw info hash still means the same bytes.
   */
  targetText(b: Uint8Array): string {
    return targetText(b, this.targetStart, this.targetEnd);
  }

  /** The Host header's value, or null. */
  hostText(b: Uint8Array): string | null {
    return this.hostStart < 0 ? null : latin1(b, this.hostStart, this.hostEnd);
  }

  /** The first header named `lowerName` (lower case), or null; several are joined with ", " (as Headers.get). */
  header(b: Uint8Array, lowerName: string): string | null {
    let out: string | null = null;
    const lines = this.lines;
    for (let i = 0; i < lines.length; i += 4) {
      if (!nameEquals(b, lines[i]!, lines[i + 1]!, lowerName)) continue;
      const v = latin1(b, lines[i + 2]!, lines[i + 3]!);
      out = out === null ? v : `${out}, ${v}`;
    }
    return out;
  }

  /** Every header as [name, value] pairs, in order. */
  headerList(b: Uint8Array): [string, string][] {
    const out: [string, string][] = [];
    const lines = this.lines;
    for (let i = 0; i < lines.length; i += 4) {
      out.push([latin1(b, lines[i]!, lines[i + 1]!), latin1(b, lines[i + 2]!, lines[i + 3]!)]);
    }
    return out;
  }
}

/**
 * Whether `b[from...]` holds the empty line that ends a head ("\n\n" or "\n\r\n"): a cheap test before parse(), so
 * that a head arriving in pieces is searched once per byte instead of parsed again after every piece.
 */
export function hasHeadEnd(b: Uint8Array, from: number): boolean {
  for (let nl = b.indexOf(LF, from); nl >= 0; nl = b.indexOf(LF, nl + 1)) {
    if (b[nl + 1] === LF || (b[nl + 1] === CR && b[nl + 2] === LF)) return true;
  }
  return false;
}

/** Where decodeChunked stopped in a body not yet complete; it goes on from there when more bytes arrive. */
export interface ChunkState {
  /** Offset, from the body's start, of the next chunk-size line. */
  next: number;
  total: number;
  /** Data ranges of the chunks so far, as offsets from the body's start. */
  parts: number[];
}

/** A fresh ChunkState. */
export function createChunkState(): ChunkState {
  return { next: 0, total: 0, parts: [] };
}

/** A decoded chunked body and where the message after it starts. */
export interface ChunkedBody {
  body: Uint8Array;
  end: number;
}

/** Most bytes of one chunk-size line (with its extensions), and of all trailer lines together. */
const MAX_CHUNK_LINE = 4096;

/**
 * Decode a chunked body starting at `b[at]` (RFC 9112 7.1; extensions and trailers are read and dropped). With
 * `state`, a call goes on where the previous one on the same body stopped (each byte is examined once however the
 * body is split); the caller passes a fresh state per body.
 * @returns the body, HEAD_INCOMPLETE, or the status to refuse it with (400 malformed, 413 over `maxBodyBytes`)
 */
export function decodeChunked(
  b: Uint8Array,
  at: number,
  maxBodyBytes: number,
  state: ChunkState = createChunkState(),
): ChunkedBody | number {
  let p = at + state.next;
  for (;;) {
    const nl = b.indexOf(LF, p);
    if (nl < 0) return b.length - p > MAX_CHUNK_LINE ? 400 : HEAD_INCOMPLETE;
    let q = p, size = 0;
    for (; q < nl; q++) {
      const c = b[q]! | 0x20;
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
      if (d < 0) break;
      if (q - p >= 8) return 400;
      size = size * 16 + d;
    }
    if (q === p || (q < nl && b[q] !== 59 && b[q] !== CR && b[q] !== SP && b[q] !== HT)) return 400;
    if (b[nl - 1] !== CR) return 400;
    let d = nl + 1;
    if (size === 0) {
      // Trailer lines, then the empty line: MAX_CHUNK_LINE for all of them (they are read again until whole).
      const trailers = d;
      for (;;) {
        const t = b.indexOf(LF, d);
        if (t < 0) return b.length - trailers > MAX_CHUNK_LINE ? 400 : HEAD_INCOMPLETE;
        if (t === d || b[t - 1] !== CR || t - trailers > MAX_CHUNK_LINE) return 400;
        const isEmpty = t === d + 1;
        d = t + 1;
        if (isEmpty) break;
      }
      const body = new Uint8Array(state.total);
      let o = 0;
      for (let i = 0; i < state.parts.length; i += 2) {
        body.set(b.subarray(at + state.parts[i]!, at + state.parts[i + 1]!), o);
        o += state.parts[i + 1]! - state.parts[i]!;
      }
      return { body, end: d };
    }
    if (state.total + size > maxBodyBytes) return 413;
    if (d + size + 1 > b.length) return HEAD_INCOMPLETE;
    const dataEnd = d + size;
    d = dataEnd;
    if (b[d] !== CR) return 400;
    if (d + 1 >= b.length) return HEAD_INCOMPLETE;
    d++;
    if (b[d] !== LF) return 400;
    // This chunk is whole: remember it, so that the next call starts after it.
    state.parts.push(nl + 1 - at, dataEnd - at);
    state.total += size;
    p = d + 1;
    state.next = p - at;
  }
}

const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  201: "Created",
  204: "No Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  411: "Length Required",
  413: "Content Too Large",
  417: "Expectation Failed",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

/** The reason phrase of `status` ("Status" for ones not listed). */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? "Status";
}

/** Whether a response with `status` carries no body and no Content-Length (1xx, 204, 304). */
export function isBodiless(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

/** What a response head says about the connection: nothing (HTTP/1.1 default), close, or keep-alive (HTTP/1.0). */
export type ConnectionHeader = "" | "close" | "keep-alive";

/**
 * A response head: status line, `headers` (Content-Length, Transfer-Encoding, Connection and Date among them are
 * dropped: this function writes its own), Date, Content-Length (unless bodiless) and Connection.
 */
export function responseHead(
  status: number,
  headers: Iterable<[string, string]>,
  contentLength: number,
  connection: ConnectionHeader,
  date: string,
): string {
  let head = `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n`;
  for (const [name, value] of headers) {
    const n = name.toLowerCase();
    if (n === "content-length" || n === "transfer-encoding" || n === "connection" || n === "date") continue;
    head += `${name}: ${value}\r\n`;
  }
  head += `date: ${date}\r\n`;
  if (!isBodiless(status)) head += `content-length: ${contentLength}\r\n`;
  if (connection !== "") head += `connection: ${connection}\r\n`;
  return head + "\r\n";
}

/** An IMF-fixdate (RFC 9110 5.6.7) for `ms`. */
export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}
