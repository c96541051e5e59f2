// Piece hashes of a new torrent: split the files' concatenated data into jobs of whole pieces and hash them on every
// core (the main thread and threads-1 hash Workers claiming jobs from one shared counter), or in-process for small
// inputs. Part of `createTorrent` (lib/create.ts); lib/sha1.ts says which SHA-1 runs here and why.

import type { HashJob, HashSegment } from "./_hash_job.ts";
import { JobReader } from "./_hash_job.ts";
import { hasPrewarmedHashWorker, spawnHashWorker, takePrewarmedHashWorker } from "./_hash_pool.ts";
import type { HashReply, HashStart } from "./_hash_worker.ts";
import { nodeSha1 } from "./_sha1_node.ts";
import type { SourceFile } from "./create_files.ts";
import { BtoolError, CreateError, StorageError } from "./errors.ts";
import { openLibcSha1, type Sha1Choice, type SyncSha1 } from "./sha1.ts";

/** Bytes per job handed to a hasher: big enough to keep messaging rare, small enough to balance the tail. */
export const JOB_BYTES = 8 * 1024 * 1024;
/**
 * Up to this many bytes, hash in-process: a Worker's start (its spawn blocks the main thread, then it boots) costs more
 * than it saves below this (docs/PERFORMANCE.md, "create"). PREWARM_MIN_BYTES in cli/_create_prewarm.ts is the same.
 */
export const INLINE_MAX_BYTES = 160 * 1024 * 1024;
/**
 * In-process hashing uses WebCrypto (the design card's SHA-1) for pieces up to this size and node:crypto above it:
 * WebCrypto spares node:crypto's load and hashes on every core, but copies each piece, and from 128 KiB a copy costs
 * more than that (docs/PERFORMANCE.md, "create").
 */
export const WEBCRYPTO_MAX_PIECE_BYTES = 64 * 1024;
/** Upper bound on hashing Workers, whatever the core count says. */
export const MAX_WORKERS = 16;

/** Split the concatenated data of `files` into jobs of whole pieces. */
export function* planHashJobs(
  files: readonly SourceFile[],
  pieceLength: number,
  jobBytes: number = JOB_BYTES,
): Generator<HashJob> {
  const piecesPerJob = Math.max(1, Math.floor(jobBytes / pieceLength));
  let fileIndex = 0;
  let fileOffset = 0;
  let firstPiece = 0;
  let id = 0;
  for (;;) {
    const segments: HashSegment[] = [];
    const want = piecesPerJob * pieceLength;
    let got = 0;
    while (got < want && fileIndex < files.length) {
      const f = files[fileIndex]!;
      const n = Math.min(f.length - fileOffset, want - got);
      if (n > 0) segments.push({ path: f.fsPath, offset: fileOffset, length: n });
      got += n;
      fileOffset += n;
      if (fileOffset === f.length) {
        fileIndex++;
        fileOffset = 0;
      }
    }
    if (got === 0) return;
    const pieceCount = Math.ceil(got / pieceLength);
    yield { id: id++, firstPiece, pieceCount, pieceLength, byteLength: got, segments };
    firstPiece += pieceCount;
  }
}

/** Which SHA-1 hashes `pieceLength` pieces in-process (the Worker path's hashers always hash synchronously). */
export function inProcessHasher(pieceLength: number, choice: Sha1Choice): "webcrypto" | "node:crypto" | "libc" {
  if (choice === "libc") return "libc";
  return pieceLength <= WEBCRYPTO_MAX_PIECE_BYTES ? "webcrypto" : "node:crypto";
}

/** Progress of hashing, reported after each job. */
export interface HashProgress {
  bytesHashed: number;
  totalBytes: number;
}

