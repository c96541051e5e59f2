// HTTP tracker codec (BEP 3, 23, 7, 48): query string → AnnounceRequest / scrape hashes; results and failures → bencode.
// `info_hash`/`peer_id` are decoded byte-exactly (%XX either case, `+` literal: INTEROP.md 1; the same rule as
// bytes.ts percentDecode, fused with the length check for the hot path). Pure: no sockets.
// Replies are written straight into one exact-size buffer (hot path); keys are in bencode's sorted order.

import { encodeBencode } from "../bencode.ts";
import { allocBytes, fromLatin1, HEX_DIGIT_VALUES, toLatin1 } from "../bytes.ts";
import { TrackerError } from "../errors.ts";
import {
  type AnnounceEvent,
  type AnnounceRequest,
  type AnnounceResult,
  clampNumWant,
  COMPACT_PEER4_BYTES,
  COMPACT_PEER6_BYTES,
  DEFAULT_NUMWANT_MAX,
  formatIp,
  INFO_HASH_BYTES,
  keyFromBytes,
  MAX_KEY_CHARS,
  MAX_QUERY_CHARS,
  MAX_QUERY_PARAMS,
  MAX_SCRAPE_HASHES,
  PEER_ID_BYTES,
  type ScrapeResult,
} from "./announce.ts";

/** Options of parseAnnounceQuery. */
export interface ParseAnnounceOptions {
  /** Cap for `numwant` (default DEFAULT_NUMWANT_MAX). */
  numWantMax?: number;
  /** Where the query starts in the text (default 0): a server may pass the whole request URL and the index after `?`. */
  start?: number;
}

/**
 * Decode the value at `b[start...]` up to the next `&` (or `end`), a percent-encoded fixed-size value (INTEROP.md 1:
 * %XX either case, `+` literal; a raw byte stands for itself), into `out` (exactly `out.length` bytes); returns where
 * the value ends.
 */
function decodeHashParam(b: Uint8Array, start: number, end: number, name: string, out: Uint8Array): number {
  const bytes = out.length;
  let n = 0;
  let i = start;
  // Hot path: one pass (finding the value's end on the way), a table for hex digits, the error paths out of line.
  while (i < end) {
    const c = b[i]!;
    if (c === 38) break;
    if (n === bytes) throw hashError(name, `more than ${bytes} bytes`);
    if (c === 37) {
      if (i + 2 >= end) throw hashError(name, "bad percent-encoding");
      const hi = HEX_DIGIT_VALUES[b[i + 1]!]!;
      const lo = HEX_DIGIT_VALUES[b[i + 2]!]!;
      if ((hi | lo) < 0) throw hashError(name, "bad percent-encoding");
      out[n++] = (hi << 4) | lo;
      i += 3;
    } else {
      out[n++] = c;
      i++;
    }
  }
  if (n !== bytes) throw hashError(name, `expected ${bytes} bytes, got ${n}`);
  return i;
}

/** Where the value at `b[start...]` ends: the next `&`, or `end`. */
function skipValue(b: Uint8Array, start: number, end: number): number {
  let i = start;
  while (i < end && b[i] !== 38) i++;
  return i;
}

function hashError(name: string, detail: string): TrackerError {
  return new TrackerError(`invalid_${name}`, `Invalid ${name}: ${detail}`);
}

/** The bytes of the last textToBytes, grown on demand. */
let textScratch = new Uint8Array(1024);

/**
 * Write `text` from index `start` into `textScratch`, one byte per char; returns the length. A char above U+00FF (no
 * HTTP client sends one) becomes "%%", which no value accepts as an escape.
 */
function textToBytes(text: string, start: number): number {
  if (textScratch.length < 2 * (text.length - start)) textScratch = new Uint8Array(2 * (text.length - start));
  const b = textScratch;
  let n = 0;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) {
      b[n++] = 37;
      b[n++] = 37;
    } else b[n++] = c;
  }
  return n;
}

/**
 * A short value `b[start, end)` as text, each byte >= 0x80 percent-encoded: a raw byte in the request target means
 * here what the text path (URL parsing percent-encodes it) sees.
 */
