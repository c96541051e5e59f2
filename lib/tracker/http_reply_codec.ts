// HTTP tracker replies (BEP 3, 23, 7, 48) as bencode: announce results (compact or the dictionary model), failures and
// scrapes. Replies are written straight into one exact-size buffer (the hot path), or into a reused ReplyScratch;
// keys are in bencode's sorted order. Pure: no sockets.

import { encodeBencode } from "../bencode.ts";
import { allocBytes, fromLatin1, toLatin1 } from "../bytes.ts";
import {
  type AnnounceResult,
  COMPACT_PEER4_BYTES,
  COMPACT_PEER6_BYTES,
  formatIp,
  type ScrapeResult,
} from "./announce.ts";

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
