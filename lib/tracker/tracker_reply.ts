// HTTP tracker replies as the client reads them (BEP 3, 23 compact, 7 peers6, 48 scrape): bencode decoded leniently,
// `failure reason` as TrackerError, compact and dictionary-model peers, every list capped. Pure.

import { decodeBencode, isBytes, isDict } from "../bencode.ts";
import type { BencodeDict, BencodeValue } from "../bencode.ts";
import { fromLatin1, fromUtf8, readU16BE, toHex } from "../bytes.ts";
import { TrackerError } from "../errors.ts";
import { formatIPv6 } from "../net_address.ts";
import { COMPACT_PEER4_BYTES, COMPACT_PEER6_BYTES, formatIp } from "./announce.ts";

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

/** Cap on peers kept from one reply. */
export const MAX_PEERS_PER_RESPONSE = 1000;
/** Cap on torrents kept from one HTTP scrape reply. */
export const MAX_SCRAPE_FILES = 1000;
/** Interval used when a reply has none or a nonsense one. */
export const FALLBACK_INTERVAL_S = 1800;
/** Cap on text kept from `failure reason` / `warning message`. */
export const MAX_MESSAGE_CHARS = 1024;

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

/** The `failure reason` of a reply body, or null when it has none or is not a bencoded dictionary. */
export function tryFailureReason(body: Uint8Array): string | null {
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
    const ip = family === 4 ? formatIp(bytes.subarray(at, at + 4)) : formatIPv6(bytes.subarray(at, at + 16));
    out.push({ ip, port });
  }
}