/** Options for `hashPieces`. */
export interface HashOptions {
  /** Hashing threads (default: the core count). 1 hashes in-process. */
  threads?: number;
  /** Hash in-process up to this many bytes (default INLINE_MAX_BYTES), unless a prewarmed Worker is there. */
  inlineMaxBytes?: number;
  /**
   * "deno" (default): the runtime's (WebCrypto in-process for pieces up to WEBCRYPTO_MAX_PIECE_BYTES, else node:crypto);
   * "libc": OpenSSL's SHA1() through FFI (lib/sha1.ts). Same bytes either way.
   */
  sha1?: Sha1Choice;
  onProgress?: (p: HashProgress) => void;
  signal?: AbortSignal;
}

/** Hash every job on this thread: synchronously with `syncSha1`, or with WebCrypto's digests in flight when null. */
async function hashInProcess(
  jobs: Generator<HashJob>,
  out: Uint8Array,
  totalBytes: number,
  syncSha1: SyncSha1 | null,
  options: HashOptions,
): Promise<Uint8Array> {
  const reader = new JobReader(syncSha1);
  let bytesHashed = 0;
  try {
    for (const job of jobs) {
      // A synchronous hash holds the thread: let an abort (and anything else queued) through between jobs.
      if (job.id > 0 && syncSha1 !== null) await yieldToEventLoop();
      options.signal?.throwIfAborted();
      out.set(syncSha1 === null ? await reader.runAsync(job) : reader.run(job), job.firstPiece * 20);
      bytesHashed += job.byteLength;
      options.onProgress?.({ bytesHashed, totalBytes });
    }
  } finally {
    reader.close();
  }
  return out;
}

/** Let the event loop run (worker replies, abort) without timer clamping. */
function yieldToEventLoop(): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>();
  const channel = new MessageChannel();
  channel.port1.onmessage = () => {
    channel.port1.close();
    resolve();
  };
  channel.port2.postMessage(null);
  return promise;
}

/**
 * Hash with `workerCount` Workers and the main thread, which starts at once while the Workers boot. Every hasher
 * claims the next job from one shared counter (Atomics), so no hasher waits for the main thread to feed it and the
 * tail balances itself. A Worker that dies (e.g. its module is missing from a
 * `deno compile` binary built without `--include`) is dropped and the jobs it did not finish are hashed by the main
 * thread; read errors reported by a Worker stop everything.
 */
async function hashWithWorkers(
  jobs: Generator<HashJob>,
  out: Uint8Array,
  totalBytes: number,
  workerCount: number,
  syncSha1: SyncSha1,
  options: HashOptions,
): Promise<Uint8Array> {
  const allJobs = [...jobs];
  const next = new Int32Array(new SharedArrayBuffer(4));
  const isDone = new Uint8Array(allJobs.length);
  let doneCount = 0;
  const workers: Worker[] = [];
  let running = 0;
  const reader = new JobReader(syncSha1);
  let bytesHashed = 0;
  // Written by callbacks, so kept in an object: TypeScript does not narrow it across awaits.
  const state: { failure: { err: unknown } | null; wake: (() => void) | null } = { failure: null, wake: null };
  const wake = () => state.wake?.();
  const stopClaims = () => Atomics.store(next, 0, allJobs.length);
  const fail = (err: unknown) => {
    state.failure ??= { err };
    stopClaims();
    wake();
  };
  const throwIfFailed = () => {
    if (state.failure !== null) throw state.failure.err;
  };
  const done = (id: number, digests: Uint8Array) => {
    const job = allJobs[id]!;
    if (isDone[id] === 1) return;
    isDone[id] = 1;
    doneCount++;
    out.set(digests, job.firstPiece * 20);
    bytesHashed += job.byteLength;
    options.onProgress?.({ bytesHashed, totalBytes });
    wake();
  };
  const onAbort = () => fail(options.signal?.reason ?? new CreateError("aborted", "Hashing was aborted"));
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    options.signal?.throwIfAborted();
    for (let i = 0; i < workerCount; i++) {
      const w = (i === 0 ? takePrewarmedHashWorker() : null) ?? spawnHashWorker();
      workers.push(w);
      running++;
      let isRunning = true;
      const stop = () => {
        if (!isRunning) return;
        isRunning = false;
        running--;
        wake();
      };
      w.onmessage = (e: MessageEvent<HashReply>) => {
        const reply = e.data;
        if (state.failure !== null) return;
        if (reply.type === "finished") return stop();
        if (reply.type === "error") {
          const isRead = reply.code !== "sha1_unavailable";
          return fail(isRead ? new StorageError(reply.code, reply.message) : new BtoolError(reply.code, reply.message));
        }
        try {
          done(reply.id, reply.digests);
        } catch (err: unknown) {
          fail(err);
        }
      };
      w.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        w.terminate();
        stop();
      };
      w.postMessage({ jobs: allJobs, next, sha1: options.sha1 ?? "deno" } satisfies HashStart);
    }
    for (;;) {
      await yieldToEventLoop();
      throwIfFailed();
      const id = Atomics.add(next, 0, 1);
      if (id < allJobs.length) {
        done(id, reader.run(allJobs[id]!));
        continue;
      }
      // Every job done: no need to wait for a Worker's "finished" (a Worker still booting never claims one).
      if (doneCount === allJobs.length || running === 0) break;
      const { promise, resolve } = Promise.withResolvers<void>();
      state.wake = resolve;
      await promise;
      state.wake = null;
    }
    throwIfFailed();
    // Jobs claimed by a Worker that died.
    for (let id = 0; id < allJobs.length; id++) {
      if (isDone[id] === 1) continue;
      options.signal?.throwIfAborted();
      done(id, reader.run(allJobs[id]!));
    }
    return out;
  } finally {
    stopClaims();
    reader.close();
    options.signal?.removeEventListener("abort", onAbort);
    for (const w of workers) w.terminate();
  }
}