function valueText(b: Uint8Array, start: number, end: number): string {
  let out = "";
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    out += c < 0x80 ? String.fromCharCode(c) : `%${c.toString(16).toUpperCase()}`;
  }
  return out;
}

/** The length of valueText(b, start, end): caps apply to the text kept, as on the text path (a raw byte is "%XX"). */
function textLength(b: Uint8Array, start: number, end: number): number {
  let n = end - start;
  for (let i = start; i < end; i++) if (b[i]! >= 0x80) n += 2;
  return n;
}

/** Where the value read by the last parseCount ended. */
let lastCountEnd = 0;

/**
 * The decimal integer value at `b[start...]` up to the next `&` (or `end`; where it ends goes to `lastCountEnd`): negative
 * values clamp to 0, values beyond 2^53 - 1 clamp to MAX_SAFE_INTEGER (clients send 2^63 - 1 for "unknown" left).
 * Anything that is not `-?digits` is refused.
 */
function parseCount(b: Uint8Array, start: number, end: number, name: string): number {
  const isNegative = b[start] === 45;
  const from = isNegative ? start + 1 : start;
  let n = 0;
  let i = from;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c === 38) break;
    const d = c - 48;
    if (d < 0 || d > 9) throw countError(b, start, skipValue(b, i, end), name);
    n = n * 10 + d;
  }
  if (i === from) throw countError(b, start, i, name);
  lastCountEnd = i;
  if (isNegative) return 0;
  return n > Number.MAX_SAFE_INTEGER ? Number.MAX_SAFE_INTEGER : n;
}

function countError(b: Uint8Array, start: number, end: number, name: string): TrackerError {
  return new TrackerError(
    `invalid_${name}`,
    `Invalid ${name}: "${valueText(b, start, Math.min(end, start + 32))}"`,
  );
}

const EVENTS: readonly [Uint8Array, AnnounceEvent][] = (["started", "completed", "stopped", "paused"] as const)
  .map((e) => [fromLatin1(e), e]);

function parseEvent(b: Uint8Array, start: number, end: number): AnnounceEvent {
  for (const [name, event] of EVENTS) if (isName(b, start, end, name)) return event;
  // Empty, absent or unknown: a regular announce (INTEROP.md 5).
  return "none";
}

/** `b[start, end)` is exactly `name`. */
function isName(b: Uint8Array, start: number, end: number, name: Uint8Array): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (b[start + i] !== name[i]) return false;
  return true;
}

// Parameter names, by length (the parser switches on the length first).
const P_INFO_HASH = fromLatin1("info_hash");
const P_TRACKERID = fromLatin1("trackerid");
const P_PEER_ID = fromLatin1("peer_id");
const P_NUMWANT = fromLatin1("numwant");
const P_COMPACT = fromLatin1("compact");
const P_PORT = fromLatin1("port");
const P_LEFT = fromLatin1("left");
const P_UPLOADED = fromLatin1("uploaded");
const P_DOWNLOADED = fromLatin1("downloaded");
const P_NO_PEER_ID = fromLatin1("no_peer_id");
const P_EVENT = fromLatin1("event");
const P_IP = fromLatin1("ip");
const P_KEY = fromLatin1("key");

/**
 * The announce query parser, straight from bytes (a request's target as it arrived: no text on the hot path). One
 * instance keeps one AnnounceRequest and its two id arrays and refills them on each `parse`: the result is valid until
 * the next call (the tracker and the swarm store copy what they keep).
 */
