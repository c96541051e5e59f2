import { MAX_USER_NAME_CHARS, PersistError } from "../../../lib/persist/db.ts";
import { assertThrowsCode, deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { withDb } from "./_fixtures.ts";

const KEY1 = "0123456789abcdef0123456789abcdef";
const KEY2 = "fedcba9876543210fedcba9876543210";

Deno.test("TrackerDb.addUser() stores a member; getUser() and listUsers() read it back", () => {
  withDb((db) => {
    const bob = db.addUser("bob", KEY1, 5);
    deepEqual(bob, {
      id: bob.id,
      name: "bob",
      passkeyHex: KEY1,
      createdMs: 5,
      revokedMs: null,
      rotatedMs: null,
      uploaded: 0,
      downloaded: 0,
    });
    db.addUser("alice@example.org", KEY2, 6);
    deepEqual(db.getUser("bob"), bob);
    equal(db.getUser("nobody"), null);
    deepEqual(db.listUsers().map((u) => u.name), ["alice@example.org", "bob"]);
    assertThrowsCode(() => db.addUser("bob", KEY2, 7), PersistError, "user_exists");
  });
});

Deno.test("TrackerDb.addUser() rejects bad names and passkeys, never echoing the passkey", () => {
  withDb((db) => {
    for (const name of ["", "-lead", "has space", "x".repeat(MAX_USER_NAME_CHARS + 1), "é"]) {
      assertThrowsCode(() => db.addUser(name, KEY1, 1), PersistError, "invalid_user_name");
    }
    db.addUser("x".repeat(MAX_USER_NAME_CHARS), KEY1, 1);
    for (const key of ["", KEY1.toUpperCase(), KEY1.slice(1), KEY1 + "0", "g".repeat(32)]) {
      try {
        db.addUser("carol", key, 1);
        ok(false, "accepted a bad passkey");
      } catch (err: unknown) {
        ok(err instanceof PersistError && err.code === "invalid_passkey");
        ok(key === "" || !err.message.includes(key), "the passkey is not in the message");
      }
    }
    equal(db.getUser("carol"), null);
  });
});

Deno.test("TrackerDb.revokeUser() keeps the row; adding the name again restores it with a new passkey", () => {
  withDb((db) => {
    const first = db.addUser("bob", KEY1, 1);
    const generation = db.beginAccounting();
    db.commitAccounting(generation, [{ userId: first.id, uploaded: 10, downloaded: 20 }], "f");
    equal(db.revokeUser("bob", 2), true);
    equal(db.revokeUser("bob", 3), false, "already revoked");
    equal(db.getUser("bob")?.revokedMs, 2);
    deepEqual(db.listUsers({ activeOnly: true }), []);
    assertThrowsCode(() => db.revokeUser("nobody", 4), PersistError, "unknown_user");
    assertThrowsCode(() => db.rotatePasskey("bob", KEY2, 4), PersistError, "user_revoked");
    const again = db.addUser("bob", KEY2, 5);
    equal(again.id, first.id);
    equal(again.passkeyHex, KEY2);
    equal(again.revokedMs, null);
    equal(again.rotatedMs, 5);
    equal(again.uploaded, 10);
    equal(again.downloaded, 20);
  });
});

Deno.test("TrackerDb.rotatePasskey() replaces an active user's passkey", () => {
  withDb((db) => {
    db.addUser("bob", KEY1, 1);
    const rotated = db.rotatePasskey("bob", KEY2, 9);
    equal(rotated.passkeyHex, KEY2);
    equal(rotated.rotatedMs, 9);
    assertThrowsCode(() => db.rotatePasskey("nobody", KEY2, 9), PersistError, "unknown_user");
    assertThrowsCode(() => db.rotatePasskey("bob", "short", 9), PersistError, "invalid_passkey");
    assertThrowsCode(() => db.addUser("eve", KEY2, 10), PersistError, "write_failed"); // passkeys are unique
  });
});
