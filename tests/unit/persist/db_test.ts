import { DatabaseSync } from "node:sqlite";
import {
  MIGRATIONS,
  PersistError,
  PRUNE_TORRENT_ROWS_PER_CALL,
  SCHEMA_VERSION,
  TrackerDb,
  UNREGISTERED_TORRENT_IDLE_MS,
} from "../../../lib/persist/db.ts";
import { assertThrowsCode, deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { withTempDir } from "../../_helpers/tmp.ts";

const H1 = "0123456789abcdef0123456789abcdef01234567";
const H2 = "89abcdef0123456789abcdef0123456789abcdef";

function withDb(fn: (db: TrackerDb) => void): void {
  const db = TrackerDb.open(":memory:");
  try {
    fn(db);
  } finally {
    db.close();
  }
}

Deno.test("TrackerDb.registerTorrent() adds, is idempotent, and reports updates", () => {
  withDb((db) => {
    const meta = { infoHashHex: H1, name: "Ubuntu", size: 123, pieceLength: 16384, extra: { b: 1, a: [1, "x"] } };
    equal(db.registerTorrent(meta, 1000), "added");
    equal(db.registerTorrent(meta, 2000), "unchanged");
    // Key order in extra does not matter.
    equal(db.registerTorrent({ ...meta, extra: { a: [1, "x"], b: 1 } }, 2000), "unchanged");
    equal(db.registerTorrent({ ...meta, name: "Debian" }, 3000), "updated");
    deepEqual(db.getTorrent(H1), {
      infoHashHex: H1,
      isRegistered: true,
      name: "Debian",
      size: 123,
      pieceLength: 16384,
      extra: { a: [1, "x"], b: 1 },
      firstSeenMs: 1000,
      lastSeenMs: 1000,
      completed: 0,
    });
    // Replace semantics: a field left out is cleared.
    equal(db.registerTorrent({ infoHashHex: H1, name: "Debian" }, 4000), "updated");
    deepEqual(db.getTorrent(H1), {
      infoHashHex: H1,
      isRegistered: true,
      name: "Debian",
      firstSeenMs: 1000,
      lastSeenMs: 1000,
      completed: 0,
    });
  });
});

Deno.test("TrackerDb normalises info hashes to lowercase and rejects malformed ones", () => {
  withDb((db) => {
    equal(db.registerTorrent({ infoHashHex: H1.toUpperCase() }, 1), "added");
    equal(db.getTorrent(H1.toUpperCase())?.infoHashHex, H1);
    equal(db.registerTorrent({ infoHashHex: H1 }, 1), "unchanged");
    assertThrowsCode(() => db.registerTorrent({ infoHashHex: H1.slice(2) }, 1), PersistError, "invalid_info_hash");
    assertThrowsCode(() => db.getTorrent("zz" + H1.slice(2)), PersistError, "invalid_info_hash");
    assertThrowsCode(() => db.registerTorrent({ infoHashHex: H2, size: -1 }, 1), PersistError, "invalid_value");
    assertThrowsCode(() => db.registerTorrent({ infoHashHex: H2, size: 1.5 }, 1), PersistError, "invalid_value");
    assertThrowsCode(() => db.addCompleted(H2, -1, 1), PersistError, "invalid_value");
    assertThrowsCode(() => db.touchTorrents([H2, "nope"], 1), PersistError, "invalid_info_hash");
    equal(db.getTorrent(H2), null, "a rejected batch writes nothing");
  });
});

Deno.test("TrackerDb.registerTorrents() registers a batch atomically", () => {
  withDb((db) => {
    db.registerTorrent({ infoHashHex: H1, name: "a" }, 1);
    deepEqual(db.registerTorrents([{ infoHashHex: H1, name: "a" }, { infoHashHex: H2, name: "b" }], 2), [
      "unchanged",
      "added",
    ]);
    assertThrowsCode(
      () => db.registerTorrents([{ infoHashHex: "1".repeat(40) }, { infoHashHex: "x" }], 3),
      PersistError,
      "invalid_info_hash",
    );
    equal(db.getTorrent("1".repeat(40)), null);
    equal(db.listTorrents().length, 2);
  });
});

Deno.test("TrackerDb.unregisterTorrent() keeps counters; re-registering counts as added", () => {
  withDb((db) => {
    db.registerTorrent({ infoHashHex: H1, name: "x" }, 1);
    db.addCompleted(H1, 3, 5);
    equal(db.unregisterTorrent(H1), true);
    equal(db.unregisterTorrent(H1), false);
    equal(db.unregisterTorrent(H2), false);
    const rec = db.getTorrent(H1);
    equal(rec?.isRegistered, false);
    equal(rec?.completed, 3);
    equal(db.registerTorrent({ infoHashHex: H1, name: "x" }, 9), "added");
    equal(db.getTorrent(H1)?.isRegistered, true);
  });
});

Deno.test("TrackerDb.addCompleted() and touchTorrents() create unregistered rows and track first/last seen", () => {
  withDb((db) => {
    db.addCompleted(H1, 1, 100);
    db.addCompleted(H1, 2, 200);
    db.touchTorrents([H1, H2], 300);
    db.touchTorrents([H2], 250); // last seen never moves back
    db.touchTorrents([], 400);
    deepEqual(db.getTorrent(H1), {
      infoHashHex: H1,
      isRegistered: false,
      firstSeenMs: 100,
      lastSeenMs: 300,
      completed: 3,
    });
    deepEqual(db.getTorrent(H2), {
      infoHashHex: H2,
      isRegistered: false,
      firstSeenMs: 300,
      lastSeenMs: 300,
      completed: 0,
    });
    deepEqual(db.listTorrents().map((t) => t.infoHashHex), [H1, H2]);
    // Registering a seen torrent keeps its history.
    equal(db.registerTorrent({ infoHashHex: H1, name: "n" }, 500), "added");
    equal(db.getTorrent(H1)?.firstSeenMs, 100);
    equal(db.getTorrent(H1)?.completed, 3);
  });
});

const FORMAT = "test-records-1";

/** `count` chunks of `bytes` bytes, each filled with a value naming the generation `tag` and its index. */
function makeChunks(tag: number, count: number, bytes = 1000): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => new Uint8Array(bytes).fill((tag * 16 + i) & 0xff));
}

