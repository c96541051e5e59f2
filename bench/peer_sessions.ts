// bench/peer_sessions: two btool sessions in one process (a seed and a leecher on 127.0.0.1, memory storage), the
// session code alone without libtorrent or disk. Prints MiB/s and the process's CPU seconds for the download.
// `--baseline DIR` runs the same against another checkout (a `git archive` of an older commit), interleaved.
// BTOOL_BENCH_BYTES sets the size (default 256 MiB); RUNS runs each.

import process from "node:process";
import { median } from "./_common.ts";

const SIZE_BYTES = Number(Deno.env.get("BTOOL_BENCH_BYTES") ?? 256 * 1024 * 1024);
const PIECE_BYTES = 1024 * 1024;
const RUNS = 3;
/** Bound on one download. */
const RUN_TIMEOUT_MS = 300_000;

/** One download with the lib/ of `root` (a file URL of a checkout's root, ending in "/"). */
async function once(root: string, data: Uint8Array): Promise<{ mibps: number; cpuS: number }> {
  const { parseMetainfo } = await import(`${root}lib/metainfo.ts`);
  const { createSession } = await import(`${root}lib/peer/session.ts`);
  const { createMemoryStorage } = await import(`${root}lib/storage/storage.ts`);
  const { Bitfield } = await import(`${root}lib/wire/bitfield.ts`);
  const { buildTorrent } = await import(`${root}tests/_helpers/torrent.ts`);
  const meta = await parseMetainfo(buildTorrent({ name: "bench", pieceLength: PIECE_BYTES, data }).bytes);
  const seed = createSession(meta, {
    storage: createMemoryStorage(meta, { data }),
    have: new Bitfield(meta.pieceCount, { isFull: true }),
    hostname: "127.0.0.1",
    isAnnouncing: false,
  });
  const done = Promise.withResolvers<void>();
  const timer = setTimeout(() => done.reject(new Error("download did not complete")), RUN_TIMEOUT_MS);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const leecher = createSession(meta, {
    storage: createMemoryStorage(meta),
    hostname: "127.0.0.1",
    isAnnouncing: false,
    peers: [{ hostname: "127.0.0.1", port: seed.port }],
    onComplete: () => done.resolve(),
  });
  try {
    await done.promise;
  } finally {
    clearTimeout(timer);
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await leecher.stop();
  await seed.stop();
  return { mibps: SIZE_BYTES / 2 ** 20 / (ms / 1000), cpuS: (cpu.user + cpu.system) / 1e6 };
}

async function main(): Promise<void> {
  const i = Deno.args.indexOf("--baseline");
  const roots = [new URL("../", import.meta.url).href];
  if (i >= 0) roots.unshift(new URL(`${Deno.args[i + 1]!.replace(/\/?$/, "/")}`, `file://${Deno.cwd()}/`).href);
  const data = new Uint8Array(SIZE_BYTES);
  for (let at = 0; at < SIZE_BYTES; at += 65536) crypto.getRandomValues(data.subarray(at, at + 65536));
  const results = new Map<string, { mibps: number; cpuS: number }[]>(roots.map((r) => [r, []]));
  for (let r = 0; r < RUNS; r++) {
    for (const root of roots) {
      const m = await once(root, data);
      results.get(root)!.push(m);
      console.log(`  run ${r + 1}: ${root}  ${m.mibps.toFixed(0)} MiB/s  cpu ${m.cpuS.toFixed(2)} s`);
    }
  }
  for (const [root, ms] of results) {
    console.log(
      `${root}: ${median(ms.map((m) => m.mibps)).toFixed(0)} MiB/s, cpu ${
        median(ms.map((m) => m.cpuS)).toFixed(2)
      } s (median of ${RUNS})`,
    );
  }
  console.log("Note: both sessions share this process and the machine is shared; figures are noisy.");
}

if (import.meta.main) await main();
