import { TrackerDb } from "../../../lib/persist/db.ts";
import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { withTempDir } from "../../_helpers/tmp.ts";
import { chunksOf, FORMAT, makeChunks, saveSnapshot, withDb } from "./_fixtures.ts";

Deno.test("TrackerDb.commitSwarmSnapshot() replaces the snapshot and loadSwarmSnapshot() restores it", () => {
  withDb((db) => {
    equal(db.loadSwarmSnapshot(), null);
    const first = makeChunks(1, 3);
    saveSnapshot(db, first, { nowMs: 42, peers: 30 });
    const snap = db.loadSwarmSnapshot();
    equal(snap?.format, FORMAT);
    equal(snap?.peers, 30);
    equal(snap?.savedMs, 42);
    equal(snap?.chunkCount, 3);
    deepEqual(chunksOf(db), first);
    equal(db.getSetting("swarm_snapshot_ms"), "42");
    // The next one replaces it; the previous one's chunks go with the prune.
    const second = makeChunks(2, 1, 5);
    saveSnapshot(db, second, { nowMs: 43, peers: 1 });
    deepEqual(chunksOf(db), second);
    equal(db.pruneSwarmChunks(), 0);
    // An empty swarm saves an empty snapshot (not "none").
    saveSnapshot(db, [], { nowMs: 44, peers: 0 });
    equal(db.loadSwarmSnapshot()?.chunkCount, 0);
    equal(db.loadSwarmSnapshot()?.peers, 0);
    deepEqual(chunksOf(db), []);
  });
});

Deno.test("TrackerDb: a crash mid-snapshot leaves the previous one current; its leftovers are pruned", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/crash.db`;
    const first = TrackerDb.open(path);
    const old = makeChunks(1, 2);
    saveSnapshot(first, old, { nowMs: 1, peers: 2 });
    const gen = first.beginSwarmSnapshot();
    first.writeSwarmChunk(gen, 0, new Uint8Array(100));
    first.writeSwarmChunk(gen, 1, new Uint8Array(100));
    first.close(); // as if killed here: each chunk was its own committed transaction
    const again = TrackerDb.open(path);
    try {
      deepEqual(chunksOf(again), old);
      equal(again.getSetting("swarm_snapshot_ms"), "1");
      const next = again.beginSwarmSnapshot();
      ok(next > gen, "a new generation never reuses an unfinished one's number");
      equal(again.pruneSwarmChunks(), 2);
      again.writeSwarmChunk(next, 0, new Uint8Array(1).fill(9));
      again.commitSwarmSnapshot(next, { nowMs: 2, peers: 1, format: FORMAT });
      equal(again.pruneSwarmChunks(), 2, "the previous generation");
      deepEqual(chunksOf(again), [new Uint8Array(1).fill(9)]);
    } finally {
      again.close();
    }
    return Promise.resolve();
  });
});
