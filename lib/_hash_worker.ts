// Hash Worker for `createTorrent`: receives the job list once, then claims jobs from a shared counter until none is
// left, answering each with the pieces' SHA-1 digests (transferred). Loaded only by lib/_hash_pool.ts via a static
// `new URL(..., import.meta.url)`; never prints. Hashes with node:crypto (lib/_sha1_node.ts), or with OpenSSL
// through FFI when the start message says `sha1: "libc"` (lib/sha1.ts says why).

import { type HashJob, JobReader } from "./_hash_job.ts";
import { nodeSha1 } from "./_sha1_node.ts";
import { BtoolError, errorText } from "./errors.ts";
import { openLibcSha1, type Sha1Choice } from "./sha1.ts";

/**
 * The one message a Worker gets: every job, the shared next-job counter (Int32Array over a SharedArrayBuffer) and
 * which SHA-1 to use.
 */
export interface HashStart {
  jobs: HashJob[];
  next: Int32Array<SharedArrayBuffer>;
  sha1: Sha1Choice;
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

scope.onmessage = (e) => {
  const { jobs, next, sha1 } = e.data;
  let reader: JobReader;
  try {
    reader = new JobReader(sha1 === "libc" ? openLibcSha1() : nodeSha1);
  } catch (err: unknown) {
    // The main thread opened it first, so this is rare; say so rather than hash some other way.
    const code = err instanceof BtoolError ? err.code : "sha1_unavailable";
    scope.postMessage({ type: "error", id: -1, code, message: errorText(err) });
    return;
  }
  try {
    for (;;) {
      // Atomics.add hands each job to exactly one hasher; the main thread stores jobs.length to stop everyone.
      const id = Atomics.add(next, 0, 1);
      if (id >= jobs.length) break;
      try {
        const digests = reader.run(jobs[id]!);
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