/** Save a whole snapshot the way the tracker does: begin, write the chunks in order, commit, prune. */
function saveSnapshot(db: TrackerDb, chunks: Iterable<Uint8Array>, meta: { nowMs: number; peers: number }): void {
  const generation = db.beginSwarmSnapshot();
  let seq = 0;
  for (const chunk of chunks) db.writeSwarmChunk(generation, seq++, chunk);
  db.commitSwarmSnapshot(generation, { ...meta, format: FORMAT });
  db.pruneSwarmChunks();
}

function chunksOf(db: TrackerDb): Uint8Array[] {
  return [...(db.loadSwarmSnapshot()?.chunks() ?? [])];
}

Deno.test("TrackerDb.commitSwarmSnapshot() replaces the snapshot and loadSwarmSnapshot() restores it", () => {
  withDb((db) => {
    equal(db.loadSwarmSnapshot(), null);
    const first = makeChunks(1, 3);
    saveSnapshot(db, first, { nowMs: 42, peers: 30 });
    const snap = db.loadSwarmSnapshot();
    equal(snap?.format, FORMAT);
    equal(snap?.peers, 30);
    equal(snap?.savedMs, 42);
    equal(snap?.chunkCount, 3);
    deepEqual(chunksOf(db), first);
    equal(db.getSetting("swarm_snapshot_ms"), "42");
    // The next one replaces it; the previous one's chunks go with the prune.
    const second = makeChunks(2, 1, 5);
    saveSnapshot(db, second, { nowMs: 43, peers: 1 });
    deepEqual(chunksOf(db), second);
    equal(db.pruneSwarmChunks(), 0);
    // An empty swarm saves an empty snapshot (not "none").
    saveSnapshot(db, [], { nowMs: 44, peers: 0 });
    equal(db.loadSwarmSnapshot()?.chunkCount, 0);
    equal(db.loadSwarmSnapshot()?.peers, 0);
    deepEqual(chunksOf(db), []);
  });
});

