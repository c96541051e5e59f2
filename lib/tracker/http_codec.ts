// HTTP tracker codec (BEP 3, 23, 7, 48): query string → AnnounceRequest / scrape hashes (replies: http_reply_codec.ts).
// `info_hash`/`peer_id` are decoded byte-exactly (%XX either case, `+` literal: INTEROP.md 1; the same rule as
// bytes.ts percentDecode, fused with the length check for the hot path). Pure: no sockets.

import { fromLatin1, HEX_DIGIT_VALUES, toLatin1 } from "../bytes.ts";
import { TrackerError } from "../errors.ts";
import {
  type AnnounceEvent,
  type AnnounceRequest,
  clampNumWant,
  DEFAULT_NUMWANT_MAX,
  INFO_HASH_BYTES,
  keyFromBytes,
  MAX_KEY_CHARS,
  MAX_QUERY_CHARS,
  MAX_QUERY_PARAMS,
  MAX_SCRAPE_HASHES,
  PEER_ID_BYTES,
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
            if (v < end && b[v] === 45) numWant = undefined;
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

// The reply encoders live in http_reply_codec.ts; importers of this codec keep finding them here.
export {
  type EncodeAnnounceOptions,
  encodeAnnounceResult,
  encodeFailure,
  type EncodeFailureOptions,
  encodeScrapeResult,
  ReplyScratch,
} from "./http_reply_codec.ts";
