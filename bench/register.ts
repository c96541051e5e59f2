// `btool register` end to end (issue #6): 10,000 generated .torrent files in nested folders registered with a
// `btool tracker --listed --private` child over HTTP by the `btool register` CLI (process start, discovery, parsing,
// bulk POSTs, SQLite writes). Fresh db per run, median of 3; also the idempotent re-run (all unchanged).
// Goal: ≥ 2,000 torrents/s. Run: deno run -A bench/register.ts [--torrents 10000] [--runs 3]

import { parseArgs } from "node:util";
import { encodeBencode } from "../lib/bencode.ts";
import { sha1 } from "../lib/sha1.ts";
import { freePort, MAIN_TS as MAIN, median, spawnBtoolTracker, waitTcpReady } from "./_common.ts";

const RUN_TIMEOUT_MS = 300_000;
const GOAL_PER_S = 2_000;
const TOKEN = "bench";

/** `n` small valid torrents (1-3 files, private) in 100 folders two levels deep. */
async function generate(dir: string, n: number, announce: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    const sub = `${dir}/g${i % 10}/h${i % 100}`;
    if (i < 100) await Deno.mkdir(sub, { recursive: true });
    const files = 1 + (i % 3);
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
      files: lengths.map((length, k) => ({ length, path: [`f${k}.bin`] })),
    };
    await Deno.writeFile(
      `${sub}/t${i}.torrent`,
      encodeBencode({ announce, "created by": "bench", "creation date": 1_700_000_000 + i, info }),
    );
  }
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
  const { values } = parseArgs({
    args: Deno.args,
    options: { torrents: { type: "string", default: "10000" }, runs: { type: "string", default: "3" } },
  });
  const n = Number(values.torrents);
  const runs = Number(values.runs);
  const dir = await Deno.makeTempDir({ prefix: "btool-bench-register-" });
  try {
    const port = freePort();
    const base = `http://127.0.0.1:${port}`;
    const g0 = performance.now();
    await generate(`${dir}/torrents`, n, `${base}/announce`);
    console.log(`register: ${n} torrents generated in ${((performance.now() - g0) / 1000).toFixed(1)} s; ${runs} runs`);
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
