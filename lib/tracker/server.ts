// The HTTP tracker (BEP 3, 23, 7, 48) as a `(Request, info) => Response` handler for Deno.serve, over a SwarmStore,
// the Registry and TrackerDb; plus the seed tracker's admin API (/stats, /add_torrent_info, /save_state, /shutdown)
// and the dashboard. Tracker errors are HTTP 200 + bencoded `failure reason`, never a stack trace.
// No socket of its own: the caller serves `handler`. Timers (expiry sweep, history, snapshots) stop on close().

import { readBodyCapped, toHex, toLatin1 } from "../bytes.ts";
import { maxBodyBytesFor } from "./http_limits.ts";
import { encodeBencode } from "../bencode.ts";
import { errorText, TrackerError } from "../errors.ts";
import type { TorrentMeta, TrackerDb } from "../persist/db.ts";
import {
  type AnnounceRequest,
  type AnnounceResult,
  DEFAULT_INTERVAL_S,
  DEFAULT_MIN_INTERVAL_S,
  DEFAULT_NUMWANT_MAX,
  DEFAULT_PEER_TIMEOUT_S,
  jitterInterval,
  type ScrapeEntry,
} from "./announce.ts";
import { ipKey, passkeyFromQuery, splitPasskeyPath } from "./access.ts";
import { AdminAuth, type AdminCheck } from "./admin_auth.ts";
import { ClientAddress, type HeaderOf } from "./client_address.ts";
import { DASHBOARD_HTML } from "./dashboard.ts";
import {
  AnnounceQueryParser,
  encodeAnnounceResult,
  encodeFailure,
  hasAnnounceParams,
  parseScrapeQuery,
  ReplyScratch,
} from "./http_codec.ts";
import { targetText } from "./http1.ts";
import { DEFAULT_ACCOUNTING_FLUSH_MS, isApiPath, PrivateMode } from "./private_mode.ts";
import { Registry, SIMILAR_PREFIX_DIGITS, SIMILAR_SUFFIX_DIGITS } from "./registry.ts";
import {
  MemorySwarmStore,
  SWARM_RECORD_BYTES,
  SWARM_RECORD_FORMAT,
  type SwarmAnnounceOptions,
  type SwarmExportCursor,
  type SwarmStore,
} from "./swarm_store.ts";
import { HISTORY_INTERVAL_MS, type Stats, TrackerStats } from "./stats.ts";

export type { HeaderOf } from "./client_address.ts";
export type { HistorySample, Stats, StatsTorrent } from "./stats.ts";

/** Peers examined per expiry tick: keeps one tick well under a millisecond per few thousand peers. */
export const SWEEP_BUDGET_PEERS = 20_000;
/** Expiry tick. */
export const SWEEP_INTERVAL_MS = 1_000;
/** Default period of swarm snapshots (seconds). */
export const DEFAULT_SNAPSHOT_INTERVAL_S = 300;
/** Bytes of one swarm snapshot chunk (whole records, ~1 MiB): one SQLite write per event-loop turn, a few ms. */
export const SNAPSHOT_CHUNK_BYTES = Math.floor(1_048_576 / SWARM_RECORD_BYTES) * SWARM_RECORD_BYTES;
/** Chunks of the previous snapshot deleted per event-loop turn after a background snapshot. */
export const SNAPSHOT_PRUNE_CHUNKS_PER_TURN = 2;
/** Torrents whose last-seen time a background snapshot updates per event-loop turn (~3 µs each). */
export const SNAPSHOT_TOUCH_PER_TURN = 2_000;
/** Cap on unknown info hashes remembered with a similar-hash warning. */
export const MAX_WARNED_HASHES = 10_000;
/** The refusal of an admin call without the token. */
export const ADMIN_REQUIRED_REASON = "Admin token required (Authorization: Bearer …)";
/** The refusal once an address sent too many wrong admin tokens (AdminAuth). */
export const ADMIN_LIMITED_REASON = "Too many wrong admin tokens from your address: try again later";
/** Retry hint sent with failures (INTEROP.md 2). */
export const FAILURE_RETRY_S = 300;