export class AnnounceQueryParser {
  readonly #infoHash = new Uint8Array(INFO_HASH_BYTES);
  readonly #peerId = new Uint8Array(PEER_ID_BYTES);
  readonly #req: AnnounceRequest = {
    infoHash: this.#infoHash,
    peerId: this.#peerId,
    port: 0,
    uploaded: 0,
    downloaded: 0,
    left: 0,
    event: "none",
    numWant: 0,
    isCompact: true,
    isNoPeerId: false,
    ipParam: undefined,
    key: undefined,
    trackerId: undefined,
  };
  /**
   * Parse the query `b[start, end)` (without the `?`).
   * @throws {TrackerError} query_too_long, missing_info_hash, missing_peer_id, missing_port, missing_left,
   *   invalid_info_hash, invalid_peer_id, invalid_port, invalid_uploaded, invalid_downloaded, invalid_left,
   *   invalid_numwant
   */
  parse(b: Uint8Array, start: number, end: number, numWantMax: number = DEFAULT_NUMWANT_MAX): AnnounceRequest {
    // Counted as the text path counts it (a raw byte is "%XX"); only a long query needs the count.
    if (end - start > MAX_QUERY_CHARS / 3 && textLength(b, start, end) > MAX_QUERY_CHARS) {
      throw new TrackerError("query_too_long", "Request query is too long");
    }
    return this.#parse(b, start, end, numWantMax);
  }

  /**
   * Parse the query in `text` from index `start` (a whole URL may be passed with the index after `?`), as its bytes
   * (see textToBytes).
   * @throws {TrackerError} as `parse`
   */
  parseText(text: string, start: number, numWantMax: number = DEFAULT_NUMWANT_MAX): AnnounceRequest {
    if (text.length - start > MAX_QUERY_CHARS) throw new TrackerError("query_too_long", "Request query is too long");
    const n = textToBytes(text, start);
    return this.#parse(textScratch, 0, n, numWantMax);
  }

  #parse(b: Uint8Array, start: number, end: number, numWantMax: number): AnnounceRequest {
    const req = this.#req;
    let hasInfoHash = false;
    let hasPeerId = false;
    let port = -1;
    let left = -1;
    let numWant: number | undefined;
    req.uploaded = req.downloaded = 0;
    req.event = "none";
    req.isCompact = true;
    req.isNoPeerId = false;
    req.ipParam = req.key = req.trackerId = undefined;
    // Names are matched in place and values parsed where they lie, in one pass: each value's reader finds its end
    // (the next `&`). Nothing is copied but the values kept as text.
    let at = start;
    for (let params = 0; at <= end && params < MAX_QUERY_PARAMS; params++) {
      const param = at;
      let eq = at;
      while (eq < end) {
        const c = b[eq]!;
        if (c === 61 || c === 38) break;
        eq++;
      }
      // The name is [param, eq); the value starts at v (empty when there is no "=").
      const v = eq < end && b[eq] === 61 ? eq + 1 : eq;
      let amp = -1;
      switch (eq - param) {
        case 9:
          if (isName(b, param, eq, P_INFO_HASH)) {
            // The first one wins; a scrape-style repeat is not an announce's business.
            if (!hasInfoHash) amp = decodeHashParam(b, v, end, "info_hash", this.#infoHash);
            hasInfoHash = true;
          } else if (isName(b, param, eq, P_TRACKERID)) {
            amp = skipValue(b, v, end);
            if (textLength(b, v, amp) <= MAX_KEY_CHARS) req.trackerId = valueText(b, v, amp);
          }
          break;
        case 7:
          if (isName(b, param, eq, P_PEER_ID)) {
            if (!hasPeerId) amp = decodeHashParam(b, v, end, "peer_id", this.#peerId);
            hasPeerId = true;
          } else if (isName(b, param, eq, P_NUMWANT)) {
            // A negative numwant (some clients send -1) means "the default".
            if (b[v] === 45) numWant = undefined;
            else {
              numWant = parseCount(b, v, end, "numwant");
              amp = lastCountEnd;
            }
          } else if (isName(b, param, eq, P_COMPACT)) {
            amp = skipValue(b, v, end);
            req.isCompact = !(amp - v === 1 && b[v] === 48);
          }
          break;
        case 4:
          if (isName(b, param, eq, P_PORT)) {
            port = v === end || b[v] === 38 || b[v] === 45 ? -1 : parseCount(b, v, end, "port");
            if (port < 1 || port > 65535) {
              throw new TrackerError(
                "invalid_port",
                `Invalid port: "${valueText(b, v, Math.min(skipValue(b, v, end), v + 32))}"`,
              );
            }
            amp = lastCountEnd;
          } else if (isName(b, param, eq, P_LEFT)) {
            left = parseCount(b, v, end, "left");
            amp = lastCountEnd;
          }
          break;
        case 8:
          if (isName(b, param, eq, P_UPLOADED)) {
            req.uploaded = parseCount(b, v, end, "uploaded");
            amp = lastCountEnd;
          }
          break;
        case 10:
          if (isName(b, param, eq, P_DOWNLOADED)) {
            req.downloaded = parseCount(b, v, end, "downloaded");
            amp = lastCountEnd;
          } else if (isName(b, param, eq, P_NO_PEER_ID)) {
            amp = skipValue(b, v, end);
            req.isNoPeerId = !(amp - v === 1 && b[v] === 48);
          }
          break;
        case 5:
          if (isName(b, param, eq, P_EVENT)) {
            amp = skipValue(b, v, end);
            req.event = parseEvent(b, v, amp);
          }
          break;
        case 2:
          if (isName(b, param, eq, P_IP)) {
            amp = skipValue(b, v, end);
            if (textLength(b, v, amp) <= 64) req.ipParam = valueText(b, v, amp);
          }
          break;
        case 3:
          if (isName(b, param, eq, P_KEY)) {
            amp = skipValue(b, v, end);
            if (amp > v && textLength(b, v, amp) <= MAX_KEY_CHARS) req.key = keyFromBytes(b, v, amp);
          }
          break;
      }
      at = (amp < 0 ? skipValue(b, v, end) : amp) + 1;
    }
    if (!hasInfoHash) throw new TrackerError("missing_info_hash", "Missing info_hash");
    if (!hasPeerId) throw new TrackerError("missing_peer_id", "Missing peer_id");
    if (port < 0) throw new TrackerError("missing_port", "Missing port");
    if (left < 0) throw new TrackerError("missing_left", "Missing left");
    req.port = port;
    req.left = left;
    req.numWant = clampNumWant(numWant, numWantMax);
    return req;
  }
}