Deno.test("TrackerDb swarm snapshot generations: the old one stays current until the new one is committed", () => {
  withDb((db) => {
    const old = makeChunks(1, 2);
    saveSnapshot(db, old, { nowMs: 1, peers: 2 });
    const gen = db.beginSwarmSnapshot();
    db.writeSwarmChunk(gen, 0, new Uint8Array(10).fill(7));
    // A chunk is copied at write: a view of a larger buffer stores just its bytes.
    const big = new Uint8Array(64).fill(8);
    db.writeSwarmChunk(gen, 1, big.subarray(16, 26));
    big.fill(0);
    deepEqual(chunksOf(db), old, "mid-write, the previous snapshot is the current one");
    equal(db.pruneSwarmChunks(), 0, "the generation being written is not pruned");
    db.commitSwarmSnapshot(gen, { nowMs: 2, peers: 20, format: FORMAT });
    deepEqual(chunksOf(db), [new Uint8Array(10).fill(7), new Uint8Array(10).fill(8)]);
    equal(db.pruneSwarmChunks(1), 1, "a limited prune deletes at most that many chunks");
    equal(db.pruneSwarmChunks(5), 1);
    equal(db.pruneSwarmChunks(), 0);
    // One writer at a time: beginning another abandons the first.
    const a = db.beginSwarmSnapshot();
    db.writeSwarmChunk(a, 0, new Uint8Array(3));
    const b = db.beginSwarmSnapshot();
    ok(b > a);
    assertThrowsCode(() => db.writeSwarmChunk(a, 1, new Uint8Array(3)), PersistError, "snapshot_abandoned");
    assertThrowsCode(
      () => db.commitSwarmSnapshot(a, { nowMs: 3, peers: 0, format: FORMAT }),
      PersistError,
      "snapshot_abandoned",
    );
    equal(db.pruneSwarmChunks(), 1, "the abandoned generation's chunk");
    db.commitSwarmSnapshot(b, { nowMs: 4, peers: 0, format: FORMAT });
    deepEqual(chunksOf(db), []);
    equal(db.loadSwarmSnapshot()?.generation, b);
  });
});

