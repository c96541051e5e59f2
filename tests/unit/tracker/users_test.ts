import { decodeBencode, isDict } from "../../../lib/bencode.ts";
import { parseMetainfo } from "../../../lib/metainfo.ts";
import { PersistError, TrackerDb } from "../../../lib/persist/db.ts";
import { isPasskeyHex } from "../../../lib/tracker/access.ts";
import { Accounting, memberAnnounceUrl, personalizeTorrent, Users } from "../../../lib/tracker/users.ts";
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

Deno.test("Accounting memory is capped; expire() forgets idle counters", () => {
  withDb((db) => {
    const u = new Users(db).add("alice", 0).id;
    const acc = new Accounting(db, { maxPeers: 3 });
    for (let i = 0; i < 10; i++) {
      acc.record(u, HASH, new Uint8Array(20).fill(i), { uploaded: 1, downloaded: 0, isStarted: true, nowMs: i });
    }
    equal(acc.size, 3);
    deepEqual(acc.pending(u), { uploaded: 10, downloaded: 0 });
    acc.flush();
    equal(acc.expire(100), 3);
    equal(acc.size, 0);
    equal(db.loadUserPeers(0).length, 0);
  });
});

Deno.test("memberAnnounceUrl() builds /announce?passkey= from a base or an announce URL", () => {
  const pk = "0".repeat(32);
  equal(memberAnnounceUrl("http://host:6969", pk), `http://host:6969/announce?passkey=${pk}`);
  equal(memberAnnounceUrl("http://host:6969/announce?x=1", pk), `http://host:6969/announce?passkey=${pk}`);
});

Deno.test("personalizeTorrent() sets the member's announce URL and keeps the info hash", () => {
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
  const before = parseMetainfo(bytes);
  const after = parseMetainfo(out);
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
