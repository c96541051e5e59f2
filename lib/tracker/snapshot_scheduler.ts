// Swarm snapshots (the persistence of live peers): records exported a chunk at a time (whole swarms, straight from the
// store's arena) into one reused buffer, each chunk its own small write, then one tiny transaction makes the new
// generation current (see TrackerDb.beginSwarmSnapshot). Then the live torrents' last-seen times, in info-hash order
// (a batch updates a few neighbouring pages of the torrents table, not a page per torrent). One snapshot at a time:
// the synchronous one supersedes a background one. Owns the periodic timer; stops it, and any run, on close().

import { errorText } from "../errors.ts";
import type { TrackerDb } from "../persist/db.ts";
import { HashList } from "./hash_list.ts";
import { SWARM_RECORD_BYTES, SWARM_RECORD_FORMAT, type SwarmExportCursor, type SwarmStore } from "./swarm_store.ts";

/** Default period of swarm snapshots (seconds). */
export const DEFAULT_SNAPSHOT_INTERVAL_S = 300;
/** Bytes of one swarm snapshot chunk (whole records, about 1 MiB): one SQLite write per event-loop turn. */
export const SNAPSHOT_CHUNK_BYTES = Math.floor(1_048_576 / SWARM_RECORD_BYTES) * SWARM_RECORD_BYTES;
/** Chunks of the previous snapshot deleted per event-loop turn after a background snapshot. */
export const SNAPSHOT_PRUNE_CHUNKS_PER_TURN = 2;
/** Torrents whose last-seen time a background snapshot updates per event-loop turn. */
export const SNAPSHOT_TOUCH_PER_TURN = 2_000;

/** What a snapshot needs of the db. */
export type SnapshotDb = Pick<
  TrackerDb,
  "beginSwarmSnapshot" | "writeSwarmChunk" | "commitSwarmSnapshot" | "pruneSwarmChunks" | "touchTorrents" | "checkpoint"
>;

/** Options of SnapshotScheduler. */
export interface SnapshotSchedulerOptions {
  db: SnapshotDb;
  store: SwarmStore;
  now: () => number;
  /** Period in seconds; 0 (or absent) starts no timer. */
  intervalS?: number;
  /** After a synchronous snapshot, before it returns (the tracker saves accounting at once). */
  onSaved?: () => void;
  /** After a background snapshot completed (the tracker saves accounting a chunk per turn too). */
  onSavedInBackground?: () => void;
  /** A periodic snapshot failed. */
  onWarning?: (message: string) => void;
}

interface BackgroundSnapshot {
  timer: ReturnType<typeof setTimeout> | undefined;
  promise: Promise<number | null>;
  finish(count: number | null): void;
}

/** The swarm snapshots of one tracker: on demand, in the background, and periodically. */
export class SnapshotScheduler {
  readonly #db: SnapshotDb;
  readonly #store: SwarmStore;
  readonly #now: () => number;
  readonly #onSaved: () => void;
  readonly #onSavedInBackground: () => void;
  #chunkBuffer: Uint8Array | null = null;
  #background: BackgroundSnapshot | null = null;
  /** close() was called: no new background snapshot starts (its timers would outlive the tracker). */
  #isClosed = false;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: SnapshotSchedulerOptions) {
    this.#db = options.db;
    this.#store = options.store;
    this.#now = options.now;
    this.#onSaved = options.onSaved ?? (() => {});
    this.#onSavedInBackground = options.onSavedInBackground ?? (() => {});
    const onWarning = options.onWarning ?? (() => {});
    const intervalS = options.intervalS ?? 0;
    if (intervalS > 0) {
      this.#timer = setInterval(() => {
        // A tick while the previous snapshot still runs is skipped.
        if (this.#background !== null) return;
        this.snapshotInBackground().catch((err: unknown) =>
          onWarning(`Cannot save the swarm snapshot: ${errorText(err)}`)
        );
      }, intervalS * 1000);
    }
  }

  /** A background snapshot is running. */
  get isRunning(): boolean {
    return this.#background !== null;
  }

  #buffer(): Uint8Array {
    return this.#chunkBuffer ??= new Uint8Array(SNAPSHOT_CHUNK_BYTES);
  }

  /**
   * Save the swarm snapshot (and last-seen times) synchronously, in one go (for /save_state and shutdown); a
   * background snapshot still running is superseded (its promise resolves with this count).
   * @returns the number of peers saved
   */
  snapshot(): number {
    const db = this.#db;
    const store = this.#store;
    const run = this.#background;
    this.#background = null;
    if (run !== null) clearTimeout(run.timer);
    try {
      const nowMs = this.#now();
      const out = this.#buffer();
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
      // Batches bound the transient hex strings.
      const batch = SNAPSHOT_TOUCH_PER_TURN * 10;
      for (let from = 0; from < live.count; from += batch) {
        db.touchTorrents(live.hexes(order, from, Math.min(live.count, from + batch)), nowMs);
      }
      this.#onSaved();
      run?.finish(cursor.records);
      return cursor.records;
    } catch (err: unknown) {
      run?.finish(null);
      throw err;
    }
  }

  /**
   * Save the swarm snapshot a chunk per event-loop turn (what the periodic timer does), so that announces are
   * answered meanwhile; the previous snapshot stays current until this one is complete. While one runs, a second
   * call returns the running one's promise.
   * @returns the number of peers saved, or null when close() stopped it first (or had been called)
   */
  snapshotInBackground(): Promise<number | null> {
    if (this.#background !== null) return this.#background.promise;
    if (this.#isClosed) return Promise.resolve(null);
    const db = this.#db;
    const store = this.#store;
    const { promise, resolve, reject } = Promise.withResolvers<number | null>();
    const nowMs = this.#now();
    const out = this.#buffer();
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
      if (this.#background !== run) return;
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
          this.#background = null;
          this.#onSavedInBackground();
          resolve(cursor.records);
          return;
        }
        // Keep the WAL small: each turn copies back what it wrote rather than an autocheckpoint copying several
        // chunks on some later commit (maybe an announce's).
        db.checkpoint();
        run.timer = setTimeout(step, 0);
      } catch (err: unknown) {
        this.#background = null;
        reject(err);
      }
    };
    this.#background = run;
    run.timer = setTimeout(step, 0);
    return promise;
  }

  /** Stop the timer and a running background snapshot (its chunks are pruned later; its promise resolves with null). */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#isClosed = true;
    const run = this.#background;
    if (run === null) return;
    this.#background = null;
    clearTimeout(run.timer);
    run.finish(null);
  }
}
