// Member accounting in the db (issue #6): the last counters of every accounted (user, torrent, peer) as chunks of
// opaque records (chunks.ts), made current in the same transaction that adds the users' deltas, so after a crash
// totals and last counters agree. The record format is lib/tracker/users.ts's.

import type { SqlContext } from "./_sql.ts";
import { ChunkGenerations } from "./chunks.ts";

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
  chunkCount: number;
  /** The chunks in order, read one at a time (valid while the db is open and this generation is current). */
  chunks(): Iterable<Uint8Array>;
}

const ACCOUNTING_CHUNKS = { table: "accounting_chunks", generationKey: "accounting_generation", what: "accounting" };
const FORMAT_KEY = "accounting_format";

/** The accounting generations of one open TrackerDb. */
export class AccountingStore {
  readonly #sql: SqlContext;
  readonly #chunks: ChunkGenerations;

  constructor(sql: SqlContext) {
    this.#sql = sql;
    this.#chunks = new ChunkGenerations(sql, ACCOUNTING_CHUNKS);
  }

  /** See `TrackerDb.beginAccounting`. */
  begin(): number {
    return this.#chunks.begin();
  }

  /** See `TrackerDb.writeAccountingChunk`. */
  write(generation: number, seq: number, records: Uint8Array): void {
    this.#chunks.write(generation, seq, records);
  }

  /** See `TrackerDb.commitAccounting`. */
  commit(generation: number, deltas: readonly UserDelta[], format: string): void {
    this.#chunks.commit(generation, () => {
      const add = this.#sql.stmt("UPDATE users SET uploaded = uploaded + ?, downloaded = downloaded + ? WHERE id = ?");
      for (const d of deltas) add.run(d.uploaded, d.downloaded, d.userId);
      this.#sql.setSettingInside(FORMAT_KEY, format);
    });
  }

  /** See `TrackerDb.pruneAccountingChunks`. */
  prune(maxChunks: number): number {
    return this.#chunks.prune(maxChunks);
  }

  /** See `TrackerDb.loadAccounting`. */
  load(): AccountingSnapshot | null {
    const current = this.#chunks.load();
    if (current === null) return null;
    return {
      generation: current.generation,
      chunkCount: current.chunkCount,
      chunks: () => current.chunks(),
      format: this.#sql.getSetting(FORMAT_KEY) ?? "",
    };
  }
}
