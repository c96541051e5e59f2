// Members of a private tracker: add/list/revoke/rotate over the db, member announce URLs, a member's .torrent copy.

import { decodeBencode, isDict } from "../../../lib/bencode.ts";
import { parseMetainfo } from "../../../lib/metainfo.ts";
import { PersistError } from "../../../lib/persist/db.ts";
import { isPasskeyHex } from "../../../lib/tracker/access.ts";
import { memberAnnounceUrl, personalizeTorrent, Users } from "../../../lib/tracker/users.ts";
import { assertThrowsCode, deepEqual, equal, notEqual, ok } from "../../_helpers/assert.ts";
import { buildTorrent } from "../../_helpers/torrent.ts";
import { withDb } from "../persist/_fixtures.ts";

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