const parser = new AnnounceQueryParser();

/**
 * Parse an announce query string (without the `?`) into a fresh AnnounceRequest (AnnounceQueryParser is the
 * allocation-free form).
 * @throws {TrackerError} as AnnounceQueryParser.parse
 */
export function parseAnnounceQuery(query: string, options: ParseAnnounceOptions = {}): AnnounceRequest {
  const r = parser.parseText(query, options.start ?? 0, options.numWantMax ?? DEFAULT_NUMWANT_MAX);
  const req: AnnounceRequest = {
    infoHash: r.infoHash.slice(),
    peerId: r.peerId.slice(),
    port: r.port,
    uploaded: r.uploaded,
    downloaded: r.downloaded,
    left: r.left,
    event: r.event,
    numWant: r.numWant,
    isCompact: r.isCompact,
    isNoPeerId: r.isNoPeerId,
  };
  if (r.ipParam !== undefined) req.ipParam = r.ipParam;
  if (r.key !== undefined) req.key = r.key;
  if (r.trackerId !== undefined) req.trackerId = r.trackerId;
  return req;
}

/**
 * Parse a scrape query string: every `info_hash` (BEP 48), in order, duplicates dropped. An empty list means a
 * full scrape.
 * @throws {TrackerError} query_too_long, too_many_hashes, invalid_info_hash
 */
export function parseScrapeQuery(query: string): Uint8Array[] {
  if (query.length > MAX_QUERY_CHARS) throw new TrackerError("query_too_long", "Request query is too long");
  const hashes: Uint8Array[] = [];
  const seen = new Set<string>();
  for (const part of query.split("&", MAX_QUERY_PARAMS)) {
    if (!part.startsWith("info_hash=")) continue;
    const hash = new Uint8Array(INFO_HASH_BYTES);
    decodeHashParam(textScratch, 0, textToBytes(part, 10), "info_hash", hash);
    const k = toLatin1(hash);
    if (seen.has(k)) continue;
    seen.add(k);
    if (hashes.length >= MAX_SCRAPE_HASHES) {
      throw new TrackerError("too_many_hashes", `Too many info_hash values: at most ${MAX_SCRAPE_HASHES} per scrape`);
    }
    hashes.push(hash);
  }
  return hashes;
}

