// The UDP tracker's datagram handler (BEP 15, BEP 41 URL data): one datagram in, the reply to send (or none) out,
// over the shared SwarmStore. Keeps no per-client memory (connection ids are stateless), never answers junk or a bad
// connection id (no amplification, no reflection, issue #19) and never replies with more than 1,200 bytes.
// Pure apart from the store, the db and the injected clock; the sockets are udp_server.ts's.

import { allocBytes, toHex, writeU32BE } from "../bytes.ts";
import { errorText, TrackerError } from "../errors.ts";
import type { TrackerDb } from "../persist/db.ts";
import {
  type AnnounceEvent,
  type AnnounceRequest,
  clampNumWant,
  COMPACT_PEER4_BYTES,
  COMPACT_PEER6_BYTES,
  DEFAULT_INTERVAL_S,
  DEFAULT_NUMWANT_MAX,
  jitterInterval,
  parseIp,
} from "./announce.ts";
import type { SwarmAnnounce, SwarmAnnounceOptions, SwarmStore } from "./swarm_store.ts";
import {
  type ConnectionIdIssuer,
  createConnectionIdIssuer,
  decodeUdpRequest,
  encodeUdpReply,
  UdpAction,
  type UdpAnnounceRequest,
  UdpEvent,
  type UdpScrapeEntry,
  type UdpScrapeRequest,
} from "./udp_codec.ts";

/** Largest reply we send (INTEROP.md 13: stay under one unfragmented datagram on any path). */
export const MAX_UDP_TRACKER_REPLY_BYTES = 1200;
/** Announce reply header: action, transaction id, interval, leechers, seeders. */
const ANNOUNCE_REPLY_HEADER_BYTES = 20;
/** Peers per reply to an IPv4 asker: (1200 − 20) / 6. */
export const MAX_UDP_PEERS4: number = Math.floor(
  (MAX_UDP_TRACKER_REPLY_BYTES - ANNOUNCE_REPLY_HEADER_BYTES) / COMPACT_PEER4_BYTES,
);
/** Peers per reply to an IPv6 asker: (1200 − 20) / 18. */
export const MAX_UDP_PEERS6: number = Math.floor(
  (MAX_UDP_TRACKER_REPLY_BYTES - ANNOUNCE_REPLY_HEADER_BYTES) / COMPACT_PEER6_BYTES,
);
/** In a swarm mixing IPv4 and IPv6 peers, how many times numWant to sample when the asker's family fell short. */
export const MIXED_SWARM_OVERSAMPLE = 4;

/** What an access policy sees of a UDP request (private mode, listed mode). */
export interface UdpAccessRequest {
  type: "announce" | "scrape";
  /** One hash for an announce; every requested hash for a scrape. */
  infoHashes: readonly Uint8Array[];
  /** BEP 41 URL data (path and query of the udp:// URL, e.g. `/announce?passkey=…`); empty when none was sent. */
  urlData: Uint8Array;
  /** The sender's address, 4 or 16 bytes. */
  ip: Uint8Array;
  /** An announce's peer id and session counters, for per-user accounting (issue #6); absent on scrapes. */
  announce?: { peerId: Uint8Array; uploaded: number; downloaded: number; isStarted: boolean };
}

/**
 * Access policy shared with the HTTP tracker: returns normally to allow, throws a TrackerError (its `reason` goes to
 * the client in an action-3 packet) to refuse.
 */
export type UdpAccessHook = (request: UdpAccessRequest) => void;

