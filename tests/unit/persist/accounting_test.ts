import { PersistError } from "../../../lib/persist/db.ts";
import { assertThrowsCode, deepEqual, equal } from "../../_helpers/assert.ts";
import { withDb } from "./_fixtures.ts";

const KEY1 = "0123456789abcdef0123456789abcdef";
const KEY2 = "fedcba9876543210fedcba9876543210";

Deno.test("TrackerDb.commitAccounting() adds the deltas and makes the generation current in one step", () => {
  withDb((db) => {
    const alice = db.addUser("alice", KEY1, 1).id;
    const bob = db.addUser("bob", KEY2, 1).id;
    equal(db.loadAccounting(), null);
    const generation = db.beginAccounting();
    db.writeAccountingChunk(generation, 0, new Uint8Array([1, 2, 3]));
    db.commitAccounting(generation, [
      { userId: alice, uploaded: 100, downloaded: 5 },
      { userId: bob, uploaded: 0, downloaded: 7 },
      { userId: alice, uploaded: 1, downloaded: 0 },
      { userId: 999, uploaded: 50, downloaded: 50 }, // deleted meanwhile: skipped
    ], "records-v1");
    equal(db.getUser("alice")?.uploaded, 101);
    equal(db.getUser("alice")?.downloaded, 5);
    equal(db.getUser("bob")?.downloaded, 7);
    const saved = db.loadAccounting();
    equal(saved?.generation, generation);
    equal(saved?.format, "records-v1");
    equal(saved?.chunkCount, 1);
    deepEqual([...saved!.chunks()], [new Uint8Array([1, 2, 3])]);
  });
});

Deno.test("TrackerDb.commitAccounting() of an abandoned generation adds nothing", () => {
  withDb((db) => {
    const alice = db.addUser("alice", KEY1, 1).id;
    const stale = db.beginAccounting();
    db.beginAccounting();
    assertThrowsCode(
      () => db.commitAccounting(stale, [{ userId: alice, uploaded: 10, downloaded: 10 }], "records-v1"),
      PersistError,
      "generation_abandoned",
    );
    equal(db.getUser("alice")?.uploaded, 0, "totals move only with a committed generation");
    equal(db.loadAccounting(), null);
  });
});
