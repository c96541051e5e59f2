// SnapshotScheduler over an in-memory db: a synchronous snapshot saves every peer and touches every live torrent; a
// background one gets there a step per turn and leaves the previous snapshot current until it commits; a second
// call joins the running one; close() resolves a running one with null and starts no more.

import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { toHex } from "../../../lib/bytes.ts";
import { TrackerDb } from "../../../lib/persist/db.ts";
import { SnapshotScheduler } from "../../../lib/tracker/snapshot_scheduler.ts";
import { filledStore, hashOf } from "./_swarms.ts";

const T0 = 1_700_000_000_000;

Deno.test("SnapshotScheduler.snapshot() saves every peer, touches each live torrent, calls onSaved", () => {
  const db = TrackerDb.open(":memory:");
  try {
    let saved = 0;
    const s = new SnapshotScheduler({ db, store: filledStore(30, 3, T0), now: () => T0 + 5, onSaved: () => saved++ });
    equal(s.snapshot(), 90);
    equal(saved, 1);
    const snap = db.loadSwarmSnapshot();
    equal(snap?.peers, 90);
    equal(db.getTorrent(toHex(hashOf(7)))?.lastSeenMs, T0 + 5);
    s.close();
  } finally {
    db.close();
  }
});

Deno.test("SnapshotScheduler.snapshotInBackground() commits after its steps; a second call joins it", async () => {
  const db = TrackerDb.open(":memory:");
  try {
    let backgroundDone = 0;
    const s = new SnapshotScheduler({
      db,
      store: filledStore(10, 2, T0),
      now: () => T0,
      onSavedInBackground: () => backgroundDone++,
    });
    const a = s.snapshotInBackground();
    const b = s.snapshotInBackground();
    equal(a, b);
    ok(s.isRunning);
    equal(db.loadSwarmSnapshot(), null, "nothing current before the commit step");
    equal(await a, 20);
    equal(backgroundDone, 1);
    equal(s.isRunning, false);
    equal(db.loadSwarmSnapshot()?.peers, 20);
    s.close();
  } finally {
    db.close();
  }
});

Deno.test("SnapshotScheduler: a synchronous snapshot supersedes a background one; close() stops the rest", async () => {
  const db = TrackerDb.open(":memory:");
  try {
    const s = new SnapshotScheduler({ db, store: filledStore(4, 1, T0), now: () => T0 });
    const running = s.snapshotInBackground();
    equal(s.snapshot(), 4);
    equal(await running, 4);
    const stopped = s.snapshotInBackground();
    s.close();
    equal(await stopped, null);
    deepEqual(await s.snapshotInBackground(), null);
  } finally {
    db.close();
  }
});
