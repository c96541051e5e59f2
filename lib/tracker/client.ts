// Tracker client: announce and scrape to http(s):// trackers (BEP 3, 23 compact, 7 peers6, 48 scrape URL) and
// udp:// trackers (BEP 15 with BEP 41 URL data), plus the BEP 12 announce-list tier walker. Used by `btool peer`.
// Never prints; every network read has a cap and a time bound; failures are TrackerError with a stable code.

import { decodeBencode, isBytes, isDict } from "../bencode.ts";
import type { BencodeDict, BencodeValue } from "../bencode.ts";
import { equals, fromLatin1, fromUtf8, percentEncode, readBodyCapped, readU16BE, toHex, utf8 } from "../bytes.ts";
import { TrackerError } from "../errors.ts";
import { parseIp } from "./announce.ts";
import {
  decodeUdpReply,
  encodeUdpRequest,
  UDP_MAX_SCRAPE_HASHES,
  UdpEvent,
  type UdpReply,
  type UdpRequest,
} from "./udp_codec.ts";

/** Announce event; absent means a regular interval announce. */
export type ClientAnnounceEvent = "started" | "completed" | "stopped";

/** What the client tells a tracker. */
export interface AnnounceParams {
  infoHash: Uint8Array;
  peerId: Uint8Array;
  /** Our listening TCP port. */
  port: number;
  uploaded: number;
  downloaded: number;
  left: number;
  event?: ClientAnnounceEvent;
  /** Peers wanted; absent = the tracker's default (UDP -1). */
  numWant?: number;
  /** Unsigned 32-bit key identifying this client across IP changes (HTTP: 8 hex digits). */
  key?: number;
  /** The `tracker id` an earlier HTTP reply gave (sent back as `trackerid`). */
  trackerId?: Uint8Array;
}

/** One peer from a tracker reply. `ip` is dotted IPv4 or RFC 5952 IPv6 text (or a name from a dictionary reply). */
export interface TrackerPeer {
  ip: string;
  port: number;
  peerId?: Uint8Array;
}

/** A tracker's answer to an announce. */
export interface AnnounceResponse {
  /** Seconds until the next regular announce. */
  interval: number;
  minInterval?: number;
  /** Seeders. */
  complete?: number;
  /** Leechers. */
  incomplete?: number;
  peers: TrackerPeer[];
  /** HTTP `warning message`: show it to the user; the announce still worked. */
  warning?: string;
  trackerId?: Uint8Array;
}

/** Scrape counts of one torrent. */
export interface ScrapeStats {
  /** Seeders. */
  complete: number;
  /** Completed downloads. */
  downloaded: number;
  /** Leechers. */
  incomplete: number;
}

/** Options shared by announce and scrape. */
export interface TrackerClientOptions {
  signal?: AbortSignal;
  /** Bound on a whole HTTP request (default HTTP_TIMEOUT_MS). UDP uses its own retry schedule. */
  timeoutMs?: number;
  /** Cap on an HTTP reply body (default MAX_RESPONSE_BYTES). */
  maxResponseBytes?: number;
  /** Long-lived UDP socket(s) for connection id reuse; without it a temporary one is opened and closed. */
  udp?: UdpTrackerSocket;
  /** Options for the temporary UDP socket when `udp` is absent. */
  udpOptions?: UdpTrackerSocketOptions;
}

/** Default bound on one HTTP tracker request. */
export const HTTP_TIMEOUT_MS = 30_000;
/** Default cap on an HTTP tracker reply (a 200-peer dictionary reply is ~20 KB; scrapes of a few torrents less). */
export const MAX_RESPONSE_BYTES = 2 * 1024 * 1024;
/** Cap on peers kept from one reply. */
export const MAX_PEERS_PER_RESPONSE = 1000;
/** Cap on torrents kept from one HTTP scrape reply. */
export const MAX_SCRAPE_FILES = 1000;
/** Interval used when a reply has none or a nonsense one. */
export const FALLBACK_INTERVAL_S = 1800;
// Compact peer sizes: BEP 23 (IPv4 address + port) and BEP 7 / BEP 15 on IPv6 (address + port).
const COMPACT_PEER4_BYTES = 6;
const COMPACT_PEER6_BYTES = 18;
/** Cap on text kept from `failure reason` / `warning message`. */
const MAX_MESSAGE_CHARS = 1024;

