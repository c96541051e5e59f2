// The tracker of `btool tracker` without its sockets: createTracker wires the HTTP routes (http_routes.ts over
// http_answers.ts), /stats (stats.ts), the admin token (admin_auth.ts), client addresses (client_address.ts), the
// private mode, swarm snapshots (snapshot_scheduler.ts) and start-up (restore.ts) around one SwarmStore, Registry and
// TrackerDb. The caller serves `handler` (and `fast`) and the UDP tracker on `store`. Timers stop on close().

import { toHex } from "../bytes.ts";
import { errorText } from "../errors.ts";
import type { TrackerDb } from "../persist/db.ts";
import { DEFAULT_INTERVAL_S, DEFAULT_MIN_INTERVAL_S, DEFAULT_NUMWANT_MAX, DEFAULT_PEER_TIMEOUT_S } from "./announce.ts";
import { ipKey } from "./access.ts";
import { AdminAuth, type AdminCheck } from "./admin_auth.ts";
import { ClientAddress, type HeaderOf } from "./client_address.ts";
import { createCompletedOf } from "./completed_filter.ts";
import { createHttpAnswers } from "./http_answers.ts";
import { type ClientInfo, createHttpRoutes } from "./http_routes.ts";
import { DEFAULT_ACCOUNTING_FLUSH_MS, PrivateMode } from "./private_mode.ts";
import { Registry, SIMILAR_PREFIX_DIGITS, SIMILAR_SUFFIX_DIGITS, type SimilarOptions } from "./registry.ts";
import { restoreSnapshot } from "./restore.ts";
import { DEFAULT_SNAPSHOT_INTERVAL_S, SnapshotScheduler } from "./snapshot_scheduler.ts";
import { HISTORY_INTERVAL_MS, type Stats, TrackerStats } from "./stats.ts";
import { MemorySwarmStore, type SwarmStore } from "./swarm_store.ts";

export type { HeaderOf } from "./client_address.ts";
export type { ClientInfo } from "./http_routes.ts";
export type { HistorySample, Stats, StatsTorrent } from "./stats.ts";
export { DEFAULT_SNAPSHOT_INTERVAL_S, SNAPSHOT_CHUNK_BYTES } from "./snapshot_scheduler.ts";

/** Peers examined per expiry tick (a budget, so one tick stays short however large the store). */
export const SWEEP_BUDGET_PEERS = 20_000;
/** Expiry tick. */
export const SWEEP_INTERVAL_MS = 1_000;

