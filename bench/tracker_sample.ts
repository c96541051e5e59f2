// The swarm store's peer sample in process: re-announces of known peers (no insert) over --torrents swarms of
// --peers-per-swarm peers, with numwant 0 and 50, interleaved; the difference is the sample's cost. The requests are a
// small pool (one known peer per swarm), so they stay in cache as a server's fresh requests do, and only the store's
// own memory is cold. With --baseline DIR it also fills DIR's store (an older checkout) and alternates rounds between
// the two, so that load from elsewhere on the machine falls on both alike.
// Run: deno run -A bench/tracker_sample.ts [--torrents 1000] [--peers-per-swarm 2000] [--rounds 5] [--baseline DIR]
// Prints µs per announce (median and fastest of the rounds) and the sample's share, as CPU time of the process (user +
// system: on a shared machine the wall clock also counts time spent descheduled) and as wall time.

import { cpuUsage } from "node:process";
import type { AnnounceRequest } from "../lib/tracker/announce.ts";
import type { SwarmStore } from "../lib/tracker/swarm_store.ts";
import { benchArgs, median, xorshift } from "./_common.ts";

const ANNOUNCES = 200_000;

interface Target {
  name: string;
  store: SwarmStore;
  pool: AnnounceRequest[];
  order: AnnounceRequest[];
  random: () => number;
  /** CPU µs per announce by numwant, one a round. */
  times: Map<number, number[]>;
  wall: Map<number, number[]>;
}

async function fill(name: string, dir: string, torrents: number, perSwarm: number): Promise<Target> {
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
  return { name, store, pool, order, random, times: new Map([[0, []], [50, []]]), wall: new Map([[0, []], [50, []]]) };
}

/** One round of `target`: the whole order with numwant 0, then with 50. */
function round(target: Target): void {
  const ip = new Uint8Array([127, 0, 0, 1]);
  for (const numWant of [0, 50]) {
    for (const r of target.pool) r.numWant = numWant;
    const t0 = performance.now();
    const cpu0 = cpuUsage();
    for (const r of target.order) target.store.announce(r, { ip, nowMs: 1e12, random: target.random });
    const cpu = cpuUsage(cpu0);
    target.times.get(numWant)!.push((cpu.user + cpu.system) / ANNOUNCES);
    target.wall.get(numWant)!.push((performance.now() - t0) * 1000 / ANNOUNCES);
  }
}

if (import.meta.main) {
  const args = benchArgs({ torrents: 1000, "peers-per-swarm": 2000, rounds: 5 }, { baseline: { type: "string" } });
  const { torrents, values } = args;
  const perSwarm = args["peers-per-swarm"];
  const rounds = Math.max(1, Math.min(100, args.rounds));
  const here = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const targets = [await fill("this build", here, torrents, perSwarm)];
  if (values.baseline !== undefined) targets.push(await fill("baseline", values.baseline, torrents, perSwarm));
  console.log(`tracker-sample: ${torrents} swarms x ${perSwarm} peers, ${ANNOUNCES} re-announces, ${rounds} rounds`);
  for (let r = 0; r < rounds; r++) {
    // Alternate which build goes first, so neither always runs right after the other's cache traffic.
    for (const target of r % 2 === 0 ? targets : [...targets].reverse()) round(target);
  }
  for (const t of targets) {
    const without = median(t.times.get(0)!), with50 = median(t.times.get(50)!);
    console.log(
      `  ${t.name.padEnd(10)} CPU numwant 0: ${without.toFixed(2)} µs  numwant 50: ${with50.toFixed(2)} µs  ` +
        `sample: ${(with50 - without).toFixed(2)} µs  (fastest round: ${Math.min(...t.times.get(0)!).toFixed(2)}, ` +
        `${Math.min(...t.times.get(50)!).toFixed(2)}; wall medians ${median(t.wall.get(0)!).toFixed(2)}, ` +
        `${median(t.wall.get(50)!).toFixed(2)})`,
    );
  }
  if (targets.length === 2) {
    const [a, b] = targets as [Target, Target];
    const ratio = (k: number, f: (xs: number[]) => number) => (f(a.times.get(k)!) / f(b.times.get(k)!)).toFixed(2);
    const fastest = (xs: number[]) => Math.min(...xs);
    console.log(
      `  this build / baseline, CPU (lower is faster): numwant 50 ${ratio(50, median)} (fastest ${
        ratio(50, fastest)
      }), ` +
        `numwant 0 ${ratio(0, median)} (fastest ${ratio(0, fastest)})`,
    );
  }
}