/** The part of Deno.serve's handler info the tracker reads. */
export interface ClientInfo {
  remoteAddr: { hostname: string; port?: number };
}

/** Options of createTracker. */
export interface TrackerOptions {
  db: TrackerDb;
  /** Defaults to a Registry over `db`. */
  registry?: Registry;
  /** Defaults to a MemorySwarmStore with `peerTimeoutS`, `numWantMax`, `maxPeers` and completed counts from `db`. */
  store?: SwarmStore;
  intervalS?: number;
  minIntervalS?: number;
  peerTimeoutS?: number;
  numWantMax?: number;
  /** Live peers the default store holds at most (DEFAULT_MAX_PEERS). */
  maxPeers?: number;
  /** Admin token; when absent the db's is used, or one is generated and stored. */
  adminToken?: string;
  /** Behind a reverse proxy: the client is the right-most X-Forwarded-For entry (INTEROP.md 7). */
  isTrustProxy?: boolean;
  /** The reverse proxies' addresses: X-Forwarded-For is walked from the right past them (implies isTrustProxy). */
  trustedProxies?: readonly string[];
  /** Honour a client-chosen `ip=` (off by default: it lets anyone put any address in a swarm). */
  isIpParamAllowed?: boolean;
  similarPrefixDigits?: number;
  similarSuffixDigits?: number;
  /** Shown in /stats. */
  version?: string;
  /** Snapshot period in seconds; 0 turns periodic snapshots off. */
  snapshotIntervalS?: number;
  /** Expiry tick in ms; 0 turns the timer off (call sweep() yourself). */
  sweepIntervalMs?: number;
  /** Restore the db's swarm snapshot at start (default true). */
  isRestoringSnapshot?: boolean;
  /** Clock in ms (default Date.now). */
  now?: () => number;
  /** Uniform [0, 1) (default Math.random). */
  random?: () => number;
  /** Warnings for the operator (similar hashes, db write failures, internal errors). Off the hot path. */
  onWarning?: (message: string) => void;
  /** Called after POST /shutdown has been answered. */
  onShutdown?: () => void;
  /** Only registered info hashes are served (issue #6 `--listed`). */
  isListed?: boolean;
  /** Every announce and scrape needs a member's passkey (issue #6 `--private`). */
  isPrivate?: boolean;
  /** Leak signal: distinct IPs per passkey per hour before it is flagged. */
  leakMaxIps?: number;
  /** How often to notice user/registry changes made by other processes (default 1 s); 0 = never. */
  privatePollIntervalMs?: number;
  /** Period of the background accounting flush (default DEFAULT_ACCOUNTING_FLUSH_MS); 0 = only with snapshots. */
  accountingFlushIntervalMs?: number;
}

/** A running tracker (without its socket). */
export interface Tracker {
  handler(req: Request, info: ClientInfo): Response | Promise<Response>;
  /**
   * The announce and scrape of a GET straight from its request target `request[targetStart, targetEnd)` (path and
   * query, as sent), for the libc HTTP server (lib/tracker/_http_ffi.ts FastHandler): the bencoded body of the 200
   * reply, failures included, valid until the next call; null for any other path (then `handler` answers). Same
   * answers as `handler`, without a Request or a Response.
   */
  fast(
    request: Uint8Array,
    targetStart: number,
    targetEnd: number,
    remoteHost: string,
    header: HeaderOf,
  ): Uint8Array | null;
  readonly adminToken: string;
  /** The admin token was generated at this start (print it once). */
  readonly isAdminTokenGenerated: boolean;
  /** Peers restored from the snapshot at start. */
  readonly restoredPeers: number;
  readonly store: SwarmStore;
  readonly registry: Registry;
  /** Passkeys, listed mode, accounting and the /api admin calls (issue #6). */
  readonly privateMode: PrivateMode;
  /**
   * Save the swarm snapshot (and last-seen times) synchronously, in one go (for /save_state and shutdown); a
   * background snapshot still running is superseded (its promise resolves with this count).
   * @returns the number of peers saved
   */
  snapshot(): number;
  /**
   * Save the swarm snapshot a chunk per event-loop turn (what the periodic timer does), so that announces are
   * answered meanwhile; the previous snapshot stays current until this one is complete. While one runs, a second
   * call returns the running one's promise (the timer skips its tick).
   * @returns the number of peers saved, or null when close() stopped it first (or had been called)
   */
  snapshotInBackground(): Promise<number | null>;
  /** Expire silent peers now (all of them unless `budget`); returns peers dropped. */
  sweep(budget?: number): number;
  stats(isAdmin: boolean): Stats;
  /** Stop the timers. Does not snapshot and does not close the db. */
  close(): void;
}