/**
 * Announce to an http(s):// or udp:// tracker.
 * @throws {TrackerError} tracker_failure (the tracker refused: `reason` holds its text), tracker_http_status,
 *   tracker_bad_response, tracker_too_large, tracker_timeout, tracker_aborted, tracker_network, tracker_url
 */
export async function announce(
  url: string,
  request: AnnounceParams,
  options: TrackerClientOptions = {},
): Promise<AnnounceResponse> {
  const target = parseTrackerUrl(url);
  if (target.type === "http") {
    const body = await httpGet(buildAnnounceUrl(url, request), options);
    return parseAnnounceResponse(body);
  }
  return await withUdp(options, (udp) => udp.announce(target, request, pickSignal(options)));
}

/**
 * Scrape `infoHashes` from an http(s):// tracker (URL derived per BEP 48) or a udp:// tracker.
 * Returns counts keyed by info hash hex; torrents the tracker does not know are absent.
 * @throws {TrackerError} as announce, plus tracker_no_scrape when the HTTP URL has no scrape form
 */
export async function scrape(
  url: string,
  infoHashes: readonly Uint8Array[],
  options: TrackerClientOptions = {},
): Promise<Map<string, ScrapeStats>> {
  const target = parseTrackerUrl(url);
  if (target.type === "http") {
    const scrapeUrl = scrapeUrlFor(url);
    if (scrapeUrl === null) {
      throw new TrackerError("tracker_no_scrape", `Tracker does not support scrape: "${url}"`);
    }
    const query = infoHashes.map((h) => "info_hash=" + percentEncode(h)).join("&");
    return parseScrapeResponse(await httpGet(appendQuery(scrapeUrl, query), options));
  }
  return await withUdp(options, (udp) => udp.scrape(target, infoHashes, pickSignal(options)));
}

function pickSignal(options: TrackerClientOptions): { signal?: AbortSignal } {
  return options.signal === undefined ? {} : { signal: options.signal };
}

