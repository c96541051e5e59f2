import { DatabaseSync } from "node:sqlite";
import { PersistError, SCHEMA_VERSION, TrackerDb } from "../../../lib/persist/db.ts";
import { assertThrowsCode, deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { withTempDir } from "../../_helpers/tmp.ts";
import { chunksOf, H1, makeChunks, saveSnapshot, withDb } from "./_fixtures.ts";

Deno.test("TrackerDb settings round-trip", () => {
  withDb((db) => {
    equal(db.getSetting("admin_token"), null);
    db.setSetting("admin_token", "abc");
    db.setSetting("admin_token", "def");
    equal(db.getSetting("admin_token"), "def");
  });
});

Deno.test("TrackerDb.open() persists to a file in WAL mode and reopens with everything", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/state.db`;
    const db = TrackerDb.open(path);
    db.registerTorrent({ infoHashHex: H1, name: "é ☃ <b>", comment: "c", createdBy: "mktorrent" }, 1);
    db.addCompleted(H1, 7, 2);
    saveSnapshot(db, makeChunks(1, 10), { nowMs: 3, peers: 10 });
    db.setSetting("k", "v");
    db.close();
    const raw = new DatabaseSync(path);
    deepEqual({ ...raw.prepare("PRAGMA journal_mode").get() }, { journal_mode: "wal" });
    deepEqual({ ...raw.prepare("PRAGMA user_version").get() }, { user_version: SCHEMA_VERSION });
    raw.close();
    const again = TrackerDb.open(path);
    try {
      deepEqual(again.getTorrent(H1), {
        infoHashHex: H1,
        isRegistered: true,
        name: "é ☃ <b>",
        comment: "c",
        createdBy: "mktorrent",
        firstSeenMs: 1,
        lastSeenMs: 2,
        completed: 7,
      });
      deepEqual(chunksOf(again), makeChunks(1, 10));
      equal(again.getSetting("k"), "v");
    } finally {
      again.close();
    }
    return Promise.resolve();
  });
});

Deno.test("TrackerDb.open() refuses a newer schema, a foreign database and a non-database file", async () => {
  await withTempDir(async (dir) => {
    const newer = `${dir}/newer.db`;
    TrackerDb.open(newer).close();
    const raw = new DatabaseSync(newer);
    raw.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    assertThrowsCode(() => TrackerDb.open(newer), PersistError, "schema_too_new");

    const foreign = `${dir}/foreign.db`;
    const other = new DatabaseSync(foreign);
    other.exec("CREATE TABLE photos (id INTEGER)");
    other.close();
    assertThrowsCode(() => TrackerDb.open(foreign), PersistError, "not_btool_db");

    const junk = `${dir}/junk.db`;
    await Deno.writeTextFile(junk, "this is not a database, just some text that is long enough ".repeat(10));
    assertThrowsCode(() => TrackerDb.open(junk), PersistError, "open_failed");
  });
});

Deno.test("TrackerDb: two connections on one file see each other's commits (CLI beside a running tracker)", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/shared.db`;
    const a = TrackerDb.open(path);
    const b = TrackerDb.open(path);
    try {
      a.registerTorrent({ infoHashHex: H1, name: "from a" }, 1);
      equal(b.getTorrent(H1)?.name, "from a");
      b.addCompleted(H1, 2, 2);
      equal(a.getTorrent(H1)?.completed, 2);
    } finally {
      a.close();
      b.close();
    }
    return Promise.resolve();
  });
});

// The child registers torrent i, then adds a completion to torrent i % 10, printing a line after each commit.
const CHILD_SCRIPT = `
import { TrackerDb } from ${JSON.stringify(new URL("../../../lib/persist/db.ts", import.meta.url).href)};
const db = TrackerDb.open(Deno.args[0]);
const enc = new TextEncoder();
const hex = (i) => i.toString(16).padStart(40, "0");
const totals = new Array(10).fill(0);
for (let i = 0; ; i++) {
  db.registerTorrent({ infoHashHex: hex(i), name: "t" + i, size: i }, i);
  Deno.stdout.writeSync(enc.encode("R " + i + "\\n"));
  db.addCompleted(hex(i % 10), 1, i);
  totals[i % 10]++;
  Deno.stdout.writeSync(enc.encode("C " + (i % 10) + " " + totals[i % 10] + "\\n"));
}
`;

const KILL_AFTER_LINES = 2_000;
const CHILD_TIMEOUT_MS = 60_000;

/**
 * Run `deno eval SCRIPT ARGS…` and SIGKILL it once it has printed more than `killAfterLines` lines (or after
 * CHILD_TIMEOUT_MS); asserts it died of the signal, not by finishing. @returns everything it printed
 */