/** Options of createUdpHandler. */
export interface UdpHandlerOptions {
  /** The HTTP tracker's store (Tracker.store), so both transports share swarms. */
  store: SwarmStore;
  /** Completed counts are persisted here like the HTTP tracker does. */
  db?: TrackerDb;
  /** Connection ids; default: an issuer over `secret` (or 32 random bytes) and `now`. */
  connectionIds?: ConnectionIdIssuer;
  /** Long-lived secret of the default issuer. */
  secret?: Uint8Array;
  intervalS?: number;
  numWantMax?: number;
  /** Honour the announce `ip` field (a client-chosen address; INTEROP.md 7, issue #19). Default false. */
  isIpParamAllowed?: boolean;
  /** Private/listed mode (lib/tracker/access.ts); absent = open tracker. */
  access?: UdpAccessHook;
  /** Clock in ms (default Date.now). */
  now?: () => number;
  /** Uniform [0, 1) (default Math.random). */
  random?: () => number;
  /** Operator warnings (internal errors, db write failures). */
  onWarning?: (message: string) => void;
}

/** Counters of a handler since it was created. */
export interface UdpHandlerStats {
  received: number;
  connects: number;
  announces: number;
  scrapes: number;
  /** Action-3 replies sent (refusals, limits: only to senders with a valid connection id). */
  errors: number;
  /** Datagrams answered with nothing (junk, bad connection ids). */
  dropped: number;
}

/** Turns one datagram into the reply to send, or null for none. */
export interface UdpHandler {
  /**
   * `hostname` and `port` are the sender's, as the socket reports them (IPv4-mapped IPv6 is IPv4). Connection ids
   * depend on the address only.
   */
  handle(packet: Uint8Array, hostname: string, port: number): Uint8Array | null;
  readonly stats: UdpHandlerStats;
}

const EVENTS: Record<UdpEvent, AnnounceEvent> = {
  [UdpEvent.None]: "none",
  [UdpEvent.Completed]: "completed",
  [UdpEvent.Started]: "started",
  [UdpEvent.Stopped]: "stopped",
};

const EMPTY = new Uint8Array(0);
/** The port given to the connection id issuer: ids depend on the address only. */
const ID_PORT = 0;

/** BEP 15: `ip` 0 means the sender's address; anything else only when the operator allows it (INTEROP.md 7). */
export function udpAnnounceIp(fieldIp: number, senderIp: Uint8Array, isIpParamAllowed: boolean): Uint8Array {
  if (!isIpParamAllowed || fieldIp === 0) return senderIp;
  return new Uint8Array([fieldIp >>> 24, (fieldIp >>> 16) & 0xff, (fieldIp >>> 8) & 0xff, fieldIp & 0xff]);
}

/** Peers to hand an asker: its num_want within the operator's cap, and few enough to fit 1,200 bytes. */
export function udpNumWant(requested: number, numWantMax: number, isV6: boolean): number {
  return Math.min(clampNumWant(requested, numWantMax), isV6 ? MAX_UDP_PEERS6 : MAX_UDP_PEERS4);
}

/** The store's view of a UDP announce. `key` binds the peer id to this client: another address moves it only with it. */
function announceRequestOf(r: UdpAnnounceRequest, numWant: number): AnnounceRequest {
  return {
    infoHash: r.infoHash,
    peerId: r.peerId,
    port: r.port,
    uploaded: r.uploaded,
    downloaded: r.downloaded,
    left: r.left,
    event: EVENTS[r.event],
    numWant,
    isCompact: true,
    isNoPeerId: true,
    key: r.key,
  };
}

/** What the access hook sees of an announce. */
function announceAccessRequest(r: UdpAnnounceRequest, senderIp: Uint8Array): UdpAccessRequest {
  return {
    type: "announce",
    infoHashes: [r.infoHash],
    urlData: r.urlData,
    ip: senderIp,
    announce: {
      peerId: r.peerId,
      uploaded: r.uploaded,
      downloaded: r.downloaded,
      isStarted: r.event === UdpEvent.Started,
    },
  };
}

/** What resampleForFamily needs besides the first answer and the request. */
interface ResampleContext {
  store: SwarmStore;
  storeOptions: SwarmAnnounceOptions;
  numWantMax: number;
  isV6: boolean;
}

