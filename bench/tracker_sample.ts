// The swarm store's peer sample in process: re-announces of known peers (no insert) over --torrents swarms of
// --peers-per-swarm peers, with numwant 0 and 50, interleaved; the difference is the sample's cost. The requests are a
// small pool (one known peer per swarm), so they stay in cache as a server's fresh requests do, and only the store's
// own memory is cold. With --baseline DIR it also runs DIR's store (an older checkout) in the same run.
// Run: deno run -A bench/tracker_sample.ts [--torrents 1000] [--peers-per-swarm 2000] [--baseline DIR]
// Prints µs per announce (median of 3 rounds each) and the sample's share.

import { parseArgs } from "node:util";
import type { AnnounceRequest } from "../lib/tracker/announce.ts";
import type { SwarmStore } from "../lib/tracker/swarm_store.ts";
import { median, xorshift } from "./_common.ts";

const ANNOUNCES = 200_000;

async function measure(dir: string, torrents: number, perSwarm: number): Promise<{ without: number; with: number }> {
  const { MemorySwarmStore } = await import(`${dir}/lib/tracker/swarm_store.ts`);
  const store: SwarmStore = new MemorySwarmStore({ maxPeers: torrents * perSwarm + 1 });
  const random = xorshift(12345);
  const ip = new Uint8Array([127, 0, 0, 1]);
  const pool: AnnounceRequest[] = [];
  for (let t = 0; t < torrents; t++) {
    const infoHash = new Uint8Array(20);
    for (let i = 0; i < 20; i++) infoHash[i] = (random() * 256) | 0;
    const keep = (random() * perSwarm) | 0;
    for (let p = 0; p < perSwarm; p++) {
      const peerId = new Uint8Array(20);
      for (let i = 0; i < 20; i++) peerId[i] = (random() * 256) | 0;
      const req: AnnounceRequest = {
        infoHash,
        peerId,
        port: 1024 + p,
        uploaded: 0,
        downloaded: 0,
        left: p % 4 === 0 ? 0 : 1000,
        event: "none",
        numWant: 0,
        isCompact: true,
        isNoPeerId: true,
      };
      store.announce(req, { ip, nowMs: 1e12, random });
      if (p === keep) pool.push(req);
    }
  }
  const order = Array.from({ length: ANNOUNCES }, () => pool[(random() * pool.length) | 0]!);
  const times = new Map<number, number[]>([[0, []], [50, []]]);
  for (let round = 0; round < 3; round++) {
    for (const numWant of [0, 50]) {
      for (const r of pool) r.numWant = numWant;
      const t0 = performance.now();
      for (const r of order) store.announce(r, { ip, nowMs: 1e12, random });
      times.get(numWant)!.push((performance.now() - t0) * 1000 / ANNOUNCES);
    }
  }
  return { without: median(times.get(0)!), with: median(times.get(50)!) };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      torrents: { type: "string", default: "1000" },
      "peers-per-swarm": { type: "string", default: "2000" },
      baseline: { type: "string" },
    },
  });
  const torrents = Number(values.torrents);
  const perSwarm = Number(values["peers-per-swarm"]);
  const here = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const targets: [string, string][] = [["this build", here]];
  if (values.baseline !== undefined) targets.push(["baseline", values.baseline]);
  console.log(`tracker-sample: ${torrents} swarms x ${perSwarm} peers, ${ANNOUNCES} re-announces per round`);
  const results: { name: string; without: number; with: number }[] = [];
  for (const [name, dir] of targets) {
    const r = await measure(dir, torrents, perSwarm);
    results.push({ name, ...r });
    console.log(
      `  ${name.padEnd(10)} numwant 0: ${r.without.toFixed(2)} µs  numwant 50: ${r.with.toFixed(2)} µs  ` +
        `sample: ${(r.with - r.without).toFixed(2)} µs`,
    );
  }
  if (results.length === 2) {
    const [a, b] = results as [typeof results[0], typeof results[0]];
    console.log(`  this build / baseline (numwant 50): ${(a.with / b.with).toFixed(2)} (lower is faster)`);
  }
}
