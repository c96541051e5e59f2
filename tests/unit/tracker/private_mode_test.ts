import { TrackerDb } from "../../../lib/persist/db.ts";
import { PrivateMode } from "../../../lib/tracker/private_mode.ts";
import { Registry } from "../../../lib/tracker/registry.ts";
import { Accounting, ACCOUNTING_CHUNK_ENTRIES } from "../../../lib/tracker/member_accounting.ts";
import { Users } from "../../../lib/tracker/users.ts";
import { equal, ok } from "../../_helpers/assert.ts";

const HASH = new Uint8Array(20).fill(0xcd);
/** Bound on how long the test waits for the background save (it needs a few event-loop turns). */
const WAIT_LIMIT_MS = 20_000;

Deno.test("PrivateMode's background save writes accounting a chunk per event-loop turn, then commits", async () => {
  const db = TrackerDb.open(":memory:");
  const warnings: string[] = [];
  const u = new Users(db).add("alice", 0).id;
  const pm = new PrivateMode({
    db,
    registry: new Registry(db),
    isPrivate: true,
    peerTimeoutS: 3600,
    now: () => 1_000,
    onWarning: (m) => warnings.push(m),
    pollIntervalMs: 0,
    flushIntervalMs: 5,
  });
  try {
    const peers = 2 * ACCOUNTING_CHUNK_ENTRIES + 500;
    for (let i = 0; i < peers; i++) {
      const id = new Uint8Array(20);
      new DataView(id.buffer).setUint32(0, i);
      pm.accounting.record(u, HASH, id, { uploaded: 3, downloaded: 1, isStarted: true, nowMs: 1_000 });
    }
    // Watch from timers: each observation is an event-loop turn. While the save runs, nothing is committed yet.
    let turnsWhileSaving = 0;
    const start = Date.now();
    while ((pm.accounting.hasChanges || pm.isFlushing) && Date.now() - start < WAIT_LIMIT_MS) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (pm.isFlushing) {
        turnsWhileSaving++;
        equal(db.getUser("alice")!.uploaded, 0);
      }
    }
    ok(!pm.isFlushing && !pm.accounting.hasChanges, "the save finished");
    // The loop got turns between chunks: the save did not write everything in one go.
    ok(turnsWhileSaving >= 2, `turns while saving: ${turnsWhileSaving}`);
    const row = db.getUser("alice")!;
    equal(row.uploaded, 3 * peers);
    equal(row.downloaded, peers);
    equal(new Accounting(db).size, peers);
    equal(warnings.length, 0);
  } finally {
    pm.close();
    db.close();
  }
});
