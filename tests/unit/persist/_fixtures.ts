// Shared by the lib/persist unit tests: an in-memory db, sample info hashes and snapshot chunks.
import { TrackerDb } from "../../../lib/persist/db.ts";

export const H1 = "0123456789abcdef0123456789abcdef01234567";
export const H2 = "89abcdef0123456789abcdef0123456789abcdef";

export function withDb(fn: (db: TrackerDb) => void): void {
  const db = TrackerDb.open(":memory:");
  try {
    fn(db);
  } finally {
    db.close();
  }
}

export const FORMAT = "test-records-1";

/** `count` chunks of `bytes` bytes, each filled with a value naming the generation `tag` and its index. */
export function makeChunks(tag: number, count: number, bytes = 1000): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => new Uint8Array(bytes).fill((tag * 16 + i) & 0xff));
}

/** Save a whole snapshot the way the tracker does: begin, write the chunks in order, commit, prune. */
export function saveSnapshot(
  db: TrackerDb,
  chunks: Iterable<Uint8Array>,
  meta: { nowMs: number; peers: number },
): void {
  const generation = db.beginSwarmSnapshot();
  let seq = 0;
  for (const chunk of chunks) db.writeSwarmChunk(generation, seq++, chunk);
  db.commitSwarmSnapshot(generation, { ...meta, format: FORMAT });
  db.pruneSwarmChunks();
}

export function chunksOf(db: TrackerDb): Uint8Array[] {
  return [...(db.loadSwarmSnapshot()?.chunks() ?? [])];
}
