// HTTP tracker codec (BEP 3, 23, 7, 48): query string → AnnounceRequest / scrape hashes; results and failures → bencode.
// `info_hash`/`peer_id` are decoded byte-exactly (%XX either case, `+` literal: INTEROP.md 1). Pure: no sockets.
// Replies are written straight into one exact-size buffer (hot path); keys are in bencode's sorted order.

import { percentDecode } from "../bytes.ts";
import { encodeBencode } from "../bencode.ts";
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
}

function decodeHashParam(value: string, name: string, bytes: number): Uint8Array {
  const decoded = percentDecode(value);
  if (decoded === null) throw new TrackerError(`invalid_${name}`, `Invalid ${name}: bad percent-encoding`);
  if (decoded.length !== bytes) {
    throw new TrackerError(`invalid_${name}`, `Invalid ${name}: expected ${bytes} bytes, got ${decoded.length}`);
  }
  return decoded;
}

/**
 * A decimal integer parameter: negative values clamp to 0, values beyond 2^53 - 1 clamp to MAX_SAFE_INTEGER
 * (clients send 2^63 - 1 for "unknown" left). Anything that is not `-?digits` is refused.
 */
function parseCount(value: string, name: string): number {
  const isNegative = value.charCodeAt(0) === 45;
  const start = isNegative ? 1 : 0;
  if (value.length === start) throw new TrackerError(`invalid_${name}`, `Invalid ${name}: "${value.slice(0, 32)}"`);
  let n = 0;
  for (let i = start; i < value.length; i++) {
    const c = value.charCodeAt(i) - 48;
    if (c < 0 || c > 9) throw new TrackerError(`invalid_${name}`, `Invalid ${name}: "${value.slice(0, 32)}"`);
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
  if (query.length > MAX_QUERY_CHARS) throw new TrackerError("query_too_long", "Request query is too long");
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
  let at = 0;
  for (let params = 0; at <= query.length && params < MAX_QUERY_PARAMS; params++) {
    let end = query.indexOf("&", at);
    if (end < 0) end = query.length;
    const eq = query.indexOf("=", at);
    const hasValue = eq >= 0 && eq < end;
    const name = query.slice(at, hasValue ? eq : end);
    const value = hasValue ? query.slice(eq + 1, end) : "";
    at = end + 1;
    switch (name) {
      case "info_hash":
        // The first one wins; a scrape-style repeat is not an announce's business.
        infoHash ??= decodeHashParam(value, "info_hash", INFO_HASH_BYTES);
        break;
      case "peer_id":
        peerId ??= decodeHashParam(value, "peer_id", PEER_ID_BYTES);
        break;
      case "port": {
        const p = value === "" ? -1 : parseCount(value, "port");
        if (p < 1 || p > 65535 || value.charCodeAt(0) === 45) {
          throw new TrackerError("invalid_port", `Invalid port: "${value.slice(0, 32)}"`);
        }
        port = p;
        break;
      }
      case "uploaded":
        uploaded = parseCount(value, "uploaded");
        break;
      case "downloaded":
        downloaded = parseCount(value, "downloaded");
        break;
      case "left":
        left = parseCount(value, "left");
        break;
      case "event":
        event = parseEvent(value);
        break;
      case "numwant":
        // A negative numwant (some clients send -1) means "the default".
        numWant = value.charCodeAt(0) === 45 ? undefined : parseCount(value, "numwant");
        break;
      case "compact":
        isCompact = value !== "0";
        break;
      case "no_peer_id":
        isNoPeerId = value !== "0";
        break;
      case "ip":
        if (value.length <= 64) ipParam = value;
        break;
      case "key":
        if (value.length <= MAX_KEY_CHARS) key = value;
        break;
      case "trackerid":
        if (value.length <= MAX_KEY_CHARS) trackerId = value;
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
    const value = part.slice(10);
    const hash = decodeHashParam(value, "info_hash", INFO_HASH_BYTES);
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

class ByteWriter {
  readonly buf: Uint8Array;
  at = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }
  ascii(s: string): void {
    for (let i = 0; i < s.length; i++) this.buf[this.at++] = s.charCodeAt(i);
  }
  bytes(b: Uint8Array): void {
    this.ascii(`${b.length}:`);
    this.buf.set(b, this.at);
    this.at += b.length;
  }
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
  const head = `d8:completei${result.complete}e10:incompletei${result.incomplete}e8:intervali${result.interval}e` +
    `12:min intervali${result.minInterval}e5:peers`;
  const warning = result.warning === undefined ? undefined : ENCODER.encode(result.warning);
  const size = head.length + 12 + result.peers4.length +
    (result.peers6.length > 0 ? 20 + result.peers6.length : 0) +
    (warning === undefined ? 0 : 30 + warning.length) + 1;
  const w = new ByteWriter(size);
  w.ascii(head);
  w.bytes(result.peers4);
  if (result.peers6.length > 0) {
    w.ascii("6:peers6");
    w.bytes(result.peers6);
  }
  if (warning !== undefined) {
    w.ascii("15:warning message");
    w.bytes(warning);
  }
  w.ascii("e");
  return w.buf.subarray(0, w.at);
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
