// `btool register` end to end (issue #6): 10,000 generated .torrent files in nested folders registered with a
// `btool tracker --listed --private` child over HTTP by the `btool register` CLI (process start, discovery, parsing,
// bulk POSTs, SQLite writes). Fresh db per run, median of 3; also the idempotent re-run (all unchanged).
// Goal: ≥ 2,000 torrents/s. Run: deno run -A bench/register.ts [--torrents 10000] [--runs 3]
// Issue #18: --files 100 gives every torrent 100 files with ordinary ~90-character names (400 of them are ~6 MB of
// registration JSON); the batches the client sends (planBatches, the same plan `btool register` makes) are printed.

import { encodeBencode } from "../lib/bencode.ts";
import { sha1 } from "../lib/sha1.ts";
import { parseMetainfo } from "../lib/metainfo.ts";
import { planBatches, REGISTER_BATCH_BYTES, REGISTER_BATCH_TORRENTS, torrentRegistration } from "../lib/register.ts";
import { benchArgs, freePort, MAIN_TS as MAIN, median, spawnBtoolTracker, waitTcpReady } from "./_common.ts";

const RUN_TIMEOUT_MS = 300_000;
const GOAL_PER_S = 2_000;
const TOKEN = "bench";

/**
 * `n` valid private torrents in 100 folders two levels deep: 1-3 small files each, or `filesEach` files with
 * ordinary album-style names. Returns their paths.
 */
async function generate(dir: string, n: number, announce: string, filesEach: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const sub = `${dir}/g${i % 10}/h${i % 100}`;
    if (i < 100) await Deno.mkdir(sub, { recursive: true });
    const files = filesEach > 0 ? filesEach : 1 + (i % 3);
    const fileName = (k: number) =>
      filesEach > 0
        ? [
          `Disc ${k % 3}`,
          `${
            String(k).padStart(3, "0")
          } - An Ordinary Track Title From The Deluxe Remastered Edition of Album ${i} (24-bit FLAC).flac`,
        ]
        : [`f${k}.bin`];
    const lengths = Array.from({ length: files }, (_, k) => 1000 + i + k);
    const total = lengths.reduce((a, b) => a + b, 0);
    const pieceLength = 16384;
    const pieces = new Uint8Array(Math.ceil(total / pieceLength) * 20);
    pieces.set(await sha1(new TextEncoder().encode(`piece-${i}`)));
    const info = files === 1 ? { name: `t${i}.bin`, "piece length": pieceLength, pieces, length: total, private: 1 } : {
      name: `t${i}`,
      "piece length": pieceLength,
      pieces,
      private: 1,
      files: lengths.map((length, k) => ({ length, path: fileName(k) })),
    };
    out.push(`${sub}/t${i}.torrent`);
    await Deno.writeFile(
      out.at(-1)!,
      encodeBencode({ announce, "created by": "bench", "creation date": 1_700_000_000 + i, info }),
    );
  }
  return out;
}

/** The requests `btool register` makes for `paths`: count and body bytes (the plan of lib/register.ts). */
async function describeBatches(paths: readonly string[]): Promise<string> {
  const encoder = new TextEncoder();
  const sizes: number[] = [];
  for (const p of paths) {
    sizes.push(encoder.encode(JSON.stringify(torrentRegistration(await parseMetainfo(await Deno.readFile(p))))).length);
  }
  const plan = planBatches(sizes, { maxTorrents: REGISTER_BATCH_TORRENTS, maxBytes: REGISTER_BATCH_BYTES });
  const bodies = plan.batches.map((b) => 15 + b.reduce((a, i) => a + sizes[i]!, 0) + b.length - 1);
  const total = sizes.reduce((a, b) => a + b, 0);
  return `${plan.batches.length} POSTs of ${plan.batches.map((b) => b.length).join("/")} torrents, ` +
    `${bodies.map((b) => (b / 1_048_576).toFixed(2)).join("/")} MiB (${(total / 1e6).toFixed(1)} MB of JSON in all)`;
}

async function timeRegister(dir: string, base: string): Promise<{ s: number; summary: string }> {
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, "register", dir, "--tracker", base, "--admin-token", TOKEN, "-q"],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(RUN_TIMEOUT_MS),
  }).output();
  const s = (performance.now() - t0) / 1000;
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) throw new Error(`btool register failed: ${text} ${new TextDecoder().decode(out.stderr)}`);
  return { s, summary: text };
}

async function main(): Promise<void> {
  const { torrents: n, runs, files } = benchArgs({ torrents: 10_000, runs: 3, files: 0 });
  const dir = await Deno.makeTempDir({ prefix: "btool-bench-register-" });
  try {
    const port = freePort();
    const base = `http://127.0.0.1:${port}`;
    const g0 = performance.now();
    const paths = await generate(`${dir}/torrents`, n, `${base}/announce`, files);
    console.log(`register: ${n} torrents generated in ${((performance.now() - g0) / 1000).toFixed(1)} s; ${runs} runs`);
    console.log(`  requests: ${await describeBatches(paths)}`);
    const fresh: number[] = [];
    const again: number[] = [];
    for (let r = 0; r < runs; r++) {
      const child = spawnBtoolTracker(port, [
        "--no-udp",
        "--db",
        `${dir}/run${r}.db`,
        "--admin-token",
        TOKEN,
        "--listed",
        "--private",
        "--quiet",
      ]);
      try {
        await waitTcpReady(port, { what: "tracker" });
        const first = await timeRegister(`${dir}/torrents`, base);
        const second = await timeRegister(`${dir}/torrents`, base);
        fresh.push(first.s);
        again.push(second.s);
        console.log(`  run ${r + 1}: ${first.s.toFixed(2)} s (${first.summary})`);
        console.log(`         re-run ${second.s.toFixed(2)} s (${second.summary})`);
      } finally {
        child.kill("SIGTERM");
        await child.status;
      }
    }
    const s = median(fresh);
    const s2 = median(again);
    console.log(
      `register ${n} torrents end to end: ${s.toFixed(2)} s = ${(n / s).toFixed(0)} torrents/s` +
        ` (goal ≥ ${GOAL_PER_S}/s: ${(n / s / GOAL_PER_S).toFixed(2)}×)`,
    );
    console.log(`re-run, all unchanged: ${s2.toFixed(2)} s = ${(n / s2).toFixed(0)} torrents/s`);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