/**
 * The store samples both families; in a mixed swarm the asker's share can fall short. Then ask once more (an
 * idempotent re-announce without event) for more peers, so the asker's family alone can fill numWant.
 */
function resampleForFamily(first: SwarmAnnounce, req: AnnounceRequest, c: ResampleContext): SwarmAnnounce {
  const own = c.isV6 ? first.peers6 : first.peers4;
  const other = c.isV6 ? first.peers4 : first.peers6;
  const peerBytes = c.isV6 ? COMPACT_PEER6_BYTES : COMPACT_PEER4_BYTES;
  if (other.length === 0 || own.length >= req.numWant * peerBytes) return first;
  const more = Math.min(c.numWantMax, req.numWant * MIXED_SWARM_OVERSAMPLE);
  if (more <= req.numWant) return first;
  return c.store.announce({ ...req, event: "none", numWant: more }, c.storeOptions);
}

/** Persist one completed download; a failing db is the operator's warning, never the client's error. */
function saveCompleted(
  db: TrackerDb | undefined,
  infoHash: Uint8Array,
  nowMs: number,
  onWarning: (message: string) => void,
): void {
  if (db === undefined) return;
  try {
    db.addCompleted(toHex(infoHash), 1, nowMs);
  } catch (err: unknown) {
    onWarning(`Cannot save a completed count: ${errorText(err)}`);
  }
}

/** Fields of a BEP 15 announce reply besides the peers. Counts are < 2^32 (the store's caps). */
export interface UdpAnnounceReplyHeader {
  transactionId: number;
  intervalS: number;
  leechers: number;
  seeders: number;
}

/**
 * BEP 15 announce reply, written directly (the hot path): action 1, transaction id, interval, leechers, seeders,
 * then at most `maxPeers` compact peers copied out of `peers` (the store's scratch buffer).
 */
export function encodeUdpAnnounceReply(
  header: UdpAnnounceReplyHeader,
  peers: Uint8Array,
  options: { numWant: number; peerBytes: number },
): Uint8Array {
  const cut = Math.min(peers.length, options.numWant * options.peerBytes);
  const out = allocBytes(ANNOUNCE_REPLY_HEADER_BYTES + cut);
  out[3] = UdpAction.Announce;
  writeU32BE(out, 4, header.transactionId);
  writeU32BE(out, 8, header.intervalS);
  writeU32BE(out, 12, header.leechers);
  writeU32BE(out, 16, header.seeders);
  out.set(cut === peers.length ? peers : peers.subarray(0, cut), ANNOUNCE_REPLY_HEADER_BYTES);
  return out;
}

/** Seeders, completed and leechers of each hash, in request order. */
function scrapeEntries(store: SwarmStore, infoHashes: readonly Uint8Array[]): UdpScrapeEntry[] {
  const files: UdpScrapeEntry[] = [];
  for (const h of infoHashes) {
    const e = store.scrape(h);
    files.push({ seeders: e.complete, completed: e.downloaded, leechers: e.incomplete });
  }
  return files;
}

/**
 * Sender address text to bytes through a one-entry cache: a busy client (or a load balancer) repeats its address;
 * parsing it costs more than the rest of a connection id check. Bounded, and keyed by the exact text, so it is not
 * per-client memory.
 */
function createAddressParser(): (hostname: string) => Uint8Array | null {
  let lastHostname = "";
  let lastIp: Uint8Array | null = null;
  return (hostname) => {
    if (hostname !== lastHostname) {
      lastIp = parseIp(hostname);
      lastHostname = hostname;
    }
    return lastIp;
  };
}

