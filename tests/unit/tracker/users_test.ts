import { decodeBencode, isDict } from "../../../lib/bencode.ts";
import { parseMetainfo } from "../../../lib/metainfo.ts";
import { PersistError, TrackerDb } from "../../../lib/persist/db.ts";
import { isPasskeyHex } from "../../../lib/tracker/access.ts";
import {
  Accounting,
  ACCOUNTING_RECORD_BYTES,
  memberAnnounceUrl,
  PeerCounters,
  personalizeTorrent,
  Users,
} from "../../../lib/tracker/users.ts";
import { toHex } from "../../../lib/bytes.ts";
import { randomBytes, seededRandom } from "../../_helpers/random.ts";
import { assertThrowsCode, deepEqual, equal, notEqual, ok } from "../../_helpers/assert.ts";
import { buildTorrent } from "../../_helpers/torrent.ts";

const P1 = new Uint8Array(20).fill(1);
const P2 = new Uint8Array(20).fill(2);
const HASH = new Uint8Array(20).fill(0xab);

function withDb(fn: (db: TrackerDb) => void): void {
  const db = TrackerDb.open(":memory:");
  try {
    fn(db);
  } finally {
    db.close();
  }
}

Deno.test("Users: add, list, revoke, rotate, re-add; activeAccessUsers follows", () => {
  withDb((db) => {
    const users = new Users(db);
    const alice = users.add("alice", 1);
    ok(isPasskeyHex(alice.passkeyHex));
    users.add("bob", 2);
    assertThrowsCode(() => users.add("alice", 3), PersistError, "user_exists");
    assertThrowsCode(() => users.add("bad name", 3), PersistError, "invalid_user_name");
    deepEqual(users.list().map((u) => u.name), ["alice", "bob"]);
    const rotated = users.rotate("alice", 4);
    notEqual(rotated.passkeyHex, alice.passkeyHex);
    equal(rotated.rotatedMs, 4);
    equal(users.revoke("bob", 5), true);
    equal(users.revoke("bob", 6), false);
    assertThrowsCode(() => users.revoke("carol", 6), PersistError, "unknown_user");
    assertThrowsCode(() => users.rotate("bob", 6), PersistError, "user_revoked");
    deepEqual(users.activeAccessUsers(), [{ id: alice.id, name: "alice", passkeyHex: rotated.passkeyHex }]);
    const back = users.add("bob", 7);
    equal(back.revokedMs, null);
    equal(users.activeAccessUsers().length, 2);
  });
});

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

/** `user:infoHashHex:peerIdHex` of entry `e`, read back through its accounting record. */
function entryKey(table: PeerCounters, e: number): string {
  const record = new Uint8Array(ACCOUNTING_RECORD_BYTES);
  table.writeRecord(e, new DataView(record.buffer), 0);
  return `${table.userIdAt(e)}:${toHex(record.subarray(8, 28))}:${toHex(record.subarray(28, 48))}`;
}

interface ModelEntry {
  e: number;
  uploaded: number;
  downloaded: number;
  lastSeenMs: number;
  isDirty: boolean;
}

