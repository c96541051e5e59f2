// UDP tracker packets (BEP 15, BEP 41 URL data) ⇄ values, both directions (connection ids: udp_connection_ids.ts).
// Pure: no sockets, no clocks. Server-side decoding never throws: junk is "drop"
// (no reply: no amplification, no reflection), and so is a bad connection id (issue #19); limits of a request with a
// valid id are "error" (an action-3 reply echoing the transaction id).

import {
  allocBytes,
  fromUtf8,
  readI32BE,
  readU16BE,
  readU32BE,
  readU64BE,
  utf8,
  writeU16BE,
  writeU32BE,
  writeU64BE,
} from "../bytes.ts";
import { BtoolError } from "../errors.ts";
import { INFO_HASH_BYTES, PEER_ID_BYTES } from "./announce.ts";
import { CONNECTION_ID_BYTES, type ConnectionIdVerifier } from "./udp_connection_ids.ts";

// The connection ids live in udp_connection_ids.ts; importers of this codec keep finding them here.
export {
  CONNECTION_ID_BYTES,
  CONNECTION_ID_PERIOD_MS,
  CONNECTION_ID_SLACK_MS,
  type ConnectionIdIssuer,
  type ConnectionIdIssuerOptions,
  type ConnectionIdVerifier,
  createConnectionIdIssuer,
  halfSipHash64,
} from "./udp_connection_ids.ts";

/** BEP 15 connect magic ("protocol id"). */
export const UDP_PROTOCOL_ID = 0x41727101980n;

/** BEP 15 actions. */
export const UdpAction = { Connect: 0, Announce: 1, Scrape: 2, Error: 3 } as const;
/** One BEP 15 action number. */
export type UdpAction = typeof UdpAction[keyof typeof UdpAction];

/** BEP 15 announce events. */
export const UdpEvent = { None: 0, Completed: 1, Started: 2, Stopped: 3 } as const;
/** One BEP 15 event number. */
export type UdpEvent = typeof UdpEvent[keyof typeof UdpEvent];

/** Connect request: protocol id, action, transaction id. */
export const CONNECT_REQUEST_BYTES = 16;
/** Announce request without BEP 41 options. */
export const ANNOUNCE_REQUEST_BYTES = 98;
/** Scrape request header before the info hashes. */
export const SCRAPE_REQUEST_HEADER_BYTES = 16;
/** BEP 15: "up to about 74 torrents can be scraped at once" (16 + 74·20 = 1,496 bytes, one Ethernet frame). */
export const UDP_MAX_SCRAPE_HASHES = 74;
/** Cap on the concatenated BEP 41 URL data of one announce (a path and query; libtorrent's are < 300 bytes). */
export const MAX_URL_DATA_BYTES = 1024;
/** Cap on an error message we send or keep (replies stay well under ~1,200 bytes, INTEROP.md 13). */
export const MAX_ERROR_MESSAGE_BYTES = 512;

const U32_MAX = 0xffffffff;

// BEP 41 option types: 0 end of options, 1 no-op, 2 URL data (length byte + bytes).
const OPTION_END = 0;
const OPTION_NOP = 1;
const OPTION_URL_DATA = 2;

/** A request a client sends to a UDP tracker. Byte fields of decoded requests are views into the packet. */
export type UdpRequest = UdpConnectRequest | UdpAnnounceRequest | UdpScrapeRequest;

/** BEP 15 connect request. */
export interface UdpConnectRequest {
  type: "connect";
  transactionId: number;
}

/** BEP 15 announce request, with the BEP 41 URL data options concatenated into `urlData`. */
export interface UdpAnnounceRequest {
  type: "announce";
  connectionId: Uint8Array;
  transactionId: number;
  infoHash: Uint8Array;
  peerId: Uint8Array;
  downloaded: number;
  left: number;
  uploaded: number;
  event: UdpEvent;
  /** IPv4 address as an unsigned 32-bit number; 0 means "the sender's address". */
  ip: number;
  key: number;
  /** -1 means "the tracker's default". */
  numWant: number;
  port: number;
  /** Concatenated BEP 41 URL data (path and query of the udp:// URL); empty when none was sent. */
  urlData: Uint8Array;
}

/** BEP 15 scrape request. */
export interface UdpScrapeRequest {
  type: "scrape";
  connectionId: Uint8Array;
  transactionId: number;
  infoHashes: Uint8Array[];
}

/** A reply a UDP tracker sends. */
export type UdpReply = UdpConnectReply | UdpAnnounceReply | UdpScrapeReply | UdpErrorReply;