/** True when `query` looks like an announce (it names an info hash), so `GET /?...` is not the dashboard. */
export function hasAnnounceParams(query: string): boolean {
  return query.startsWith("info_hash=") || query.includes("&info_hash=");
}

const ENCODER = new TextEncoder();

/** Options of encodeAnnounceResult. */
export interface EncodeAnnounceOptions {
  /** BEP 23 compact peers (`peers` and `peers6` byte strings); otherwise the dictionary model. */
  isCompact: boolean;
  /** Dictionary model without `peer id`. */
  isNoPeerId?: boolean;
  /** Write a compact reply into this reused buffer (valid until its next use) instead of fresh memory. */
  scratch?: ReplyScratch;
}

/** Bytes a ReplyScratch holds (a compact reply of 200 IPv4 peers and a few IPv6 ones; longer ones get fresh memory). */
const REPLY_SCRATCH_BYTES = 4096;

/**
 * One reply buffer reused from reply to reply, for a caller that copies each reply before the next (the libc server's
 * fast path): its views are made once per length, so a reply costs no allocation (a fresh view is ~40 ns).
 */
export class ReplyScratch {
  readonly #buf = new Uint8Array(REPLY_SCRATCH_BYTES);
  readonly #views: (Uint8Array | undefined)[] = [];

  /** `length` bytes to overwrite whole: the buffer's start, or fresh memory when it is too short. */
  take(length: number): Uint8Array {
    if (length > REPLY_SCRATCH_BYTES) return allocBytes(length);
    return this.#views[length] ??= this.#buf.subarray(0, length);
  }
}

/**
 * Bencode an announce reply. Compact: `peers` (always present, maybe empty) and `peers6` when there are IPv6 peers.
 * Dictionary model: one `peers` list of `{ip, peer id, port}` dicts (IPv6 peers included, BEP 7).
 */
export function encodeAnnounceResult(result: AnnounceResult, options: EncodeAnnounceOptions): Uint8Array {
  if (!options.isCompact) return encodeDictionaryModel(result, options.isNoPeerId === true);
  // Hot path: exact size first, then literal keys and decimal digits written straight into one buffer.
  const { complete, incomplete, interval, minInterval, peers4, peers6 } = result;
  const warning = result.warning === undefined ? undefined : ENCODER.encode(result.warning);
  let size = K_COMPLETE.length + decimalDigits(complete) + K_INCOMPLETE.length + decimalDigits(incomplete) +
    K_INTERVAL.length + decimalDigits(interval) + K_MIN_INTERVAL.length + decimalDigits(minInterval) +
    K_PEERS.length + decimalDigits(peers4.length) + 1 + peers4.length + 1;
  if (peers6.length > 0) size += K_PEERS6.length + decimalDigits(peers6.length) + 1 + peers6.length;
  if (warning !== undefined) size += K_WARNING.length + decimalDigits(warning.length) + 1 + warning.length;
  const buf = options.scratch === undefined ? allocBytes(size) : options.scratch.take(size);
  // Keys through putBytes (a loop the JIT inlines) rather than TypedArray#set: a builtin call per short key costs
  // more than copying its bytes.
  let at = writeDecimal(buf, putBytes(buf, 0, K_COMPLETE), complete);
  at = writeDecimal(buf, putBytes(buf, at, K_INCOMPLETE), incomplete);
  at = writeDecimal(buf, putBytes(buf, at, K_INTERVAL), interval);
  at = writeDecimal(buf, putBytes(buf, at, K_MIN_INTERVAL), minInterval);
  at = writeString(buf, putBytes(buf, at, K_PEERS), peers4);
  if (peers6.length > 0) at = writeString(buf, putBytes(buf, at, K_PEERS6), peers6);
  if (warning !== undefined) at = writeString(buf, putBytes(buf, at, K_WARNING), warning);
  buf[at] = 0x65; // "e"
  return buf;
}

