// Owns the tracker's SQLite state (node:sqlite): opens and migrates the file, sets its pragmas, and composes the
// table modules (torrents.ts, swarm_snapshot.ts, users.ts, accounting.ts) behind one TrackerDb. Every write runs in
// its own transaction; lib/persist never prints and never touches the network.
//
// Durability: WAL with synchronous=NORMAL. A commit appends to the WAL through the OS page cache before returning,
// so a killed process (kill -9, crash) loses nothing committed; only an OS crash or power loss may drop the last
// commits before a checkpoint. FULL would fsync on every commit — one fsync per `completed` event on the announce
// hot path and per torrent in bulk registration — for a guarantee (power loss) the swarm snapshot lacks anyway.
// `open(path, { synchronous: "full" })` exists for operators who want it.

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { errorText } from "../errors.ts";
import { checkCount, PersistError, type SqlContext, wrapSqliteError } from "./_sql.ts";
import { type AccountingSnapshot, AccountingStore, type UserDelta } from "./accounting.ts";
import { MIGRATIONS } from "./migrations.ts";
import { type SwarmSnapshot, type SwarmSnapshotMeta, SwarmSnapshotStore } from "./swarm_snapshot.ts";
import {
  type CounterChange,
  type RegisterOutcome,
  type TorrentMeta,
  type TorrentRecord,
  TorrentTable,
} from "./torrents.ts";
import { type UserRecord, UserTable } from "./users.ts";

export { PersistError } from "./_sql.ts";
export type { AccountingSnapshot, UserDelta } from "./accounting.ts";
export { MIGRATIONS, SCHEMA_VERSION } from "./migrations.ts";
export type { SwarmSnapshot, SwarmSnapshotMeta } from "./swarm_snapshot.ts";
export {
  type CounterChange,
  PRUNE_SCAN_ROWS_PER_CALL,
  type RegisterOutcome,
  type TorrentMeta,
  type TorrentRecord,
  UNREGISTERED_TORRENT_IDLE_MS,
} from "./torrents.ts";
export { MAX_USER_NAME_CHARS, type UserRecord } from "./users.ts";

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
const APPLICATION_ID = 0x62746f6f; // "btoo"
/** How long a write waits for another process's write lock unless `busyTimeoutMs` says otherwise. */
const DEFAULT_BUSY_TIMEOUT_MS = 5_000;
/** The WAL is truncated to this after a checkpoint (a large swarm snapshot grows it far past). */
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

/** The tracker's persistent state. One instance per process; other processes may open the same file. */
export class TrackerDb {
  readonly #db: DatabaseSync;
  readonly #stmts = new Map<string, StatementSync>();
  readonly #migrations: readonly string[];
  readonly #torrents: TorrentTable;
  readonly #swarmSnapshot: SwarmSnapshotStore;
  readonly #users: UserTable;
  readonly #accounting: AccountingStore;

