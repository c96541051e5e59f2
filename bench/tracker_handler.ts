// In-process cost of one HTTP announce through the tracker's handler (no sockets): parse, store, sample, encode.
// The same request mix as bench/tracker_http.lua (1,000 torrents, random peer ids, compact=1, numwant=50), over a
// store pre-filled with --prefill peers. Run: deno run -A bench/tracker_handler.ts [--requests 200000] [--prefill N]
// Prints µs per announce (median of 3 rounds). Also `--store-only` times MemorySwarmStore.announce alone.

import { percentEncode } from "../lib/bytes.ts";
import { TrackerDb } from "../lib/persist/db.ts";
import { createTracker } from "../lib/tracker/server.ts";
import { parseAnnounceQuery } from "../lib/tracker/http_codec.ts";
import { benchArgs, randomPeerIdTail, xorshift } from "./_common.ts";

const TORRENTS = 1_000;

function makeUrls(count: number, hashes: string[], random: () => number): string[] {
  const urls: string[] = [];
  for (let n = 0; n < count; n++) {
    const id = randomPeerIdTail(random);
    const left = random() < 0.25 ? "0" : "1048576";
    urls.push(
      `http://127.0.0.1:6969/announce?info_hash=${hashes[(random() * hashes.length) | 0]}&peer_id=-WR0001-${id}` +
        `&port=${1024 + ((random() * 64000) | 0)}&uploaded=0&downloaded=0&left=${left}&compact=1&numwant=50`,
    );
  }
  return urls;
}

if (import.meta.main) {
  const { requests, prefill, values } = benchArgs({ requests: 200_000, prefill: 500_000 }, {
    "store-only": { type: "boolean", default: false },
  });
  const random = xorshift(7);
  const hashes = Array.from({ length: TORRENTS }, () => {
    const h = new Uint8Array(20);
    for (let i = 0; i < 20; i++) h[i] = (random() * 256) | 0;
    return percentEncode(h);
  });
  const db = TrackerDb.open(":memory:");
  const tracker = createTracker({ db, adminToken: "bench", snapshotIntervalS: 0, sweepIntervalMs: 0, random });
  const info = { remoteAddr: { hostname: "127.0.0.1", port: 40000 } };
  try {
    for (const url of makeUrls(prefill, hashes, random)) await tracker.handler(new Request(url), info);
    const times: number[] = [];
    for (let round = 0; round < 3; round++) {
      const urls = makeUrls(requests, hashes, random);
      if (values["store-only"]) {
        const ip = new Uint8Array([127, 0, 0, 1]);
        const reqs = urls.map((u) => parseAnnounceQuery(u.slice(u.indexOf("?") + 1)));
        const t1 = performance.now();
        for (const r of reqs) tracker.store.announce(r, { ip, nowMs: Date.now(), random });
        times.push((performance.now() - t1) * 1000 / requests);
        continue;
      }
      // Requests are built before the clock starts: Deno.serve hands the handler a ready Request.
      const requests_ = urls.map((u) => new Request(u));
      const t2 = performance.now();
      let bytes = 0;
      for (const request of requests_) {
        const res = await tracker.handler(request, info);
        bytes += (await res.arrayBuffer()).byteLength;
      }
      times.push((performance.now() - t2) * 1000 / requests);
      if (bytes === 0) throw new Error("no replies");
    }
    times.sort((a, b) => a - b);
    console.log(
      `tracker-handler: ${values["store-only"] ? "store.announce only" : "handler + body"}, ` +
        `${tracker.store.totals().peers.toLocaleString("en")} peers: ${times[1]!.toFixed(2)} µs/announce ` +
        `(rounds ${times.map((t) => t.toFixed(2)).join(", ")})`,
    );
  } finally {
    tracker.close();
    db.close();
  }
}
