// Owns the tracker's SQLite state (node:sqlite): schema and migrations, registered torrents and their counters,
// settings, and the periodic swarm snapshot. Every write runs in its own transaction; this file never prints and
// never touches the network.
//
// Durability: WAL with synchronous=NORMAL. A commit appends to the WAL through the OS page cache before returning,
// so a killed process (kill -9, crash) loses nothing committed; only an OS crash or power loss may drop the last
// commits before a checkpoint. FULL would fsync on every commit — one fsync per `completed` event on the announce
// hot path and per torrent in bulk registration — for a guarantee (power loss) the swarm snapshot lacks anyway.
// `open(path, { synchronous: "full" })` exists for operators who want it.

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { BtoolError, errorText } from "../errors.ts";

/** Metadata given when a torrent is registered (issue #4 `/add_torrent_info`, issue #6 `btool register`). */
export interface TorrentMeta {
  infoHashHex: string;
  name?: string;
  size?: number;
  pieceLength?: number;
  comment?: string;
  createdBy?: string;
  /** Any further JSON-serialisable metadata (file list, private flag, source, …). */
  extra?: Record<string, unknown>;
}

/** A row of the torrents table: registered torrents and torrents merely seen in announces. */
export interface TorrentRecord extends TorrentMeta {
  isRegistered: boolean;
  firstSeenMs: number;
  lastSeenMs: number;
  completed: number;
}

/** The current swarm snapshot: chunks of records written by `writeSwarmChunk`, made current by `commitSwarmSnapshot`. */
export interface SwarmSnapshot {
  generation: number;
  /** The record format the writer named (the db stores records as opaque bytes). */
  format: string;
  peers: number;
  savedMs: number;
  /** Chunk count. */
  chunkCount: number;
  /** The chunks in order, read one at a time (valid while the db is open and this snapshot is current). */
  chunks(): Iterable<Uint8Array>;
}

/** A committed change to a torrent's counters, reported to `TrackerDb.observeCounters` listeners. */
export type CounterChange =
  | { type: "completed"; infoHashHex: string; count: number; nowMs: number }
  | { type: "seen"; infoHashHexes: readonly string[]; nowMs: number };

/** A member of a private tracker (issue #6). */
export interface UserRecord {
  id: number;
  name: string;
  /** 32 lowercase hex digits; never log it. */
  passkeyHex: string;
  createdMs: number;
  /** Set once revoked: the passkey no longer works. */
  revokedMs: number | null;
  rotatedMs: number | null;
  uploaded: number;
  downloaded: number;
}

/** Per-user deltas committed with an accounting generation. */
export interface UserDelta {
  userId: number;
  uploaded: number;
  downloaded: number;
}

/** The current accounting generation: chunks of last-counter records written by `writeAccountingChunk`. */
export interface AccountingSnapshot {
  generation: number;
  /** The record format the writer named (the db stores records as opaque bytes). */
  format: string;
  /** The chunks in order, read one at a time (valid while the db is open and this generation is current). */
  chunks(): Iterable<Uint8Array>;
}

/** Longest user name accepted. */
export const MAX_USER_NAME_CHARS = 64;
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]*$/;
const PASSKEY32 = /^[0-9a-f]{32}$/;

/** The state database could not be opened, migrated or written, or a value given to it is invalid. */
export class PersistError extends BtoolError {}

/** Options of `TrackerDb.open`. */
export interface TrackerDbOptions {
  /** "normal" (default): survives a killed process; "full": also survives power loss, one fsync per commit. */
  synchronous?: "normal" | "full";
  /** How long a write waits for another process holding the write lock (e.g. `btool tracker user add`). */
  busyTimeoutMs?: number;
  /** Tests only: the migration list to apply instead of this build's (to exercise upgrades). */
  migrations?: readonly string[];
}

