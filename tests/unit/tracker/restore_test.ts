// restoreSnapshot: peers come back with their addresses; past the store's caps it keeps what fits and warns; an
// unknown record format is skipped with a warning; stale peers stay out.

import { equal, match, ok } from "../../_helpers/assert.ts";
import { TrackerDb } from "../../../lib/persist/db.ts";
import { restoreSnapshot } from "../../../lib/tracker/restore.ts";
import { SnapshotScheduler } from "../../../lib/tracker/snapshot_scheduler.ts";
import { MemorySwarmStore } from "../../../lib/tracker/swarm_store.ts";
import { filledStore, hashOf } from "./_swarms.ts";

const T0 = 1_700_000_000_000;

function savedDb(swarms: number, peersEach: number): TrackerDb {
  const db = TrackerDb.open(":memory:");
  new SnapshotScheduler({ db, store: filledStore(swarms, peersEach, T0), now: () => T0 }).snapshot();
  return db;
}

Deno.test("restoreSnapshot() puts every saved peer back", () => {
  const db = savedDb(20, 4);
  try {
    const store = new MemorySwarmStore();
    equal(restoreSnapshot(db, store, { minLastSeenMs: T0 - 1 }), 80);
    equal(store.scrape(hashOf(3)).incomplete + store.scrape(hashOf(3)).complete, 4);
    equal(restoreSnapshot(db, new MemorySwarmStore(), { minLastSeenMs: T0 + 1_000 }), 0);
  } finally {
    db.close();
  }
});

Deno.test("restoreSnapshot() past the store's caps keeps what fits and warns", () => {
  const db = savedDb(20, 4);
  try {
    const warnings: string[] = [];
    const store = new MemorySwarmStore({ maxTorrents: 5 });
    const peers = restoreSnapshot(db, store, { minLastSeenMs: 0, onWarning: (m) => warnings.push(m) });
    equal(peers, 20);
    equal(store.totals().torrents, 5);
    ok(warnings.length === 1);
    match(warnings[0]!, /Tracker is full/);
  } finally {
    db.close();
  }
});

Deno.test("restoreSnapshot() skips an unknown record format with a warning", () => {
  const db = TrackerDb.open(":memory:");
  try {
    const generation = db.beginSwarmSnapshot();
    db.writeSwarmChunk(generation, 0, new Uint8Array(10));
    db.commitSwarmSnapshot(generation, { nowMs: T0, peers: 1, format: "someone-else-v9" });
    const warnings: string[] = [];
    equal(restoreSnapshot(db, new MemorySwarmStore(), { minLastSeenMs: 0, onWarning: (m) => warnings.push(m) }), 0);
    match(warnings[0]!, /unknown record format "someone-else-v9"/);
  } finally {
    db.close();
  }
  const empty = TrackerDb.open(":memory:");
  try {
    equal(restoreSnapshot(empty, new MemorySwarmStore(), { minLastSeenMs: 0 }), 0);
  } finally {
    empty.close();
  }
});
