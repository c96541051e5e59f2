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
import type { SwarmStore } from "./swarm_store.ts";
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
  let lastHostname = "";
  let lastIp: Uint8Array | null = null;

  function error(transactionId: number, message: string): Uint8Array {
    stats.errors++;
    return encodeUdpReply({ type: "error", transactionId, message });
  }

  function announce(r: UdpAnnounceRequest, senderIp: Uint8Array): Uint8Array {
    access?.({
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
    });
    // BEP 15: `ip` 0 means the sender's address; anything else only when the operator allows it (INTEROP.md 7).
    // `key` binds the peer id to this client in the store: another address moves the peer only with the same key.
    let ip = senderIp;
    if (isIpParamAllowed && r.ip !== 0) {
      ip = new Uint8Array([r.ip >>> 24, (r.ip >>> 16) & 0xff, (r.ip >>> 8) & 0xff, r.ip & 0xff]);
    }
    if (r.port === 0) throw new TrackerError("invalid_port", `Invalid port: "0"`);
    // Peers of the asker's family only (6 bytes on IPv4, 18 on IPv6, BEP 15), capped so the reply fits 1,200 bytes.
    const isV6 = senderIp.length === 16;
    const numWant = Math.min(clampNumWant(r.numWant, numWantMax), isV6 ? MAX_UDP_PEERS6 : MAX_UDP_PEERS4);
    const req: AnnounceRequest = {
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
    const nowMs = now();
    let s = store.announce(req, { ip, nowMs, random });
    const isNewlyCompleted = s.isNewlyCompleted;
    // The store samples both families; in a mixed swarm the asker's share can fall short. Ask once more (an
    // idempotent re-announce without event) for more peers, so the asker's family alone can fill numWant.
    const peerBytes = isV6 ? COMPACT_PEER6_BYTES : COMPACT_PEER4_BYTES;
    const other = isV6 ? s.peers4 : s.peers6;
    if (other.length > 0 && (isV6 ? s.peers6 : s.peers4).length < numWant * peerBytes) {
      const more = Math.min(numWantMax, numWant * MIXED_SWARM_OVERSAMPLE);
      if (more > numWant) s = store.announce({ ...req, event: "none", numWant: more }, { ip, nowMs, random });
    }
    if (isNewlyCompleted && db !== undefined) {
      try {
        db.addCompleted(toHex(r.infoHash), 1, nowMs);
      } catch (err: unknown) {
        onWarning(`Cannot save a completed count: ${errorText(err)}`);
      }
    }
    const peers = isV6 ? s.peers6 : s.peers4;
    const cut = Math.min(peers.length, numWant * peerBytes);
    stats.announces++;
    // BEP 15 announce reply, written directly (the hot path): action 1, transaction id, interval, leechers, seeders,
    // then the peers copied out of the store's scratch buffer. Counts are < 2^32 (the store's caps).
    const out = allocBytes(ANNOUNCE_REPLY_HEADER_BYTES + cut);
    out[3] = UdpAction.Announce;
    writeU32BE(out, 4, r.transactionId);
    writeU32BE(out, 8, jitterInterval(intervalS, random));
    writeU32BE(out, 12, s.incomplete);
    writeU32BE(out, 16, s.complete);
    out.set(cut === peers.length ? peers : peers.subarray(0, cut), ANNOUNCE_REPLY_HEADER_BYTES);
    return out;
  }

  function scrape(r: UdpScrapeRequest, senderIp: Uint8Array): Uint8Array {
    access?.({ type: "scrape", infoHashes: r.infoHashes, urlData: EMPTY, ip: senderIp });
    const files: UdpScrapeEntry[] = [];
    for (const h of r.infoHashes) {
      const e = store.scrape(h);
      files.push({ seeders: e.complete, completed: e.downloaded, leechers: e.incomplete });
    }
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
      return encodeUdpReply({
        type: "connect",
        transactionId: r.transactionId,
        connectionId: connectionIds.issue(hostname, ID_PORT),
      });
    }
    // One-entry cache: a busy client (or a load balancer) repeats its address; parsing it costs more than the rest
    // of a connection id check. Bounded, and keyed by the exact text, so it is not per-client memory.
    if (hostname !== lastHostname) {
      lastIp = parseIp(hostname);
      lastHostname = hostname;
    }
    const ip = lastIp;
    if (ip === null) {
      stats.dropped++;
      return null;
    }
    try {
      return r.type === "announce" ? announce(r, ip) : scrape(r, ip);
    } catch (err: unknown) {
      if (err instanceof TrackerError) return error(r.transactionId, err.reason);
      onWarning(`Internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      return error(r.transactionId, "internal error");
    }
  }

  return { handle, stats };
}
