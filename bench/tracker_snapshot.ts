// The tracker's swarm snapshot at scale: 1,000,000 live peers over 100,000 torrents in a MemorySwarmStore, saved to
// a SQLite file by the tracker's periodic snapshot timer, then restored by a new tracker as at start.
// Run: deno run -A bench/tracker_snapshot.ts [--peers N] [--torrents N] [--periods N] [--dir DIR] [--stale-rows N]
// Prints, for each periodic snapshot, the longest event-loop stall while it ran (a 2 ms interval timer measures the
// gaps between its ticks: no announce can be answered during a stall) and the peak RSS; then the wall time of a
// background snapshot, the time of a synchronous one (what /save_state, SIGINT and POST /shutdown do), the db size,
// and the restore time and RSS of a fresh process starting from the db (as a restarted tracker).
// --stale-rows N first fills the torrents table with N unregistered rows idle for two days (what strangers leave in
// an open tracker, #19): the snapshots then touch their torrents in a large table, and after them the prune of the
// backlog is timed call by call (when the build has pruneIdleTorrents).
// Uses only APIs the pre-chunking tracker had too (createTracker, snapshot(), getSetting; snapshotInBackground when
// present), so the same file runs against an older checkout (`git worktree add /tmp/old <commit>`) for a before/after
// comparison.

import { parseArgs } from "node:util";
import { TrackerDb } from "../lib/persist/db.ts";
import { createTracker } from "../lib/tracker/server.ts";
import { MemorySwarmStore } from "../lib/tracker/swarm_store.ts";
import { fillStore, loadAverage } from "./_common.ts";