async function withUdp<T>(options: TrackerClientOptions, fn: (udp: UdpTrackerSocket) => Promise<T>): Promise<T> {
  if (options.udp !== undefined) return await fn(options.udp);
  const udp = new UdpTrackerSocket(options.udpOptions ?? {});
  try {
    return await fn(udp);
  } finally {
    await udp.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// URLs

/** A parsed tracker URL. */
export type TrackerTarget =
  | { type: "http"; url: string }
  | { type: "udp"; hostname: string; port: number; urlData: Uint8Array };

/**
 * Parse a tracker URL: http(s) is kept as is; udp gives host, port and the BEP 41 URL data (path and query).
 * @throws {TrackerError} tracker_url for other schemes, missing ports and unparseable URLs
 */
export function parseTrackerUrl(url: string): TrackerTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err: unknown) {
    throw new TrackerError("tracker_url", `Invalid tracker URL: "${url}"`, { cause: err });
  }
  if (parsed.protocol === "http:" || parsed.protocol === "https:") return { type: "http", url };
  if (parsed.protocol !== "udp:") throw new TrackerError("tracker_url", `Unsupported tracker URL scheme: "${url}"`);
  const port = Number(parsed.port);
  if (parsed.port === "" || !Number.isSafeInteger(port) || port < 1 || port > 65535) {
    throw new TrackerError("tracker_url", `UDP tracker URL needs a port: "${url}"`);
  }
  let hostname = parsed.hostname;
  if (hostname.startsWith("[") && hostname.endsWith("]")) hostname = hostname.slice(1, -1);
  if (hostname === "") throw new TrackerError("tracker_url", `UDP tracker URL needs a host: "${url}"`);
  // BEP 41: the URL data is the path and query exactly as written after host:port.
  const afterHost = url.indexOf("/", url.indexOf("//") + 2);
  const rest = afterHost < 0 ? "" : url.slice(afterHost).replace(/#.*$/, "");
  return { type: "udp", hostname, port, urlData: utf8(rest) };
}

/** Append `query` to `url` with `&` when it already has a query (passkey URLs, INTEROP.md 10), else `?`. */
export function appendQuery(url: string, query: string): string {
  const hash = url.indexOf("#");
  const base = hash < 0 ? url : url.slice(0, hash);
  if (query === "") return base;
  if (!base.includes("?")) return `${base}?${query}`;
  return base.endsWith("?") || base.endsWith("&") ? base + query : `${base}&${query}`;
}

/** The full HTTP announce URL: binary fields percent-encoded byte by byte (never `+`), always `compact=1`. */
export function buildAnnounceUrl(url: string, request: AnnounceParams): string {
  const parts = [
    "info_hash=" + percentEncode(request.infoHash),
    "peer_id=" + percentEncode(request.peerId),
    "port=" + request.port,
    "uploaded=" + request.uploaded,
    "downloaded=" + request.downloaded,
    "left=" + request.left,
    "compact=1", // opentracker refuses anything else (INTEROP.md 22)
  ];
  if (request.event !== undefined) parts.push("event=" + request.event);
  if (request.numWant !== undefined) parts.push("numwant=" + request.numWant);
  if (request.key !== undefined) parts.push("key=" + (request.key >>> 0).toString(16).padStart(8, "0"));
  if (request.trackerId !== undefined) parts.push("trackerid=" + percentEncode(request.trackerId));
  return appendQuery(url, parts.join("&"));
}

/**
 * The scrape URL of an HTTP announce URL (BEP 48): the last path segment must start with `announce`, which
 * becomes `scrape` (Transmission's rule, INTEROP.md 9); null when the tracker has no scrape form.
 */
export function scrapeUrlFor(announceUrl: string): string | null {
  const q = announceUrl.search(/[?#]/);
  const path = q < 0 ? announceUrl : announceUrl.slice(0, q);
  const slash = path.lastIndexOf("/");
  const schemeEnd = path.indexOf("//");
  if (slash < 0 || slash <= schemeEnd + 1) return null;
  if (!path.startsWith("announce", slash + 1)) return null;
  return announceUrl.slice(0, slash + 1) + "scrape" + announceUrl.slice(slash + 1 + "announce".length);
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP

async function httpGet(url: string, options: TrackerClientOptions): Promise<Uint8Array> {
  const timeoutMs = options.timeoutMs ?? HTTP_TIMEOUT_MS;
  const maxBytes = options.maxResponseBytes ?? MAX_RESPONSE_BYTES;
  const controller = new AbortController();
  let isTimedOut = false;
  const timer = setTimeout(() => {
    isTimedOut = true;
    controller.abort();
  }, timeoutMs);
  const onAbort = () => controller.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    if (options.signal?.aborted) throw new TrackerError("tracker_aborted", "Tracker request aborted");
    const response = await fetch(url, { signal: controller.signal, redirect: "follow" });
    const body = await readCapped(response, maxBytes, url);
    if (response.status !== 200) {
      // A failure reason in a non-200 reply is still the best message to show (INTEROP.md 2).
      const failure = tryFailureReason(body);
      if (failure !== null) throw new TrackerError("tracker_failure", failure);
      throw new TrackerError("tracker_http_status", `Tracker answered HTTP ${response.status}: "${url}"`);
    }
    return body;
  } catch (err: unknown) {
    if (err instanceof TrackerError) throw err;
    if (isTimedOut) {
      throw new TrackerError("tracker_timeout", `Tracker did not answer within ${timeoutMs} ms: "${url}"`, {
        cause: err,
      });
    }
    if (options.signal?.aborted) throw new TrackerError("tracker_aborted", "Tracker request aborted", { cause: err });
    throw new TrackerError("tracker_network", `Cannot reach tracker: "${url}"`, { cause: err });
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}

async function readCapped(response: Response, maxBytes: number, url: string): Promise<Uint8Array> {
  const bytes = await readBodyCapped(response, maxBytes);
  if (bytes === null) throw new TrackerError("tracker_too_large", `Tracker reply over ${maxBytes} bytes: "${url}"`);
  return bytes;
}

function decodeReplyDict(body: Uint8Array): BencodeDict {
  let value: BencodeValue;
  try {
    // Trackers are not all canonical about key order: decode leniently.
    value = decodeBencode(body, { isStrict: false });
  } catch (err: unknown) {
    throw new TrackerError("tracker_bad_response", "Tracker reply is not valid bencode", { cause: err });
  }
  if (!isDict(value)) throw new TrackerError("tracker_bad_response", "Tracker reply is not a dictionary");
  return value;
}

function text(value: BencodeValue | undefined): string | undefined {
  if (!isBytes(value)) return undefined;
  return fromUtf8(value).slice(0, MAX_MESSAGE_CHARS);
}

function count(value: BencodeValue | undefined): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

function tryFailureReason(body: Uint8Array): string | null {
  try {
    return text(decodeReplyDict(body).get("failure reason")) ?? null;
  } catch {
    return null;
  }
}

/**
 * Parse an HTTP announce reply: compact (BEP 23), dictionary-model and `peers6` (BEP 7) peers.
 * @throws {TrackerError} tracker_failure (`failure reason`), tracker_bad_response
 */
export function parseAnnounceResponse(body: Uint8Array): AnnounceResponse {
  const dict = decodeReplyDict(body);
  const failure = text(dict.get("failure reason"));
  if (failure !== undefined) throw new TrackerError("tracker_failure", failure);
  const peers: TrackerPeer[] = [];
  const peersValue = dict.get("peers");
  if (isBytes(peersValue)) decodeCompactPeersInto(peersValue, 4, peers);
  else if (Array.isArray(peersValue)) decodeDictPeersInto(peersValue, peers);
  else if (peersValue !== undefined) throw new TrackerError("tracker_bad_response", "Tracker reply has bad peers");
  const peers6 = dict.get("peers6");
  if (isBytes(peers6)) decodeCompactPeersInto(peers6, 6, peers);
  const interval = count(dict.get("interval"));
  const response: AnnounceResponse = {
    interval: interval !== undefined && interval > 0 ? interval : FALLBACK_INTERVAL_S,
    peers,
  };
  const minInterval = count(dict.get("min interval"));
  if (minInterval !== undefined) response.minInterval = minInterval;
  const complete = count(dict.get("complete"));
  if (complete !== undefined) response.complete = complete;
  const incomplete = count(dict.get("incomplete"));
  if (incomplete !== undefined) response.incomplete = incomplete;
  const warning = text(dict.get("warning message"));
  if (warning !== undefined) response.warning = warning;
  const trackerId = dict.get("tracker id");
  if (isBytes(trackerId)) response.trackerId = trackerId.slice(0, 256);
  return response;
}

/**
 * Parse an HTTP scrape reply (`files` keyed by raw info hash) into counts keyed by info hash hex.
 * @throws {TrackerError} tracker_failure, tracker_bad_response
 */
export function parseScrapeResponse(body: Uint8Array): Map<string, ScrapeStats> {
  const dict = decodeReplyDict(body);
  const failure = text(dict.get("failure reason"));
  if (failure !== undefined) throw new TrackerError("tracker_failure", failure);
  const files = dict.get("files");
  if (!isDict(files)) throw new TrackerError("tracker_bad_response", "Scrape reply has no files dictionary");
  const out = new Map<string, ScrapeStats>();
  for (const [key, value] of files) {
    if (key.length !== 20 || !isDict(value)) continue;
    out.set(toHex(fromLatin1(key)), {
      complete: count(value.get("complete")) ?? 0,
      downloaded: count(value.get("downloaded")) ?? 0,
      incomplete: count(value.get("incomplete")) ?? 0,
    });
    if (out.size >= MAX_SCRAPE_FILES) break;
  }
  return out;
}

function decodeDictPeersInto(list: BencodeValue[], out: TrackerPeer[]): void {
  for (const item of list) {
    if (out.length >= MAX_PEERS_PER_RESPONSE) return;
    if (!isDict(item)) continue;
    const ip = item.get("ip");
    const port = item.get("port");
    if (!isBytes(ip) || typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) continue;
    const peer: TrackerPeer = { ip: fromUtf8(ip).slice(0, 255), port };
    const peerId = item.get("peer id");
    if (isBytes(peerId) && peerId.length === 20) peer.peerId = peerId;
    out.push(peer);
  }
}

/** Split compact peers (BEP 23: 6 bytes each; BEP 7 `peers6`: 18 bytes each). Trailing partial entries are ignored. */
export function decodeCompactPeers(bytes: Uint8Array, family: 4 | 6): TrackerPeer[] {
  const out: TrackerPeer[] = [];
  decodeCompactPeersInto(bytes, family, out);
  return out;
}

function decodeCompactPeersInto(bytes: Uint8Array, family: 4 | 6, out: TrackerPeer[]): void {
  const size = family === 4 ? COMPACT_PEER4_BYTES : COMPACT_PEER6_BYTES;
  for (let at = 0; at + size <= bytes.length && out.length < MAX_PEERS_PER_RESPONSE; at += size) {
    const port = readU16BE(bytes, at + size - 2);
    if (port === 0) continue;
    const ip = family === 4 ? formatIPv4(bytes, at) : formatIPv6(bytes.subarray(at, at + 16));
    out.push({ ip, port });
  }
}

function formatIPv4(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** RFC 5952 text of a 16-byte IPv6 address (lower case, longest zero run of 2+ groups as `::`, mapped IPv4 dotted). */
export function formatIPv6(b: Uint8Array): string {
  // RFC 5952 section 5: IPv4-mapped addresses end in dotted decimal.
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return "::ffff:" + formatIPv4(b, 12);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(readU16BE(b, i));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return hex.slice(0, bestStart).join(":") + "::" + hex.slice(bestStart + bestLen).join(":");
}

// ---------------------------------------------------------------------------------------------------------------
// UDP (BEP 15)

/** BEP 15: a connection id may be used for one minute after it was received. */
export const CONNECTION_ID_REUSE_MS = 60_000;
/** BEP 15: retransmit after 15·2^n seconds. */
export const UDP_RETRY_BASE_MS = 15_000;
/** Cap on n (BEP 15 allows up to 8, over an hour; the tier walker moving on to the next tracker serves better). */
export const UDP_MAX_RETRY_EXPONENT = 3;
/** Cap on one received datagram (replies stay under ~1,200 bytes; 74 peers of 18 bytes fit easily). */
export const MAX_UDP_REPLY_BYTES = 4096;

function realTimer(expire: () => void, ms: number): () => void {
  const timer = setTimeout(expire, ms);
  return () => clearTimeout(timer);
}

/** Options of UdpTrackerSocket. */
export interface UdpTrackerSocketOptions {
  /** Clock in ms (connection id age). */
  now?: () => number;
  /** Random in [0, 1) for transaction ids. */
  random?: () => number;
  /** First retransmission timeout (tests shrink it). */
  retryBaseMs?: number;
  maxRetryExponent?: number;
  /** Start a wait of `ms` that calls `expire` unless cancelled (default setTimeout); tests record the schedule. */
  setTimer?: (expire: () => void, ms: number) => () => void;
  /** Resolve a host name to an address; IP literals are never resolved. */
  resolve?: (hostname: string) => Promise<string>;
}

interface Waiter {
  hostname: string;
  port: number;
  resolve: (reply: UdpReply) => void;
}

interface FamilySocket {
  conn: Deno.DatagramConn;
  loop: Promise<void>;
  waiters: Map<number, Waiter>;
}

/**
 * Long-lived UDP tracker transport: one socket per address family, replies matched by transaction id and sender,
 * connection ids cached per tracker for CONNECTION_ID_REUSE_MS. Close it when done.
 */
export class UdpTrackerSocket {
  #now: () => number;
  #random: () => number;
  #retryBaseMs: number;
  #maxRetryExponent: number;
  #setTimer: (expire: () => void, ms: number) => () => void;
  #resolve: (hostname: string) => Promise<string>;
  #sockets = new Map<4 | 6, FamilySocket>();
  #connections = new Map<string, { id: Uint8Array; at: number }>();
  #isClosed = false;

  constructor(options: UdpTrackerSocketOptions = {}) {
    this.#now = options.now ?? (() => Date.now());
    this.#random = options.random ?? Math.random;
    this.#retryBaseMs = options.retryBaseMs ?? UDP_RETRY_BASE_MS;
    this.#maxRetryExponent = options.maxRetryExponent ?? UDP_MAX_RETRY_EXPONENT;
    this.#setTimer = options.setTimer ?? realTimer;
    this.#resolve = options.resolve ?? defaultResolve;
  }

  /**
   * BEP 15 announce (connect first unless a connection id is fresh).
   * @throws {TrackerError} tracker_failure (error reply), tracker_timeout, tracker_aborted, tracker_network
   */
  async announce(
    target: { hostname: string; port: number; urlData: Uint8Array },
    request: AnnounceParams,
    options: { signal?: AbortSignal } = {},
  ): Promise<AnnounceResponse> {
    const { signal } = options;
    const { family, address } = await this.#address(target.hostname);
    const reply = await this.#withConnection(family, address, target.port, signal, (connectionId, transactionId) => ({
      type: "announce",
      connectionId,
      transactionId,
      infoHash: request.infoHash,
      peerId: request.peerId,
      downloaded: request.downloaded,
      left: request.left,
      uploaded: request.uploaded,
      event: request.event === undefined ? UdpEvent.None : EVENT_NUMBERS[request.event],
      ip: 0,
      key: request.key ?? 0,
      numWant: request.numWant ?? -1,
      port: request.port,
      urlData: target.urlData,
    }));
    if (reply.type !== "announce") throw unexpected(reply);
    return {
      interval: reply.interval > 0 ? reply.interval : FALLBACK_INTERVAL_S,
      complete: reply.seeders,
      incomplete: reply.leechers,
      peers: decodeCompactPeers(reply.peers, family),
    };
  }

  /**
   * BEP 15 scrape, UDP_MAX_SCRAPE_HASHES per packet.
   * @throws {TrackerError} as announce
   */
  async scrape(
    target: { hostname: string; port: number },
    infoHashes: readonly Uint8Array[],
    options: { signal?: AbortSignal } = {},
  ): Promise<Map<string, ScrapeStats>> {
    const { signal } = options;
    const { family, address } = await this.#address(target.hostname);
    const out = new Map<string, ScrapeStats>();
    for (let i = 0; i < infoHashes.length; i += UDP_MAX_SCRAPE_HASHES) {
      const batch = infoHashes.slice(i, i + UDP_MAX_SCRAPE_HASHES);
      const reply = await this.#withConnection(family, address, target.port, signal, (connectionId, transactionId) => ({
        type: "scrape",
        connectionId,
        transactionId,
        infoHashes: [...batch],
      }));
      if (reply.type !== "scrape") throw unexpected(reply);
      batch.forEach((h, j) => {
        const f = reply.files[j];
        if (f !== undefined) {
          out.set(toHex(h), { complete: f.seeders, downloaded: f.completed, incomplete: f.leechers });
        }
      });
    }
    return out;
  }

  /** Close the sockets and wait for their receive loops to end. */
  async close(): Promise<void> {
    this.#isClosed = true;
    const sockets = [...this.#sockets.values()];
    this.#sockets.clear();
    for (const s of sockets) {
      try {
        s.conn.close();
      } catch {
        // already closed
      }
    }
    await Promise.all(sockets.map((s) => s.loop));
  }

  async #address(hostname: string): Promise<{ family: 4 | 6; address: string }> {
    const literal = ipFamily(hostname);
    if (literal !== null) return { family: literal, address: hostname };
    let address: string;
    try {
      address = await this.#resolve(hostname);
    } catch (err: unknown) {
      throw new TrackerError("tracker_network", `Cannot resolve tracker host: "${hostname}"`, { cause: err });
    }
    const family = ipFamily(address);
    if (family === null) throw new TrackerError("tracker_network", `Cannot resolve tracker host: "${hostname}"`);
    return { family, address };
  }

  // One logical request: attempt n waits 15·2^n s for the connect and for the request itself; a cached connection id
  // rejected with an error reply is dropped and the request retried once with a fresh connect; one that got no reply
  // is dropped too (the next attempt connects again).
  async #withConnection(
    family: 4 | 6,
    address: string,
    port: number,
    signal: AbortSignal | undefined,
    build: (connectionId: Uint8Array, transactionId: number) => UdpRequest,
  ): Promise<UdpReply> {
    const cacheKey = `${address}|${port}`;
    let isRetriedAfterError = false;
    for (let n = 0; n <= this.#maxRetryExponent; n++) {
      const timeoutMs = this.#retryBaseMs * 2 ** n;
      let cached = this.#connections.get(cacheKey);
      if (cached !== undefined && this.#now() - cached.at >= CONNECTION_ID_REUSE_MS) {
        this.#connections.delete(cacheKey);
        cached = undefined;
      }
      let connectionId: Uint8Array;
      if (cached !== undefined) connectionId = cached.id;
      else {
        const reply = await this.#exchange(family, address, port, timeoutMs, signal, (transactionId) => ({
          type: "connect",
          transactionId,
        }));
        if (reply === null) continue;
        if (reply.type === "error") throw failure(reply.message);
        if (reply.type !== "connect") throw unexpected(reply);
        connectionId = reply.connectionId.slice();
        this.#connections.set(cacheKey, { id: connectionId, at: this.#now() });
      }
      const reply = await this.#exchange(family, address, port, timeoutMs, signal, (t) => build(connectionId, t));
      if (reply === null) {
        // Trackers send nothing to an id they do not know (a restart with a new secret): connect afresh next time.
        this.#connections.delete(cacheKey);
        continue;
      }
      if (reply.type === "error") {
        this.#connections.delete(cacheKey);
        if (cached !== undefined && !isRetriedAfterError) {
          isRetriedAfterError = true;
          n--;
          continue;
        }
        throw failure(reply.message);
      }
      return reply;
    }
    throw new TrackerError("tracker_timeout", `UDP tracker did not answer: "${address}:${port}"`);
  }

  // Send one request and wait up to `timeoutMs` for the reply with its transaction id from that address.
  // Returns null on timeout.
  async #exchange(
    family: 4 | 6,
    address: string,
    port: number,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    build: (transactionId: number) => UdpRequest,
  ): Promise<UdpReply | null> {
    if (signal?.aborted) throw new TrackerError("tracker_aborted", "Tracker request aborted");
    const socket = this.#socket(family);
    let transactionId = Math.floor(this.#random() * 0x100000000) >>> 0;
    while (socket.waiters.has(transactionId)) transactionId = (transactionId + 1) >>> 0;
    const packet = encodeUdpRequest(build(transactionId));
    let cancelTimer: (() => void) | undefined;
    let onAbort: (() => void) | undefined;
    try {
      return await new Promise<UdpReply | null>((resolve, reject) => {
        socket.waiters.set(transactionId, { hostname: address, port, resolve });
        cancelTimer = this.#setTimer(() => resolve(null), timeoutMs);
        onAbort = () => reject(new TrackerError("tracker_aborted", "Tracker request aborted"));
        signal?.addEventListener("abort", onAbort, { once: true });
        socket.conn.send(packet, { transport: "udp", hostname: address, port }).catch((err: unknown) => {
          reject(
            new TrackerError("tracker_network", `Cannot send to UDP tracker: "${address}:${port}"`, { cause: err }),
          );
        });
      });
    } finally {
      cancelTimer?.();
      if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
      socket.waiters.delete(transactionId);
    }
  }

  #socket(family: 4 | 6): FamilySocket {
    if (this.#isClosed) throw new TrackerError("tracker_network", "UDP tracker socket is closed");
    const existing = this.#sockets.get(family);
    if (existing !== undefined) return existing;
    let conn: Deno.DatagramConn;
    try {
      conn = Deno.listenDatagram({ transport: "udp", hostname: family === 4 ? "0.0.0.0" : "::", port: 0 });
    } catch (err: unknown) {
      throw new TrackerError("tracker_network", `Cannot open a UDP socket (IPv${family})`, { cause: err });
    }
    const waiters = new Map<number, Waiter>();
    const socket: FamilySocket = { conn, waiters, loop: receiveLoop(conn, waiters) };
    this.#sockets.set(family, socket);
    return socket;
  }
}

