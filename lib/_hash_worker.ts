// Hash Worker for `createTorrent`: receives HashJob messages, answers with the pieces' SHA-1 digests (transferred).
// Loaded only by lib/create.ts via a static `new URL(..., import.meta.url)`; never prints.

import { type HashJob, JobReader } from "./_hash_job.ts";
import { BtoolError } from "./errors.ts";

/** What the worker posts back: digests for a job, or the error that stopped it. */
export type HashReply =
  | { type: "done"; id: number; digests: Uint8Array<ArrayBuffer> }
  | { type: "error"; id: number; code: string; message: string };

interface WorkerScope {
  onmessage: ((e: MessageEvent<HashJob>) => void) | null;
  postMessage(message: HashReply, transfer?: Transferable[]): void;
}

const scope = self as unknown as WorkerScope;
const reader = new JobReader();

scope.onmessage = (e) => {
  const job = e.data;
  try {
    const digests = reader.run(job);
    scope.postMessage({ type: "done", id: job.id, digests }, [digests.buffer]);
  } catch (err: unknown) {
    reader.close();
    const code = err instanceof BtoolError ? err.code : "read_failed";
    const message = err instanceof Error ? err.message : String(err);
    scope.postMessage({ type: "error", id: job.id, code, message });
  }
};
