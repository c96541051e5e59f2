// HTTP tracker codec (BEP 3, 23, 7, 48): query string → AnnounceRequest / scrape hashes; results and failures → bencode.
// `info_hash`/`peer_id` are decoded byte-exactly (%XX either case, `+` literal: INTEROP.md 1; the same rule as
// bytes.ts percentDecode, fused with the length check for the hot path). Pure: no sockets.
// Replies are written straight into one exact-size buffer (hot path); keys are in bencode's sorted order.

import { encodeBencode } from "../bencode.ts";
import { allocBytes } from "../bytes.ts";
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
  /**
   * Where the query starts in the text (default 0): a server passes the whole request URL and the index after `?`,
   * since reading characters of a slice of a string costs more in V8 than reading the string itself.
   */
  start?: number;
}

/** Decode `text[start, end)`, a percent-encoded fixed-size value (INTEROP.md 1: %XX either case, `+` literal). */
function decodeHashParam(text: string, start: number, end: number, name: string, bytes: number): Uint8Array {
  const out = allocBytes(bytes);
  let n = 0;
  let i = start;
  // Hot path: one pass, a table for hex digits, the error paths out of line.
  while (i < end) {
    if (n === bytes) throw hashError(name, `more than ${bytes} bytes`);
    const c = text.charCodeAt(i);
    if (c === 37) {
      if (i + 2 >= end) throw hashError(name, "bad percent-encoding");
      const hi = HEX_VALUE[text.charCodeAt(i + 1) & 0x1ff]!;
      const lo = HEX_VALUE[text.charCodeAt(i + 2) & 0x1ff]!;
      if ((hi | lo) < 0 || text.charCodeAt(i + 1) > 0xff || text.charCodeAt(i + 2) > 0xff) {
        throw hashError(name, "bad percent-encoding");
      }
      out[n++] = (hi << 4) | lo;
      i += 3;
    } else {
      if (c > 0xff) throw hashError(name, "bad percent-encoding");
      out[n++] = c;
      i++;
    }
  }
  if (n !== bytes) throw hashError(name, `expected ${bytes} bytes, got ${n}`);
  return out;
}

function hashError(name: string, detail: string): TrackerError {
  return new TrackerError(`invalid_${name}`, `Invalid ${name}: ${detail}`);
}

/** Hex digit values by char code (-1 for anything else); 512 entries so `code & 0x1ff` needs no bounds check. */
const HEX_VALUE = (() => {
  const t = new Int8Array(512).fill(-1);
  for (let d = 0; d < 10; d++) t[48 + d] = d;
  for (let d = 0; d < 6; d++) t[97 + d] = t[65 + d] = 10 + d;
  return t;
})();

/**
 * A decimal integer parameter: negative values clamp to 0, values beyond 2^53 - 1 clamp to MAX_SAFE_INTEGER
 * (clients send 2^63 - 1 for "unknown" left). Anything that is not `-?digits` is refused.
 */
function parseCount(text: string, start: number, end: number, name: string): number {
  const isNegative = text.charCodeAt(start) === 45;
  const from = isNegative ? start + 1 : start;
  if (end <= from) {
    throw new TrackerError(`invalid_${name}`, `Invalid ${name}: "${text.slice(start, end).slice(0, 32)}"`);
  }
  let n = 0;
  for (let i = from; i < end; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) {
      throw new TrackerError(`invalid_${name}`, `Invalid ${name}: "${text.slice(start, Math.min(end, start + 32))}"`);
    }
    n = n * 10 + c;
  }
  if (isNegative) return 0;
  return n > Number.MAX_SAFE_INTEGER ? Number.MAX_SAFE_INTEGER : n;
}

function parseEvent(value: string): AnnounceEvent {
  switch (value) {
    case "started":
    case "completed":
    case "stopped":
    case "paused":
      return value;
    default:
      // Empty, absent or unknown: a regular announce (INTEROP.md 5).
      return "none";
  }
}

/**
 * Parse an announce query string (without the `?`).
 * @throws {TrackerError} query_too_long, missing_info_hash, missing_peer_id, missing_port, missing_left,
 *   invalid_info_hash, invalid_peer_id, invalid_port, invalid_uploaded, invalid_downloaded, invalid_left,
 *   invalid_numwant
 */
