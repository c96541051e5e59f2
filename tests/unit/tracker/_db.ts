// Test helper: run `fn` over a fresh in-memory TrackerDb, closed afterwards.
import { TrackerDb } from "../../../lib/persist/db.ts";

export function withDb(fn: (db: TrackerDb) => void): void {
  const db = TrackerDb.open(":memory:");
  try {
    fn(db);
  } finally {
    db.close();
  }
}