// Each key with the previous integer's closing "e" in front (K_COMPLETE opens the dict).
const K_COMPLETE = fromLatin1("d8:completei");
const K_INCOMPLETE = fromLatin1("e10:incompletei");
const K_INTERVAL = fromLatin1("e8:intervali");
const K_MIN_INTERVAL = fromLatin1("e12:min intervali");
const K_PEERS = fromLatin1("e5:peers");
const K_PEERS6 = fromLatin1("6:peers6");
const K_WARNING = fromLatin1("15:warning message");

/** Copy `bytes` (a short constant) into `buf` at `at`; returns the index after it. */
function putBytes(buf: Uint8Array, at: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) buf[at + i] = bytes[i]!;
  return at + bytes.length;
}

function decimalDigits(n: number): number {
  if (n < 0) return 1 + decimalDigits(-n);
  if (n < 10) return 1;
  if (n < 100) return 2;
  if (n < 1000) return 3;
  if (n < 10000) return 4;
  let d = 5;
  for (let v = Math.floor(n / 100000); v > 0; v = Math.floor(v / 10)) d++;
  return d;
}

function writeDecimal(buf: Uint8Array, at: number, n: number): number {
  if (n < 0) {
    buf[at++] = 0x2d;
    n = -n;
  }
  const end = at + decimalDigits(n);
  if (n < 2147483648) {
    // Small integers (every count and length of a reply): integer division.
    for (let i = end - 1; i >= at; i--) {
      const q = (n / 10) | 0;
      buf[i] = 48 + n - q * 10;
      n = q;
    }
    return end;
  }
  for (let i = end - 1; i >= at; i--) {
    buf[i] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
  return end;
}

/** A bencoded byte string: length, ":", bytes. */
function writeString(buf: Uint8Array, at: number, bytes: Uint8Array): number {
  at = writeDecimal(buf, at, bytes.length);
  buf[at++] = 0x3a;
  buf.set(bytes, at);
  return at + bytes.length;
}

function encodeDictionaryModel(result: AnnounceResult, isNoPeerId: boolean): Uint8Array {
  const peers: Record<string, string | number | Uint8Array>[] = [];
  const add = (compact: Uint8Array, ids: Uint8Array | undefined, stride: number) => {
    for (let i = 0, n = 0; i + stride <= compact.length; i += stride, n++) {
      const ipBytes = compact.subarray(i, i + stride - 2);
      const peer: Record<string, string | number | Uint8Array> = {
        ip: formatIp(ipBytes),
        port: (compact[i + stride - 2]! << 8) | compact[i + stride - 1]!,
      };
      if (!isNoPeerId && ids !== undefined) peer["peer id"] = ids.subarray(n * 20, n * 20 + 20);
      peers.push(peer);
    }
  };
  add(result.peers4, result.peerIds4, COMPACT_PEER4_BYTES);
  add(result.peers6, result.peerIds6, COMPACT_PEER6_BYTES);
  return encodeBencode({
    complete: result.complete,
    incomplete: result.incomplete,
    interval: result.interval,
    "min interval": result.minInterval,
    peers,
    "warning message": result.warning,
  });
}

/** Options of encodeFailure. */
export interface EncodeFailureOptions {
  /** Sent as `interval` and `min interval` to slow retries (INTEROP.md 2). */
  retryS?: number;
}

/** Bencode a failure: `failure reason` (UTF-8, length in bytes) and optionally a retry interval. */
export function encodeFailure(reason: string, options: EncodeFailureOptions = {}): Uint8Array {
  return encodeBencode({
    "failure reason": reason,
    interval: options.retryS,
    "min interval": options.retryS,
  });
}

/** Bencode a scrape reply (BEP 48): `files` keyed by raw info hash, each with complete, downloaded, incomplete. */
export function encodeScrapeResult(result: ScrapeResult): Uint8Array {
  const files = new Map<string, Map<string, number>>();
  for (const { infoHash, entry } of result.files) {
    files.set(
      toLatin1(infoHash),
      new Map([["complete", entry.complete], ["downloaded", entry.downloaded], ["incomplete", entry.incomplete]]),
    );
  }
  return encodeBencode(new Map([["files", files]]));
}