export interface TrackerOptions {
  db: TrackerDb;
  /** Defaults to a Registry over `db`. */
  registry?: Registry;
  /** Defaults to a MemorySwarmStore with `peerTimeoutS`, `numWantMax` and `maxPeers`. */
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

export interface Tracker {
  handler(req: Request, info: ClientInfo): Response | Promise<Response>;
  /**
   * The announce and scrape of a GET straight from its request target `request[targetStart, targetEnd)` (path and
   * query, as sent), for the libc HTTP server (http_server.ts RawRequestHandler): the bencoded body of the 200
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

function generateToken(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(24)));
}

/** The admin token: given, or the db's, or a new one stored in the db. */
function resolveAdminToken(db: TrackerDb, given: string | undefined): { token: string; isGenerated: boolean } {
  if (given !== undefined && given !== "") return { token: given, isGenerated: false };
  const stored = db.getSetting("admin_token");
  if (stored !== null) return { token: stored, isGenerated: false };
  const token = generateToken();
  db.setSetting("admin_token", token);
  return { token, isGenerated: true };
}

/** The private mode of `options` (passkeys, listed mode, accounting). */
function createPrivateMode(
  options: TrackerOptions,
  parts: {
    registry: Registry;
    similar: SimilarOptions;
    peerTimeoutS: number;
    now: () => number;
    onWarning: (message: string) => void;
  },
): PrivateMode {
  return new PrivateMode({
    db: options.db,
    ...parts,
    isListed: options.isListed === true,
    isPrivate: options.isPrivate === true,
    ...(options.leakMaxIps === undefined ? {} : { leakMaxIps: options.leakMaxIps }),
    ...(options.privatePollIntervalMs === undefined ? {} : { pollIntervalMs: options.privatePollIntervalMs }),
    flushIntervalMs: options.accountingFlushIntervalMs ?? DEFAULT_ACCOUNTING_FLUSH_MS,
  });
}

/** Build the tracker: restores state from `db`, starts its timers, and returns the handler. */
export function createTracker(options: TrackerOptions): Tracker {
  const db = options.db;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const onWarning = options.onWarning ?? (() => {});
  const peerTimeoutS = options.peerTimeoutS ?? DEFAULT_PEER_TIMEOUT_S;
  const numWantMax = options.numWantMax ?? DEFAULT_NUMWANT_MAX;
  const similar = {
    prefixDigits: options.similarPrefixDigits ?? SIMILAR_PREFIX_DIGITS,
    suffixDigits: options.similarSuffixDigits ?? SIMILAR_SUFFIX_DIGITS,
  };
  const addresses = new ClientAddress({
    isTrustProxy: options.isTrustProxy === true,
    trustedProxies: options.trustedProxies ?? [],
    isIpParamAllowed: options.isIpParamAllowed === true,
  });
  const registry = options.registry ?? new Registry(db);
  const store = options.store ?? new MemorySwarmStore({
    peerTimeoutS,
    numWantMax,
    ...(options.maxPeers === undefined ? {} : { maxPeers: options.maxPeers }),
    // The db holds every completed count (http_answers.ts adds to it); a swarm gets its torrent's when it is made,
    // through a filter of the counted torrents that answers a never-completed one without the db.
    completedOf: createCompletedOf(db, { registry }),
  });
  const privateMode = createPrivateMode(options, { registry, similar, peerTimeoutS, now, onWarning });
  const { token: adminToken, isGenerated: isAdminTokenGenerated } = resolveAdminToken(db, options.adminToken);
  const adminAuth = new AdminAuth(adminToken);
  /** The admin check of a request: the bad-token limiter counts per client address (behind a proxy: the client's). */
  const adminCheck = (header: HeaderOf, host: string): AdminCheck => {
    const auth = header("authorization");
    return auth === null ? "none" : adminAuth.check(auth, ipKey(addresses.resolve(host, header)), now());
  };

  // Live peers, with their completion flags (a restored peer's completion counts once); each swarm's completed count
  // comes from the db as the swarm is made (completedOf).
  const restoredPeers = options.isRestoringSnapshot === false
    ? 0
    : restoreSnapshot(db, store, { minLastSeenMs: now() - peerTimeoutS * 1000, onWarning });
  const stats = new TrackerStats({
    store,
    registry,
    now,
    ...(options.version === undefined ? {} : { version: options.version }),
    statsUsers: () => privateMode.statsUsers(),
  });
  stats.sampleHistory();
  const snapshots = new SnapshotScheduler({
    db,
    store,
    now,
    intervalS: options.snapshotIntervalS ?? DEFAULT_SNAPSHOT_INTERVAL_S,
    onSaved: () => privateMode.flush(),
    // Accounting the same way, a chunk per turn (a synchronous save of every counter would stall here).
    onSavedInBackground: () => privateMode.flushInBackground(),
    onWarning,
  });
  const answers = createHttpAnswers({
    db,
    store,
    registry,
    privateMode,
    addresses,
    stats,
    adminCheck,
    intervalS: options.intervalS ?? DEFAULT_INTERVAL_S,
    minIntervalS: options.minIntervalS ?? DEFAULT_MIN_INTERVAL_S,
    numWantMax,
    similar,
    now,
    random,
    onWarning,
  });
  const handler = createHttpRoutes({
    answers,
    stats,
    adminCheck,
    registry,
    privateMode,
    snapshot: () => snapshots.snapshot(),
    now,
    ...(options.onShutdown === undefined ? {} : { onShutdown: options.onShutdown }),
  });

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

  return {
    handler,
    fast: answers.fast,
    adminToken,
    isAdminTokenGenerated,
    restoredPeers,
    store,
    registry,
    privateMode,
    snapshot: () => snapshots.snapshot(),
    snapshotInBackground: () => snapshots.snapshotInBackground(),
    sweep,
    stats: (isAdmin) => stats.stats(isAdmin),
    close() {
      for (const t of timers) clearInterval(t);
      timers.length = 0;
      snapshots.close();
      privateMode.close();
    },
  };
}