/**
 * SHA-1 of every piece of the concatenated `files` (20 bytes per piece), reading each file once, streaming, with
 * memory bounded by one 1 MiB read chunk per hasher (and, in-process with WebCrypto, the copies of at most
 * DIGESTS_IN_FLIGHT pieces), whatever the piece length. Uses `threads` hashers (the main
 * thread and `threads - 1` Workers) for more than `inlineMaxBytes`, or whenever a Worker was prewarmed
 * (lib/_hash_pool.ts; it is adopted first, so its boot is already paid).
 * @throws {StorageError} read_failed, file_changed
 * @throws {CreateError} aborted
 * @throws {BtoolError} sha1_unavailable (`sha1: "libc"` where it cannot be opened: no fallback)
 */
export async function hashPieces(
  files: readonly SourceFile[],
  pieceLength: number,
  options: HashOptions = {},
): Promise<Uint8Array> {
  // Opened first: asked for and missing is an error before any work, never a silent fallback.
  const libc = options.sha1 === "libc" ? openLibcSha1() : null;
  let totalBytes = 0;
  for (const f of files) totalBytes += f.length;
  const pieceCount = Math.ceil(totalBytes / pieceLength);
  const out = new Uint8Array(pieceCount * 20);
  const jobCount = Math.ceil(pieceCount / Math.max(1, Math.floor(JOB_BYTES / pieceLength)));
  const threads = Math.max(1, Math.min(options.threads ?? navigator.hardwareConcurrency ?? 1, MAX_WORKERS));
  const hashers = Math.min(threads, jobCount);
  const jobs = planHashJobs(files, pieceLength);
  options.onProgress?.({ bytesHashed: 0, totalBytes });
  // A prewarmed Worker (cli/_create_prewarm.ts) is already booting: worth using whatever the size.
  const isSmall = totalBytes <= (options.inlineMaxBytes ?? INLINE_MAX_BYTES) && !hasPrewarmedHashWorker();
  if (hashers < 2 || isSmall) {
    const hasher = inProcessHasher(pieceLength, options.sha1 ?? "deno");
    return hashInProcess(jobs, out, totalBytes, hasher === "webcrypto" ? null : libc ?? nodeSha1, options);
  }
  return await hashWithWorkers(jobs, out, totalBytes, hashers - 1, libc ?? nodeSha1, options);
}
