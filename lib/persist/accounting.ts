// Member accounting in the db (issue #6): the last counters of every accounted (user, torrent, peer) as chunks of
// opaque records (chunks.ts), made current in the same transaction that adds the users' deltas, so after a crash
// totals and last counters agree. The record format is lib/tracker/member_accounting.ts's.

import type { SqlContext } from "./_sql.ts";
import { ChunkStore } from "./chunks.ts";

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

/** What a committed accounting generation writes beside its chunks. */
export interface AccountingMeta {
  deltas: readonly UserDelta[];
  format: string;
}

/** The accounting generations of one open TrackerDb (see `TrackerDb.beginAccounting` and the rest). */
export class AccountingStore extends ChunkStore<AccountingMeta, { format: string }> {
  constructor(sql: SqlContext) {
    super(sql, ACCOUNTING_CHUNKS);
  }

  protected commitInside(meta: AccountingMeta): void {
    const add = this.sql.stmt("UPDATE users SET uploaded = uploaded + ?, downloaded = downloaded + ? WHERE id = ?");
    for (const d of meta.deltas) add.run(d.uploaded, d.downloaded, d.userId);
    this.sql.setSettingInside(FORMAT_KEY, meta.format);
  }

  protected loadInside(): { format: string } {
    return { format: this.sql.getSetting(FORMAT_KEY) ?? "" };
  }
}
