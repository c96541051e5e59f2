// Per-member accounting of a private tracker (issue #6): restart-safe positive deltas of uploaded/downloaded per
// (user, torrent, peer) (INTEROP.md 11) over PeerCounters, saved to TrackerDb as chunked generations of binary records
// committed together with the totals they include. Time comes in as `nowMs`.

import type { TrackerDb, UserDelta } from "../persist/db.ts";
import { PeerCounters } from "./peer_counters.ts";

/**
 * Cap on (user, torrent, peer) counters kept in memory (~130 bytes each: ~32 MB at the cap, allocated as the table
 * grows); beyond it new peers are not remembered.
 */
export const MAX_ACCOUNTED_PEERS = 250_000;

/** Add to a user's totals in `map` (capped at MAX_SAFE_INTEGER). */
function addTotals(map: Map<number, PendingTotals>, userId: number, uploaded: number, downloaded: number): void {
  const t = map.get(userId);
  if (t === undefined) map.set(userId, { uploaded, downloaded });
  else {
    t.uploaded = Math.min(Number.MAX_SAFE_INTEGER, t.uploaded + uploaded);
    t.downloaded = Math.min(Number.MAX_SAFE_INTEGER, t.downloaded + downloaded);
  }
}

/** Per-user totals not yet in the db, as returned by `Accounting.pending`. */
export interface PendingTotals {
  uploaded: number;
  downloaded: number;
}

/** Bytes of one accounting record: user id, info hash, peer id, last uploaded, last downloaded, last seen. */
export const ACCOUNTING_RECORD_BYTES = 72;
/** The record format's name, stored with each generation (another format is not read). */
export const ACCOUNTING_RECORD_FORMAT = "btool-accounting-72-v1";
/** Records per chunk of a save (about 1 MiB). */
export const ACCOUNTING_CHUNK_ENTRIES = 14_000;

/** A save of the accounting in progress: call `step` (one chunk each) until it returns true (committed). */
export interface AccountingSave {
  /**
   * Write up to `maxEntries` records as one chunk; after the last one, commit the generation with the deltas
   * written. @returns true when committed
   * @throws {PersistError} the save is abandoned: nothing is lost, the next save writes everything again
   */
  step(maxEntries?: number): boolean;
}

/**
 * Per-user accounting. Clients report per-session counters that restart with the client (INTEROP.md 11): for each
 * (user, torrent, peer) the last values are kept and only positive deltas are added; a decrease means a restart,
 * so the new value itself is the delta. A peer seen for the first time counts its values only on `started` (a new
 * session); otherwise (the tracker restarted, or forgot it) they are its baseline: never counted twice.
 * A save writes every entry's last counters as a new generation of binary chunks (one per event-loop turn when run
 * in steps) and commits it in the same transaction that adds the deltas those counters include. After a crash the
 * previous generation and totals stand together: a peer's next announce is measured from its older counters, so
 * the unsaved deltas are counted then, once.
 * Invariants: each entry carries the deltas not yet handed to a save; `#loose` holds deltas of peers the capped
 * table could not hold; `#staged` the deltas of entries written by the running save; `#pending` is, per user, the
 * sum of all three. Entries are only removed (expire) when no save runs, so a save's cursor sees every entry.
 */
export class Accounting {
  readonly #db: TrackerDb;
  readonly #peers: PeerCounters;
  readonly #pending = new Map<number, PendingTotals>();
  readonly #loose = new Map<number, PendingTotals>();
  #staged = new Map<number, PendingTotals>();
  #save: { generation: number; cursor: number; seq: number } | null = null;