/** Written to `PRAGMA application_id` so that another program's SQLite file is refused, not altered. */
export const APPLICATION_ID = 0x62746f6f; // "btoo"
export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;
/** Unregistered torrents not seen for this long lose their row (and completed count) to `pruneIdleTorrents`. */
export const UNREGISTERED_TORRENT_IDLE_MS = 24 * 60 * 60 * 1000;
/** Rows one `pruneIdleTorrents` call deletes at most, so a huge backlog never stalls the event loop. */
export const PRUNE_TORRENT_ROWS_PER_CALL = 1_000;
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * Schema migrations; `PRAGMA user_version` = how many have been applied. Append only: never edit a released
 * entry. Issue #6 adds users, passkeys and per-user accounting as migration 2 and later, e.g.
 * `users(id INTEGER PRIMARY KEY, name TEXT UNIQUE, passkey TEXT UNIQUE, created_ms, revoked_ms)` and
 * `user_torrent_stats(user_id, info_hash, peer_id, last_uploaded, last_downloaded, uploaded, downloaded)`.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE torrents (
     info_hash     TEXT PRIMARY KEY NOT NULL CHECK (length(info_hash) = 40),
     is_registered INTEGER NOT NULL DEFAULT 0,
     name          TEXT,
     size          INTEGER,
     piece_length  INTEGER,
     comment       TEXT,
     created_by    TEXT,
     extra         TEXT,
     registered_ms INTEGER,
     first_seen_ms INTEGER NOT NULL,
     last_seen_ms  INTEGER NOT NULL,
     completed     INTEGER NOT NULL DEFAULT 0
   ) WITHOUT ROWID;
   CREATE TABLE settings (
     key   TEXT PRIMARY KEY NOT NULL,
     value TEXT NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE swarm_snapshot (
     info_hash    TEXT NOT NULL,
     peer_id      TEXT NOT NULL,
     ip           TEXT NOT NULL,
     port         INTEGER NOT NULL,
     left_bytes   INTEGER NOT NULL,
     uploaded     INTEGER NOT NULL,
     downloaded   INTEGER NOT NULL,
     last_seen_ms INTEGER NOT NULL
   );`,
  // 2 (issue #6): members of a private tracker and per-user accounting. A revoked user keeps its row (and totals);
  // user_peers holds the last uploaded/downloaded each (user, torrent, peer) announced, so deltas survive restarts.
  `CREATE TABLE users (
     id          INTEGER PRIMARY KEY,
     name        TEXT NOT NULL UNIQUE,
     passkey     TEXT NOT NULL UNIQUE CHECK (length(passkey) = 32),
     created_ms  INTEGER NOT NULL,
     revoked_ms  INTEGER,
     rotated_ms  INTEGER,
     uploaded    INTEGER NOT NULL DEFAULT 0,
     downloaded  INTEGER NOT NULL DEFAULT 0
   );
   CREATE TABLE user_peers (
     user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
     info_hash       TEXT NOT NULL,
     peer_id         TEXT NOT NULL,
     last_uploaded   INTEGER NOT NULL,
     last_downloaded INTEGER NOT NULL,
     last_seen_ms    INTEGER NOT NULL,
     PRIMARY KEY (user_id, info_hash, peer_id)
   ) WITHOUT ROWID;`,
  // 3: the swarm snapshot as chunks of fixed-size binary records (about 1 MiB each, written one per event-loop turn)
  // by generation; settings.swarm_snapshot_generation names the complete one (migration 5 drops swarm_snapshot).
  `CREATE TABLE swarm_chunks (
     generation INTEGER NOT NULL,
     seq        INTEGER NOT NULL,
     records    BLOB NOT NULL,
     PRIMARY KEY (generation, seq)
   );`,
  // 4 (issue #6): accounting's last counters as chunks of binary records by generation, like the swarm snapshot;
  // settings.accounting_generation names the complete one, committed in the same transaction as the users' deltas.
  // One random-key upsert per peer into user_peers was too slow (docs/PERFORMANCE.md); migration 5 drops it.
  `CREATE TABLE accounting_chunks (
     generation INTEGER NOT NULL,
     seq        INTEGER NOT NULL,
     records    BLOB NOT NULL,
     PRIMARY KEY (generation, seq)
   );`,
  // 5: drop the row formats of schema versions 1-2 (swarm_snapshot, user_peers: no installed base reads them) and
  // index unregistered torrents by last seen, so pruneIdleTorrents finds old rows without scanning the table.
  `DROP TABLE IF EXISTS swarm_snapshot;
   DROP TABLE user_peers;
   CREATE INDEX torrents_unregistered_last_seen ON torrents (last_seen_ms) WHERE is_registered = 0;`,
];

/** The schema version this build writes. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

const HEX40 = /^[0-9a-fA-F]{40}$/;

/** Lowercase a 40-digit hex info hash. @throws {PersistError} `invalid_info_hash` */
function normalizeHex(hex: string, what: string): string {
  if (typeof hex !== "string" || !HEX40.test(hex)) {
    throw new PersistError("invalid_info_hash", `Invalid ${what}: expected 40 hex digits, got "${String(hex)}"`);
  }
  return hex.toLowerCase();
}

function checkCount(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new PersistError("invalid_value", `Invalid ${what}: expected a non-negative safe integer, got "${value}"`);
  }
}

/** JSON with sorted object keys, so that equal metadata compares equal as text. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
      return sorted;
    }
    return v;
  });
}

interface MetaColumns {
  name: string | null;
  size: number | null;
  pieceLength: number | null;
  comment: string | null;
  createdBy: string | null;
  extra: string | null;
}

function metaColumns(meta: TorrentMeta): MetaColumns {
  if (meta.size !== undefined) checkCount(meta.size, "size");
  if (meta.pieceLength !== undefined) checkCount(meta.pieceLength, "piece length");
  let extra: string | null = null;
  if (meta.extra !== undefined) {
    try {
      extra = canonicalJson(meta.extra);
    } catch (err: unknown) {
      throw new PersistError("invalid_value", "Invalid extra metadata: not serialisable as JSON", { cause: err });
    }
  }
  return {
    name: meta.name ?? null,
    size: meta.size ?? null,
    pieceLength: meta.pieceLength ?? null,
    comment: meta.comment ?? null,
    createdBy: meta.createdBy ?? null,
    extra,
  };
}

type Row = Record<string, unknown>;

/** node:sqlite's `StatementSync.setReturnArrays` (present at run time, missing from Deno's 2.9 type declarations). */
interface ArrayRows {
  setReturnArrays(enabled: boolean): void;
}

function rowToRecord(row: Row): TorrentRecord {
  const rec: TorrentRecord = {
    infoHashHex: row.info_hash as string,
    isRegistered: row.is_registered === 1,
    firstSeenMs: row.first_seen_ms as number,
    lastSeenMs: row.last_seen_ms as number,
    completed: row.completed as number,
  };
  if (row.name !== null) rec.name = row.name as string;
  if (row.size !== null) rec.size = row.size as number;
  if (row.piece_length !== null) rec.pieceLength = row.piece_length as number;
  if (row.comment !== null) rec.comment = row.comment as string;
  if (row.created_by !== null) rec.createdBy = row.created_by as string;
  if (row.extra !== null) rec.extra = JSON.parse(row.extra as string) as Record<string, unknown>;
  return rec;
}

/** `rowToRecord` for a row read as an array in TORRENT_COLUMNS order. */
function arrayToRecord(r: unknown[]): TorrentRecord {
  const rec: TorrentRecord = {
    infoHashHex: r[0] as string,
    isRegistered: r[1] === 1,
    firstSeenMs: r[8] as number,
    lastSeenMs: r[9] as number,
    completed: r[10] as number,
  };
  if (r[2] !== null) rec.name = r[2] as string;
  if (r[3] !== null) rec.size = r[3] as number;
  if (r[4] !== null) rec.pieceLength = r[4] as number;
  if (r[5] !== null) rec.comment = r[5] as string;
  if (r[6] !== null) rec.createdBy = r[6] as string;
  if (r[7] !== null) rec.extra = JSON.parse(r[7] as string) as Record<string, unknown>;
  return rec;
}

const TORRENT_COLUMNS =
  "info_hash, is_registered, name, size, piece_length, comment, created_by, extra, first_seen_ms, last_seen_ms, completed";

/** Tables of chunked generations, with the setting naming each one's current generation. */
const SWARM_CHUNKS = { table: "swarm_chunks", generationKey: "swarm_snapshot_generation", what: "swarm snapshot" };
const ACCOUNTING_CHUNKS = { table: "accounting_chunks", generationKey: "accounting_generation", what: "accounting" };
type ChunkTable = typeof SWARM_CHUNKS;

/** Settings of the swarm snapshot (its generation: SWARM_CHUNKS.generationKey). */
const SNAPSHOT_FORMAT_KEY = "swarm_snapshot_format";
const SNAPSHOT_PEERS_KEY = "swarm_snapshot_peers";
const SNAPSHOT_MS_KEY = "swarm_snapshot_ms";
const ACCOUNTING_FORMAT_KEY = "accounting_format";

/** The tracker's persistent state. One instance per process; other processes may open the same file. */
export class TrackerDb {
  readonly #db: DatabaseSync;
  readonly #stmts = new Map<string, StatementSync>();
  readonly #counterListeners = new Set<(change: CounterChange) => void>();
  readonly #migrations: readonly string[];
  /** Per chunk table: the generation being written (begun, not yet committed); at most one each. */
  readonly #writing = new Map<string, number>();

  private constructor(db: DatabaseSync, migrations: readonly string[]) {
    this.#db = db;
    this.#migrations = migrations;
  }

  /**
   * Open (creating if needed) and migrate the database at `path` (":memory:" for tests).
   * @throws {PersistError} `open_failed` (not a database, unreadable), `not_btool_db`, `schema_too_new`
   */
  static open(path: string, options: TrackerDbOptions = {}): TrackerDb {
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(path);
    } catch (err: unknown) {
      throw new PersistError("open_failed", `Cannot open database "${path}": ${errorText(err)}`, { cause: err });
    }
    try {
      const busy = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
      checkCount(busy, "busy timeout");
      db.exec(`PRAGMA busy_timeout = ${busy}`);
      db.exec("PRAGMA journal_mode = WAL");
      db.exec(`PRAGMA synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`);
      db.exec("PRAGMA foreign_keys = ON");
      // A 1M-peer snapshot grows the WAL past 100 MB; give the space back after each checkpoint.
      db.exec(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
      const tdb = new TrackerDb(db, options.migrations ?? MIGRATIONS);
      tdb.#migrate(path);
      return tdb;
    } catch (err: unknown) {
      db.close();
      if (err instanceof PersistError) throw err;
      throw new PersistError("open_failed", `Cannot open database "${path}": ${errorText(err)}`, { cause: err });
    }
  }

  #migrate(path: string): void {
    const target = this.#migrations.length;
    const read = () => {
      const appId = this.#db.prepare("PRAGMA application_id").get()?.application_id as number;
      const version = this.#db.prepare("PRAGMA user_version").get()?.user_version as number;
      const tables = this.#db.prepare("SELECT count(*) AS n FROM sqlite_master").get()?.n as number;
      if (appId !== APPLICATION_ID && (appId !== 0 || version !== 0 || tables !== 0)) {
        throw new PersistError("not_btool_db", `Cannot use database "${path}": it belongs to another program`);
      }
      if (version > target) {
        throw new PersistError(
          "schema_too_new",
          `Cannot use database "${path}": schema version "${version}" is newer than this btool's "${target}"`,
        );
      }
      return version;
    };
    if (read() === target) return;
    // Re-read under the write lock: another process may have migrated meanwhile.
    this.#transaction(() => {
      const version = read();
      for (let v = version; v < target; v++) this.#db.exec(this.#migrations[v] as string);
      this.#db.exec(`PRAGMA application_id = ${APPLICATION_ID}`);
      this.#db.exec(`PRAGMA user_version = ${target}`);
    });
  }

  /** Run `fn` in a write transaction (BEGIN IMMEDIATE takes the lock up front, so busy_timeout applies). */
  #transaction<T>(fn: () => T): T {
    try {
      this.#db.exec("BEGIN IMMEDIATE");
    } catch (err: unknown) {
      throw wrapSqliteError(err);
    }
    try {
      const result = fn();
      this.#db.exec("COMMIT");
      return result;
    } catch (err: unknown) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw wrapSqliteError(err);
    }
  }

  #stmt(sql: string): StatementSync {
    let s = this.#stmts.get(sql);
    if (s === undefined) {
      s = this.#db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    return s;
  }

  /**
   * Register a torrent, or replace the metadata of a registered one (fields left out are cleared).
   * Idempotent: the same metadata again returns "unchanged" and writes nothing.
   * @returns "added" when it was not registered (even if seen in announces), "updated" when its metadata changed
   * @throws {PersistError} `invalid_info_hash`, `invalid_value`; every write may also throw `db_busy` (another
   * process held the write lock longer than busy_timeout) or `write_failed` (disk full, I/O error)
   */
  registerTorrent(meta: TorrentMeta, nowMs: number): "added" | "updated" | "unchanged" {
    const infoHashHex = normalizeHex(meta.infoHashHex, "info hash");
    const cols = metaColumns(meta);
    return this.#transaction(() => this.#registerOne(infoHashHex, cols, nowMs));
  }

  /**
   * Register many torrents in one transaction (bulk registration, issue #6); same rules as `registerTorrent`.
   * Validates everything first: one invalid entry writes nothing.
   * @throws {PersistError} `invalid_info_hash`, `invalid_value`
   */
  registerTorrents(metas: readonly TorrentMeta[], nowMs: number): ("added" | "updated" | "unchanged")[] {
    const checked = metas.map((m) => [normalizeHex(m.infoHashHex, "info hash"), metaColumns(m)] as const);
    return this.#transaction(() => checked.map(([hex, cols]) => this.#registerOne(hex, cols, nowMs)));
  }

  #registerOne(infoHashHex: string, cols: MetaColumns, nowMs: number): "added" | "updated" | "unchanged" {
    const row = this.#stmt(
      "SELECT is_registered, name, size, piece_length, comment, created_by, extra FROM torrents WHERE info_hash = ?",
    ).get(infoHashHex);
    const args = [cols.name, cols.size, cols.pieceLength, cols.comment, cols.createdBy, cols.extra] as const;
    if (row === undefined) {
      this.#stmt(
        `INSERT INTO torrents (info_hash, is_registered, name, size, piece_length, comment, created_by, extra,
           registered_ms, first_seen_ms, last_seen_ms, completed) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
      ).run(infoHashHex, ...args, nowMs, nowMs, nowMs);
      return "added";
    }
    const same = row.is_registered === 1 && row.name === cols.name && row.size === cols.size &&
      row.piece_length === cols.pieceLength && row.comment === cols.comment && row.created_by === cols.createdBy &&
      row.extra === cols.extra;
    if (same) return "unchanged";
    this.#stmt(
      `UPDATE torrents SET name = ?, size = ?, piece_length = ?, comment = ?, created_by = ?, extra = ?,
         registered_ms = CASE WHEN is_registered = 1 THEN registered_ms ELSE ? END, is_registered = 1
       WHERE info_hash = ?`,
    ).run(...args, nowMs, infoHashHex);
    return row.is_registered === 1 ? "updated" : "added";
  }

  /**
   * Mark a torrent unregistered. Its counters and metadata stay (it may still have a swarm).
   * @returns whether it was registered
   * @throws {PersistError} `invalid_info_hash`
   */
  unregisterTorrent(infoHashHex: string): boolean {
    const hex = normalizeHex(infoHashHex, "info hash");
    return this.#transaction(() =>
      this.#stmt("UPDATE torrents SET is_registered = 0 WHERE info_hash = ? AND is_registered = 1").run(hex)
        .changes === 1
    );
  }

  /** The torrent's row, registered or only seen; null when unknown. @throws {PersistError} `invalid_info_hash` */
  getTorrent(infoHashHex: string): TorrentRecord | null {
    const hex = normalizeHex(infoHashHex, "info hash");
    const row = this.#stmt(`SELECT ${TORRENT_COLUMNS} FROM torrents WHERE info_hash = ?`).get(hex);
    return row === undefined ? null : rowToRecord(row);
  }

  /** Every torrent row (registered or only seen; only registered ones with `registeredOnly`), by info hash. */
  listTorrents(options: { registeredOnly?: boolean } = {}): TorrentRecord[] {
    const where = options.registeredOnly === true ? " WHERE is_registered = 1" : "";
    const stmt = this.#db.prepare(`SELECT ${TORRENT_COLUMNS} FROM torrents${where} ORDER BY info_hash`) as
      & StatementSync
      & ArrayRows;
    stmt.setReturnArrays(true);
    return (stmt.all() as unknown as unknown[][]).map(arrayToRecord);
  }

  /**
   * Info hash and completed count of every torrent with a count (what a starting tracker needs: no metadata),
   * read one row at a time: an open tracker's table may hold more rows than its swarm store takes. Do not write to
   * this db while iterating.
   */
  *listCompletedCounts(): Generator<{ infoHashHex: string; completed: number }, void, undefined> {
    const stmt = this.#db.prepare("SELECT info_hash, completed FROM torrents WHERE completed > 0") as
      & StatementSync
      & ArrayRows;
    stmt.setReturnArrays(true);
    for (const r of stmt.iterate() as Iterable<unknown[]>) {
      yield { infoHashHex: r[0] as string, completed: r[1] as number };
    }
  }

  /**
   * Delete up to `maxRows` rows of unregistered torrents not seen for `idleMs` before `nowMs` (an open tracker gets
   * a row for every info hash a stranger announces). Registered torrents are never pruned. One small transaction.
   * @returns rows deleted (fewer than `maxRows`: nothing older is left)
   */
  pruneIdleTorrents(nowMs: number, options: { idleMs?: number; maxRows?: number } = {}): number {
    const lastSeenBeforeMs = nowMs - (options.idleMs ?? UNREGISTERED_TORRENT_IDLE_MS);
    // Look before taking the write lock: most calls find nothing, and a read never waits for another process.
    const due = this.#stmt("SELECT 1 FROM torrents WHERE is_registered = 0 AND last_seen_ms < ? LIMIT 1");
    if (due.get(lastSeenBeforeMs) === undefined) return 0;
    return this.#transaction(() =>
      this.#stmt(
        `DELETE FROM torrents WHERE info_hash IN (SELECT info_hash FROM torrents
           WHERE is_registered = 0 AND last_seen_ms < ? ORDER BY last_seen_ms LIMIT ?)`,
      ).run(lastSeenBeforeMs, options.maxRows ?? PRUNE_TORRENT_ROWS_PER_CALL).changes as number
    );
  }

  /**
   * Add `count` completed downloads to a torrent, creating its (unregistered) row when unseen.
   * @throws {PersistError} `invalid_info_hash`, `invalid_value`
   */
  addCompleted(infoHashHex: string, count: number, nowMs: number): void {
    const hex = normalizeHex(infoHashHex, "info hash");
    checkCount(count, "completed count");
    this.#transaction(() => {
      this.#stmt(
        `INSERT INTO torrents (info_hash, first_seen_ms, last_seen_ms, completed) VALUES (?, ?, ?, ?)
         ON CONFLICT (info_hash) DO UPDATE SET completed = completed + excluded.completed,
           last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)`,
      ).run(hex, nowMs, nowMs, count);
    });
    this.#emit({ type: "completed", infoHashHex: hex, count, nowMs });
  }

  /**
   * Call `listener` after each committed `addCompleted`/`touchTorrents` of this instance (the Registry uses it to
   * keep its cached counters live). Listeners must not throw. @returns a function that removes the listener
   */
  observeCounters(listener: (change: CounterChange) => void): () => void {
    this.#counterListeners.add(listener);
    return () => this.#counterListeners.delete(listener);
  }

  #emit(change: CounterChange): void {
    for (const listener of this.#counterListeners) listener(change);
  }

  /**
   * Record that these torrents were seen at `nowMs` (creates unseen rows; last seen never moves back).
   * @throws {PersistError} `invalid_info_hash` (nothing is written then)
   */
  touchTorrents(infoHashHexes: readonly string[], nowMs: number): void {
    const hexes = infoHashHexes.map((h) => normalizeHex(h, "info hash"));
    if (hexes.length === 0) return;
    // One statement for the whole list (SQLite loops over a JSON array): ~40% faster than a statement per row,
    // which matters for the swarm snapshot's 100k+ torrents.
    this.#transaction(() => {
      this.#stmt(
        `INSERT INTO torrents (info_hash, first_seen_ms, last_seen_ms) SELECT value, ?2, ?2 FROM json_each(?1) WHERE true
         ON CONFLICT (info_hash) DO UPDATE SET last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)`,
      ).run(JSON.stringify(hexes), nowMs);
    });
    this.#emit({ type: "seen", infoHashHexes: hexes, nowMs });
  }

  // --- swarm snapshot ----------------------------------------------------------------------------------------
  // A snapshot is written as a new generation of chunks, each in its own small transaction (so a writer can yield
  // to the event loop between them), then made current by one tiny transaction. Until then the previous generation
  // stays current; a crash mid-way leaves chunks of a generation that never became current, which
  // `pruneSwarmChunks` deletes like the previous generation's after a commit.

  /**
   * Start writing a new snapshot generation and return its number. One generation is written at a time: beginning
   * another abandons this one (its further writes throw `snapshot_abandoned`; its chunks become prunable).
   */
  beginSwarmSnapshot(): number {
    return this.#beginChunks(SWARM_CHUNKS);
  }

  /**
   * Store chunk `seq` of the generation being written (its own transaction; the bytes are copied).
   * @throws {PersistError} `snapshot_abandoned` (another generation was begun since), `db_busy`, `write_failed`
   */
  writeSwarmChunk(generation: number, seq: number, records: Uint8Array): void {
    this.#writeChunk(SWARM_CHUNKS, generation, seq, records);
  }

  /**
   * Make `generation` the current snapshot in one small transaction.
   * The previous generation's chunks stay until `pruneSwarmChunks`.
   * @throws {PersistError} `snapshot_abandoned`, `db_busy`, `write_failed`
   */
  commitSwarmSnapshot(generation: number, meta: { nowMs: number; peers: number; format: string }): void {
    this.#commitChunks(SWARM_CHUNKS, generation, () => {
      this.#setSetting(SNAPSHOT_FORMAT_KEY, meta.format);
      this.#setSetting(SNAPSHOT_PEERS_KEY, String(meta.peers));
      this.#setSetting(SNAPSHOT_MS_KEY, String(meta.nowMs));
    });
  }

  /**
   * Delete up to `maxChunks` chunks of generations that are neither current nor being written (the previous
   * snapshot after a commit, unfinished ones after a crash or an abandon). One small transaction.
   * @returns chunks deleted (fewer than `maxChunks`: nothing is left to prune)
   */
  pruneSwarmChunks(maxChunks: number = Number.MAX_SAFE_INTEGER): number {
    return this.#pruneChunks(SWARM_CHUNKS, maxChunks);
  }

  /** The current swarm snapshot, or null when none was committed. */
  loadSwarmSnapshot(): SwarmSnapshot | null {
    const current = this.#loadChunks(SWARM_CHUNKS);
    if (current === null) return null;
    return {
      ...current,
      format: this.getSetting(SNAPSHOT_FORMAT_KEY) ?? "",
      peers: Number(this.getSetting(SNAPSHOT_PEERS_KEY) ?? 0),
      savedMs: Number(this.getSetting(SNAPSHOT_MS_KEY) ?? 0),
    };
  }

  /** Write the WAL back into the database file without waiting for readers (keeps the WAL small). */
  checkpoint(): void {
    this.#db.exec("PRAGMA wal_checkpoint(PASSIVE)");
  }

  // --- chunked generations (swarm snapshot, accounting) ------------------------------------------------------

  #beginChunks(t: ChunkTable): number {
    const row = this.#stmt(`SELECT max(generation) AS g FROM ${t.table}`).get();
    const generation = Math.max((row?.g as number | null) ?? 0, this.#currentOf(t)) + 1;
    this.#writing.set(t.table, generation);
    return generation;
  }

  #writeChunk(t: ChunkTable, generation: number, seq: number, records: Uint8Array): void {
    this.#checkWriting(t, generation);
    this.#transaction(() => {
      this.#stmt(`INSERT INTO ${t.table} (generation, seq, records) VALUES (?, ?, ?)`).run(generation, seq, records);
    });
  }

  /** Make `generation` current in one transaction, with whatever else `alsoInside` writes. */
  #commitChunks(t: ChunkTable, generation: number, alsoInside: () => void): void {
    this.#checkWriting(t, generation);
    this.#transaction(() => {
      this.#setSetting(t.generationKey, String(generation));
      alsoInside();
    });
    this.#writing.delete(t.table);
  }

  #pruneChunks(t: ChunkTable, maxChunks: number): number {
    const keep = this.#writing.get(t.table) ?? -1;
    return this.#transaction(() =>
      this.#stmt(
        `DELETE FROM ${t.table} WHERE rowid IN (SELECT rowid FROM ${t.table} WHERE generation NOT IN (?, ?) LIMIT ?)`,
      ).run(this.#currentOf(t), keep, maxChunks).changes as number
    );
  }

  #loadChunks(t: ChunkTable): { generation: number; chunkCount: number; chunks(): Iterable<Uint8Array> } | null {
    const generation = this.#currentOf(t);
    if (generation < 0) return null;
    const seqs = (this.#stmt(`SELECT seq FROM ${t.table} WHERE generation = ? ORDER BY seq`).all(generation))
      .map((r) => r.seq as number);
    const read = this.#stmt(`SELECT records FROM ${t.table} WHERE generation = ? AND seq = ?`);
    return {
      generation,
      chunkCount: seqs.length,
      *chunks(): Iterable<Uint8Array> {
        for (const seq of seqs) {
          const row = read.get(generation, seq);
          if (row !== undefined) yield row.records as Uint8Array;
        }
      },
    };
  }

  #currentOf(t: ChunkTable): number {
    const value = this.getSetting(t.generationKey);
    return value === null ? -1 : Number(value);
  }

  #checkWriting(t: ChunkTable, generation: number): void {
    if (this.#writing.get(t.table) !== generation) {
      throw new PersistError(
        "snapshot_abandoned",
        `Cannot write ${t.what} generation "${generation}": it is not the one being written`,
      );
    }
  }

  /**
   * Add a member with `passkeyHex` (32 lowercase hex digits). A revoked user of the same name comes back with the
   * new passkey and its old totals.
   * @throws {PersistError} `invalid_user_name`, `invalid_passkey`, `user_exists` (an active user has that name)
   */
  addUser(name: string, passkeyHex: string, nowMs: number): UserRecord {
    checkUserName(name);
    checkPasskey(passkeyHex);
    return this.#transaction(() => {
      const row = this.#stmt("SELECT id, revoked_ms FROM users WHERE name = ?").get(name);
      if (row !== undefined && row.revoked_ms === null) {
        throw new PersistError("user_exists", `Cannot add user "${name}": it exists`);
      }
      if (row === undefined) {
        this.#stmt("INSERT INTO users (name, passkey, created_ms) VALUES (?, ?, ?)").run(name, passkeyHex, nowMs);
      } else {
        this.#stmt("UPDATE users SET passkey = ?, revoked_ms = NULL, rotated_ms = ? WHERE id = ?").run(
          passkeyHex,
          nowMs,
          row.id as number,
        );
      }
      return this.#userByName(name)!;
    });
  }

  /** The user named `name` (active or revoked); null when unknown. */
  getUser(name: string): UserRecord | null {
    return this.#userByName(name);
  }

  #userByName(name: string): UserRecord | null {
    const row = this.#stmt(`SELECT ${USER_COLUMNS} FROM users WHERE name = ?`).get(name);
    return row === undefined ? null : rowToUser(row);
  }

  /** Every user (revoked ones too unless `activeOnly`), by name. */
  listUsers(options: { activeOnly?: boolean } = {}): UserRecord[] {
    const where = options.activeOnly === true ? " WHERE revoked_ms IS NULL" : "";
    return this.#stmt(`SELECT ${USER_COLUMNS} FROM users${where} ORDER BY name`).all().map(rowToUser);
  }

  /**
   * Revoke a user: its passkey stops working; its totals stay. @returns false when it was already revoked
   * @throws {PersistError} `unknown_user`
   */
  revokeUser(name: string, nowMs: number): boolean {
    return this.#transaction(() => {
      const user = this.#userByName(name);
      if (user === null) throw new PersistError("unknown_user", `Unknown user "${name}"`);
      if (user.revokedMs !== null) return false;
      this.#stmt("UPDATE users SET revoked_ms = ? WHERE id = ?").run(nowMs, user.id);
      return true;
    });
  }

  /**
   * Give an active user a new passkey (the old one stops working).
   * @throws {PersistError} `unknown_user`, `user_revoked`, `invalid_passkey`
   */
  rotatePasskey(name: string, passkeyHex: string, nowMs: number): UserRecord {
    checkPasskey(passkeyHex);
    return this.#transaction(() => {
      const user = this.#userByName(name);
      if (user === null) throw new PersistError("unknown_user", `Unknown user "${name}"`);
      if (user.revokedMs !== null) throw new PersistError("user_revoked", `Cannot rotate user "${name}": revoked`);
      this.#stmt("UPDATE users SET passkey = ?, rotated_ms = ? WHERE id = ?").run(passkeyHex, nowMs, user.id);
      return this.#userByName(name)!;
    });
  }

  // --- accounting ---------------------------------------------------------------------------------------------
  // The last counters of every accounted (user, torrent, peer) are written as a new generation of chunks, then
  // made current in the same transaction that adds the users' deltas: after a crash, totals and last counters agree.

  /** Start writing a new accounting generation (beginning another abandons this one). */
  beginAccounting(): number {
    return this.#beginChunks(ACCOUNTING_CHUNKS);
  }

  /**
   * Store chunk `seq` of the accounting generation being written (its own transaction; the bytes are copied).
   * @throws {PersistError} `snapshot_abandoned`, `db_busy`, `write_failed`
   */
  writeAccountingChunk(generation: number, seq: number, records: Uint8Array): void {
    this.#writeChunk(ACCOUNTING_CHUNKS, generation, seq, records);
  }

  /**
   * Add `deltas` to the users' totals and make `generation` current, in one transaction (a user that no longer
   * exists is skipped). Values are trusted (non-negative safe
   * integers from the tracker's accounting).
   * @throws {PersistError} `snapshot_abandoned`, `db_busy`, `write_failed`
   */
  commitAccounting(generation: number, deltas: readonly UserDelta[], format: string): void {
    this.#commitChunks(ACCOUNTING_CHUNKS, generation, () => {
      const add = this.#stmt("UPDATE users SET uploaded = uploaded + ?, downloaded = downloaded + ? WHERE id = ?");
      for (const d of deltas) add.run(d.uploaded, d.downloaded, d.userId);
      this.#setSetting(ACCOUNTING_FORMAT_KEY, format);
    });
  }

  /** Delete up to `maxChunks` chunks of accounting generations that are neither current nor being written. */
  pruneAccountingChunks(maxChunks: number = Number.MAX_SAFE_INTEGER): number {
    return this.#pruneChunks(ACCOUNTING_CHUNKS, maxChunks);
  }

  /** The current accounting generation, or null when none was committed. */
  loadAccounting(): AccountingSnapshot | null {
    const current = this.#loadChunks(ACCOUNTING_CHUNKS);
    return current === null ? null : { ...current, format: this.getSetting(ACCOUNTING_FORMAT_KEY) ?? "" };
  }

  /**
   * SQLite's data version: it changes when another connection (e.g. `btool tracker user add` in another process)
   * committed a change, so the tracker knows when to reload users and registry.
   */
  dataVersion(): number {
    return this.#stmt("PRAGMA data_version").get()?.data_version as number;
  }

  /** A stored setting (admin token, snapshot time, …); null when unset. */
  getSetting(key: string): string | null {
    const row = this.#stmt("SELECT value FROM settings WHERE key = ?").get(key);
    return row === undefined ? null : row.value as string;
  }

  /** Store a setting (replaces any previous value). */
  setSetting(key: string, value: string): void {
    this.#transaction(() => this.#setSetting(key, value));
  }

  #setSetting(key: string, value: string): void {
    this.#stmt(
      "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ).run(key, value);
  }

  /** Close the database (checkpoints the WAL). Further calls on this instance throw. */
  close(): void {
    this.#stmts.clear();
    this.#counterListeners.clear();
    if (this.#db.isOpen) this.#db.close();
  }
}

const USER_COLUMNS = "id, name, passkey, created_ms, revoked_ms, rotated_ms, uploaded, downloaded";

function rowToUser(row: Row): UserRecord {
  return {
    id: row.id as number,
    name: row.name as string,
    passkeyHex: row.passkey as string,
    createdMs: row.created_ms as number,
    revokedMs: row.revoked_ms as number | null,
    rotatedMs: row.rotated_ms as number | null,
    uploaded: row.uploaded as number,
    downloaded: row.downloaded as number,
  };
}

/** @throws {PersistError} `invalid_user_name` */
function checkUserName(name: string): void {
  if (typeof name !== "string" || name.length > MAX_USER_NAME_CHARS || !USER_NAME.test(name)) {
    throw new PersistError(
      "invalid_user_name",
      `Invalid user name "${
        String(name).slice(0, 80)
      }": use 1-${MAX_USER_NAME_CHARS} letters, digits, ".", "_", "@", "-"`,
    );
  }
}

/** @throws {PersistError} `invalid_passkey` (the value is never echoed) */
function checkPasskey(passkeyHex: string): void {
  if (typeof passkeyHex !== "string" || !PASSKEY32.test(passkeyHex)) {
    throw new PersistError("invalid_passkey", "Invalid passkey: expected 32 lowercase hex digits");
  }
}

/**
 * SQLite's own errors become PersistError: `db_busy` when another connection held the write lock past
 * busy_timeout, `write_failed` otherwise. Other errors (e.g. from a snapshot's peer source) pass unchanged.
 */
function wrapSqliteError(err: unknown): unknown {
  if (!(err instanceof Error) || (err as Error & { code?: unknown }).code !== "ERR_SQLITE_ERROR") return err;
  const isBusy = /\b(locked|busy)\b/i.test(err.message);
  return new PersistError(isBusy ? "db_busy" : "write_failed", `Cannot write the database: ${err.message}`, {
    cause: err,
  });
}
