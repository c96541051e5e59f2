// The bencoded replies of the HTTP tracker (BEP 3, 23, 7, 48) to announces and scrapes, over the SwarmStore, the
// Registry (similar-hash hints) and the private mode's checks: both the Request path (`announceOrScrape`) and the
// libc server's byte path (`fast`). Tracker errors become bencoded `failure reason` bodies, never a stack trace.
// No Request or Response here (http_routes.ts wraps them); no timers, no sockets.

import { fromLatin1, toHex, toLatin1 } from "../bytes.ts";
import { encodeBencode } from "../bencode.ts";
import { errorText, TrackerError } from "../errors.ts";
import type { TrackerDb } from "../persist/db.ts";
import { type AnnounceRequest, type AnnounceResult, jitterInterval, type ScrapeEntry } from "./announce.ts";
import { passkeyFromQuery } from "./access.ts";
import { ADMIN_LIMITED_REASON } from "./admin_api.ts";
import type { AdminCheck } from "./admin_auth.ts";
import type { ClientAddress, HeaderOf } from "./client_address.ts";
import {
  AnnounceQueryParser,
  encodeAnnounceResult,
  encodeFailure,
  hasAnnounceParams,
  parseScrapeQuery,
  ReplyScratch,
} from "./http_codec.ts";
import { targetText } from "./http1.ts";
import type { PrivateMode } from "./private_mode.ts";
import type { Registry, SimilarOptions } from "./registry.ts";
import type { TrackerStats } from "./stats.ts";
import type { SwarmAnnounceOptions, SwarmStore } from "./swarm_store.ts";

/** Cap on unknown info hashes remembered with a similar-hash warning. */
export const MAX_WARNED_HASHES = 10_000;
/** Retry hint sent with failures (INTEROP.md 2). */
export const FAILURE_RETRY_S = 300;

/** Options of createHttpAnswers. */
export interface HttpAnswersOptions {
  /** Completed counts are written here. */
  db: Pick<TrackerDb, "addCompleted">;
  store: SwarmStore;
  registry: Registry;
  privateMode: PrivateMode;
  addresses: ClientAddress;
  /** The full scrape (admin only). */
  stats: Pick<TrackerStats, "fullScrape">;
  /** The admin check of a request (a full scrape needs the token). */
  adminCheck: (header: HeaderOf, host: string) => AdminCheck;
  intervalS: number;
  minIntervalS: number;
  numWantMax: number;
  similar: SimilarOptions;
  now: () => number;
  random: () => number;
  onWarning: (message: string) => void;
}

/** The tracker's announce and scrape replies (bencoded bodies of HTTP 200 replies). */
export interface HttpAnswers {
  /**
   * The reply to an announce (`/announce`, or `/` with announce parameters) or a scrape at `url`, whose path starts
   * at `pathStart`; null for any other path. The one dispatch of both HTTP paths (`handler` and `fast`).
   * @throws {TrackerError} what announce and scrape refuse
   */
  announceOrScrape(url: string, pathStart: number, host: string, header: HeaderOf): Uint8Array | null;
  /**
   * The reply to an announce whose query is `url` from index `queryAt` (the characters after "?").
   * @throws {TrackerError} what announce refuses
   */
  announce(header: HeaderOf, host: string, url: string, queryAt: number, pathPasskey?: string): Uint8Array;
  /**
   * The reply to a scrape with `query`; a full scrape (no info_hash) needs the admin token.
   * @throws {TrackerError} what scrape refuses
   */
  scrape(header: HeaderOf, host: string, query: string, pathPasskey?: string): Uint8Array;
  /**
   * The announce or scrape straight from request target `b[start, end)` (libc server); failures included, null for
   * other paths. The reply may live in a reused scratch buffer: valid until the next call.
   */
  fast(b: Uint8Array, start: number, end: number, host: string, header: HeaderOf): Uint8Array | null;
  /** A failure body with the retry hint. */
  failureBody(reason: string): Uint8Array;
  /** Report `err` to the operator; the client gets "internal error". */
  internalErrorBody(err: unknown): Uint8Array;
}

const ANNOUNCE_PREFIX = fromLatin1("/announce?");

