// The HTTP tracker (BEP 3, 23, 7, 48) as a `(Request, info) => Response` handler for Deno.serve, over a SwarmStore,
// the Registry and TrackerDb; plus the seed tracker's admin API (/stats, /add_torrent_info, /save_state, /shutdown)
// and the dashboard. Tracker errors are HTTP 200 + bencoded `failure reason`, never a stack trace.
// No socket of its own: the caller serves `handler`. Timers (expiry sweep, history, snapshots) stop on close().

import { fromHex, readBodyCapped, timingSafeEquals, toHex, utf8 } from "../bytes.ts";
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
  formatIp,
  jitterInterval,
  parseIp,
  type ScrapeEntry,
} from "./announce.ts";
import { passkeyFromQuery, splitPasskeyPath } from "./access.ts";
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
import { DEFAULT_ACCOUNTING_FLUSH_MS, isApiPath, PrivateMode, type StatsUser } from "./private_mode.ts";
import { Registry, SIMILAR_PREFIX_DIGITS, SIMILAR_SUFFIX_DIGITS } from "./registry.ts";
import {
  MemorySwarmStore,
  SWARM_RECORD_BYTES,
  SWARM_RECORD_FORMAT,
  type SwarmAnnounceOptions,
  type SwarmExportCursor,
  type SwarmStore,
} from "./swarm_store.ts";

/** Peers examined per expiry tick: keeps one tick well under a millisecond per few thousand peers. */
export const SWEEP_BUDGET_PEERS = 20_000;
/** Expiry tick. */
export const SWEEP_INTERVAL_MS = 1_000;
/** One swarm-size sample per minute for the dashboard chart... */
export const HISTORY_INTERVAL_MS = 60_000;
/** ...kept for six hours. */
export const HISTORY_SAMPLES = 360;
/** Default period of swarm snapshots (seconds). */
export const DEFAULT_SNAPSHOT_INTERVAL_S = 300;
/** Bytes of one swarm snapshot chunk (whole records, ~1 MiB): one SQLite write per event-loop turn, a few ms. */
export const SNAPSHOT_CHUNK_BYTES = Math.floor(1_048_576 / SWARM_RECORD_BYTES) * SWARM_RECORD_BYTES;
/** Chunks of the previous snapshot deleted per event-loop turn after a background snapshot. */
export const SNAPSHOT_PRUNE_CHUNKS_PER_TURN = 2;
/** Torrents whose last-seen time a background snapshot updates per event-loop turn (~3 µs each). */
export const SNAPSHOT_TOUCH_PER_TURN = 2_000;
/** Cap on JSON bodies of admin calls. */
export const MAX_ADMIN_BODY_BYTES = 1_048_576;
/** Cap on torrents listed by /stats (registered ones first, then the largest swarms). */
export const MAX_STATS_TORRENTS = 2_000;
/** Cap on peers listed per torrent in an admin /stats. */
export const MAX_STATS_PEERS = 1_000;
/** Cap on unknown info hashes remembered with a similar-hash warning. */
export const MAX_WARNED_HASHES = 10_000;
/** Cap on remembered client address parses (cleared when full). */
export const MAX_IP_CACHE = 65_536;
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
  /** Behind a reverse proxy: honour `ip`, X-Forwarded-For and X-Real-IP (INTEROP.md 7). */
  isTrustProxy?: boolean;
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

/** One history sample of /stats. */
export interface HistorySample {
  t: number;
  peers: number;
  seeders: number;
  leechers: number;
}

/** A torrent in /stats. */
export interface StatsTorrent {
  infoHash: string;
  name: string | null;
  size: number | null;
  seeders: number;
  leechers: number;
  completed: number;
  peers?: { ip: string; port: number; left: number }[];
}