// Runs while the socket is open; each datagram costs O(1) work in a MAX_UDP_REPLY_BYTES buffer, and anything that is
// not the awaited reply from the awaited address is ignored, so junk cannot extend a wait (those are timed).
async function receiveLoop(conn: Deno.DatagramConn, waiters: Map<number, Waiter>): Promise<void> {
  for (;;) {
    let data: Uint8Array;
    let remote: Deno.Addr;
    try {
      [data, remote] = await conn.receive(new Uint8Array(MAX_UDP_REPLY_BYTES));
    } catch {
      return; // closed
    }
    if (remote.transport !== "udp") continue;
    const reply = decodeUdpReply(data);
    if (reply === null) continue;
    const waiter = waiters.get(reply.transactionId);
    // Only the tracker we asked may answer (a reply from elsewhere is ignored, not trusted).
    if (waiter === undefined || waiter.port !== remote.port || !sameAddress(waiter.hostname, remote.hostname)) continue;
    waiters.delete(reply.transactionId);
    // The reply's views point into `data`, which this loop never reuses.
    waiter.resolve(reply);
  }
}

const EVENT_NUMBERS: Record<ClientAnnounceEvent, UdpEvent> = {
  started: UdpEvent.Started,
  completed: UdpEvent.Completed,
  stopped: UdpEvent.Stopped,
};

