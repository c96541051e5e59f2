// The schema's migration list (lib/persist/migrations.ts) as TrackerDb.open applies it.
import { DatabaseSync } from "node:sqlite";
import { MIGRATIONS, PersistError, TrackerDb } from "../../../lib/persist/db.ts";
import { assertThrowsCode, deepEqual, equal } from "../../_helpers/assert.ts";
import { withTempDir } from "../../_helpers/tmp.ts";
import { H1 } from "./_fixtures.ts";

Deno.test("TrackerDb.open() upgrades an older schema in place, keeping its data (the issue #6 path)", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/upgrade.db`;
    const v1Migrations = MIGRATIONS.slice(0, 1);
    const v1 = TrackerDb.open(path, { migrations: v1Migrations });
    v1.registerTorrent({ infoHashHex: H1, name: "old" }, 1);
    v1.addCompleted(H1, 4, 2);
    v1.close();
    const v2 = TrackerDb.open(path);
    try {
      equal(v2.getTorrent(H1)?.name, "old");
      equal(v2.getTorrent(H1)?.completed, 4);
      deepEqual(v2.listUsers(), []);
    } finally {
      v2.close();
    }
    const raw = new DatabaseSync(path);
    deepEqual({ ...raw.prepare("PRAGMA user_version").get() }, { user_version: MIGRATIONS.length });
    equal(raw.prepare("SELECT count(*) AS n FROM users").get()?.n, 0);
    raw.close();
    // Reopening is a no-op; the older build refuses the newer file rather than corrupting it.
    TrackerDb.open(path).close();
    assertThrowsCode(() => TrackerDb.open(path, { migrations: v1Migrations }), PersistError, "schema_too_new");
    return Promise.resolve();
  });
});

Deno.test("TrackerDb.open() rolls back a failing migration and leaves the file at its old version", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/failing.db`;
    TrackerDb.open(path).close();
    assertThrowsCode(
      () => TrackerDb.open(path, { migrations: [...MIGRATIONS, "CREATE TABLE x (a); SELECT nope FROM nowhere"] }),
      PersistError,
      "write_failed",
    );
    const raw = new DatabaseSync(path);
    deepEqual({ ...raw.prepare("PRAGMA user_version").get() }, { user_version: MIGRATIONS.length });
    equal(raw.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'x'").get()?.n, 0);
    raw.close();
    return Promise.resolve();
  });
});

Deno.test("TrackerDb.open() makes a fresh file without the dropped row tables; a version-4 file migrates too", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/fresh.db`;
    TrackerDb.open(path).close();
    // A version-4 file whose first snapshot commit already dropped swarm_snapshot.
    const v4 = `${dir}/v4.db`;
    TrackerDb.open(v4, { migrations: MIGRATIONS.slice(0, 4) }).close();
    const old = new DatabaseSync(v4);
    old.exec("DROP TABLE swarm_snapshot");
    old.close();
    TrackerDb.open(v4).close();
    for (const file of [path, v4]) {
      const raw = new DatabaseSync(file);
      try {
        const names = raw.prepare("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name").all()
          .map((r) => r.name);
        deepEqual(names, ["accounting_chunks", "settings", "swarm_chunks", "torrents", "users"]);
      } finally {
        raw.close();
      }
    }
    return Promise.resolve();
  });
});