/** The target `b[start, end)` is `/announce?` and a query. */
function isAnnounceTarget(b: Uint8Array, start: number, end: number): boolean {
  if (end - start <= ANNOUNCE_PREFIX.length) return false;
  for (let i = 0; i < ANNOUNCE_PREFIX.length; i++) if (b[start + i] !== ANNOUNCE_PREFIX[i]) return false;
  return true;
}

/**
 * The similar-hash hint (issue #4): an unknown info hash close to a registered one gets a warning naming it, once to
 * the operator and with every reply to the client. Remembers at most MAX_WARNED_HASHES hashes.
 */
class SimilarHints {
  /** Unknown info hash (hex) → warning text; only for hashes close to a registered one. */
  readonly #warned = new Map<string, string>();

  constructor(
    readonly registry: Registry,
    readonly similar: SimilarOptions,
    readonly onWarning: (message: string) => void,
  ) {}

  /** Some hash got a warning (later announces of known swarms must look again). */
  get hasWarned(): boolean {
    return this.#warned.size > 0;
  }

  /** The warning for `infoHash`, or undefined when it is registered or close to none. */
  warning(infoHash: Uint8Array): string | undefined {
    const registry = this.registry;
    if (registry.size === 0) return undefined;
    const hex = toHex(infoHash);
    const hit = this.#warned.get(hex);
    if (hit !== undefined || registry.has(hex)) return hit;
    const match = registry.findSimilar(hex, this.similar);
    if (match === null) return undefined;
    const text = `Unknown info hash ${hex} is close to registered torrent ${match.infoHashHex}` +
      (match.name === undefined ? "" : ` ("${match.name}")`) + ": check how your tool encodes info hashes";
    if (this.#warned.size < MAX_WARNED_HASHES) this.#warned.set(hex, text);
    this.onWarning(text);
    return text;
  }
}

/**
 * The bencoded scrape of `hashes` (BEP 48 `files` keyed by raw info hash). Listed mode: unregistered hashes are left
 * out, and a scrape of none of ours is refused.
 * @throws {TrackerError} unregistered
 */
function scrapeFiles(
  hashes: readonly Uint8Array[],
  store: SwarmStore,
  privateMode: PrivateMode,
  hints: SimilarHints,
): Uint8Array {
  const files = new Map<string, Map<string, number>>();
  const put = (key: string, e: ScrapeEntry) =>
    files.set(key, new Map([["complete", e.complete], ["downloaded", e.downloaded], ["incomplete", e.incomplete]]));
  let warning: string | undefined;
  for (const hash of hashes) {
    if (!privateMode.access.isAllowed(hash)) continue;
    put(toLatin1(hash), store.scrape(hash));
    warning ??= hints.warning(hash);
  }
  if (files.size === 0) privateMode.access.checkListed(hashes[0]!);
  const body = new Map<string, Map<string, Map<string, number>> | string>([["files", files]]);
  if (warning !== undefined) body.set("warning message", warning);
  return encodeBencode(body);
}

/** Build the announce and scrape replies of one tracker. */
export function createHttpAnswers(options: HttpAnswersOptions): HttpAnswers {
  const { db, store, registry, privateMode, addresses, stats, adminCheck, similar, now, random, onWarning } = options;
  const { intervalS, minIntervalS, numWantMax } = options;

  const hints = new SimilarHints(registry, similar, onWarning);

  // One parser for every announce: its result is used before the next one starts (nothing keeps it).
  const parser = new AnnounceQueryParser();
  // The store reads its options during the call only: one object, refilled.
  const storeOptions: SwarmAnnounceOptions = { ip: new Uint8Array(4), nowMs: 0, random, withPeerIds: false };
  const fastScratch = new ReplyScratch();

  const failureBody = (reason: string) => encodeFailure(reason, { retryS: FAILURE_RETRY_S });
  const internalErrorBody = (err: unknown): Uint8Array => {
    onWarning(`Internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return failureBody("internal error");
  };

  const announce = (header: HeaderOf, host: string, url: string, queryAt: number, pathPasskey?: string) => {
    const ar = parser.parseText(url, queryAt, numWantMax);
    const passkey = privateMode.isOff ? undefined : pathPasskey ?? passkeyFromQuery(url.slice(queryAt));
    return answer(ar, header, host, passkey);
  };

  /** The reply to a parsed announce (`ar` is the parser's: valid until the next parse) with its passkey, if any. */
  const answer = (
    ar: AnnounceRequest,
    header: HeaderOf,
    host: string,
    passkey: string | undefined,
    scratch?: ReplyScratch,
  ): Uint8Array => {
    const nowMs = now();
    const ip = addresses.resolve(host, header, ar.ipParam);
    // Open tracker without members: no check at all on the hot path.
    const user = privateMode.isOff ? null : privateMode.check(passkey, ip, ar.infoHash, nowMs);
    storeOptions.ip = ip;
    storeOptions.nowMs = nowMs;
    const s = store.announce(ar, storeOptions);
    if (user !== null) {
      privateMode.accounting.record(user.id, ar.infoHash, ar.peerId, {
        uploaded: ar.uploaded,
        downloaded: ar.downloaded,
        isStarted: ar.event === "started",
        nowMs,
      });
    }
    if (s.isNewlyCompleted) {
      try {
        db.addCompleted(toHex(ar.infoHash), 1, nowMs);
      } catch (err: unknown) {
        onWarning(`Cannot save a completed count: ${errorText(err)}`);
      }
    }
    const result: AnnounceResult = {
      complete: s.complete,
      incomplete: s.incomplete,
      interval: jitterInterval(intervalS, random),
      minInterval: minIntervalS,
      peers4: s.peers4,
      peers6: s.peers6,
    };
    if (registry.size > 0 && (s.isNewSwarm || hints.hasWarned)) {
      const warning = hints.warning(ar.infoHash);
      if (warning !== undefined) result.warning = warning;
    }
    // Peer ids are never handed out (the store is asked for none): see docs/ARCHITECTURE.md, deliberate deviations.
    return encodeAnnounceResult(
      result,
      scratch === undefined ? { isCompact: ar.isCompact, isNoPeerId: true } : { isCompact: ar.isCompact, scratch },
    );
  };

  const scrape = (header: HeaderOf, host: string, query: string, pathPasskey?: string): Uint8Array => {
    const hashes = parseScrapeQuery(query);
    if (hashes.length === 0) {
      const check = adminCheck(header, host);
      if (check === "limited") throw new TrackerError("admin_limited", ADMIN_LIMITED_REASON);
      if (check !== "admin") throw new TrackerError("full_scrape_denied", "Full scrape requires the admin token");
      return stats.fullScrape();
    }
    if (!privateMode.isOff) {
      privateMode.check(pathPasskey ?? passkeyFromQuery(query), addresses.resolve(host, header), null, now());
    }
    return scrapeFiles(hashes, store, privateMode, hints);
  };

  const announceOrScrape = (url: string, pathStart: number, host: string, header: HeaderOf): Uint8Array | null => {
    const q = url.indexOf("?", pathStart);
    const pathLength = (q < 0 ? url.length : q) - pathStart;
    // Announces parse the URL itself from queryAt (no slice on the hot path).
    const queryAt = q < 0 ? url.length : q + 1;
    if (pathLength === 9 && url.startsWith("/announce", pathStart)) return announce(header, host, url, queryAt);
    if (pathLength === 7 && url.startsWith("/scrape", pathStart)) return scrape(header, host, url.slice(queryAt));
    if (pathLength === 1 && q >= 0 && hasAnnounceParams(url.slice(queryAt))) {
      return announce(header, host, url, queryAt);
    }
    return null;
  };

  const fast = (b: Uint8Array, start: number, end: number, host: string, header: HeaderOf): Uint8Array | null => {
    try {
      // A plain announce is parsed from its bytes (the hot path: no text); a passkey in its query is read as text.
      if (privateMode.isOff && isAnnounceTarget(b, start, end)) {
        // The reply is copied by the server at once: it may live in the reused scratch.
        const ar = parser.parse(b, start + ANNOUNCE_PREFIX.length, end, numWantMax);
        return answer(ar, header, host, undefined, fastScratch);
      }
      return announceOrScrape(targetText(b, start, end), 0, host, header);
    } catch (err: unknown) {
      return err instanceof TrackerError ? failureBody(err.reason) : internalErrorBody(err);
    }
  };

  return { announceOrScrape, announce, scrape, fast, failureBody, internalErrorBody };
}