function failure(message: string): TrackerError {
  return new TrackerError("tracker_failure", message.slice(0, MAX_MESSAGE_CHARS) || "UDP tracker error");
}

function unexpected(reply: UdpReply): TrackerError {
  return new TrackerError("tracker_bad_response", `UDP tracker sent an unexpected "${reply.type}" reply`);
}

async function defaultResolve(hostname: string): Promise<string> {
  if (hostname === "localhost") return "127.0.0.1";
  try {
    const a = await Deno.resolveDns(hostname, "A");
    if (a[0] !== undefined) return a[0];
  } catch {
    // try AAAA
  }
  const aaaa = await Deno.resolveDns(hostname, "AAAA");
  if (aaaa[0] === undefined) throw new TrackerError("tracker_network", `Cannot resolve tracker host: "${hostname}"`);
  return aaaa[0];
}

/** 4 or 6 for an IP literal, else null. */
function ipFamily(host: string): 4 | 6 | null {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) return 4;
  return host.includes(":") && parseIp(host) !== null ? 6 : null;
}

function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  const x = parseIp(a);
  const y = parseIp(b);
  return x !== null && y !== null && equals(x, y);
}

// ---------------------------------------------------------------------------------------------------------------
// BEP 12 announce-list tiers

/**
 * The BEP 12 tier walker: each tier shuffled once at creation, trackers tried tier by tier in order, and one that
 * answers moves to the front of its tier. Pure state: the caller does the announcing (or uses announceToTiers).
 */
