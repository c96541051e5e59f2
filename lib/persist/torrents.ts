// The torrents table: registered torrents (metadata) and torrents merely seen in announces (completed count, first
// and last seen), and the prune that keeps an open tracker's unregistered rows from growing forever (#19).
// Every write is its own transaction; committed counter changes are reported to listeners.

import { checkCount, normalizeHex, PersistError, returningArrays, type SqlContext } from "./_sql.ts";

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

/** What registering one torrent did. */
export type RegisterOutcome = "added" | "updated" | "unchanged";

/** A committed change to a torrent's counters, reported to `TrackerDb.observeCounters` listeners. */
export type CounterChange =
  | { type: "completed"; infoHashHex: string; count: number; nowMs: number }
  | { type: "seen"; infoHashHexes: readonly string[]; nowMs: number };

/** Unregistered torrents not seen for this long lose their row (and completed count) to `pruneIdle`. */
export const UNREGISTERED_TORRENT_IDLE_MS = 24 * 60 * 60 * 1000;
/** Rows one `pruneIdle` call examines (and so deletes) at most, so a huge table never stalls the event loop. */
export const PRUNE_SCAN_ROWS_PER_CALL = 2_000;

const TORRENT_COLUMNS =
  "info_hash, is_registered, name, size, piece_length, comment, created_by, extra, first_seen_ms, last_seen_ms, completed";

/** The metadata columns of a torrent row, validated. */
interface MetaColumns {
  name: string | null;
  size: number | null;
  pieceLength: number | null;
  comment: string | null;
  createdBy: string | null;
  extra: string | null;
}

/** The torrents table of one open TrackerDb. */
export class TorrentTable {
  readonly #sql: SqlContext;
  readonly #counterListeners = new Set<(change: CounterChange) => void>();
  /** The last info hash `pruneIdle` examined; "" starts a new pass. */
  #pruneCursor = "";

  constructor(sql: SqlContext) {
    this.#sql = sql;
  }

  /** See `TrackerDb.registerTorrent`. */
  register(meta: TorrentMeta, nowMs: number): RegisterOutcome {
    const infoHashHex = normalizeHex(meta.infoHashHex, "info hash");
    const cols = metaColumns(meta);
    return this.#sql.transaction(() => this.#registerOne(infoHashHex, cols, nowMs));
  }

  /** See `TrackerDb.registerTorrents`. */
  registerMany(metas: readonly TorrentMeta[], nowMs: number): RegisterOutcome[] {
    const checked = metas.map((m) => [normalizeHex(m.infoHashHex, "info hash"), metaColumns(m)] as const);
    return this.#sql.transaction(() => checked.map(([hex, cols]) => this.#registerOne(hex, cols, nowMs)));
  }