/** A warning's text for an error that is not a TrackerError (the client only hears "internal error"). */
function internalErrorText(err: unknown): string {
  return `Internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
}

/** Build the datagram handler: pure apart from the store, the db and the injected clock. */
export function createUdpHandler(options: UdpHandlerOptions): UdpHandler {
  const { store, db, access } = options;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const onWarning = options.onWarning ?? (() => {});
  const intervalS = options.intervalS ?? DEFAULT_INTERVAL_S;
  const numWantMax = options.numWantMax ?? DEFAULT_NUMWANT_MAX;
  const isIpParamAllowed = options.isIpParamAllowed === true;
  const connectionIds = options.connectionIds ?? createConnectionIdIssuer({
    secret: options.secret ?? crypto.getRandomValues(new Uint8Array(32)),
    now,
  });
  const stats: UdpHandlerStats = { received: 0, connects: 0, announces: 0, scrapes: 0, errors: 0, dropped: 0 };
  // Ids are bound to the sender's address, not its port (as opentracker does): libtorrent shares one connection id
  // cache among all sessions of a process, and NATs may change the source port between connect and announce.
  // Reflection needs a spoofed address, which still cannot get an id.
  const decodeOptions = { connectionIds, address: "", port: ID_PORT };
  const senderIpOf = createAddressParser();

  function error(transactionId: number, message: string): Uint8Array {
    stats.errors++;
    return encodeUdpReply({ type: "error", transactionId, message });
  }

  function announce(r: UdpAnnounceRequest, senderIp: Uint8Array): Uint8Array {
    access?.(announceAccessRequest(r, senderIp));
    const ip = udpAnnounceIp(r.ip, senderIp, isIpParamAllowed);
    if (r.port === 0) throw new TrackerError("invalid_port", `Invalid port: "0"`);
    // Peers of the asker's family only (6 bytes on IPv4, 18 on IPv6, BEP 15).
    const isV6 = senderIp.length === 16;
    const numWant = udpNumWant(r.numWant, numWantMax, isV6);
    const storeOptions = { ip, nowMs: now(), random };
    const req = announceRequestOf(r, numWant);
    const first = store.announce(req, storeOptions);
    if (first.isNewlyCompleted) saveCompleted(db, r.infoHash, storeOptions.nowMs, onWarning);
    const s = resampleForFamily(first, req, { store, storeOptions, numWantMax, isV6 });
    stats.announces++;
    const header = {
      transactionId: r.transactionId,
      intervalS: jitterInterval(intervalS, random),
      leechers: s.incomplete,
      seeders: s.complete,
    };
    const peerBytes = isV6 ? COMPACT_PEER6_BYTES : COMPACT_PEER4_BYTES;
    return encodeUdpAnnounceReply(header, isV6 ? s.peers6 : s.peers4, { numWant, peerBytes });
  }

  function scrape(r: UdpScrapeRequest, senderIp: Uint8Array): Uint8Array {
    access?.({ type: "scrape", infoHashes: r.infoHashes, urlData: EMPTY, ip: senderIp });
    const files = scrapeEntries(store, r.infoHashes);
    stats.scrapes++;
    return encodeUdpReply({ type: "scrape", transactionId: r.transactionId, files });
  }

  function handle(packet: Uint8Array, hostname: string, _port: number): Uint8Array | null {
    stats.received++;
    decodeOptions.address = hostname;
    const d = decodeUdpRequest(packet, decodeOptions);
    if (d.type === "drop") {
      stats.dropped++;
      return null;
    }
    if (d.type === "error") return error(d.transactionId, d.message);
    const r = d.request;
    if (r.type === "connect") {
      stats.connects++;
      const connectionId = connectionIds.issue(hostname, ID_PORT);
      return encodeUdpReply({ type: "connect", transactionId: r.transactionId, connectionId });
    }
    const ip = senderIpOf(hostname);
    if (ip === null) {
      stats.dropped++;
      return null;
    }
    try {
      return r.type === "announce" ? announce(r, ip) : scrape(r, ip);
    } catch (err: unknown) {
      if (err instanceof TrackerError) return error(r.transactionId, err.reason);
      onWarning(internalErrorText(err));
      return error(r.transactionId, "internal error");
    }
  }

  return { handle, stats };
}
