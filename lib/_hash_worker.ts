// Hash Worker for `createTorrent`: receives the job list once, then claims jobs from a shared counter until none is
// left, answering each with the pieces' SHA-1 digests (transferred). Loaded only by lib/create.ts via a static
// `new URL(..., import.meta.url)`; never prints.

import { type HashJob, JobReader } from "./_hash_job.ts";
import { BtoolError, errorText } from "./errors.ts";

/** The one message a Worker gets: every job, and the shared next-job counter (Int32Array over a SharedArrayBuffer). */
export interface HashStart {
  jobs: HashJob[];
  next: Int32Array<SharedArrayBuffer>;
}

/** What the worker posts back: digests for a job, the error that stopped it, or that no job is left. */
export type HashReply =
  | { type: "done"; id: number; digests: Uint8Array<ArrayBuffer> }
  | { type: "error"; id: number; code: string; message: string }
  | { type: "finished" };

interface WorkerScope {
  onmessage: ((e: MessageEvent<HashStart>) => void) | null;
  postMessage(message: HashReply, transfer?: Transferable[]): void;
}

const scope = self as unknown as WorkerScope;

scope.onmessage = async (e) => {
  const { jobs, next } = e.data;
  const reader = new JobReader();
  try {
    for (;;) {
      // Atomics.add hands each job to exactly one hasher; the main thread stores jobs.length to stop everyone.
      const id = Atomics.add(next, 0, 1);
      if (id >= jobs.length) break;
      try {
        const digests = await reader.run(jobs[id]!);
        scope.postMessage({ type: "done", id, digests }, [digests.buffer]);
      } catch (err: unknown) {
        const code = err instanceof BtoolError ? err.code : "read_failed";
        const message = errorText(err);
        scope.postMessage({ type: "error", id, code, message });
        return;
      }
    }
  } finally {
    reader.close();
  }
  scope.postMessage({ type: "finished" });
};
