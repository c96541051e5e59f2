// Memory of the tracker's swarm store: 1,000,000 live peers over 100,000 torrents (issue #4 goal: ≤ 150 MB RSS).
// Run: deno run -A --v8-flags=--expose-gc,--max-semi-space-size=4 bench/tracker_memory.ts [--peers N] [--torrents N]
// Run it with the tracker's V8 flags (deno.json's `tracker` task): --v8-flags=--expose-gc,--max-semi-space-size=4.
// Without the second flag V8's young generation may grow to 16 MB semi-spaces, freed lazily: RSS then lands either
// ~146 or ~162 MB from run to run (measured), ~15-20 MB above the live data.
// Prints the process RSS before and after, heap and external memory, and bytes per peer.

import { MemorySwarmStore } from "../lib/tracker/swarm_store.ts";
import { benchArgs, fillStore } from "./_common.ts";

const GOAL_RSS_BYTES = 150 * 1024 * 1024;
const SETTLE_MS = 12_000;

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function collect(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc !== undefined) { for (let i = 0; i < 3; i++) gc(); }
}

if (import.meta.main) {
  const { peers, torrents } = benchArgs({ peers: 1_000_000, torrents: 100_000 });
  collect();
  const before = Deno.memoryUsage();
  const store = new MemorySwarmStore({ maxPeers: peers + 1 });
  const started = performance.now();
  const nowMs = Date.now();
  fillStore(store, { peers, torrents, nowMs });
  const elapsedMs = performance.now() - started;
  collect();
  const settled = Deno.memoryUsage();
  // A running tracker idles between announces: give V8's memory reducer the time it gets there, then measure.
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  collect();
  const after = Deno.memoryUsage();
  const totals = store.totals();
  const perPeer = (after.rss - before.rss) / totals.peers;
  console.log(
    `tracker-memory: ${totals.peers.toLocaleString("en")} peers over ${totals.torrents.toLocaleString("en")} torrents`,
  );
  console.log(
    `  filled in ${(elapsedMs / 1000).toFixed(1)} s (${
      Math.round(totals.peers / (elapsedMs / 1000)).toLocaleString("en")
    } announces/s, no sampling)`,
  );
  console.log(`  RSS right after filling ${mb(settled.rss)} (V8 heap committed ${mb(settled.heapTotal)})`);
  console.log(
    `  RSS        ${mb(before.rss)} → ${mb(after.rss)} after ${SETTLE_MS / 1000} s idle (goal ≤ ${
      mb(GOAL_RSS_BYTES)
    }: ${after.rss <= GOAL_RSS_BYTES ? "met" : "NOT met"})`,
  );
  console.log(`  heap used  ${mb(before.heapUsed)} → ${mb(after.heapUsed)} (committed ${mb(after.heapTotal)})`);
  console.log(
    `  external   ${mb(before.external)} → ${mb(after.external)} (includes the store's reserved record arena:` +
      ` pages are committed only when written, so RSS is the real figure)`,
  );
  console.log(`  bytes/peer ${perPeer.toFixed(1)} (RSS growth / peers)`);
  if ((globalThis as { gc?: unknown }).gc === undefined) {
    console.log("  (run with --v8-flags=--expose-gc for settled figures)");
  }
}