Deno.test("TrackerDb: a crash mid-snapshot leaves the previous one current; its leftovers are pruned", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/crash.db`;
    const first = TrackerDb.open(path);
    const old = makeChunks(1, 2);
    saveSnapshot(first, old, { nowMs: 1, peers: 2 });
    const gen = first.beginSwarmSnapshot();
    first.writeSwarmChunk(gen, 0, new Uint8Array(100));
    first.writeSwarmChunk(gen, 1, new Uint8Array(100));
    first.close(); // as if killed here: each chunk was its own committed transaction
    const again = TrackerDb.open(path);
    try {
      deepEqual(chunksOf(again), old);
      equal(again.getSetting("swarm_snapshot_ms"), "1");
      const next = again.beginSwarmSnapshot();
      ok(next > gen, "a new generation never reuses an unfinished one's number");
      equal(again.pruneSwarmChunks(), 2);
      again.writeSwarmChunk(next, 0, new Uint8Array(1).fill(9));
      again.commitSwarmSnapshot(next, { nowMs: 2, peers: 1, format: FORMAT });
      equal(again.pruneSwarmChunks(), 2, "the previous generation");
      deepEqual(chunksOf(again), [new Uint8Array(1).fill(9)]);
    } finally {
      again.close();
    }
    return Promise.resolve();
  });
});

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

Deno.test("TrackerDb.listTorrents({ registeredOnly }) lists only registered torrents", () => {
  withDb((db) => {
    db.registerTorrent({ infoHashHex: H1 }, 1);
    db.touchTorrents([H1, H2], 10);
    deepEqual(db.listTorrents({ registeredOnly: true }).map((t) => t.infoHashHex), [H1]);
    deepEqual(db.listTorrents().map((t) => t.infoHashHex), [H1, H2]);
  });
});

const DAY_MS = 24 * 60 * 60 * 1000;

Deno.test("TrackerDb.pruneIdleTorrents() deletes only unregistered rows idle longer than the limit (#19)", () => {
  withDb((db) => {
    const H3 = "f".repeat(40);
    const H4 = "e".repeat(40);
    const t0 = 1_000 * DAY_MS;
    db.registerTorrent({ infoHashHex: H1, name: "registered, never seen since" }, t0);
    db.touchTorrents([H2], t0); // only seen
    db.addCompleted(H3, 5, t0); // seen with a completed count: opentracker would keep nothing either
    db.touchTorrents([H4], t0 + 2 * DAY_MS); // seen recently
    const nowMs = t0 + UNREGISTERED_TORRENT_IDLE_MS;
    equal(db.pruneIdleTorrents(nowMs), 0, "idle exactly the limit: kept");
    equal(db.pruneIdleTorrents(nowMs + 1), 2);
    deepEqual(db.listTorrents().map((t) => t.infoHashHex), [H1, H4]);
    equal(db.pruneIdleTorrents(nowMs + 100 * DAY_MS, { idleMs: DAY_MS }), 1, "H4 with a shorter limit");
    deepEqual(db.listTorrents().map((t) => t.infoHashHex), [H1], "registered rows are never pruned");
    // Unregistering makes a row prunable; re-seeing it makes it recent again.
    db.unregisterTorrent(H1);
    db.touchTorrents([H1], nowMs);
    equal(db.pruneIdleTorrents(nowMs + 1), 0);
    equal(db.pruneIdleTorrents(nowMs + UNREGISTERED_TORRENT_IDLE_MS + 1), 1);
  });
});

Deno.test("TrackerDb.pruneIdleTorrents() deletes at most maxRows a call, oldest first (#19)", () => {
  withDb((db) => {
    const hexes = Array.from({ length: 2_500 }, (_, i) => i.toString(16).padStart(40, "0"));
    for (let i = 0; i < hexes.length; i += 500) db.touchTorrents(hexes.slice(i, i + 500), i);
    const nowMs = 10_000 + UNREGISTERED_TORRENT_IDLE_MS;
    equal(db.pruneIdleTorrents(nowMs), PRUNE_TORRENT_ROWS_PER_CALL);
    equal(db.listTorrents().length, 2_500 - PRUNE_TORRENT_ROWS_PER_CALL);
    equal(db.getTorrent(hexes[0]!), null, "the oldest went first");
    ok(db.getTorrent(hexes[2_499]!) !== null, "the newest stays until its turn");
    equal(db.pruneIdleTorrents(nowMs, { maxRows: 7 }), 7);
    let calls = 0;
    while (db.pruneIdleTorrents(nowMs) === PRUNE_TORRENT_ROWS_PER_CALL && calls < 10) calls++;
    equal(db.listTorrents().length, 0);
  });
});

Deno.test("TrackerDb.observeCounters() reports committed counter changes until removed", () => {
  withDb((db) => {
    const seen: unknown[] = [];
    const remove = db.observeCounters((change) => seen.push(change));
    db.addCompleted(H1.toUpperCase(), 2, 10);
    db.touchTorrents([H2], 11);
    db.touchTorrents([], 12);
    try {
      db.addCompleted("bad", 1, 13);
    } catch {
      // rejected before writing: not reported
    }
    remove();
    db.addCompleted(H1, 1, 14);
    deepEqual(seen, [
      { type: "completed", infoHashHex: H1, count: 2, nowMs: 10 },
      { type: "seen", infoHashHexes: [H2], nowMs: 11 },
    ]);
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

Deno.test("TrackerDb.listTorrents() returns the same records as getTorrent()", () => {
  withDb((db) => {
    db.registerTorrent({
      infoHashHex: H1,
      name: "full",
      size: 1,
      pieceLength: 2,
      comment: "c",
      createdBy: "b",
      extra: { files: [{ path: ["a"], length: 1 }], isPrivate: true },
    }, 5);
    db.addCompleted(H1, 3, 6);
    db.touchTorrents([H2], 7);
    deepEqual(db.listTorrents(), [db.getTorrent(H1), db.getTorrent(H2)]);
  });
});

Deno.test("TrackerDb.touchTorrents() takes repeated hashes (any case) and large lists in one statement", () => {
  withDb((db) => {
    db.touchTorrents([H1, H1.toUpperCase(), H2], 10);
    db.touchTorrents([H2, H2], 5); // never moves back
    equal(db.getTorrent(H1)?.lastSeenMs, 10);
    equal(db.getTorrent(H2)?.lastSeenMs, 10);
    equal(db.getTorrent(H2)?.firstSeenMs, 10);
    const many = Array.from({ length: 5000 }, (_, i) => i.toString(16).padStart(40, "0"));
    db.touchTorrents(many, 20);
    equal(db.listTorrents().length, 5002);
    equal(db.getTorrent(many[4999]!)?.lastSeenMs, 20);
  });
});

Deno.test("TrackerDb.listCompletedCounts() lists only torrents with a completed count", () => {
  withDb((db) => {
    deepEqual([...db.listCompletedCounts()], []);
    db.registerTorrent({ infoHashHex: H1, name: "no downloads yet" }, 1);
    db.addCompleted(H2, 3, 2);
    db.touchTorrents([H1.replace("0", "f")], 3);
    deepEqual([...db.listCompletedCounts()], [{ infoHashHex: H2, completed: 3 }]);
  });
});

Deno.test("TrackerDb.listCompletedCounts() reads rows one at a time, so any number of rows is fine (#19)", () => {
  withDb((db) => {
    const ROWS = 20_000;
    const raw = Array.from({ length: ROWS }, (_, i) => i.toString(16).padStart(40, "0"));
    db.touchTorrents(raw, 1);
    for (let i = 0; i < 3; i++) db.addCompleted(raw[i]!, i + 1, 2);
    db.setSetting("x", "y");
    const counts = db.listCompletedCounts();
    ok(!Array.isArray(counts), "an iterator, not an array of every row");
    const first = counts.next();
    deepEqual(first.value, { infoHashHex: raw[0], completed: 1 });
    counts.return(); // a caller may stop early (e.g. its store is full); the db stays usable
    db.addCompleted(raw[5]!, 1, 3);
    equal([...db.listCompletedCounts()].length, 4);
  });
});

Deno.test("TrackerDb.open() makes a fresh file without the dropped row tables, pruning through an index", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/fresh.db`;
    TrackerDb.open(path).close();
    // A version-4 file whose first snapshot commit already dropped swarm_snapshot migrates too.
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
        deepEqual(names, [
          "accounting_chunks",
          "settings",
          "swarm_chunks",
          "torrents",
          "torrents_unregistered_last_seen",
          "users",
        ]);
        const plan = raw.prepare(
          `EXPLAIN QUERY PLAN SELECT info_hash FROM torrents WHERE is_registered = 0 AND last_seen_ms < 5
           ORDER BY last_seen_ms LIMIT 10`,
        ).all().map((r) => String(r.detail)).join("; ");
        ok(plan.includes("USING COVERING INDEX torrents_unregistered_last_seen"), plan);
      } finally {
        raw.close();
      }
    }
    return Promise.resolve();
  });
});
