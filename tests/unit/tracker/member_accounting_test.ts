// Member accounting: positive deltas per (user, torrent, peer), restarts, chunked saves committed with the totals,
// the memory cap and expiry.

import { Accounting } from "../../../lib/tracker/member_accounting.ts";
import { Users } from "../../../lib/tracker/users.ts";
import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { withDb } from "../persist/_fixtures.ts";

const P1 = new Uint8Array(20).fill(1);
const P2 = new Uint8Array(20).fill(2);
const HASH = new Uint8Array(20).fill(0xab);

Deno.test("Accounting adds positive deltas per (user, torrent, peer); a decrease is a client restart", () => {
  withDb((db) => {
    const users = new Users(db);
    const u = users.add("alice", 0).id;
    const acc = new Accounting(db);
    acc.record(u, HASH, P1, { uploaded: 0, downloaded: 0, nowMs: 1 });
    acc.record(u, HASH, P1, { uploaded: 100, downloaded: 10, nowMs: 2 });
    acc.record(u, HASH, P1, { uploaded: 150, downloaded: 10, nowMs: 3 });
    acc.record(u, HASH, P2, { uploaded: 5, downloaded: 7, isStarted: true, nowMs: 3 }); // a new session: counted
    acc.record(u, HASH, new Uint8Array(20), { uploaded: 900, downloaded: 900, nowMs: 3 }); // unknown: a baseline
    acc.record(u, HASH, P1, { uploaded: 20, downloaded: 0, nowMs: 4 }); // restarted client: 20 more
    deepEqual(acc.pending(u), { uploaded: 175, downloaded: 17 });
    acc.flush();
    deepEqual(acc.pending(u), { uploaded: 0, downloaded: 0 });
    const row = users.get("alice")!;
    deepEqual([row.uploaded, row.downloaded], [175, 17]);
  });
});

Deno.test("Accounting resumes from the db after a restart: nothing counted twice", () => {
  withDb((db) => {
    const u = new Users(db).add("alice", 0).id;
    const first = new Accounting(db);
    first.record(u, HASH, P1, { uploaded: 0, downloaded: 0, isStarted: true, nowMs: 0 });
    first.record(u, HASH, P1, { uploaded: 1000, downloaded: 0, nowMs: 1 });
    first.flush();
    const second = new Accounting(db, { sinceMs: 0 });
    equal(second.size, 1);
    second.record(u, HASH, P1, { uploaded: 1500, downloaded: 0, nowMs: 2 });
    second.flush();
    equal(db.getUser("alice")!.uploaded, 1500);
  });
});

/** Peer id number `i` (distinct 20-byte ids). */
function peerNo(i: number): Uint8Array {
  const id = new Uint8Array(20);
  new DataView(id.buffer).setUint32(16, i);
  return id;
}

Deno.test("Accounting saves in chunks and commits the deltas with the counters: a crash before the commit counts nothing twice", () => {
  withDb((db) => {
    const users = new Users(db);
    const u = users.add("alice", 0).id;
    const v = users.add("bob", 0).id;
    const first = new Accounting(db);
    const everyone = (acc: Accounting, uploaded: number, nowMs: number, isStarted = false) => {
      for (let i = 0; i < 10; i++) {
        acc.record(i < 7 ? u : v, HASH, peerNo(i), { uploaded, downloaded: uploaded / 10, isStarted, nowMs });
      }
    };
    const total = () => db.getUser("alice")!.uploaded + db.getUser("bob")!.uploaded;
    everyone(first, 0, 1, true);
    everyone(first, 100, 2);
    equal(first.flush(), 10);
    equal(total(), 1000);
    equal(db.getUser("bob")!.downloaded, 30);
    // 50 more each, then a save that writes 4 of the 10 peers and stops there: the crash.
    everyone(first, 150, 3);
    ok(first.hasChanges);
    const save = first.beginSave();
    equal(save.step(4), false);
    ok(first.isSaving);
    equal(total(), 1000);
    deepEqual(first.pending(u), { uploaded: 350, downloaded: 35 });
    // A restarted tracker has the last committed counters (100 each): the 50s are counted once, when announced.
    const second = new Accounting(db, { sinceMs: 0 });
    equal(second.size, 10);
    everyone(second, 150, 4);
    second.flush();
    equal(total(), 1500);
    // Without a crash the steps finish: the commit adds exactly the written deltas.
    everyone(second, 160, 5);
    const steps = second.beginSave();
    let rounds = 1;
    while (!steps.step(3)) rounds++;
    equal(rounds, 4);
    equal(total(), 1600);
    deepEqual(second.pending(u), { uploaded: 0, downloaded: 0 });
    ok(!second.hasChanges);
    equal(second.flush(), 0);
    equal(new Accounting(db).size, 10);
  });
});

Deno.test("Accounting: changes during a save wait for the next one; an abandoned save loses nothing", () => {
  withDb((db) => {
    const u = new Users(db).add("alice", 0).id;
    const acc = new Accounting(db);
    for (let i = 0; i < 6; i++) {
      acc.record(u, HASH, peerNo(i), { uploaded: 10, downloaded: 0, isStarted: true, nowMs: 1 });
    }
    const save = acc.beginSave();
    equal(save.step(3), false);
    // Peer 0 was written by the first step, peer 5 was not yet: both announce 5 more mid-save.
    acc.record(u, HASH, peerNo(0), { uploaded: 15, downloaded: 0, nowMs: 2 });
    acc.record(u, HASH, peerNo(5), { uploaded: 15, downloaded: 0, nowMs: 2 });
    equal(save.step(3), true);
    // Committed: the 60 started + peer 5's 5 (its record was written after the change); peer 0's 5 waits.
    equal(db.getUser("alice")!.uploaded, 65);
    ok(acc.hasChanges);
    acc.flush();
    equal(db.getUser("alice")!.uploaded, 70);
    // A save begun while another runs abandons it: its written deltas move to the next.
    acc.record(u, HASH, peerNo(1), { uploaded: 30, downloaded: 0, nowMs: 3 });
    equal(acc.beginSave().step(2), false);
    const again = acc.beginSave();
    let rounds = 0;
    while (!again.step(2) && rounds++ < 10);
    equal(db.getUser("alice")!.uploaded, 90);
    equal(acc.flush(), 0);
    equal(acc.expire(100), 6);
  });
});

Deno.test("Accounting memory is capped; expire() forgets idle counters and the next save leaves them out", () => {
  withDb((db) => {
    const u = new Users(db).add("alice", 0).id;
    const acc = new Accounting(db, { maxPeers: 3 });
    for (let i = 0; i < 10; i++) {
      acc.record(u, HASH, new Uint8Array(20).fill(i), { uploaded: 1, downloaded: 0, isStarted: true, nowMs: i });
    }
    equal(acc.size, 3);
    deepEqual(acc.pending(u), { uploaded: 10, downloaded: 0 });
    acc.flush();
    // 3 remembered peers and 7 the capped table could not hold: every delta is written once.
    equal(db.getUser("alice")!.uploaded, 10);
    equal(acc.expire(100), 3);
    equal(acc.size, 0);
    acc.record(u, HASH, P2, { uploaded: 0, downloaded: 0, isStarted: true, nowMs: 200 });
    acc.flush();
    equal(new Accounting(db).size, 1);
  });
});
