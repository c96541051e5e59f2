// Transport-neutral tracker values (BEP 3, 23, 7, 48): AnnounceRequest, AnnounceResult, ScrapeResult, limits and
// clamping, shared by the HTTP codec and a future UDP codec. Pure: no sockets, clocks or randomness here.
// IP addresses travel as bytes (4 for IPv4, 16 for IPv6); text forms exist only for display and the dictionary model.

import { TrackerError } from "../errors.ts";
import { INFO_HASH_BYTES } from "../infohash.ts";
import { formatHostPort } from "../net_address.ts";

// One definition each (lib/infohash.ts, lib/net_address.ts), re-exported for the tracker modules that import them here.
export { formatHostPort, INFO_HASH_BYTES };
/** Length of a peer id in bytes (BEP 3). */
export const PEER_ID_BYTES = 20;
/** Compact IPv4 peer: 4 address bytes + 2 port bytes (BEP 23). */
export const COMPACT_PEER4_BYTES = 6;
/** Compact IPv6 peer: 16 address bytes + 2 port bytes (BEP 7). */
export const COMPACT_PEER6_BYTES = 18;
/** Peers handed out when the client does not say (`numwant` absent or negative). */
export const DEFAULT_NUMWANT = 50;
/** Upper bound of `numwant` unless the operator sets another one (`--numwant-max`). */
export const DEFAULT_NUMWANT_MAX = 200;
/** Announce interval (seconds) before jitter. */
export const DEFAULT_INTERVAL_S = 1800;
/** Minimum re-announce interval (seconds). */
export const DEFAULT_MIN_INTERVAL_S = 900;
/** Peers silent this long (seconds) are dropped. */
export const DEFAULT_PEER_TIMEOUT_S = 2700;
/** Cap on the query string we parse: real announces are ~300 bytes, scrapes of 200 hashes ~12 KiB. */
export const MAX_QUERY_CHARS = 16_384;
/** Cap on the number of query parameters we look at. */
export const MAX_QUERY_PARAMS = 256;
/** Cap on info hashes in one scrape (BEP 48 allows many; each costs a swarm lookup). */
export const MAX_SCRAPE_HASHES = 200;
/** Cap on the opaque `key` and `trackerid` strings we read. */
export const MAX_KEY_CHARS = 64;

/** Announce events (BEP 3 plus libtorrent's `paused`). Anything unknown is `none`. */
export const AnnounceEvent = {
  None: "none",
  Started: "started",
  Completed: "completed",
  Stopped: "stopped",
  Paused: "paused",
} as const;
/** One of AnnounceEvent's values. */
export type AnnounceEvent = typeof AnnounceEvent[keyof typeof AnnounceEvent];

/** The fields every announce carries (BEP 3): the tracker's AnnounceRequest and the client's AnnounceParams. */
export interface AnnounceFields {
  /** 20 bytes. */
  infoHash: Uint8Array;
  /** 20 bytes. */
  peerId: Uint8Array;
  /** The announcing peer's TCP port, 1..65535. */
  port: number;
  uploaded: number;
  downloaded: number;
  left: number;
}

/** A validated announce, whatever the transport. Numbers are clamped to [0, MAX_SAFE_INTEGER]. */
export interface AnnounceRequest extends AnnounceFields {
  event: AnnounceEvent;
  /** Wanted peers, already clamped to the tracker's cap. */
  numWant: number;
  /** Answer in BEP 23 compact form. */
  isCompact: boolean;
  /** Dictionary model without `peer id` (ignored when compact). */
  isNoPeerId: boolean;
  /** The `ip` parameter as text, kept raw; only trusted behind a proxy (INTEROP.md 7). */
  ipParam?: string | undefined;
  /** BEP 3 `key` as 32 bits (UDP sends it so; HTTP text is read by `keyFromBytes`): binds a peer id to its client, so
   * an announce from another address moves the peer only with the same key. Absent: no key was sent. */
  key?: number | undefined;
  trackerId?: string | undefined;
}

/** What the swarm store answers to an announce (the transport adds intervals and the peer list format). */
export interface AnnounceResult {
  /** Seeders in the swarm, the asker included. */
  complete: number;
  /** Leechers in the swarm, the asker included. */
  incomplete: number;
  /** Announce interval in seconds (jitter applied). */
  interval: number;
  /** Minimum interval in seconds. */
  minInterval: number;
  /** Compact IPv4 peers, 6 bytes each. */
  peers4: Uint8Array;
  /** Compact IPv6 peers, 18 bytes each. */
  peers6: Uint8Array;
  /** Peer ids of `peers4`, 20 bytes each, when asked for (dictionary model). */
  peerIds4?: Uint8Array;
  /** Peer ids of `peers6`, 20 bytes each, when asked for (dictionary model). */
  peerIds6?: Uint8Array;
  /** A `warning message` for the client. */
  warning?: string;
}

/** Counts of one torrent for a scrape (BEP 48). */
export interface ScrapeEntry {
  complete: number;
  downloaded: number;
  incomplete: number;
}