/** BEP 15 connect reply. */
export interface UdpConnectReply {
  type: "connect";
  transactionId: number;
  connectionId: Uint8Array;
}

/** BEP 15 announce reply: `peers` are compact, 6 bytes each on IPv4 and 18 on IPv6 (by the socket's family). */
export interface UdpAnnounceReply {
  type: "announce";
  transactionId: number;
  interval: number;
  leechers: number;
  seeders: number;
  peers: Uint8Array;
}

/** Counts for one scraped info hash, in the order of the request. */
export interface UdpScrapeEntry {
  seeders: number;
  completed: number;
  leechers: number;
}

/** BEP 15 scrape reply. */
export interface UdpScrapeReply {
  type: "scrape";
  transactionId: number;
  files: UdpScrapeEntry[];
}

/** BEP 15 error reply (action 3). */
export interface UdpErrorReply {
  type: "error";
  transactionId: number;
  message: string;
}

/**
 * What a tracker does with one received datagram: answer the request, send nothing ("drop": short, unknown
 * action, bad magic, bad connection id, unparseable), or send an action-3 error echoing `transactionId` (limits).
 */
export type UdpRequestDecode =
  | { type: "request"; request: UdpRequest }
  | { type: "drop"; reason: string }
  | { type: "error"; transactionId: number; message: string };

/** Options of decodeUdpRequest. */
export interface DecodeUdpRequestOptions {
  /** When given with `address` and `port`, announce and scrape ids are checked first (a bad one is a "drop"). */
  connectionIds?: ConnectionIdVerifier;
  address?: string;
  port?: number;
}

function drop(reason: string): UdpRequestDecode {
  return { type: "drop", reason };
}

// 64-bit byte counters: read as bigint and range-checked. Values past 2^53 (9 PB) are not real transfers; some
// clients send all-ones for "unknown", so they are clamped rather than refused (leniency for compatibility).
function readCounter(b: Uint8Array, at: number): number {
  const hi = readU32BE(b, at);
  if (hi < 0x200000) return hi * 0x100000000 + readU32BE(b, at + 4);
  const v = readU64BE(b, at);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

/**
 * Decode one datagram received by a tracker. Never throws: malformed input is a "drop" result.
 * Byte fields of the request are views into `packet`.
 */
export function decodeUdpRequest(packet: Uint8Array, options: DecodeUdpRequestOptions = {}): UdpRequestDecode {
  if (packet.length < CONNECT_REQUEST_BYTES) return drop("short packet");
  const action = readU32BE(packet, 8);
  const transactionId = readU32BE(packet, 12);
  if (action === UdpAction.Connect) {
    if (readU32BE(packet, 0) !== 0x417 || readU32BE(packet, 4) !== 0x27101980) return drop("bad protocol id");
    return { type: "request", request: { type: "connect", transactionId } };
  }
  if (action !== UdpAction.Announce && action !== UdpAction.Scrape) return drop("unknown action");
  // The connection id before anything else (issue #19): it is BEP 15's proof that the sender owns its address, so a
  // datagram without a valid one gets nothing at all, not even an error, or a spoofed source would get our replies.
  const { connectionIds, address, port } = options;
  if (connectionIds !== undefined && address !== undefined && port !== undefined) {
    if (!connectionIds.verify(packet.subarray(0, 8), address, port)) return drop("bad connection id");
  }
  return action === UdpAction.Announce ? decodeAnnounce(packet, transactionId) : decodeScrape(packet, transactionId);
}

function decodeAnnounce(packet: Uint8Array, transactionId: number): UdpRequestDecode {
  if (packet.length < ANNOUNCE_REQUEST_BYTES) return drop("short announce");
  const event = readU32BE(packet, 80);
  if (event > 3) return drop("unknown event");
  const urlData = decodeUrlDataOptions(packet, ANNOUNCE_REQUEST_BYTES);
  if (urlData === null) return drop("malformed options");
  return {
    type: "request",
    request: {
      type: "announce",
      connectionId: packet.subarray(0, 8),
      transactionId,
      infoHash: packet.subarray(16, 36),
      peerId: packet.subarray(36, 56),
      downloaded: readCounter(packet, 56),
      left: readCounter(packet, 64),
      uploaded: readCounter(packet, 72),
      event: event as UdpEvent,
      ip: readU32BE(packet, 84),
      key: readU32BE(packet, 88),
      numWant: readI32BE(packet, 92),
      port: readU16BE(packet, 96),
      urlData,
    },
  };
}

// Shared by every announce without URL data: zero-length, so nothing can be written through it.
const NO_URL_DATA = new Uint8Array(0);

// BEP 41: options follow the 98-byte announce. 0 ends, 1 is a no-op, every other type has a length byte
// (unknown ones are skipped by it); URL data (2) may repeat and is concatenated. A truncated option is malformed.
// Older clients pad with a zero "extensions" field, which reads as end-of-options.
function decodeUrlDataOptions(packet: Uint8Array, start: number): Uint8Array | null {
  let at = start;
  let urlData: Uint8Array | null = null;
  let urlLength = 0;
  while (at < packet.length) {
    const type = packet[at++]!;
    if (type === OPTION_END) break;
    if (type === OPTION_NOP) continue;
    if (at >= packet.length) return null;
    const length = packet[at++]!;
    if (at + length > packet.length) return null;
    if (type === OPTION_URL_DATA) {
      if (urlLength + length > MAX_URL_DATA_BYTES) return null;
      urlData ??= new Uint8Array(MAX_URL_DATA_BYTES);
      urlData.set(packet.subarray(at, at + length), urlLength);
      urlLength += length;
    }
    at += length;
  }
  return urlData === null ? NO_URL_DATA : urlData.slice(0, urlLength);
}

function decodeScrape(packet: Uint8Array, transactionId: number): UdpRequestDecode {
  const body = packet.length - SCRAPE_REQUEST_HEADER_BYTES;
  if (body === 0 || body % INFO_HASH_BYTES !== 0) return drop("truncated scrape");
  const count = body / INFO_HASH_BYTES;
  if (count > UDP_MAX_SCRAPE_HASHES) {
    return {
      type: "error",
      transactionId,
      message: `Too many info hashes in scrape: "${count}", at most ${UDP_MAX_SCRAPE_HASHES}`,
    };
  }
  const infoHashes: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const at = SCRAPE_REQUEST_HEADER_BYTES + i * INFO_HASH_BYTES;
    infoHashes.push(packet.subarray(at, at + INFO_HASH_BYTES));
  }
  return {
    type: "request",
    request: { type: "scrape", connectionId: packet.subarray(0, 8), transactionId, infoHashes },
  };
}