const TEXT_HEADERS = { "content-type": "text/plain" };
const JSON_HEADERS = { "content-type": "application/json" };
const HTML_HEADERS = { "content-type": "text/html; charset=utf-8" };

function bencoded(body: Uint8Array, status = 200): Response {
  // Our encoders allocate plain ArrayBuffers; the cast only narrows the buffer type for BodyInit. Status 200 is the
  // default: leaving it out spares the init's conversion about 0.1 µs.
  const b = body as Uint8Array<ArrayBuffer>;
  return status === 200
    ? new Response(b, { headers: TEXT_HEADERS })
    : new Response(b, { status, headers: TEXT_HEADERS });
}

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), { status, headers: JSON_HEADERS });
}

const ANNOUNCE_PREFIX = Uint8Array.from("/announce?", (c) => c.charCodeAt(0));

/** The target `b[start, end)` is `/announce?` and a query. */
function isAnnounceTarget(b: Uint8Array, start: number, end: number): boolean {
  if (end - start <= ANNOUNCE_PREFIX.length) return false;
  for (let i = 0; i < ANNOUNCE_PREFIX.length; i++) if (b[start + i] !== ANNOUNCE_PREFIX[i]) return false;
  return true;
}

function generateToken(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(24)));
}

/** Build the tracker: restores state from `db`, starts its timers, and returns the handler. */
export function createTracker(options: TrackerOptions): Tracker {
  const db = options.db;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const onWarning = options.onWarning ?? (() => {});
  const intervalS = options.intervalS ?? DEFAULT_INTERVAL_S;
  const minIntervalS = options.minIntervalS ?? DEFAULT_MIN_INTERVAL_S;
  const peerTimeoutS = options.peerTimeoutS ?? DEFAULT_PEER_TIMEOUT_S;
  const numWantMax = options.numWantMax ?? DEFAULT_NUMWANT_MAX;
  const addresses = new ClientAddress({
    isTrustProxy: options.isTrustProxy === true,
    trustedProxies: options.trustedProxies ?? [],
    isIpParamAllowed: options.isIpParamAllowed === true,
  });
  const similar = {
    prefixDigits: options.similarPrefixDigits ?? SIMILAR_PREFIX_DIGITS,
    suffixDigits: options.similarSuffixDigits ?? SIMILAR_SUFFIX_DIGITS,
  };
  const registry = options.registry ?? new Registry(db);
  const store = options.store ?? new MemorySwarmStore({
    peerTimeoutS,
    numWantMax,
    ...(options.maxPeers === undefined ? {} : { maxPeers: options.maxPeers }),
    // The db holds every completed count (addCompleted below); a swarm gets its torrent's when it is made (#19).
    completedOf: (infoHash) => db.getTorrent(toHex(infoHash))?.completed ?? 0,
  });
  const privateMode = new PrivateMode({
    db,
    registry,
    isListed: options.isListed === true,
    isPrivate: options.isPrivate === true,
    ...(options.leakMaxIps === undefined ? {} : { leakMaxIps: options.leakMaxIps }),
    similar,
    peerTimeoutS,
    now,
    onWarning,
    ...(options.privatePollIntervalMs === undefined ? {} : { pollIntervalMs: options.privatePollIntervalMs }),
    flushIntervalMs: options.accountingFlushIntervalMs ?? DEFAULT_ACCOUNTING_FLUSH_MS,
  });
  const startedMs = now();

  let adminToken = options.adminToken;
  let isAdminTokenGenerated = false;
  if (adminToken === undefined || adminToken === "") {
    adminToken = db.getSetting("admin_token") ?? undefined;
    if (adminToken === undefined) {
      adminToken = generateToken();
      db.setSetting("admin_token", adminToken);
      isAdminTokenGenerated = true;
    }
  }
  const adminAuth = new AdminAuth(adminToken);

  // Live peers, with their completion flags (a restored peer's completion counts once); each swarm's completed count
  // comes from the db as the swarm is made (completedOf).
  let restoredPeers = 0;
  if (options.isRestoringSnapshot !== false) {
    const minLastSeenMs = startedMs - peerTimeoutS * 1000;
    const saved = db.loadSwarmSnapshot();
    try {
      if (saved !== null && saved.format !== SWARM_RECORD_FORMAT) {
        onWarning(`Not restoring the swarm snapshot: unknown record format "${saved.format}"`);
      } else if (saved !== null) {
        for (const chunk of saved.chunks()) restoredPeers += store.importRecords(chunk, { minLastSeenMs });
      }
    } catch (err: unknown) {
      // tracker_full: a smaller --max-peers than the snapshot's; keep what fits.
      if (!(err instanceof TrackerError)) throw err;
      onWarning(`Restored ${restoredPeers} peers of the swarm snapshot, then: ${errorText(err)}`);
      restoredPeers = store.totals().peers;
    }
  }

  const stats = new TrackerStats({
    store,
    registry,
    now,
    ...(options.version === undefined ? {} : { version: options.version }),
    statsUsers: () => privateMode.statsUsers(),
  });
  stats.sampleHistory();

  /** Unknown info hash (hex) → warning text; only for hashes close to a registered one. */
  const warned = new Map<string, string>();
  const similarWarning = (infoHash: Uint8Array): string | undefined => {
    if (registry.size === 0) return undefined;
    const hex = toHex(infoHash);
    const hit = warned.get(hex);
    if (hit !== undefined || registry.has(hex)) return hit;
    const match = registry.findSimilar(hex, similar);
    if (match === null) return undefined;
    const text = `Unknown info hash ${hex} is close to registered torrent ${match.infoHashHex}` +
      (match.name === undefined ? "" : ` ("${match.name}")`) + ": check how your tool encodes info hashes";
    if (warned.size < MAX_WARNED_HASHES) warned.set(hex, text);
    onWarning(text);
    return text;
  };

  // One parser for every announce: its result is used before the next one starts (nothing keeps it).
  const parser = new AnnounceQueryParser();
  const clientIp = (header: HeaderOf, host: string, ipParam: string | undefined): Uint8Array =>
    addresses.resolve(host, header, ipParam);

  /** The admin check of a request: the bad-token limiter counts per client address (behind a proxy: the client's). */
  const adminCheck = (header: HeaderOf, host: string): AdminCheck => {
    const auth = header("authorization");
    return auth === null ? "none" : adminAuth.check(auth, ipKey(clientIp(header, host, undefined)), now());
  };

  const failureBody = (reason: string) => encodeFailure(reason, { retryS: FAILURE_RETRY_S });
  const failure = (reason: string) => bencoded(failureBody(reason));

  const storeOptions: SwarmAnnounceOptions = { ip: new Uint8Array(4), nowMs: 0, random, withPeerIds: false };
  const fastScratch = new ReplyScratch();

  /** The reply to an announce whose query is `url` from index `queryAt` (the characters after "?"). */
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
    const ip = clientIp(header, host, ar.ipParam);
    // Open tracker without members: no check at all on the hot path.
    const user = privateMode.isOff ? null : privateMode.check(passkey, ip, ar.infoHash, nowMs);
    // The store reads its options during the call only: one object, refilled.
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
    if (registry.size > 0 && (s.isNewSwarm || warned.size > 0)) {
      const warning = similarWarning(ar.infoHash);
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
    const files = new Map<string, Map<string, number>>();
    const put = (key: string, e: ScrapeEntry) =>
      files.set(key, new Map([["complete", e.complete], ["downloaded", e.downloaded], ["incomplete", e.incomplete]]));
    let warning: string | undefined;
    if (!privateMode.isOff) {
      privateMode.check(pathPasskey ?? passkeyFromQuery(query), clientIp(header, host, undefined), null, now());
    }
    for (const hash of hashes) {
      // Listed mode: unregistered hashes are left out; a scrape of none of ours is refused.
      if (!privateMode.access.isAllowed(hash)) continue;
      put(toLatin1(hash), store.scrape(hash));
      warning ??= similarWarning(hash);
    }
    if (files.size === 0) privateMode.access.checkListed(hashes[0]!);
    const body = new Map<string, Map<string, Map<string, number>> | string>([["files", files]]);
    if (warning !== undefined) body.set("warning message", warning);
    return encodeBencode(body);
  };

  // Swarm snapshots: records exported a chunk at a time (whole swarms, straight from the store's arena) into one
  // reused buffer, each chunk its own small write, then one tiny transaction makes the new generation current (see
  // TrackerDb.beginSwarmSnapshot). Then the live torrents' last-seen times, in info-hash order (a batch then updates
  // a few neighbouring pages of the torrents table, not a page per torrent). One snapshot at a time: the synchronous
  // one supersedes a background one.
  let chunkBuffer: Uint8Array | null = null;
  const buffer = () => chunkBuffer ??= new Uint8Array(SNAPSHOT_CHUNK_BYTES);

  interface BackgroundSnapshot {
    timer: ReturnType<typeof setTimeout> | undefined;
    promise: Promise<number | null>;
    finish(count: number | null): void;
  }
  let background: BackgroundSnapshot | null = null;
  /** close() was called: no new background snapshot starts (its timers would outlive the tracker). */
  let isClosed = false;

  const snapshot = (): number => {
    const run = background;
    background = null;
    if (run !== null) clearTimeout(run.timer);
    try {
      const nowMs = now();
      const out = buffer();
      const cursor = store.exportCursor();
      const live = new HashList();
      const generation = db.beginSwarmSnapshot();
      for (let seq = 0;; seq++) {
        const n = store.exportRecords(cursor, out);
        if (n === 0) break;
        const chunk = out.subarray(0, n);
        db.writeSwarmChunk(generation, seq, chunk);
        live.addFromRecords(chunk);
      }
      db.commitSwarmSnapshot(generation, { nowMs, peers: cursor.records, format: SWARM_RECORD_FORMAT });
      db.pruneSwarmChunks();
      const order = live.sortedOrder();
      // Batches bound the transient hex strings (a few MB for 1M torrents instead of hundreds).
      for (let from = 0; from < live.count; from += SNAPSHOT_TOUCH_PER_TURN * 10) {
        db.touchTorrents(live.hexes(order, from, Math.min(live.count, from + SNAPSHOT_TOUCH_PER_TURN * 10)), nowMs);
      }
      privateMode.flush();
      run?.finish(cursor.records);
      return cursor.records;
    } catch (err: unknown) {
      run?.finish(null);
      throw err;
    }
  };

  const snapshotInBackground = (): Promise<number | null> => {
    if (background !== null) return background.promise;
    if (isClosed) return Promise.resolve(null);
    const { promise, resolve, reject } = Promise.withResolvers<number | null>();
    const nowMs = now();
    const out = buffer();
    const live = new HashList();
    let cursor: SwarmExportCursor | null = null;
    let generation = -1;
    let seq = 0;
    let isCommitted = false;
    let order: Uint32Array | null = null;
    let touched = 0;
    const run: BackgroundSnapshot = { timer: undefined, promise, finish: resolve };
    /** One step per event-loop turn: prune leftovers; write chunks; commit; touch torrents; prune the previous. */
    const step = () => {
      run.timer = undefined;
      if (background !== run) return;
      try {
        if (cursor === null) {
          // Leftovers of an unfinished snapshot (a crash, a superseded run) first, a few chunks per turn.
          if (db.pruneSwarmChunks(SNAPSHOT_PRUNE_CHUNKS_PER_TURN) < SNAPSHOT_PRUNE_CHUNKS_PER_TURN) {
            cursor = store.exportCursor();
            generation = db.beginSwarmSnapshot();
          }
        } else if (!isCommitted) {
          const n = store.exportRecords(cursor, out);
          if (n > 0) {
            const chunk = out.subarray(0, n);
            db.writeSwarmChunk(generation, seq++, chunk);
            live.addFromRecords(chunk);
          } else {
            db.commitSwarmSnapshot(generation, { nowMs, peers: cursor.records, format: SWARM_RECORD_FORMAT });
            isCommitted = true;
          }
        } else if (touched < live.count) {
          order ??= live.sortedOrder();
          const end = Math.min(live.count, touched + SNAPSHOT_TOUCH_PER_TURN);
          db.touchTorrents(live.hexes(order, touched, end), nowMs);
          touched = end;
        } else if (db.pruneSwarmChunks(SNAPSHOT_PRUNE_CHUNKS_PER_TURN) < SNAPSHOT_PRUNE_CHUNKS_PER_TURN) {
          db.checkpoint();
          background = null;
          // Accounting the same way, a chunk per turn (a synchronous save of every counter would stall here).
          privateMode.flushInBackground();
          resolve(cursor.records);
          return;
        }
        // Keep the WAL small: each turn copies back what it wrote (~1 MiB) rather than an autocheckpoint copying
        // 4 MiB on some later commit (maybe an announce's).
        db.checkpoint();
        run.timer = setTimeout(step, 0);
      } catch (err: unknown) {
        background = null;
        reject(err);
      }
    };
    background = run;
    run.timer = setTimeout(step, 0);
    return promise;
  };

  /** Stop a running background snapshot (its chunks are pruned later); its promise resolves with null. */
  const stopBackground = (): void => {
    const run = background;
    if (run === null) return;
    background = null;
    clearTimeout(run.timer);
    run.finish(null);
  };

  const addTorrentInfo = async (req: Request): Promise<Response> => {
    const text = await readCappedText(req, maxBodyBytesFor("/add_torrent_info"));
    if (text === null) return json({ error: "Body is too large" }, 413);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return json({ error: "Body is not JSON" }, 400);
    }
    const items = Array.isArray(body) ? body : [body];
    const metas: TorrentMeta[] = [];
    for (const item of items) {
      const meta = toTorrentMeta(item);
      if (typeof meta === "string") return json({ error: meta }, 400);
      metas.push(meta);
    }
    try {
      const results = registry.registerMany(metas, now());
      return json({
        results: metas.map((m, i) => ({ infoHash: m.infoHashHex.toLowerCase(), status: results[i] })),
        ...(metas.length === 1 ? { infoHash: metas[0]!.infoHashHex.toLowerCase(), status: results[0] } : {}),
      });
    } catch (err: unknown) {
      return json({ error: errorText(err) }, 400);
    }
  };

  /** The refusal of a request whose admin check is not "admin" (401, or 429 once its address is limited). */
  const notAdmin = (check: AdminCheck): Response =>
    check === "limited" ? json({ error: ADMIN_LIMITED_REASON }, 429) : json({ error: ADMIN_REQUIRED_REASON }, 401);

  const adminOnly = (req: Request, check: AdminCheck, method: string, fn: () => Response | Promise<Response>) => {
    if (req.method !== method) return json({ error: `Use ${method}` }, 405);
    return check === "admin" ? fn() : notAdmin(check);
  };

  /**
   * The reply to an announce (`/announce`, or `/` with announce parameters) or a scrape at `url`, whose path starts
   * at `pathStart`; null for any other path. The one dispatch of both HTTP paths (`handler` and `fast`).
   * @throws {TrackerError} what announce and scrape refuse
   */
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

  const route = (req: Request, info: ClientInfo): Response | Promise<Response> => {
    const url = req.url;
    const pathStart = url.indexOf("/", url.indexOf("//") + 2);
    const header: HeaderOf = (name) => req.headers.get(name);
    const host = info.remoteAddr.hostname;
    const reply = announceOrScrape(url, pathStart, host, header);
    if (reply !== null) return bencoded(reply);
    const q = url.indexOf("?", pathStart);
    const path = q < 0 ? url.slice(pathStart) : url.slice(pathStart, q);
    const queryAt = q < 0 ? url.length : q + 1;
    const query = url.slice(queryAt);
    switch (path) {
      case "/":
        return new Response(DASHBOARD_HTML, { headers: HTML_HEADERS });
      case "/stats": {
        const check = adminCheck(header, host);
        if (check === "none") {
          return new Response(stats.publicJson() as Uint8Array<ArrayBuffer>, { headers: JSON_HEADERS });
        }
        return check === "admin" ? json(stats.stats(true)) : notAdmin(check);
      }
      case "/add_torrent_info":
        return adminOnly(req, adminCheck(header, host), "POST", () => addTorrentInfo(req));
      case "/save_state":
        return adminOnly(req, adminCheck(header, host), "GET", () => {
          const peers = snapshot();
          return json({ ok: true, peers });
        });
      case "/shutdown":
        return adminOnly(req, adminCheck(header, host), "POST", () => {
          setTimeout(() => options.onShutdown?.(), 0);
          return json({ ok: true });
        });
      default: {
        if (isApiPath(path)) {
          const check = adminCheck(header, host);
          return check === "admin" ? privateMode.handleApi(req, path) : notAdmin(check);
        }
        // Torrust-style passkey URLs (issue #6).
        const pk = splitPasskeyPath(path);
        if (pk !== null) {
          return bencoded(
            pk.path === "/announce"
              ? announce(header, host, url, queryAt, pk.passkey)
              : scrape(header, host, query, pk.passkey),
          );
        }
        return bencoded(encodeFailure("Unknown path"), 404);
      }
    }
  };

  const handler = (req: Request, info: ClientInfo): Response | Promise<Response> => {
    try {
      const res = route(req, info);
      return res instanceof Promise ? res.catch((err: unknown) => internalError(err)) : res;
    } catch (err: unknown) {
      if (err instanceof TrackerError) return failure(err.reason);
      return internalError(err);
    }
  };

  const internalError = (err: unknown): Response => bencoded(internalErrorBody(err));
  const internalErrorBody = (err: unknown): Uint8Array => {
    onWarning(`Internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return failureBody("internal error");
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

  /** Expire silent peers, and prune stored rows of long-idle unregistered torrents (#19). */
  const sweep = (budget?: number) => {
    try {
      db.pruneIdleTorrents(now());
    } catch (err: unknown) {
      onWarning(`Cannot prune idle torrents: ${errorText(err)}`);
    }
    return store.expire(now(), budget);
  };
  const timers: ReturnType<typeof setInterval>[] = [];
  const sweepMs = options.sweepIntervalMs ?? SWEEP_INTERVAL_MS;
  if (sweepMs > 0) timers.push(setInterval(() => sweep(SWEEP_BUDGET_PEERS), sweepMs));
  timers.push(setInterval(() => stats.sampleHistory(), HISTORY_INTERVAL_MS));
  const snapshotS = options.snapshotIntervalS ?? DEFAULT_SNAPSHOT_INTERVAL_S;
  if (snapshotS > 0) {
    timers.push(setInterval(() => {
      // A tick while the previous snapshot still runs is skipped.
      if (background !== null) return;
      snapshotInBackground().catch((err: unknown) => onWarning(`Cannot save the swarm snapshot: ${errorText(err)}`));
    }, snapshotS * 1000));
  }

  return {
    handler,
    fast,
    adminToken,
    isAdminTokenGenerated,
    restoredPeers,
    store,
    registry,
    privateMode,
    snapshot,
    snapshotInBackground,
    sweep,
    stats: (isAdmin) => stats.stats(isAdmin),
    close() {
      for (const t of timers) clearInterval(t);
      timers.length = 0;
      isClosed = true;
      stopBackground();
      privateMode.close();
    },
  };
}

/** The info hashes of the swarms in a snapshot, as bytes (20 each; hex strings of 100k+ torrents cost far more). */
class HashList {
  bytes = new Uint8Array(20 * 1024);
  count = 0;

  /**
   * Add the info hash of each run of records in `records` (an export holds each swarm in one run; a swarm larger
   * than a chunk continues the previous chunk's last run).
   */
  addFromRecords(records: Uint8Array): void {
    const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
    for (let at = 0; at < records.length; at += SWARM_RECORD_BYTES) {
      const prev = at - SWARM_RECORD_BYTES;
      if (at === 0) {
        if (this.count > 0 && this.#isLast(records)) continue;
      } else if (
        view.getUint32(at, true) === view.getUint32(prev, true) &&
        view.getUint32(at + 4, true) === view.getUint32(prev + 4, true) &&
        view.getUint32(at + 8, true) === view.getUint32(prev + 8, true) &&
        view.getUint32(at + 12, true) === view.getUint32(prev + 12, true) &&
        view.getUint32(at + 16, true) === view.getUint32(prev + 16, true)
      ) continue;
      if ((this.count + 1) * 20 > this.bytes.length) {
        const grown = new Uint8Array(this.bytes.length * 2);
        grown.set(this.bytes);
        this.bytes = grown;
      }
      this.bytes.set(records.subarray(at, at + 20), this.count++ * 20);
    }
  }

  /** Whether `records` starts with the last hash added. */
  #isLast(records: Uint8Array): boolean {
    const last = (this.count - 1) * 20;
    for (let i = 0; i < 20; i++) if (records[i] !== this.bytes[last + i]) return false;
    return true;
  }

  /** Indices ordered by the first two bytes (a counting sort, O(n)): close enough to key order for page locality. */
  sortedOrder(): Uint32Array {
    const b = this.bytes;
    const starts = new Uint32Array(65_537);
    for (let i = 0; i < this.count; i++) starts[((b[i * 20]! << 8) | b[i * 20 + 1]!) + 1]!++;
    for (let k = 1; k < starts.length; k++) starts[k]! += starts[k - 1]!;
    const order = new Uint32Array(this.count);
    for (let i = 0; i < this.count; i++) order[starts[(b[i * 20]! << 8) | b[i * 20 + 1]!]!++] = i;
    return order;
  }

  /** Hex of the hashes at `order[from, to)`. */
  hexes(order: Uint32Array, from: number, to: number): string[] {
    const out: string[] = [];
    for (let k = from; k < to; k++) out.push(toHex(this.bytes.subarray(order[k]! * 20, order[k]! * 20 + 20)));
    return out;
  }
}

/** Read a request body as text, or null when it passes `maxBytes`. */
async function readCappedText(req: Request, maxBytes: number): Promise<string | null> {
  const bytes = await readBodyCapped(req, maxBytes);
  return bytes === null ? null : new TextDecoder().decode(bytes);
}

const META_FIELDS: Record<string, keyof TorrentMeta> = {
  name: "name",
  size: "size",
  length: "size",
  piece_length: "pieceLength",
  pieceLength: "pieceLength",
  comment: "comment",
  created_by: "createdBy",
  createdBy: "createdBy",
};

/** JSON of /add_torrent_info → TorrentMeta, or an error text. */
function toTorrentMeta(item: unknown): TorrentMeta | string {
  if (typeof item !== "object" || item === null || Array.isArray(item)) return "Each entry must be a JSON object";
  const obj = item as Record<string, unknown>;
  const hex = obj.info_hash ?? obj.infoHash;
  if (typeof hex !== "string" || !/^[0-9a-fA-F]{40}$/.test(hex)) return "info_hash must be 40 hex digits";
  const meta: TorrentMeta = { infoHashHex: hex.toLowerCase() };
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === "info_hash" || k === "infoHash") continue;
    const field = META_FIELDS[k];
    if (field === undefined) {
      extra[k] = v;
      continue;
    }
    if (field === "size" || field === "pieceLength") {
      if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) return `${k} must be a non-negative integer`;
      meta[field] = v;
    } else {
      if (typeof v !== "string") return `${k} must be a string`;
      meta[field as "name" | "comment" | "createdBy"] = v;
    }
  }
  if (Object.keys(extra).length > 0) meta.extra = extra;
  return meta;
}