export class TrackerTiers {
  #tiers: string[][];

  /** `announceList` as in the metainfo; empty tiers and duplicate URLs are dropped. */
  constructor(announceList: readonly (readonly string[])[], options: { random: () => number }) {
    const seen = new Set<string>();
    this.#tiers = [];
    for (const tier of announceList) {
      const urls = tier.filter((u) => {
        if (u === "" || seen.has(u)) return false;
        seen.add(u);
        return true;
      });
      // Fisher-Yates with the injected random (BEP 12: shuffle within each tier, once).
      for (let i = urls.length - 1; i > 0; i--) {
        const j = Math.floor(options.random() * (i + 1));
        [urls[i], urls[j]] = [urls[j]!, urls[i]!];
      }
      if (urls.length > 0) this.#tiers.push(urls);
    }
  }

  /** The tiers in their current order. */
  get tiers(): readonly (readonly string[])[] {
    return this.#tiers.map((t) => [...t]);
  }

  /** Every tracker in the order to try: tier by tier, each tier in its current order. */
  order(): string[] {
    return this.#tiers.flat();
  }

  /** `url` answered: move it to the front of its tier (BEP 12). */
  markSuccess(url: string): void {
    for (const tier of this.#tiers) {
      const i = tier.indexOf(url);
      if (i > 0) {
        tier.splice(i, 1);
        tier.unshift(url);
      }
      if (i >= 0) return;
    }
  }
}

/**
 * Announce to the first tracker of `tiers` that answers (BEP 12) and mark it. Any failure, a `failure reason` included,
 * moves on to the next tracker (reported through `onWarning`).
 * @throws {TrackerError} tracker_aborted; when none answered: the last tracker_failure if a tracker refused us
 *   (its reason is the most useful message), else tracker_unreachable (cause: the last error)
 */
export async function announceToTiers(
  tiers: TrackerTiers,
  request: AnnounceParams,
  options: TrackerClientOptions & { onWarning?: (url: string, err: TrackerError) => void } = {},
): Promise<{ url: string; response: AnnounceResponse }> {
  let last: TrackerError | undefined;
  let refused: TrackerError | undefined;
  for (const url of tiers.order()) {
    try {
      const response = await announce(url, request, options);
      tiers.markSuccess(url);
      return { url, response };
    } catch (err: unknown) {
      if (!(err instanceof TrackerError) || err.code === "tracker_aborted") throw err;
      options.onWarning?.(url, err);
      last = err;
      if (err.code === "tracker_failure") refused = err;
    }
  }
  if (refused !== undefined) throw refused;
  throw new TrackerError("tracker_unreachable", "No tracker answered", { cause: last });
}