/** Tick of the stall monitor. */
const MONITOR_MS = 2;
/** Watch this long after a snapshot's completion is seen (background clean-up of the previous one). */
const AFTER_MS = 1_500;
/** Give up on one period after this long. */
const PERIOD_TIMEOUT_MS = 120_000;
/** Stale rows are written this many per touchTorrents call. */
const STALE_ROWS_PER_TOUCH = 50_000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** Fill the torrents table with `count` unregistered rows last seen two days before `nowMs`. */
function addStaleRows(db: TrackerDb, count: number, nowMs: number): void {
  const t = performance.now();
  for (let from = 0; from < count; from += STALE_ROWS_PER_TOUCH) {
    const hexes: string[] = [];
    for (let i = from; i < Math.min(count, from + STALE_ROWS_PER_TOUCH); i++) {
      hexes.push(`${i.toString(16).padStart(38, "0")}ee`); // the last byte is never 0xee in fillStore's hashes
    }
    db.touchTorrents(hexes, nowMs - 2 * DAY_MS);
  }
  console.log(`  ${count.toLocaleString("en")} stale rows written in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}

/** Prune `staleRows` as the tracker's sweep would, one call at a time, and print the cost per call. */
function timePrune(db: TrackerDb, staleRows: number, tableRows: number): void {
  const prune = (db as { pruneIdleTorrents?: (nowMs: number) => number }).pruneIdleTorrents;
  if (prune === undefined) {
    console.log("  prune: n/a in this build");
    return;
  }
  const times: number[] = [];
  let deleted = 0;
  const nowMs = Date.now();
  // Two passes at most, whatever the window size of the build.
  const maxCalls = 2 * tableRows + 2;
  while (deleted < staleRows && times.length < maxCalls) {
    const t = performance.now();
    deleted += prune.call(db, nowMs);
    times.push(performance.now() - t);
  }
  const idle: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    prune.call(db, nowMs);
    idle.push(performance.now() - t);
  }
  const mean = times.reduce((a, b) => a + b, 0) / Math.max(1, times.length);
  console.log(
    `  prune: ${deleted.toLocaleString("en")} rows in ${times.length} calls, ${mean.toFixed(1)} ms a call ` +
      `(longest ${Math.max(0, ...times).toFixed(1)} ms); then with nothing due ${
        (idle.reduce((a, b) => a + b, 0) / idle.length).toFixed(2)
      } ms a call (longest ${Math.max(...idle).toFixed(2)} ms)`,
  );
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

interface Period {
  stallMs: number;
  peakRss: number;
}

/** Wait for the periodic snapshot to complete `count` times, measuring stalls while each one runs. */
function watchPeriods(db: TrackerDb, count: number): Promise<Period[]> {
  const { promise, resolve, reject } = Promise.withResolvers<Period[]>();
  const periods: Period[] = [];
  let last = performance.now();
  let stall = 0;
  let peakRss = 0;
  let ticks = 0;
  let seen = db.getSetting("swarm_snapshot_ms");
  let periodStart = performance.now();
  let doneAt = -1;
  const timer = setInterval(() => {
    const t = performance.now();
    stall = Math.max(stall, t - last);
    last = t;
    if (++ticks % 50 === 0) peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
    if (doneAt < 0) {
      const value = db.getSetting("swarm_snapshot_ms");
      if (value !== seen) {
        seen = value;
        doneAt = t;
      } else if (t - periodStart > PERIOD_TIMEOUT_MS) {
        clearInterval(timer);
        reject(new Error("the periodic snapshot did not complete"));
      }
    } else if (t - doneAt >= AFTER_MS) {
      peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
      periods.push({ stallMs: stall, peakRss });
      stall = 0;
      peakRss = 0;
      doneAt = -1;
      periodStart = performance.now();
      if (periods.length === count) {
        clearInterval(timer);
        resolve(periods);
      }
    }
  }, MONITOR_MS);
  return promise;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      peers: { type: "string", default: "1000000" },
      torrents: { type: "string", default: "100000" },
      periods: { type: "string", default: "2" },
      dir: { type: "string" },
      restore: { type: "string" },
      "stale-rows": { type: "string", default: "0" },
    },
  });
  const peers = Number(values.peers);
  if (values.restore !== undefined) {
    const rssBefore = Deno.memoryUsage().rss;
    const db = TrackerDb.open(values.restore);
    const t = performance.now();
    const tracker = createTracker({
      db,
      store: new MemorySwarmStore({ maxPeers: peers + 1 }),
      adminToken: "bench",
      snapshotIntervalS: 0,
      sweepIntervalMs: 0,
    });
    const restoreMs = performance.now() - t;
    tracker.close();
    db.close();
    console.log(
      `  restore at start (fresh process): ${tracker.restoredPeers.toLocaleString("en")} peers in ` +
        `${restoreMs.toFixed(0)} ms (createTracker); RSS ${mb(rssBefore)} → ${mb(Deno.memoryUsage().rss)}`,
    );
    Deno.exit(0);
  }
  const torrents = Number(values.torrents);
  const periodCount = Number(values.periods);
  const dir = values.dir ?? await Deno.makeTempDir({ prefix: "btool-snapshot-bench-" });
  const dbPath = `${dir}/state.db`;
  console.log(
    `tracker-snapshot: ${peers.toLocaleString("en")} peers over ${
      torrents.toLocaleString("en")
    } torrents, db ${dbPath}` +
      ` (load ${loadAverage()}; machine shared with other work: figures are noisy)`,
  );
  try {
    const nowMs = Date.now();
    const store = new MemorySwarmStore({ maxPeers: peers + 1 });
    let t = performance.now();
    fillStore(store, { peers, torrents, nowMs, isVaried: true });
    console.log(
      `  filled in ${((performance.now() - t) / 1000).toFixed(1)} s; RSS ${mb(Deno.memoryUsage().rss)}`,
    );

    const db = TrackerDb.open(dbPath);
    const staleRows = Number(values["stale-rows"]);
    if (staleRows > 0) addStaleRows(db, staleRows, nowMs);
    const tracker = createTracker({
      db,
      store,
      adminToken: "bench",
      snapshotIntervalS: 1,
      sweepIntervalMs: 0,
      isRestoringSnapshot: false,
    });
    const periods = await watchPeriods(db, periodCount);
    // This build's background snapshot, timed from start to end (pruning included); older builds have none.
    const inBackground = (tracker as { snapshotInBackground?: () => Promise<number | null> }).snapshotInBackground;
    let backgroundLine = "  background snapshot: n/a in this build (the periodic one is synchronous)";
    if (inBackground !== undefined) {
      await inBackground(); // let a periodic one still running finish first
      t = performance.now();
      const n = await inBackground();
      backgroundLine = `  background snapshot (snapshotInBackground): ${n?.toLocaleString("en")} peers in ` +
        `${((performance.now() - t) / 1000).toFixed(2)} s wall time, a chunk per event-loop turn`;
    }
    tracker.close();
    periods.forEach((p, i) => {
      console.log(
        `  periodic snapshot ${i + 1}: longest event-loop stall ${p.stallMs.toFixed(1)} ms, peak RSS ${mb(p.peakRss)}`,
      );
    });

    console.log(backgroundLine);
    t = performance.now();
    const saved = tracker.snapshot();
    console.log(
      `  synchronous snapshot (/save_state, SIGINT): ${saved.toLocaleString("en")} peers in ` +
        `${(performance.now() - t).toFixed(0)} ms; RSS ${mb(Deno.memoryUsage().rss)}`,
    );
    if (staleRows > 0) timePrune(db, staleRows, staleRows + torrents);
    db.close();
    const dbBytes = [dbPath, `${dbPath}-wal`].reduce((sum, p) => {
      try {
        return sum + Deno.statSync(p).size;
      } catch {
        return sum;
      }
    }, 0);
    console.log(`  db file ${mb(dbBytes)}`);

    // Restore as at start, in a fresh process (its RSS is the restarted tracker's).
    const child = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(import.meta.url).pathname, "--restore", dbPath, "--peers", String(peers)],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!child.success) throw new Error("the restore run failed");
  } finally {
    if (values.dir === undefined) await Deno.remove(dir, { recursive: true });
  }
}
