// What a stranger's GET /stats costs the tracker (issue #19): --torrents swarms of one peer each, then --requests
// public /stats through the handler (no socket), timed as the first request (it walks every swarm) and the mean of
// the rest. With --baseline DIR it also runs DIR's tracker (an older checkout), which walked and sorted per request.
// Run: deno run -A bench/tracker_stats.ts [--torrents 100000] [--requests 200] [--baseline DIR]

import { benchArgs } from "./_common.ts";

async function measure(dir: string, torrents: number, requests: number) {
  const { TrackerDb } = await import(`${dir}/lib/persist/db.ts`);
  const { createTracker } = await import(`${dir}/lib/tracker/server.ts`);
  const db = TrackerDb.open(":memory:");
  const t = createTracker({ db, adminToken: "x", sweepIntervalMs: 0, snapshotIntervalS: 0, privatePollIntervalMs: 0 });
  const ip = new Uint8Array([10, 0, 0, 1]);
  const nowMs = Date.now();
  for (let i = 0; i < torrents; i++) {
    const infoHash = new Uint8Array(20);
    new DataView(infoHash.buffer).setUint32(0, i + 1);
    t.store.announce({
      infoHash,
      peerId: new Uint8Array(20).fill(1),
      port: 1000 + (i % 5000),
      uploaded: 0,
      downloaded: 0,
      left: 1,
      event: "started",
      numWant: 0,
      isCompact: true,
      isNoPeerId: true,
    }, { ip, nowMs, random: Math.random });
  }
  const info = { remoteAddr: { hostname: "127.0.0.1", port: 1 } };
  const get = async () => (await (await t.handler(new Request("http://x/stats"), info)).arrayBuffer()).byteLength;
  let t0 = performance.now();
  const bytes = await get();
  const firstMs = performance.now() - t0;
  t0 = performance.now();
  for (let i = 1; i < requests; i++) await get();
  const restMs = (performance.now() - t0) / Math.max(1, requests - 1);
  t.close();
  db.close();
  return { firstMs, restMs, bytes };
}

const { torrents, requests, values } = benchArgs({ torrents: 100_000, requests: 200 }, {
  baseline: { type: "string" },
});
const runs: [string, string][] = [["this tree", new URL("..", import.meta.url).pathname.replace(/\/$/, "")]];
if (values.baseline !== undefined) runs.push(["baseline", values.baseline.replace(/\/$/, "")]);
for (const [name, dir] of runs) {
  const r = await measure(dir, torrents, requests);
  console.log(
    `${name}: ${torrents} swarms, /stats ${(r.bytes / 1024).toFixed(0)} KiB: first ${r.firstMs.toFixed(1)} ms, ` +
      `then ${r.restMs.toFixed(2)} ms per request`,
  );
}
