import { TrackerDb } from "../../../lib/persist/db.ts";
import { ACCOUNTING_FLUSH_CHUNK_PEERS, PrivateMode } from "../../../lib/tracker/private_mode.ts";
import { Registry } from "../../../lib/tracker/registry.ts";
import { Users } from "../../../lib/tracker/users.ts";
import { equal, ok } from "../../_helpers/assert.ts";

const HASH = new Uint8Array(20).fill(0xcd);
/** Bound on how long the test waits for the background flush (it needs a few event-loop turns). */
const WAIT_LIMIT_MS = 10_000;

Deno.test("PrivateMode's background flush writes accounting a chunk per event-loop turn until done", async () => {
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
    const peers = 2 * ACCOUNTING_FLUSH_CHUNK_PEERS + 500;
    for (let i = 0; i < peers; i++) {
      const id = new Uint8Array(20);
      new DataView(id.buffer).setUint32(0, i);
      pm.accounting.record(u, HASH, id, { uploaded: 3, downloaded: 1, isStarted: true, nowMs: 1_000 });
    }
    // Watch the flush from timers: each observation is an event-loop turn between two flush steps.
    const seen: number[] = [];
    const start = Date.now();
    while ((pm.accounting.dirtyCount > 0 || pm.isFlushing) && Date.now() - start < WAIT_LIMIT_MS) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      seen.push(pm.accounting.dirtyCount);
    }
    equal(pm.accounting.dirtyCount, 0);
    // The loop got turns while rows were still unwritten: the flush did not write everything in one go.
    ok(seen.some((n) => n > 0 && n < peers), `partial progress observed: ${seen.slice(0, 8).join(", ")}`);
    const row = db.getUser("alice")!;
    equal(row.uploaded, 3 * peers);
    equal(row.downloaded, peers);
    equal(db.loadUserPeers(0).length, peers);
    equal(warnings.length, 0);
  } finally {
    pm.close();
    db.close();
  }
});
