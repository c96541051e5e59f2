// Worker entry of `deno task fuzz`: runs one target and reports its figures. A Worker so that the main thread can
// watch it: a hang inside a parser (no progress for the watchdog's time) is caught and named by its input index.

import { FuzzFailure, runTarget } from "./_harness.ts";
import { createTargets } from "./_targets.ts";

/** What the main thread asks for. */
export interface FuzzJob {
  target: string;
  seed: number;
  start: number;
  count: number;
  /** Int32Array over it: [0] is the index of the input being run. */
  progress: SharedArrayBuffer;
}

/** What the worker answers. */
export type FuzzReport =
  | {
    type: "done";
    generated: number;
    mutated: number;
    fromCorpus: number;
    ms: number;
    maxInputMs: number;
    slowestIndex: number;
    heapBefore: number;
    heapAfter: number;
    rssBefore: number;
    rssAfter: number;
  }
  | { type: "failure"; message: string };

function collect(): Deno.MemoryUsage {
  (globalThis as { gc?: () => void }).gc?.();
  return Deno.memoryUsage();
}

interface WorkerScope {
  onmessage: ((e: MessageEvent<FuzzJob>) => void) | null;
  postMessage(message: FuzzReport): void;
}
const scope = self as unknown as WorkerScope;

scope.onmessage = async (e) => {
  const job = e.data;
  const progress = new Int32Array(job.progress);
  const target = createTargets().find((t) => t.name === job.target)!;
  const before = collect();
  const t0 = performance.now();
  let last = t0, lastIndex = -1, maxInputMs = 0, slowestIndex = -1;
  const onInput = (index: number) => {
    const now = performance.now();
    if (lastIndex >= 0 && now - last > maxInputMs) {
      maxInputMs = now - last;
      slowestIndex = lastIndex;
    }
    last = now;
    lastIndex = index;
    Atomics.store(progress, 0, index);
  };
  let report: FuzzReport;
  try {
    const stats = await runTarget(target, { seed: job.seed, start: job.start, count: job.count, onInput });
    onInput(-1);
    const ms = performance.now() - t0;
    const after = collect();
    report = {
      type: "done",
      generated: stats.generated,
      mutated: stats.mutated,
      fromCorpus: stats.fromCorpus,
      ms,
      maxInputMs,
      slowestIndex,
      heapBefore: before.heapUsed,
      heapAfter: after.heapUsed,
      rssBefore: before.rss,
      rssAfter: after.rss,
    };
  } catch (err: unknown) {
    report = { type: "failure", message: err instanceof FuzzFailure ? err.message : String(err) };
  }
  scope.postMessage(report);
};