/** A scrape answer: one entry per requested info hash (all zero when unknown). */
export interface ScrapeResult {
  files: { infoHash: Uint8Array; entry: ScrapeEntry }[];
}

/** Clamp a client's `numwant` (absent or negative means the default) to `[0, numWantMax]`. */
export function clampNumWant(requested: number | undefined, numWantMax: number = DEFAULT_NUMWANT_MAX): number {
  if (requested === undefined || requested < 0 || !Number.isFinite(requested)) {
    return Math.min(DEFAULT_NUMWANT, numWantMax);
  }
  return Math.min(Math.floor(requested), numWantMax);
}

/**
 * The 32 bits of a BEP 3 `key` sent as text (the bytes `b[start, end)` as they came, escapes not decoded; a raw byte
 * >= 0x80 counts as its upper-case `%XX`, as the URL text path sees it): 1 to 8 hex digits are their value, so a
 * client that sends its UDP key in hex over HTTP (libtorrent, Transmission, btool) has one key on both; any other
 * text is its FNV-1a hash. The key is only ever compared, never used to place anything, so it needs no secret seed
 * (and a seed that changes with the process would break the binding kept in a snapshot).
 */
export function keyFromBytes(b: Uint8Array, start: number, end: number): number {
  if (end > start && end - start <= 8) {
    let value = 0;
    let at = start;
    for (; at < end; at++) {
      const c = b[at]!;
      const digit = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (digit < 0) break;
      value = value * 16 + digit;
    }
    if (at === end) return value >>> 0;
  }
  let h = 0x811c9dc5;
  for (let at = start; at < end; at++) {
    const c = b[at]!;
    if (c < 0x80) h = Math.imul(h ^ c, 0x01000193);
    else {
      h = Math.imul(h ^ 37, 0x01000193);
      h = Math.imul(h ^ UPPER_HEX.charCodeAt(c >>> 4), 0x01000193);
      h = Math.imul(h ^ UPPER_HEX.charCodeAt(c & 15), 0x01000193);
    }
  }
  return h >>> 0;
}

const UPPER_HEX = "0123456789ABCDEF";

/** An interval with up to ±`jitterFraction` random jitter, so clients do not announce in lockstep. */
export function jitterInterval(intervalS: number, random: () => number, jitterFraction = 0.05): number {
  const spread = Math.floor(intervalS * jitterFraction);
  return Math.max(1, intervalS - spread + Math.floor(random() * (2 * spread + 1)));
}

/** Parse an IPv4 dotted quad or an IPv6 address to 4 or 16 bytes (IPv4-mapped IPv6 becomes 4). Null if invalid. */
export function parseIp(text: string): Uint8Array | null {
  if (text.indexOf(":") < 0) return parseIp4(text);
  let s = text;
  if (s.startsWith("[") && s.endsWith("]")) s = s.slice(1, -1);
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  const out = new Uint8Array(16);
  let tail = s;
  let v4: Uint8Array | null = null;
  const lastColon = s.lastIndexOf(":");
  if (s.indexOf(".", lastColon) >= 0) {
    v4 = parseIp4(s.slice(lastColon + 1));
    if (v4 === null) return null;
    tail = s.slice(0, lastColon + 1) + "0:0";
  }
  const halves = tail.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] === "" ? [] : halves[0]!.split(":");
  const rest = halves.length === 2 ? (halves[1] === "" ? [] : halves[1]!.split(":")) : [];
  const groups = head.length + rest.length;
  if (halves.length === 1 ? groups !== 8 : groups > 7) return null;
  const words: number[] = [...head.map(parseGroup), ...new Array<number>(8 - groups).fill(0), ...rest.map(parseGroup)];
  for (let i = 0; i < 8; i++) {
    const w = words[i]!;
    if (w < 0) return null;
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  }
  if (v4 !== null) out.set(v4, 12);
  const isMapped = out.subarray(0, 10).every((b) => b === 0) && out[10] === 0xff && out[11] === 0xff;
  return isMapped ? out.slice(12) : out;
}

function parseGroup(g: string): number {
  if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return -1;
  return parseInt(g, 16);
}

function parseIp4(text: string): Uint8Array | null {
  const out = new Uint8Array(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || part > 3) return null;
      out[part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return null;
    } else return null;
  }
  return part === 4 ? out : null;
}

/** Text form of a 4- or 16-byte address (IPv6 without zero compression, lower-case). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return words.join(":");
}

/**
 * Check a transport-decoded announce's fixed-size fields.
 * @throws {TrackerError} invalid_info_hash, invalid_peer_id, invalid_port
 */
export function checkAnnounceFields(infoHash: Uint8Array, peerId: Uint8Array, port: number): void {
  if (infoHash.length !== INFO_HASH_BYTES) {
    throw new TrackerError("invalid_info_hash", `Invalid info_hash: expected 20 bytes, got ${infoHash.length}`);
  }
  if (peerId.length !== PEER_ID_BYTES) {
    throw new TrackerError("invalid_peer_id", `Invalid peer_id: expected 20 bytes, got ${peerId.length}`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TrackerError("invalid_port", `Invalid port: "${port}"`);
  }
}