/** Random operations on PeerCounters and on a naive Map; both must agree after every step. */
function compareWithModel(seed: number, options: { maxEntries: number; hashMask?: number; steps: number }) {
  const random = seededRandom(seed);
  // Keys are views at odd offsets into one buffer: the table must not assume aligned bytes.
  const buffer = randomBytes(random, 41 * 40 + 1);
  const hashes = Array.from({ length: 4 }, (_, i) => buffer.subarray(1 + i * 20, 21 + i * 20));
  const peers = Array.from({ length: 30 }, (_, i) => buffer.subarray(81 + i * 20, 101 + i * 20));
  hashes.push(new Uint8Array(20)); // all-zero key
  const userIds = [1, 2, 3, 2 ** 33 + 1];
  const table = new PeerCounters(
    options.maxEntries,
    options.hashMask === undefined ? {} : { hashMask: options.hashMask },
  );
  const model = new Map<string, ModelEntry>();
  const keyOf = (u: number, ih: Uint8Array, pid: Uint8Array) => `${u}:${toHex(ih)}:${toHex(pid)}`;
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
  for (let step = 0; step < options.steps; step++) {
    const r = random();
    const nowMs = step;
    if (r < 0.8) {
      const u = pick(userIds);
      const ih = pick(hashes);
      const pid = pick(peers);
      const key = keyOf(u, ih, pid);
      const m = model.get(key);
      const e = table.find(u, ih, pid);
      const up = Math.floor(random() * 2 ** 40);
      const down = Math.floor(random() * 1000);
      if (m === undefined) {
        equal(e, -1, `seed ${seed} step ${step}: found a key never inserted`);
        const isDirty = random() < 0.5;
        const added = table.insert(u, ih, pid, { uploaded: up, downloaded: down, lastSeenMs: nowMs, isDirty });
        if (model.size >= options.maxEntries) equal(added, -1, `seed ${seed} step ${step}: past the cap`);
        else {
          ok(added >= 0, `seed ${seed} step ${step}: insert refused below the cap`);
          model.set(key, { e: added, uploaded: up, downloaded: down, lastSeenMs: nowMs, isDirty });
        }
      } else {
        ok(e >= 0, `seed ${seed} step ${step}: lost a key`);
        equal(table.uploadedAt(e), m.uploaded, `seed ${seed} step ${step}`);
        equal(table.downloadedAt(e), m.downloaded, `seed ${seed} step ${step}`);
        equal(table.lastSeenMsAt(e), m.lastSeenMs, `seed ${seed} step ${step}`);
        equal(table.userIdAt(e), u, `seed ${seed} step ${step}`);
        table.update(e, up, down, nowMs);
        Object.assign(m, { uploaded: up, downloaded: down, lastSeenMs: nowMs, isDirty: true });
      }
    } else if (r < 0.9) {
      const before = nowMs - Math.floor(random() * 200);
      let n = 0;
      for (const [k, m] of model) {
        if (m.lastSeenMs < before && !m.isDirty) {
          model.delete(k);
          n++;
        }
      }
      equal(table.expire(before), n, `seed ${seed} step ${step}: expired count`);
    } else if (r < 0.95) {
      table.clearDirty();
      for (const m of model.values()) m.isDirty = false;
    } else {
      equal(table.size, model.size, `seed ${seed} step ${step}: size`);
      const dirty = [...table.dirtyEntries()].map((e) => entryKey(table, e)).sort();
      deepEqual(dirty, [...model].filter(([, m]) => m.isDirty).map(([k]) => k).sort(), `seed ${seed} step ${step}`);
    }
  }
  equal(table.size, model.size, `seed ${seed}: final size`);
  ok(table.size <= options.maxEntries);
}

Deno.test("PeerCounters agrees with a naive Map over seeded random inserts, updates, expiries and flushes", () => {
  for (let seed = 1; seed <= 8; seed++) {
    compareWithModel(seed, { maxEntries: seed % 2 === 0 ? 40 : 10_000, steps: 2_000 });
  }
});

Deno.test("PeerCounters stays correct when every key collides (probe runs, backward-shift deletion)", () => {
  for (let seed = 100; seed < 110; seed++) {
    compareWithModel(seed, { maxEntries: 200, hashMask: 3, steps: 2_000 });
  }
});

Deno.test("PeerCounters grows past its first size and never holds more than its cap", () => {
  const table = new PeerCounters(3_000);
  const ih = new Uint8Array(20).fill(9);
  const pid = new Uint8Array(20);
  for (let i = 0; i < 5_000; i++) {
    new DataView(pid.buffer).setUint32(0, i);
    equal(table.find(1, ih, pid), -1);
    const e = table.insert(1, ih, pid, { uploaded: i, downloaded: 0, lastSeenMs: i, isDirty: false });
    equal(e >= 0, i < 3_000);
  }
  equal(table.size, 3_000);
  for (let i = 0; i < 5_000; i++) {
    new DataView(pid.buffer).setUint32(0, i);
    const e = table.find(1, ih, pid);
    equal(e >= 0 ? table.uploadedAt(e) : -1, i < 3_000 ? i : -1);
  }
  equal(table.expire(1_000), 1_000);
  equal(table.size, 2_000);
});

Deno.test("memberAnnounceUrl() builds /announce?passkey= from a base or an announce URL", () => {
  const pk = "0".repeat(32);
  equal(memberAnnounceUrl("http://host:6969", pk), `http://host:6969/announce?passkey=${pk}`);
  equal(memberAnnounceUrl("http://host:6969/announce?x=1", pk), `http://host:6969/announce?passkey=${pk}`);
});

Deno.test("personalizeTorrent() sets the member's announce URL and keeps the info hash", async () => {
  const { bytes } = buildTorrent({
    data: new Uint8Array(40_000).fill(3),
    info: { private: 1, "zz-unsorted-extra": 1 },
    top: {
      "announce-list": [["http://127.0.0.1:6969/announce"], ["http://other.example/announce"]],
      comment: "c",
    },
  });
  const url = `http://127.0.0.1:6969/announce?passkey=${"1".repeat(32)}`;
  const out = personalizeTorrent(bytes, url);
  const before = await parseMetainfo(bytes);
  const after = await parseMetainfo(out);
  equal(after.infoHash.hex, before.infoHash.hex);
  equal(after.announce, url);
  deepEqual(after.announceList, [[url], ["http://other.example/announce"]]);
  equal(after.comment, "c");
  const top = decodeBencode(out);
  ok(isDict(top));
  deepEqual(
    [...top.keys()],
    ["announce", "announce-list", "comment", "info"],
  );
});