  #registerOne(infoHashHex: string, cols: MetaColumns, nowMs: number): RegisterOutcome {
    const row = this.#sql.stmt(
      "SELECT is_registered, name, size, piece_length, comment, created_by, extra FROM torrents WHERE info_hash = ?",
    ).get(infoHashHex);
    const args = [cols.name, cols.size, cols.pieceLength, cols.comment, cols.createdBy, cols.extra] as const;
    if (row === undefined) {
      this.#sql.stmt(
        `INSERT INTO torrents (info_hash, is_registered, name, size, piece_length, comment, created_by, extra,
           registered_ms, first_seen_ms, last_seen_ms, completed) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
      ).run(infoHashHex, ...args, nowMs, nowMs, nowMs);
      return "added";
    }
    const isSame = row.is_registered === 1 && row.name === cols.name && row.size === cols.size &&
      row.piece_length === cols.pieceLength && row.comment === cols.comment && row.created_by === cols.createdBy &&
      row.extra === cols.extra;
    if (isSame) return "unchanged";
    this.#sql.stmt(
      `UPDATE torrents SET name = ?, size = ?, piece_length = ?, comment = ?, created_by = ?, extra = ?,
         registered_ms = CASE WHEN is_registered = 1 THEN registered_ms ELSE ? END, is_registered = 1
       WHERE info_hash = ?`,
    ).run(...args, nowMs, infoHashHex);
    return row.is_registered === 1 ? "updated" : "added";
  }

  /** See `TrackerDb.unregisterTorrent`. */
  unregister(infoHashHex: string): boolean {
    const hex = normalizeHex(infoHashHex, "info hash");
    return this.#sql.transaction(() =>
      this.#sql.stmt("UPDATE torrents SET is_registered = 0 WHERE info_hash = ? AND is_registered = 1").run(hex)
        .changes === 1
    );
  }

  /** See `TrackerDb.getTorrent`. */
  get(infoHashHex: string): TorrentRecord | null {
    const hex = normalizeHex(infoHashHex, "info hash");
    const stmt = this.#sql.stmt(`SELECT ${TORRENT_COLUMNS} FROM torrents WHERE info_hash = ?`);
    const row = returningArrays(stmt).get(hex) as unknown as unknown[] | undefined;
    return row === undefined ? null : arrayToRecord(row);
  }

  /** See `TrackerDb.listTorrents`. */
  list(options: { registeredOnly?: boolean } = {}): TorrentRecord[] {
    const where = options.registeredOnly === true ? " WHERE is_registered = 1" : "";
    const stmt = this.#sql.stmt(`SELECT ${TORRENT_COLUMNS} FROM torrents${where} ORDER BY info_hash`);
    return (returningArrays(stmt).all() as unknown as unknown[][]).map(arrayToRecord);
  }

  /** See `TrackerDb.countedInfoHashes`. */
  *counted(): Generator<string> {
    const stmt = returningArrays(this.#sql.stmt("SELECT info_hash FROM torrents WHERE completed > 0"));
    for (const row of stmt.iterate() as Iterable<unknown[]>) yield row[0] as string;
  }

  /** See `TrackerDb.pruneIdleTorrents`. */
  pruneIdle(nowMs: number, options: { idleMs?: number; maxRows?: number } = {}): number {
    const lastSeenBeforeMs = nowMs - (options.idleMs ?? UNREGISTERED_TORRENT_IDLE_MS);
    const maxRows = options.maxRows ?? PRUNE_SCAN_ROWS_PER_CALL;
    const from = this.#pruneCursor;
    // A window of rows in key order after the cursor: a sequential read with no lock and no index, so the hot
    // writes (touch, addCompleted) pay nothing for the prune. Only a window holding idle rows takes the write lock.
    const window = this.#sql.stmt(
      `SELECT max(info_hash) AS last, count(*) AS examined, sum(is_registered = 0 AND last_seen_ms < ?) AS due
       FROM (SELECT info_hash, is_registered, last_seen_ms FROM torrents WHERE info_hash > ? ORDER BY info_hash
             LIMIT ?)`,
    ).get(lastSeenBeforeMs, from, maxRows);
    const last = (window?.last ?? null) as string | null;
    const examined = (window?.examined ?? 0) as number;
    // A short window reached the end of the table: the next call starts a new pass.
    this.#pruneCursor = examined < maxRows || last === null ? "" : last;
    if (last === null || !((window?.due as number | null) ?? 0)) return 0;
    return this.#sql.transaction(() =>
      this.#sql.stmt(
        "DELETE FROM torrents WHERE info_hash > ? AND info_hash <= ? AND is_registered = 0 AND last_seen_ms < ?",
      ).run(from, last, lastSeenBeforeMs).changes as number
    );
  }

  /** See `TrackerDb.addCompleted`. */
  addCompleted(infoHashHex: string, count: number, nowMs: number): void {
    const hex = normalizeHex(infoHashHex, "info hash");
    checkCount(count, "completed count");
    this.#sql.transaction(() => {
      this.#sql.stmt(
        `INSERT INTO torrents (info_hash, first_seen_ms, last_seen_ms, completed) VALUES (?, ?, ?, ?)
         ON CONFLICT (info_hash) DO UPDATE SET completed = completed + excluded.completed,
           last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)`,
      ).run(hex, nowMs, nowMs, count);
    });
    this.#emit({ type: "completed", infoHashHex: hex, count, nowMs });
  }

  /** See `TrackerDb.touchTorrents`. */
  touch(infoHashHexes: readonly string[], nowMs: number): void {
    const hexes = infoHashHexes.map((h) => normalizeHex(h, "info hash"));
    if (hexes.length === 0) return;
    // One statement for the whole list (SQLite loops over a JSON array) rather than one per row: the swarm
    // snapshot touches every live torrent (docs/PERFORMANCE.md).
    this.#sql.transaction(() => {
      this.#sql.stmt(
        `INSERT INTO torrents (info_hash, first_seen_ms, last_seen_ms) SELECT value, ?2, ?2 FROM json_each(?1) WHERE true
         ON CONFLICT (info_hash) DO UPDATE SET last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)`,
      ).run(JSON.stringify(hexes), nowMs);
    });
    this.#emit({ type: "seen", infoHashHexes: hexes, nowMs });
  }

  /** See `TrackerDb.observeCounters`. */
  observeCounters(listener: (change: CounterChange) => void): () => void {
    this.#counterListeners.add(listener);
    return () => this.#counterListeners.delete(listener);
  }

  /** Forget every listener (the db is closing). */
  clearListeners(): void {
    this.#counterListeners.clear();
  }

  #emit(change: CounterChange): void {
    for (const listener of this.#counterListeners) listener(change);
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

/** @throws {PersistError} `invalid_value` */
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

/** A torrent row read as an array in TORRENT_COLUMNS order. */
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