  /** Loads the last counters seen since `sinceMs` (the peer timeout) from the db. */
  constructor(db: TrackerDb, options: { sinceMs?: number; maxPeers?: number } = {}) {
    this.#db = db;
    this.#peers = new PeerCounters(options.maxPeers ?? MAX_ACCOUNTED_PEERS);
    const sinceMs = options.sinceMs ?? 0;
    const saved = db.loadAccounting();
    if (saved !== null && saved.format === ACCOUNTING_RECORD_FORMAT) {
      for (const chunk of saved.chunks()) {
        const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        for (let at = 0; at + ACCOUNTING_RECORD_BYTES <= chunk.length; at += ACCOUNTING_RECORD_BYTES) {
          const lastSeenMs = view.getFloat64(at + 64, true);
          if (lastSeenMs < sinceMs) continue;
          const ok = this.#restore(
            view.getFloat64(at, true),
            chunk.subarray(at + 8, at + 28),
            chunk.subarray(at + 28, at + 48),
            view.getFloat64(at + 48, true),
            view.getFloat64(at + 56, true),
            lastSeenMs,
          );
          if (!ok) return;
        }
      }
    }
  }

  /** Put back saved last counters; false when the table is full. */
  #restore(
    userId: number,
    infoHash: Uint8Array,
    peerId: Uint8Array,
    uploaded: number,
    downloaded: number,
    lastSeenMs: number,
  ): boolean {
    if (this.#peers.find(userId, infoHash, peerId) >= 0) return true;
    return this.#peers.insert(userId, infoHash, peerId, { uploaded, downloaded, lastSeenMs, isDirty: false }) >= 0;
  }

  /** (user, torrent, peer) counters in memory. */
  get size(): number {
    return this.#peers.size;
  }

  /** Count one announce of `userId`. Allocates nothing on a known peer; a save writes the db. */
  record(
    userId: number,
    infoHash: Uint8Array,
    peerId: Uint8Array,
    counters: { uploaded: number; downloaded: number; isStarted?: boolean; nowMs: number },
  ): void {
    const { uploaded, downloaded, nowMs } = counters;
    const peers = this.#peers;
    let e = peers.find(userId, infoHash, peerId);
    let dUp: number;
    let dDown: number;
    if (e < 0) {
      dUp = counters.isStarted === true ? uploaded : 0;
      dDown = counters.isStarted === true ? downloaded : 0;
      e = peers.insert(userId, infoHash, peerId, { uploaded, downloaded, lastSeenMs: nowMs, isDirty: true });
    } else {
      const lastUp = peers.uploadedAt(e);
      const lastDown = peers.downloadedAt(e);
      dUp = uploaded >= lastUp ? uploaded - lastUp : uploaded;
      dDown = downloaded >= lastDown ? downloaded - lastDown : downloaded;
      peers.update(e, uploaded, downloaded, nowMs);
    }
    if (dUp === 0 && dDown === 0) return;
    if (e >= 0) peers.addPending(e, dUp, dDown);
    else addTotals(this.#loose, userId, dUp, dDown);
    addTotals(this.#pending, userId, dUp, dDown);
  }

  /** Deltas of `userId` not yet saved. */
  pending(userId: number): PendingTotals {
    return { ...(this.#pending.get(userId) ?? { uploaded: 0, downloaded: 0 }) };
  }

  /** Something changed since the last save began (a counter, a new peer, or deltas). */
  get hasChanges(): boolean {
    return this.#peers.dirtyCount > 0 || this.#loose.size > 0;
  }

  /** A save is in progress. */
  get isSaving(): boolean {
    return this.#save !== null;
  }

  /**
   * Start a save of every entry (abandoning a running one, whose deltas go to the next). Drive it with `step`.
   * @throws {PersistError} `db_busy`, `write_failed`
   */
  beginSave(): AccountingSave {
    this.#abandon();
    const generation = this.#db.beginAccounting();
    this.#save = { generation, cursor: 0, seq: 0 };
    this.#peers.clearDirty();
    // Deltas of peers without an entry have no counters to wait for: they go with this generation.
    for (const [userId, t] of this.#loose) addTotals(this.#staged, userId, t.uploaded, t.downloaded);
    this.#loose.clear();
    const save = this.#save;
    return {
      step: (maxEntries = ACCOUNTING_CHUNK_ENTRIES) => {
        return this.#save === save ? this.#guardedStep(save, maxEntries) : true;
      },
    };
  }

  /** `#step`, abandoning the save when it throws (nothing is lost: the next save writes everything). */
  #guardedStep(save: { generation: number; cursor: number; seq: number }, maxEntries: number): boolean {
    try {
      return this.#step(save, maxEntries);
    } catch (err: unknown) {
      this.#abandon();
      throw err;
    }
  }

  #step(save: { generation: number; cursor: number; seq: number }, maxEntries: number): boolean {
    const p = this.#peers;
    const count = Math.min(p.size - save.cursor, maxEntries);
    if (count > 0) {
      const chunk = new Uint8Array(count * ACCOUNTING_RECORD_BYTES);
      const view = new DataView(chunk.buffer);
      const staged = new Map<number, PendingTotals>();
      for (let i = 0; i < count; i++) {
        const e = save.cursor + i;
        p.writeRecord(e, view, i * ACCOUNTING_RECORD_BYTES);
        const up = p.pendingUploadedAt(e);
        const down = p.pendingDownloadedAt(e);
        if (up !== 0 || down !== 0) addTotals(staged, p.userIdAt(e), up, down);
      }
      this.#db.writeAccountingChunk(save.generation, save.seq, chunk);
      // Written: these entries' deltas now wait for the commit.
      for (let i = 0; i < count; i++) p.zeroPending(save.cursor + i);
      for (const [userId, t] of staged) addTotals(this.#staged, userId, t.uploaded, t.downloaded);
      save.seq++;
      save.cursor += count;
      if (save.cursor < p.size) return false;
    }
    const deltas: UserDelta[] = [...this.#staged].map(([userId, t]) => ({ userId, ...t }));
    this.#db.commitAccounting(save.generation, deltas, ACCOUNTING_RECORD_FORMAT);
    for (const d of deltas) {
      const left = this.#pending.get(d.userId);
      if (left === undefined) continue;
      left.uploaded = Math.max(0, left.uploaded - d.uploaded);
      left.downloaded = Math.max(0, left.downloaded - d.downloaded);
      if (left.uploaded === 0 && left.downloaded === 0) this.#pending.delete(d.userId);
    }
    this.#staged = new Map();
    this.#save = null;
    this.#db.pruneAccountingChunks();
    return true;
  }

  /** Drop a running save: its written deltas wait for the next one (nothing is lost or counted twice). */
  #abandon(): void {
    if (this.#save === null) return;
    for (const [userId, t] of this.#staged) addTotals(this.#loose, userId, t.uploaded, t.downloaded);
    this.#staged = new Map();
    this.#save = null;
  }

  /**
   * Save now, synchronously: finish a running save, then save again if anything changed meanwhile.
   * @returns records written by the new save (0 when nothing changed)
   * @throws {PersistError} `db_busy`, `write_failed` (nothing is lost)
   */
  flush(): number {
    if (this.#save !== null) this.#guardedStep(this.#save, Number.POSITIVE_INFINITY);
    if (!this.hasChanges) return 0;
    const size = this.#peers.size;
    this.beginSave().step(Number.POSITIVE_INFINITY);
    return size;
  }

  /** Forget counters not seen since `beforeMs` (in memory; the next save leaves them out). Not while a save runs.
   * @returns entries dropped */
  expire(beforeMs: number): number {
    if (this.#save !== null) return 0;
    return this.#peers.expire(beforeMs);
  }
}
