import { DatabaseSync } from "node:sqlite";
import { checkCount, normalizeHex, PersistError, returningArrays, wrapSqliteError } from "../../../lib/persist/_sql.ts";
import { assertThrowsCode, deepEqual, equal, ok } from "../../_helpers/assert.ts";

Deno.test("normalizeHex() lowercases 40 hex digits and rejects anything else", () => {
  equal(
    normalizeHex("ABCDEF0123456789ABCDEF0123456789ABCDEF01", "info hash"),
    "abcdef0123456789abcdef0123456789abcdef01",
  );
  for (const bad of ["", "abc", "g".repeat(40), "a".repeat(41), " " + "a".repeat(39)]) {
    assertThrowsCode(() => normalizeHex(bad, "info hash"), PersistError, "invalid_info_hash");
  }
});

Deno.test("checkCount() takes non-negative safe integers only", () => {
  checkCount(0, "size");
  checkCount(Number.MAX_SAFE_INTEGER, "size");
  for (const bad of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1, Infinity]) {
    assertThrowsCode(() => checkCount(bad, "size"), PersistError, "invalid_value");
  }
});

Deno.test("wrapSqliteError() turns SQLite's errors into db_busy or write_failed and passes others through", () => {
  const db = new DatabaseSync(":memory:");
  try {
    let sqliteError: unknown;
    try {
      db.exec("SELECT nope FROM nowhere");
    } catch (err: unknown) {
      sqliteError = err;
    }
    const wrapped = wrapSqliteError(sqliteError);
    ok(wrapped instanceof PersistError && wrapped.code === "write_failed" && wrapped.cause === sqliteError);
    const busy = Object.assign(new Error("database is locked"), { code: "ERR_SQLITE_ERROR" });
    ok((wrapSqliteError(busy) as PersistError).code === "db_busy");
    const other = new Error("from a callback");
    equal(wrapSqliteError(other), other);
    equal(wrapSqliteError("text"), "text");
  } finally {
    db.close();
  }
});

Deno.test("returningArrays() makes a statement return rows as arrays in column order", () => {
  const db = new DatabaseSync(":memory:");
  try {
    db.exec("CREATE TABLE t (a TEXT, b INTEGER); INSERT INTO t VALUES ('x', 1)");
    deepEqual(returningArrays(db.prepare("SELECT b, a FROM t")).all(), [[1, "x"]]);
  } finally {
    db.close();
  }
});