async function runUntilKilled(scriptAndArgs: string[], killAfterLines: number): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-lock", ...scriptAndArgs],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, CHILD_TIMEOUT_MS);
  let text = "";
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let killed = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      if (!killed && text.split("\n").length > killAfterLines) {
        child.kill("SIGKILL");
        killed = true;
      }
    }
    equal((await child.status).signal, "SIGKILL", "the child was killed, not finished");
  } finally {
    clearTimeout(timer);
  }
  return text;
}

Deno.test("TrackerDb keeps every committed write when its process is killed with SIGKILL", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/killed.db`;
    const text = await runUntilKilled([CHILD_SCRIPT, path], KILL_AFTER_LINES);
    // Only complete lines were reported; a torn last line is ignored.
    const lines = text.split("\n").slice(0, -1);
    ok(lines.length >= KILL_AFTER_LINES);
    let maxRegistered = -1;
    const reportedTotals = new Array<number>(10).fill(0);
    for (const line of lines) {
      const [kind, a, b] = line.split(" ");
      if (kind === "R") maxRegistered = Number(a);
      else reportedTotals[Number(a)] = Number(b);
    }
    const db = TrackerDb.open(path);
    try {
      for (let i = 0; i <= maxRegistered; i++) {
        const rec = db.getTorrent(i.toString(16).padStart(40, "0"));
        equal(rec?.isRegistered, true, `torrent ${i} was reported committed`);
        equal(rec?.name, `t${i}`);
      }
      for (let k = 0; k < 10; k++) {
        const completed = db.getTorrent(k.toString(16).padStart(40, "0"))?.completed ?? 0;
        // At most one commit may have landed after its line was written.
        ok(
          completed === reportedTotals[k] || completed === (reportedTotals[k] ?? 0) + 1,
          `torrent ${k}: ${completed} vs ${reportedTotals[k]}`,
        );
      }
    } finally {
      db.close();
    }
  });
});

Deno.test("TrackerDb waits for another writer up to busy_timeout, then throws db_busy", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/busy.db`;
    const db = TrackerDb.open(path, { busyTimeoutMs: 20 });
    const other = new DatabaseSync(path);
    try {
      other.exec("BEGIN IMMEDIATE"); // e.g. `btool tracker user add` mid-transaction
      assertThrowsCode(() => db.registerTorrent({ infoHashHex: H1 }, 1), PersistError, "db_busy");
      assertThrowsCode(() => db.setSetting("k", "v"), PersistError, "db_busy");
      other.exec("COMMIT");
      equal(db.registerTorrent({ infoHashHex: H1 }, 1), "added");
    } finally {
      other.close();
      db.close();
    }
    return Promise.resolve();
  });
});

// The child saves snapshot generations 1, 2, 3, … of SNAPSHOT_CHUNKS chunks each (every byte = the generation), printing
// a line after each commit; it is killed while writing a later one.
const SNAPSHOT_CHILD_SCRIPT = `
import { TrackerDb } from ${JSON.stringify(new URL("../../../lib/persist/db.ts", import.meta.url).href)};
const db = TrackerDb.open(Deno.args[0]);
const n = Number(Deno.args[1]);
const enc = new TextEncoder();
for (let gen = 1; ; gen++) {
  function* chunks() {
    for (let i = 0; i < n; i++) yield new Uint8Array(65536).fill(gen & 0xff);
  }
  const generation = db.beginSwarmSnapshot();
  let seq = 0;
  for (const chunk of chunks()) db.writeSwarmChunk(generation, seq++, chunk);
  db.commitSwarmSnapshot(generation, { nowMs: gen, peers: n, format: "kill-test" });
  db.pruneSwarmChunks();
  Deno.stdout.writeSync(enc.encode("S " + gen + "\\n"));
}
`;
const SNAPSHOT_CHUNKS = 40;
const KILL_AFTER_SNAPSHOTS = 3;

Deno.test("TrackerDb swarm snapshot killed with SIGKILL mid-write leaves one whole snapshot", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/snap.db`;
    // The next generation is being written when the child is killed.
    const text = await runUntilKilled([SNAPSHOT_CHILD_SCRIPT, path, String(SNAPSHOT_CHUNKS)], KILL_AFTER_SNAPSHOTS);
    const lastReported = Number(text.split("\n").slice(0, -1).at(-1)?.split(" ")[1]);
    ok(lastReported >= KILL_AFTER_SNAPSHOTS);
    const db = TrackerDb.open(path);
    try {
      const snap = db.loadSwarmSnapshot();
      equal(snap?.chunkCount, SNAPSHOT_CHUNKS);
      const gen = snap?.savedMs ?? 0;
      ok(gen === lastReported || gen === lastReported + 1, `generation ${gen} vs reported ${lastReported}`);
      for (const chunk of snap?.chunks() ?? []) {
        ok(chunk.length === 65536 && chunk.every((b) => b === (gen & 0xff)), "one generation, never a mix");
      }
      db.pruneSwarmChunks();
      equal(db.loadSwarmSnapshot()?.chunkCount, SNAPSHOT_CHUNKS);
    } finally {
      db.close();
    }
  });
});
