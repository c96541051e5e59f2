// What reading completed counts costs the tracker, with the filter of counted torrents (createCompletedOf, the
// tracker's wiring) and without it (a db lookup each time, the wiring before): the CPU time of a scrape of 200 random
// unknown info hashes (through the HTTP handler, and the store's part alone), and of restoring a snapshot of
// `--peers` peers over `--torrents` swarms, half of them counted. Run under `flock /tmp/bench.lock`.
//   deno run -A bench/tracker_completed.ts [--peers 1000000] [--torrents 100000] [--requests 2000]

import { cpuUsage } from "node:process";
import { percentEncode, toHex } from "../lib/bytes.ts";
import { TrackerDb } from "../lib/persist/db.ts";
import { MAX_SCRAPE_HASHES } from "../lib/tracker/announce.ts";
import { createCompletedOf } from "../lib/tracker/completed_filter.ts";
import { restoreSnapshot } from "../lib/tracker/restore.ts";
import { createTracker } from "../lib/tracker/server.ts";
import { MemorySwarmStore } from "../lib/tracker/swarm_store.ts";
import { benchArgs, fillStore, loadAverage, median, xorshift } from "./_common.ts";

type Mode = "db" | "filter";
const MODES: readonly Mode[] = ["db", "filter"];
const ROUNDS = 5;

/** CPU microseconds (user + system) of `fn`. */
function cpuUs(fn: () => void): number {
  const before = cpuUsage();
  fn();
  const used = cpuUsage(before);
  return used.user + used.system;
}

function completedOfFor(mode: Mode, db: TrackerDb): (infoHash: Uint8Array) => number {
  return mode === "db" ? (h) => db.getTorrent(toHex(h))?.completed ?? 0 : createCompletedOf(db);
}

/** Fill the db: a snapshot of `peers` over `torrents` swarms, every second swarm with a completed count. */
function prepare(db: TrackerDb, peers: number, torrents: number, nowMs: number): void {
  const store = new MemorySwarmStore({ maxPeers: peers + 1 });
  fillStore(store, { peers, torrents, nowMs, isVaried: true });
  const counted = [...store.swarms()].filter((_, i) => i % 2 === 0).map((s) => s.infoHashHex);
  for (const hex of counted) db.addCompleted(hex, 3, nowMs);
  const tracker = createTracker({
    db,
    store,
    adminToken: "bench",
    snapshotIntervalS: 0,
    sweepIntervalMs: 0,
    isRestoringSnapshot: false,
  });
  tracker.snapshot();
  tracker.close();
  console.log(`  db: ${counted.length.toLocaleString("en")} counted torrents, snapshot of ${peers} peers`);
}

/** Per-request CPU µs of scrapes of MAX_SCRAPE_HASHES random hashes: through the handler, and store.scrape alone. */
async function scrapes(db: TrackerDb, mode: Mode, requests: number): Promise<{ handler: number; store: number }> {
  const store = new MemorySwarmStore({ completedOf: completedOfFor(mode, db) });
  const tracker = createTracker({ db, store, adminToken: "bench", snapshotIntervalS: 0, sweepIntervalMs: 0 });
  const random = xorshift(7);
  const lists = Array.from(
    { length: 16 },
    () => Array.from({ length: MAX_SCRAPE_HASHES }, () => Uint8Array.from({ length: 20 }, () => (random() * 256) | 0)),
  );
  const urls = lists.map((l) => `http://tracker/scrape?${l.map((h) => `info_hash=${percentEncode(h)}`).join("&")}`);
  const info = { remoteAddr: { hostname: "10.0.0.1" } };
  let handlerUs = 0;
  for (let i = 0; i < requests; i++) {
    const before = cpuUsage();
    const res = await tracker.handler(new Request(urls[i % urls.length]!), info);
    await res.arrayBuffer();
    const used = cpuUsage(before);
    handlerUs += used.user + used.system;
  }
  const storeUs = cpuUs(() => {
    for (let i = 0; i < requests; i++) for (const h of lists[i % lists.length]!) store.scrape(h);
  });
  tracker.close();
  return { handler: handlerUs / requests, store: storeUs / requests };
}

/** CPU ms of a restore of the db's snapshot, and of the filter's fill before it (0 without one). */
function restore(db: TrackerDb, mode: Mode, peers: number): { fillMs: number; restoreMs: number } {
  let completedOf: (infoHash: Uint8Array) => number = () => 0;
  const fillMs = cpuUs(() => completedOf = completedOfFor(mode, db)) / 1000;
  const store = new MemorySwarmStore({ maxPeers: peers + 1, completedOf });
  let restored = 0;
  const restoreMs = cpuUs(() => restored = restoreSnapshot(db, store, { minLastSeenMs: 0 })) / 1000;
  if (restored !== peers) throw new Error(`restored ${restored} of ${peers} peers`);
  return { fillMs, restoreMs };
}

if (import.meta.main) {
  const { peers, torrents, requests } = benchArgs({ peers: 1_000_000, torrents: 100_000, requests: 2000 });
  console.log(`tracker-completed: load ${loadAverage()} (machine shared: figures are noisy); medians of ${ROUNDS}`);
  const dir = await Deno.makeTempDir({ prefix: "btool-completed-bench-" });
  const db = TrackerDb.open(`${dir}/state.db`);
  try {
    prepare(db, peers, torrents, Date.now());
    const results = new Map(
      MODES.map((
        m,
      ) => [m, { handler: [] as number[], store: [] as number[], fill: [] as number[], restore: [] as number[] }]),
    );
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of round % 2 === 0 ? MODES : [...MODES].reverse()) {
        const r = results.get(mode)!;
        const s = await scrapes(db, mode, requests);
        r.handler.push(s.handler);
        r.store.push(s.store);
        const t = restore(db, mode, peers);
        r.fill.push(t.fillMs);
        r.restore.push(t.restoreMs);
      }
    }
    for (const [mode, r] of results) {
      console.log(
        `  ${mode === "db" ? "db lookup each time" : "filter, then db   "}: scrape of ${MAX_SCRAPE_HASHES} unknown ` +
          `hashes ${median(r.handler).toFixed(0)} µs CPU a request (store part ${median(r.store).toFixed(0)} µs); ` +
          `restore ${median(r.restore).toFixed(0)} ms CPU + filter fill ${median(r.fill).toFixed(0)} ms ` +
          `(runs: ${r.restore.map((x) => x.toFixed(0)).join(", ")} / ${r.fill.map((x) => x.toFixed(0)).join(", ")})`,
      );
    }
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
}