  private constructor(db: DatabaseSync, migrations: readonly string[]) {
    this.#db = db;
    this.#migrations = migrations;
    const sql: SqlContext = {
      stmt: (text) => this.#stmt(text),
      transaction: (fn) => this.#transaction(fn),
      getSetting: (key) => this.getSetting(key),
      setSettingInside: (key, value) => this.#setSetting(key, value),
    };
    this.#torrents = new TorrentTable(sql);
    this.#swarmSnapshot = new SwarmSnapshotStore(sql);
    this.#users = new UserTable(sql);
    this.#accounting = new AccountingStore(sql);
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
      // A large snapshot grows the WAL far past this; give the space back after each checkpoint (docs/PERFORMANCE.md).
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

  // --- torrents (torrents.ts) ---------------------------------------------------------------------------------

  /**
   * Register a torrent, or replace the metadata of a registered one (fields left out are cleared).
   * Idempotent: the same metadata again returns "unchanged" and writes nothing.
   * @returns "added" when it was not registered (even if seen in announces), "updated" when its metadata changed
   * @throws {PersistError} `invalid_info_hash`, `invalid_value`; every write may also throw `db_busy` (another
   * process held the write lock longer than busy_timeout) or `write_failed` (disk full, I/O error)
   */
  registerTorrent(meta: TorrentMeta, nowMs: number): RegisterOutcome {
    return this.#torrents.register(meta, nowMs);
  }

  /**
   * Register many torrents in one transaction (bulk registration, issue #6); same rules as `registerTorrent`.
   * Validates everything first: one invalid entry writes nothing.
   * @throws {PersistError} `invalid_info_hash`, `invalid_value`
   */
  registerTorrents(metas: readonly TorrentMeta[], nowMs: number): RegisterOutcome[] {
    return this.#torrents.registerMany(metas, nowMs);
  }

  /**
   * Mark a torrent unregistered. Its counters and metadata stay (it may still have a swarm).
   * @returns whether it was registered
   * @throws {PersistError} `invalid_info_hash`
   */
  unregisterTorrent(infoHashHex: string): boolean {
    return this.#torrents.unregister(infoHashHex);
  }

  /** The torrent's row, registered or only seen; null when unknown. @throws {PersistError} `invalid_info_hash` */
  getTorrent(infoHashHex: string): TorrentRecord | null {
    return this.#torrents.get(infoHashHex);
  }

  /** Every torrent row (registered or only seen; only registered ones with `registeredOnly`), by info hash. */
  listTorrents(options: { registeredOnly?: boolean } = {}): TorrentRecord[] {
    return this.#torrents.list(options);
  }

  /**
   * The info hashes (lowercase hex) of every torrent with a completed count above 0, read one row at a time (no list
   * of them all): what the tracker's CompletedFilter is filled from at start. Finish or abandon the loop before the
   * next call to this TrackerDb.
   */
  countedInfoHashes(): Iterable<string> {
    return this.#torrents.counted();
  }

  /**
   * Examine the next `maxRows` (PRUNE_SCAN_ROWS_PER_CALL) torrent rows in info-hash order, resuming where the last
   * call stopped and starting over at the end, and delete those of unregistered torrents not seen for `idleMs`
   * (UNREGISTERED_TORRENT_IDLE_MS) before `nowMs`: an open tracker gets a row for every info hash a stranger
   * announces (#19). Registered torrents are never pruned. Writes (one small transaction) only when a row is due.
   * @returns rows deleted
   */
  pruneIdleTorrents(nowMs: number, options: { idleMs?: number; maxRows?: number } = {}): number {
    return this.#torrents.pruneIdle(nowMs, options);
  }

  /**
   * Add `count` completed downloads to a torrent, creating its (unregistered) row when unseen.
   * @throws {PersistError} `invalid_info_hash`, `invalid_value`
   */
  addCompleted(infoHashHex: string, count: number, nowMs: number): void {
    this.#torrents.addCompleted(infoHashHex, count, nowMs);
  }

  /**
   * Record that these torrents were seen at `nowMs` (creates unseen rows; last seen never moves back).
   * @throws {PersistError} `invalid_info_hash` (nothing is written then)
   */
  touchTorrents(infoHashHexes: readonly string[], nowMs: number): void {
    this.#torrents.touch(infoHashHexes, nowMs);
  }

  /**
   * Call `listener` after each committed `addCompleted`/`touchTorrents` of this instance (the Registry uses it to
   * keep its cached counters live). Listeners must not throw. @returns a function that removes the listener
   */
  observeCounters(listener: (change: CounterChange) => void): () => void {
    return this.#torrents.observeCounters(listener);
  }

  // --- swarm snapshot (swarm_snapshot.ts over chunks.ts) ----------------------------------------------------

  /**
   * Start writing a new snapshot generation and return its number. One generation is written at a time: beginning
   * another abandons this one (its further writes throw `generation_abandoned`; its chunks become prunable).
   */
  beginSwarmSnapshot(): number {
    return this.#swarmSnapshot.begin();
  }

  /**
   * Store chunk `seq` of the generation being written (its own transaction; the bytes are copied).
   * @throws {PersistError} `generation_abandoned` (another generation was begun since), `db_busy`, `write_failed`
   */
  writeSwarmChunk(generation: number, seq: number, records: Uint8Array): void {
    this.#swarmSnapshot.write(generation, seq, records);
  }

  /**
   * Make `generation` the current snapshot in one small transaction. The previous generation's chunks stay until
   * `pruneSwarmChunks`. @throws {PersistError} `generation_abandoned`, `db_busy`, `write_failed`
   */
  commitSwarmSnapshot(generation: number, meta: SwarmSnapshotMeta): void {
    this.#swarmSnapshot.commit(generation, meta);
  }

  /**
   * Delete up to `maxChunks` chunks of generations that are neither current nor being written (the previous
   * snapshot after a commit, unfinished ones after a crash or an abandon). One small transaction.
   * @returns chunks deleted (fewer than `maxChunks`: nothing is left to prune)
   */
  pruneSwarmChunks(maxChunks: number = Number.MAX_SAFE_INTEGER): number {
    return this.#swarmSnapshot.prune(maxChunks);
  }

  /** The current swarm snapshot, or null when none was committed. */
  loadSwarmSnapshot(): SwarmSnapshot | null {
    return this.#swarmSnapshot.load();
  }

  // --- members (users.ts) and their accounting (accounting.ts) -----------------------------------------------

  /**
   * Add a member with `passkeyHex` (32 lowercase hex digits). A revoked user of the same name comes back with the
   * new passkey and its old totals.
   * @throws {PersistError} `invalid_user_name`, `invalid_passkey`, `user_exists` (an active user has that name)
   */
  addUser(name: string, passkeyHex: string, nowMs: number): UserRecord {
    return this.#users.add(name, passkeyHex, nowMs);
  }

  /** The user named `name` (active or revoked); null when unknown. */
  getUser(name: string): UserRecord | null {
    return this.#users.get(name);
  }

  /** Every user (revoked ones too unless `activeOnly`), by name. */
  listUsers(options: { activeOnly?: boolean } = {}): UserRecord[] {
    return this.#users.list(options);
  }

  /**
   * Revoke a user: its passkey stops working; its totals stay. @returns false when it was already revoked
   * @throws {PersistError} `unknown_user`
   */
  revokeUser(name: string, nowMs: number): boolean {
    return this.#users.revoke(name, nowMs);
  }

  /**
   * Give an active user a new passkey (the old one stops working).
   * @throws {PersistError} `unknown_user`, `user_revoked`, `invalid_passkey`
   */
  rotatePasskey(name: string, passkeyHex: string, nowMs: number): UserRecord {
    return this.#users.rotatePasskey(name, passkeyHex, nowMs);
  }

  /** Start writing a new accounting generation (beginning another abandons this one). */
  beginAccounting(): number {
    return this.#accounting.begin();
  }

  /**
   * Store chunk `seq` of the accounting generation being written (its own transaction; the bytes are copied).
   * @throws {PersistError} `generation_abandoned`, `db_busy`, `write_failed`
   */
  writeAccountingChunk(generation: number, seq: number, records: Uint8Array): void {
    this.#accounting.write(generation, seq, records);
  }

  /**
   * Add `deltas` to the users' totals and make `generation` current, in one transaction (a user that no longer
   * exists is skipped). Values are trusted (non-negative safe integers from the tracker's accounting).
   * @throws {PersistError} `generation_abandoned`, `db_busy`, `write_failed`
   */
  commitAccounting(generation: number, deltas: readonly UserDelta[], format: string): void {
    this.#accounting.commit(generation, { deltas, format });
  }

  /** Delete up to `maxChunks` chunks of accounting generations that are neither current nor being written. */
  pruneAccountingChunks(maxChunks: number = Number.MAX_SAFE_INTEGER): number {
    return this.#accounting.prune(maxChunks);
  }

  /** The current accounting generation, or null when none was committed. */
  loadAccounting(): AccountingSnapshot | null {
    return this.#accounting.load();
  }

  // --- the database itself ------------------------------------------------------------------------------------

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

  /** Write the WAL back into the database file without waiting for readers (keeps the WAL small). */
  checkpoint(): void {
    this.#db.exec("PRAGMA wal_checkpoint(PASSIVE)");
  }

  /** Close the database (checkpoints the WAL). Further calls on this instance throw. */
  close(): void {
    this.#stmts.clear();
    this.#torrents.clearListeners();
    if (this.#db.isOpen) this.#db.close();
  }
}
