// `deno task fuzz` (#19): every fuzz target (or --target NAME), --count inputs each from --seed, in a watched Worker.
// Fails (exit 1) on a broken property, an input slower than MAX_INPUT_MS, no progress for WATCHDOG_MS (a hang), or
// heap growth over MAX_HEAP_GROWTH_BYTES across a target's run. Prints per target: inputs, time, slowest input, memory.
// Reproduce one input: deno task fuzz -- --seed S --target T --start I --count 1

import { parseArgs } from "node:util";
import { createTargets } from "./_targets.ts";
import type { FuzzJob, FuzzReport } from "./_fuzz_worker.ts";

/** Default inputs per target. */
const DEFAULT_COUNT = 100_000;
/** Default seed: runs are deterministic; pass --seed to explore further. */
const DEFAULT_SEED = 19;
/** One input may take this long before it counts as unbounded work. */
const MAX_INPUT_MS = 1_000;
/** No new input for this long: the target is stuck in a loop. */
const WATCHDOG_MS = 10_000;
/** Heap (after GC) may grow this much over a whole run: module caches, not per-input leaks. */
const MAX_HEAP_GROWTH_BYTES = 16 * 1024 * 1024;

const { values } = parseArgs({
  args: Deno.args.filter((a) => a !== "--"),
  options: {
    seed: { type: "string", default: String(DEFAULT_SEED) },
    target: { type: "string", multiple: true },
    count: { type: "string", default: String(DEFAULT_COUNT) },
    start: { type: "string", default: "0" },
  },
  strict: true,
});
const seed = Number(values.seed), count = Number(values.count), start = Number(values.start);
const names = createTargets().map((t) => t.name);
const chosen = values.target?.flatMap((t) => t.split(",")) ?? names;
for (const name of chosen) {
  if (!names.includes(name)) {
    console.error(`fuzz: unknown target "${name}" (targets: ${names.join(", ")})`);
    Deno.exit(2);
  }
}
if (![seed, count, start].every(Number.isSafeInteger)) {
  console.error("fuzz: --seed, --count and --start take integers");
  Deno.exit(2);
}

const mib = (n: number) => (n / 1024 / 1024).toFixed(1);

/** Run one target in a Worker under the watchdog; returns whether it passed. */
async function runOne(target: string): Promise<boolean> {
  const progress = new SharedArrayBuffer(4);
  const seen = new Int32Array(progress);
  const worker = new Worker(new URL("./_fuzz_worker.ts", import.meta.url), { type: "module" });
  const job: FuzzJob = { target, seed, start, count, progress };
  const report = await new Promise<FuzzReport | "hang">((resolve) => {
    let lastIndex = -2, lastChange = performance.now();
    const timer = setInterval(() => {
      const index = Atomics.load(seen, 0);
      if (index !== lastIndex) {
        lastIndex = index;
        lastChange = performance.now();
      } else if (performance.now() - lastChange > WATCHDOG_MS) {
        clearInterval(timer);
        resolve("hang");
      }
    }, 250);
    worker.onmessage = (e: MessageEvent<FuzzReport>) => {
      clearInterval(timer);
      resolve(e.data);
    };
    worker.postMessage(job);
  });
  worker.terminate();
  if (report === "hang") {
    const index = Atomics.load(seen, 0);
    console.log(`${target}: HANG at input #${index}: no progress for ${WATCHDOG_MS} ms`);
    console.log(`  reproduce: deno task fuzz -- --seed ${seed} --target ${target} --start ${index} --count 1`);
    return false;
  }
  if (report.type === "failure") {
    console.log(report.message);
    return false;
  }
  const growth = report.heapAfter - report.heapBefore;
  console.log(
    `${target.padEnd(15)} ${count} inputs (${report.generated} generated, ${report.mutated} mutated, ` +
      `${report.fromCorpus} of them from the corpus) in ${(report.ms / 1000).toFixed(1)} s; slowest input ` +
      `#${report.slowestIndex} ${report.maxInputMs.toFixed(1)} ms; heap ${mib(report.heapBefore)} -> ` +
      `${mib(report.heapAfter)} MiB, rss ${mib(report.rssBefore)} -> ${mib(report.rssAfter)} MiB`,
  );
  let isOk = true;
  if (report.maxInputMs > MAX_INPUT_MS) {
    console.log(`  FAIL: input #${report.slowestIndex} took ${report.maxInputMs.toFixed(0)} ms (cap ${MAX_INPUT_MS})`);
    console.log(
      `  reproduce: deno task fuzz -- --seed ${seed} --target ${target} --start ${report.slowestIndex} --count 1`,
    );
    isOk = false;
  }
  if (growth > MAX_HEAP_GROWTH_BYTES) {
    console.log(`  FAIL: heap grew ${mib(growth)} MiB over the run (cap ${mib(MAX_HEAP_GROWTH_BYTES)} MiB)`);
    isOk = false;
  }
  return isOk;
}

console.log(`fuzz: seed ${seed}, ${count} inputs per target from #${start}`);
let failed = 0;
for (const target of chosen) if (!(await runOne(target))) failed++;
if (failed > 0) {
  console.log(`fuzz: ${failed} of ${chosen.length} targets FAILED`);
  Deno.exit(1);
}
console.log(`fuzz: all ${chosen.length} targets passed`);