function clampU32(n: number): number {
  return n < 0 ? 0 : n > U32_MAX ? U32_MAX : Math.floor(n);
}

function writeHeader(out: Uint8Array, action: number, transactionId: number): void {
  writeU32BE(out, 0, action);
  writeU32BE(out, 4, transactionId);
}

/** Encode a tracker's reply. Counts are clamped to unsigned 32 bits; an error message is cut to its byte cap. */
export function encodeUdpReply(reply: UdpReply): Uint8Array {
  switch (reply.type) {
    case "connect": {
      const out = allocBytes(16);
      writeHeader(out, UdpAction.Connect, reply.transactionId);
      out.set(reply.connectionId.subarray(0, CONNECTION_ID_BYTES), 8);
      return out;
    }
    case "announce": {
      const out = allocBytes(20 + reply.peers.length);
      writeHeader(out, UdpAction.Announce, reply.transactionId);
      // BEP 15 order: interval, leechers, seeders (INTEROP.md 13).
      writeU32BE(out, 8, clampU32(reply.interval));
      writeU32BE(out, 12, clampU32(reply.leechers));
      writeU32BE(out, 16, clampU32(reply.seeders));
      out.set(reply.peers, 20);
      return out;
    }
    case "scrape": {
      const out = allocBytes(8 + 12 * reply.files.length);
      writeHeader(out, UdpAction.Scrape, reply.transactionId);
      let at = 8;
      for (const f of reply.files) {
        // Per hash: seeders, completed, leechers.
        writeU32BE(out, at, clampU32(f.seeders));
        writeU32BE(out, at + 4, clampU32(f.completed));
        writeU32BE(out, at + 8, clampU32(f.leechers));
        at += 12;
      }
      return out;
    }
    case "error": {
      const full = utf8(reply.message);
      let cut = Math.min(full.length, MAX_ERROR_MESSAGE_BYTES);
      // Back off over continuation bytes (10xxxxxx): a cut inside a character would reach the client as U+FFFD.
      while (cut < full.length && (full[cut]! & 0xc0) === 0x80) cut--;
      const message = full.subarray(0, cut);
      const out = new Uint8Array(8 + message.length);
      writeHeader(out, UdpAction.Error, reply.transactionId);
      out.set(message, 8);
      return out;
    }
    default: {
      const never: never = reply;
      throw new BtoolError("udp_unknown_reply", `Cannot encode UDP reply: unknown type "${String(never)}"`);
    }
  }
}