export function parseAnnounceQuery(query: string, options: ParseAnnounceOptions = {}): AnnounceRequest {
  let at = options.start ?? 0;
  if (query.length - at > MAX_QUERY_CHARS) throw new TrackerError("query_too_long", "Request query is too long");
  let infoHash: Uint8Array | undefined;
  let peerId: Uint8Array | undefined;
  let port: number | undefined;
  let uploaded = 0;
  let downloaded = 0;
  let left: number | undefined;
  let event: AnnounceEvent = "none";
  let numWant: number | undefined;
  let isCompact = true;
  let isNoPeerId = false;
  let ipParam: string | undefined;
  let key: string | undefined;
  let trackerId: string | undefined;
  // Names are matched in place and values parsed by index: no substrings on the hot path.
  for (let params = 0; at <= query.length && params < MAX_QUERY_PARAMS; params++) {
    let end = query.indexOf("&", at);
    if (end < 0) end = query.length;
    let eq = query.indexOf("=", at);
    if (eq < 0 || eq > end) eq = end;
    const nameLength = eq - at;
    const v = eq < end ? eq + 1 : end;
    const param = at;
    at = end + 1;
    switch (nameLength) {
      case 9:
        if (query.startsWith("info_hash", param)) {
          // The first one wins; a scrape-style repeat is not an announce's business.
          infoHash ??= decodeHashParam(query, v, end, "info_hash", INFO_HASH_BYTES);
        } else if (query.startsWith("trackerid", param) && end - v <= MAX_KEY_CHARS) {
          trackerId = query.slice(v, end);
        }
        break;
      case 7:
        if (query.startsWith("peer_id", param)) peerId ??= decodeHashParam(query, v, end, "peer_id", PEER_ID_BYTES);
        else if (query.startsWith("numwant", param)) {
          // A negative numwant (some clients send -1) means "the default".
          numWant = query.charCodeAt(v) === 45 ? undefined : parseCount(query, v, end, "numwant");
        } else if (query.startsWith("compact", param)) isCompact = !(end - v === 1 && query.charCodeAt(v) === 48);
        break;
      case 4:
        if (query.startsWith("port", param)) {
          const p = v === end || query.charCodeAt(v) === 45 ? -1 : parseCount(query, v, end, "port");
          if (p < 1 || p > 65535) {
            throw new TrackerError("invalid_port", `Invalid port: "${query.slice(v, Math.min(end, v + 32))}"`);
          }
          port = p;
        } else if (query.startsWith("left", param)) left = parseCount(query, v, end, "left");
        break;
      case 8:
        if (query.startsWith("uploaded", param)) uploaded = parseCount(query, v, end, "uploaded");
        break;
      case 10:
        if (query.startsWith("downloaded", param)) downloaded = parseCount(query, v, end, "downloaded");
        else if (query.startsWith("no_peer_id", param)) isNoPeerId = !(end - v === 1 && query.charCodeAt(v) === 48);
        break;
      case 5:
        if (query.startsWith("event", param) && end - v <= 16) event = parseEvent(query.slice(v, end));
        break;
      case 2:
        if (query.startsWith("ip", param) && end - v <= 64) ipParam = query.slice(v, end);
        break;
      case 3:
        if (query.startsWith("key", param) && end - v <= MAX_KEY_CHARS) key = query.slice(v, end);
        break;
    }
  }
  if (infoHash === undefined) throw new TrackerError("missing_info_hash", "Missing info_hash");
  if (peerId === undefined) throw new TrackerError("missing_peer_id", "Missing peer_id");
  if (port === undefined) throw new TrackerError("missing_port", "Missing port");
  if (left === undefined) throw new TrackerError("missing_left", "Missing left");
  const req: AnnounceRequest = {
    infoHash,
    peerId,
    port,
    uploaded,
    downloaded,
    left,
    event,
    numWant: clampNumWant(numWant, options.numWantMax ?? DEFAULT_NUMWANT_MAX),
    isCompact,
    isNoPeerId,
  };
  if (ipParam !== undefined) req.ipParam = ipParam;
  if (key !== undefined) req.key = key;
  if (trackerId !== undefined) req.trackerId = trackerId;
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
    const hash = decodeHashParam(part, 10, part.length, "info_hash", INFO_HASH_BYTES);
    const k = String.fromCharCode(...hash);
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
  const buf = allocBytes(size);
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
const K_COMPLETE = latin1Bytes("d8:completei");
const K_INCOMPLETE = latin1Bytes("e10:incompletei");
const K_INTERVAL = latin1Bytes("e8:intervali");
const K_MIN_INTERVAL = latin1Bytes("e12:min intervali");
const K_PEERS = latin1Bytes("e5:peers");
const K_PEERS6 = latin1Bytes("6:peers6");
const K_WARNING = latin1Bytes("15:warning message");

/** Copy `bytes` (a short constant) into `buf` at `at`; returns the index after it. */
function putBytes(buf: Uint8Array, at: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) buf[at + i] = bytes[i]!;
  return at + bytes.length;
}

function latin1Bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
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
      String.fromCharCode(...infoHash),
      new Map([["complete", entry.complete], ["downloaded", entry.downloaded], ["incomplete", entry.incomplete]]),
    );
  }
  return encodeBencode(new Map([["files", files]]));
}