/** The /stats JSON. */
export interface Stats {
  version: string;
  uptimeS: number;
  totals: { torrents: number; peers: number; seeders: number; leechers: number; completed: number };
  history: HistorySample[];
  torrents: StatsTorrent[];
  isTruncated: boolean;
  /** Admin only: per-user totals and leak signal (issue #6). */
  users?: StatsUser[];
}

/** A request header by lower-case name (as Headers.get). */
export type HeaderOf = (lowerName: string) => string | null;

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

function latin1Key(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
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
  const isTrustProxy = options.isTrustProxy === true;
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
  const adminTokenBytes = utf8(adminToken);

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

  const history: HistorySample[] = [];
  const sampleHistory = () => {
    const t = store.totals();
    history.push({ t: now(), peers: t.peers, seeders: t.seeders, leechers: t.leechers });
    if (history.length > HISTORY_SAMPLES) history.shift();
  };
  sampleHistory();

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

  // Socket address text → bytes; the store copies the bytes, so sharing one array per address is safe.
  const ipCache = new Map<string, Uint8Array>();
  // One parser for every announce: its result is used before the next one starts (nothing keeps it).
  const parser = new AnnounceQueryParser();
  const clientIp = (header: HeaderOf, host: string, ipParam: string | undefined): Uint8Array => {
    if (isTrustProxy) {
      const forwarded = header("x-forwarded-for")?.split(",")[0]?.trim() ?? header("x-real-ip");
      for (const candidate of [ipParam, forwarded]) {
        const ip = candidate === undefined || candidate === null ? null : parseIp(candidate);
        if (ip !== null) return ip;
      }
    }
    let ip = ipCache.get(host);
    if (ip === undefined) {
      const parsed = parseIp(host);
      if (parsed === null) throw new TrackerError("bad_address", "Cannot determine your address");
      if (ipCache.size >= MAX_IP_CACHE) ipCache.clear();
      ipCache.set(host, parsed);
      ip = parsed;
    }
    return ip;
  };

  const isAdmin = (req: Request): boolean => isAdminAuth(req.headers.get("authorization"));
  const isAdminAuth = (auth: string | null): boolean => {
    if (auth === null || !auth.startsWith("Bearer ")) return false;
    return timingSafeEquals(utf8(auth.slice(7).trim()), adminTokenBytes);
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
    storeOptions.withPeerIds = !ar.isCompact && !ar.isNoPeerId;
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
    if (s.peerIds4 !== undefined) result.peerIds4 = s.peerIds4;
    if (s.peerIds6 !== undefined) result.peerIds6 = s.peerIds6;
    if (registry.size > 0 && (s.isNewSwarm || warned.size > 0)) {
      const warning = similarWarning(ar.infoHash);
      if (warning !== undefined) result.warning = warning;
    }
    return encodeAnnounceResult(
      result,
      scratch === undefined
        ? { isCompact: ar.isCompact, isNoPeerId: ar.isNoPeerId }
        : { isCompact: ar.isCompact, isNoPeerId: ar.isNoPeerId, scratch },
    );
  };

  const scrape = (header: HeaderOf, host: string, query: string, pathPasskey?: string): Uint8Array => {
    const hashes = parseScrapeQuery(query);
    const files = new Map<string, Map<string, number>>();
    const put = (key: string, e: ScrapeEntry) =>
      files.set(key, new Map([["complete", e.complete], ["downloaded", e.downloaded], ["incomplete", e.incomplete]]));
    let warning: string | undefined;
    if (hashes.length === 0) {
      if (!isAdminAuth(header("authorization"))) {
        throw new TrackerError("full_scrape_denied", "Full scrape requires the admin token");
      }
      for (const sw of store.swarms()) {
        const hash = fromHex(sw.infoHashHex)!;
        put(latin1Key(hash), { complete: sw.seeders, downloaded: sw.completed, incomplete: sw.leechers });
      }
      for (const rec of registry.all()) {
        const hash = fromHex(rec.infoHashHex);
        if (hash !== null && !files.has(latin1Key(hash))) put(latin1Key(hash), store.scrape(hash));
      }
    } else {
      if (!privateMode.isOff) {
        privateMode.check(pathPasskey ?? passkeyFromQuery(query), clientIp(header, host, undefined), null, now());
      }
      for (const hash of hashes) {
        // Listed mode: unregistered hashes are left out; a scrape of none of ours is refused.
        if (!privateMode.access.isAllowed(hash)) continue;
        put(latin1Key(hash), store.scrape(hash));
        warning ??= similarWarning(hash);
      }
      if (files.size === 0) privateMode.access.checkListed(hashes[0]!);
    }
    const body = new Map<string, Map<string, Map<string, number>> | string>([["files", files]]);
    if (warning !== undefined) body.set("warning message", warning);
    return encodeBencode(body);
  };

  const stats = (isAdminCall: boolean): Stats => {
    const totals = store.totals();
    const byHex = new Map<string, StatsTorrent>();
    for (const rec of registry.all()) {
      byHex.set(rec.infoHashHex, {
        infoHash: rec.infoHashHex,
        name: rec.name ?? null,
        size: rec.size ?? null,
        seeders: 0,
        leechers: 0,
        completed: rec.completed,
      });
    }
    const swarms = [...store.swarms()].sort((a, b) => b.seeders + b.leechers - (a.seeders + a.leechers));
    let isTruncated = false;
    for (const sw of swarms) {
      const known = byHex.get(sw.infoHashHex);
      if (known !== undefined) {
        known.seeders = sw.seeders;
        known.leechers = sw.leechers;
        known.completed = sw.completed;
      } else if (byHex.size < MAX_STATS_TORRENTS) {
        const rec = registry.get(sw.infoHashHex);
        byHex.set(sw.infoHashHex, {
          infoHash: sw.infoHashHex,
          name: rec?.name ?? null,
          size: rec?.size ?? null,
          seeders: sw.seeders,
          leechers: sw.leechers,
          completed: sw.completed,
        });
      } else isTruncated = true;
    }
    const torrents = [...byHex.values()];
    if (isAdminCall) {
      for (const t of torrents) {
        t.peers = store.peersOf(fromHex(t.infoHash)!).slice(0, MAX_STATS_PEERS).map((p) => ({
          ip: formatIp(p.ip),
          port: p.port,
          left: p.left,
        }));
      }
    }
    return {
      version: options.version ?? "",
      uptimeS: Math.floor((now() - startedMs) / 1000),
      totals: {
        torrents: Math.max(totals.torrents, torrents.length),
        peers: totals.peers,
        seeders: totals.seeders,
        leechers: totals.leechers,
        completed: totals.completed,
      },
      history,
      torrents,
      isTruncated,
      ...(isAdminCall ? { users: privateMode.statsUsers() } : {}),
    };
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
    const text = await readCappedText(req, MAX_ADMIN_BODY_BYTES);
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

  const adminOnly = (req: Request, method: string, fn: () => Response | Promise<Response>) => {
    if (req.method !== method) return json({ error: `Use ${method}` }, 405);
    if (!isAdmin(req)) return json({ error: "Admin token required (Authorization: Bearer …)" }, 401);
    return fn();
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
      case "/stats":
        return json(stats(isAdmin(req)));
      case "/add_torrent_info":
        return adminOnly(req, "POST", () => addTorrentInfo(req));
      case "/save_state":
        return adminOnly(req, "GET", () => {
          const peers = snapshot();
          return json({ ok: true, peers });
        });
      case "/shutdown":
        return adminOnly(req, "POST", () => {
          setTimeout(() => options.onShutdown?.(), 0);
          return json({ ok: true });
        });
      default: {
        if (isApiPath(path)) {
          return isAdmin(req)
            ? privateMode.handleApi(req, path)
            : json({ error: "Admin token required (Authorization: Bearer …)" }, 401);
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
  timers.push(setInterval(sampleHistory, HISTORY_INTERVAL_MS));
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
    stats,
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