/** Encode a client's request; the announce carries BEP 41 URL data options when `urlData` is not empty. */
export function encodeUdpRequest(request: UdpRequest): Uint8Array {
  switch (request.type) {
    case "connect": {
      const out = new Uint8Array(CONNECT_REQUEST_BYTES);
      writeU64BE(out, 0, UDP_PROTOCOL_ID);
      writeU32BE(out, 8, UdpAction.Connect);
      writeU32BE(out, 12, request.transactionId);
      return out;
    }
    case "announce": {
      const url = request.urlData.subarray(0, MAX_URL_DATA_BYTES);
      const chunks = Math.ceil(url.length / 255);
      const optionBytes = url.length === 0 ? 0 : url.length + 2 * chunks + 1;
      const out = new Uint8Array(ANNOUNCE_REQUEST_BYTES + optionBytes);
      out.set(request.connectionId.subarray(0, CONNECTION_ID_BYTES), 0);
      writeU32BE(out, 8, UdpAction.Announce);
      writeU32BE(out, 12, request.transactionId);
      out.set(request.infoHash.subarray(0, INFO_HASH_BYTES), 16);
      out.set(request.peerId.subarray(0, PEER_ID_BYTES), 36);
      writeU64BE(out, 56, BigInt(request.downloaded));
      writeU64BE(out, 64, BigInt(request.left));
      writeU64BE(out, 72, BigInt(request.uploaded));
      writeU32BE(out, 80, request.event);
      writeU32BE(out, 84, request.ip);
      writeU32BE(out, 88, request.key);
      writeU32BE(out, 92, request.numWant);
      writeU16BE(out, 96, request.port);
      let at = ANNOUNCE_REQUEST_BYTES;
      for (let i = 0; i < url.length; i += 255) {
        const part = url.subarray(i, i + 255);
        out[at++] = OPTION_URL_DATA;
        out[at++] = part.length;
        out.set(part, at);
        at += part.length;
      }
      if (optionBytes > 0) out[at] = OPTION_END;
      return out;
    }
    case "scrape": {
      const out = new Uint8Array(SCRAPE_REQUEST_HEADER_BYTES + INFO_HASH_BYTES * request.infoHashes.length);
      out.set(request.connectionId.subarray(0, CONNECTION_ID_BYTES), 0);
      writeU32BE(out, 8, UdpAction.Scrape);
      writeU32BE(out, 12, request.transactionId);
      request.infoHashes.forEach((h, i) => out.set(h.subarray(0, INFO_HASH_BYTES), 16 + i * INFO_HASH_BYTES));
      return out;
    }
    default: {
      const never: never = request;
      throw new BtoolError("udp_unknown_request", `Cannot encode UDP request: unknown type "${String(never)}"`);
    }
  }
}

/**
 * Decode a reply received by a client; null when the datagram is not a well-formed reply (ignore it and keep
 * waiting). `peers` of an announce reply stay compact: the caller splits them by its socket's family. Byte fields
 * are views into `packet`.
 */
export function decodeUdpReply(packet: Uint8Array): UdpReply | null {
  if (packet.length < 8) return null;
  const action = readU32BE(packet, 0);
  const transactionId = readU32BE(packet, 4);
  switch (action) {
    case UdpAction.Connect:
      if (packet.length < 16) return null;
      return { type: "connect", transactionId, connectionId: packet.subarray(8, 16) };
    case UdpAction.Announce:
      if (packet.length < 20) return null;
      return {
        type: "announce",
        transactionId,
        interval: readU32BE(packet, 8),
        leechers: readU32BE(packet, 12),
        seeders: readU32BE(packet, 16),
        peers: packet.subarray(20),
      };
    case UdpAction.Scrape: {
      if ((packet.length - 8) % 12 !== 0) return null;
      const files: UdpScrapeEntry[] = [];
      for (let at = 8; at < packet.length && files.length < UDP_MAX_SCRAPE_HASHES; at += 12) {
        files.push({
          seeders: readU32BE(packet, at),
          completed: readU32BE(packet, at + 4),
          leechers: readU32BE(packet, at + 8),
        });
      }
      return { type: "scrape", transactionId, files };
    }
    case UdpAction.Error:
      return {
        type: "error",
        transactionId,
        message: fromUtf8(packet.subarray(8, 8 + MAX_ERROR_MESSAGE_BYTES)),
      };
    default:
      return null;
  }
}
