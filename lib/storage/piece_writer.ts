// Verify-then-write of whole downloaded pieces, off the JS thread: one Worker (lib/_piece_hash_worker.ts) checks the
// SHA-1 and writes the piece's files; the piece's ArrayBuffer is transferred there and back (no copy). Robust by
// design: a Worker that cannot start, throws, or makes no progress for `stallMs` is dropped; the jobs it held settle
// as "lost" (their bytes went with it: the caller fetches those pieces again) and every later job runs in-process.
// Nothing waits forever.
//
// Why not a SharedArrayBuffer the caller keeps: V8 copies into one byte by byte from an unaligned source (a block
// inside a socket read is unaligned), 10x slower than into an ArrayBuffer.

import { equals } from "../bytes.ts";
import { StorageError } from "../errors.ts";
import { mapRange } from "../file_map.ts";
import type { PieceReply, PieceRequest, PieceWrite } from "../_piece_hash_worker.ts";
import { pieceHash, pieceSize } from "../pieces.ts";
import { sha1 } from "../sha1.ts";
import type { Storage } from "./storage.ts";

/** A Worker with jobs and no reply for this long is considered stuck: it is dropped and its jobs done in-process. */
export const WORKER_STALL_MS = 30_000;

/** A byte range inside a piece. */
export interface PieceRange {
  begin: number;
  length: number;
}

/** Options of `PieceWriter`. */
export interface PieceWriterOptions {
  /** Use a Worker when the storage allows it (default true); false hashes and writes in-process. */
  isWorkerEnabled?: boolean;
  /** The Worker module (tests: a worker that dies or hangs). Default: lib/_piece_hash_worker.ts. */
  workerUrl?: string;
  /** See WORKER_STALL_MS. */
  stallMs?: number;
  /** Told once when the Worker is dropped (with why). */
  onWarning?: (message: string) => void;
}

/**
 * How a piece ended: `written` (SHA-1 matched, the ranges are on disk), `bad` (mismatch, nothing written) or `lost`
 * (the Worker holding it failed: fetch the piece again). `data` is the piece's bytes (a new view when they went to
 * the Worker and came back), null when lost.
 */
export interface PieceVerdict {
  verdict: "written" | "bad" | "lost";
  data: Uint8Array<ArrayBuffer> | null;
}

interface Job {
  id: number;
  index: number;
  data: Uint8Array<ArrayBuffer>;
  ranges: readonly PieceRange[];
  resolve: (v: PieceVerdict) => void;
  reject: (err: unknown) => void;
}

/**
 * Verifies and writes whole pieces of one Storage (see PieceVerdict). `data` passed to `verifyAndWrite` is handed
 * over: when it spans its whole ArrayBuffer, that buffer is transferred to the Worker (detached here) and comes back
 * in the verdict; otherwise it is copied first. Use only the verdict's `data` afterwards. Jobs run in order;
 * `close()` drops the Worker (call it once no job is pending).
 */
export class PieceWriter {
  #storage: Storage;
  #paths: readonly string[] | null;
  #workerUrl: string;
  #stallMs: number;
  #onWarning: (message: string) => void;
  #worker: Worker | null = null;
  /** False once the Worker failed (or was never allowed): everything runs in-process. */
  #isWorkerUsable: boolean;
  #jobs = new Map<number, Job>();
  #nextId = 1;
  #lastProgressMs = 0;
  #watchdog: ReturnType<typeof setTimeout> | null = null;
  /** In-process jobs run one after another (after any taken over from a failed Worker). */
  #inProcess: Promise<unknown> = Promise.resolve();
  #isClosed = false;

  constructor(storage: Storage, options: PieceWriterOptions = {}) {
    this.#storage = storage;
    this.#paths = storage.writablePaths?.() ?? null;
    this.#workerUrl = options.workerUrl ?? new URL("../_piece_hash_worker.ts", import.meta.url).href;
    this.#stallMs = options.stallMs ?? WORKER_STALL_MS;
    this.#onWarning = options.onWarning ?? (() => {});
    this.#isWorkerUsable = (options.isWorkerEnabled ?? true) && this.#paths !== null;
  }

  /** True while jobs go to a Worker (false after it failed, or when the storage cannot be written from one). */
  get isUsingWorker(): boolean {
    return this.#isWorkerUsable;
  }

  /** Jobs not settled yet. */
  get pendingJobs(): number {
    return this.#jobs.size;
  }

  /**
   * Check `data` (all of piece `index`) against the piece's SHA-1; when it matches, write `ranges` of it (default:
   * the whole piece).
   * @throws {StorageError} io, read_only, closed, range
   */
  verifyAndWrite(index: number, data: Uint8Array, ranges?: readonly PieceRange[]): Promise<PieceVerdict> {
    if (this.#isClosed) return Promise.reject(new StorageError("closed", "Cannot write piece: the writer is closed"));
    const meta = this.#storage.meta;
    if (data.length !== pieceSize(meta, index)) {
      return Promise.reject(new StorageError("range", `Cannot write piece ${index}: "${data.length}" bytes`));
    }
    const { promise, resolve, reject } = Promise.withResolvers<PieceVerdict>();
    const own =
      data.buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength
        ? data as Uint8Array<ArrayBuffer>
        : data.slice();
    const job: Job = {
      id: this.#nextId++,
      index,
      data: own,
      ranges: ranges ?? [{ begin: 0, length: data.length }],
      resolve,
      reject,
    };
    this.#jobs.set(job.id, job);
    const worker = this.#isWorkerUsable ? this.#startWorker() : null;
    if (worker === null) {
      this.#runInProcess(job);
      return promise;
    }
    const request: PieceRequest = {
      type: "job",
      id: job.id,
      data: job.data,
      expected: pieceHash(meta, index).slice(),
      writes: this.#writesOf(job),
    };
    try {
      worker.postMessage(request, [job.data.buffer]);
    } catch (err: unknown) {
      this.#dropWorker(`cannot post to the piece worker: ${err instanceof Error ? err.message : String(err)}`);
      return promise;
    }
    if (this.#jobs.size === 1) this.#lastProgressMs = Date.now();
    this.#armWatchdog();
    return promise;
  }

  /** Start the Worker now (it takes tens of ms to load), so the first pieces do not wait for it. */
  warmUp(): void {
    if (this.#isWorkerUsable && !this.#isClosed) this.#startWorker();
  }

  /** Stop the Worker. Pending jobs still settle (in-process). */
  close(): void {
    if (this.#isClosed) return;
    if (this.#worker !== null && this.#jobs.size > 0) this.#dropWorker("closed with jobs pending");
    this.#isClosed = true;
    this.#stopWorker();
  }

  #writesOf(job: Job): PieceWrite[] {
    const meta = this.#storage.meta;
    const start = job.index * meta.pieceLength;
    const out: PieceWrite[] = [];
    for (const r of job.ranges) {
      let at = r.begin;
      for (const seg of mapRange(meta.files, start + r.begin, r.length)) {
        if (!meta.files[seg.fileIndex]!.isPadding) {
          out.push({ path: this.#paths![seg.fileIndex]!, fileOffset: seg.fileOffset, at, length: seg.length });
        }
        at += seg.length;
      }
    }
    return out;
  }

  #startWorker(): Worker | null {
    if (this.#worker !== null) return this.#worker;
    let worker: Worker;
    try {
      worker = new Worker(this.#workerUrl, { type: "module" });
    } catch (err: unknown) {
      this.#isWorkerUsable = false;
      this.#onWarning(`Piece worker unavailable, hashing in-process: ${err instanceof Error ? err.message : err}`);
      return null;
    }
    worker.onmessage = (e: MessageEvent<PieceReply>) => this.#onReply(worker, e.data);
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault(); // a dying Worker must not take the process with it
      if (this.#worker === worker) this.#dropWorker(`piece worker failed: ${e.message}`);
    };
    worker.onmessageerror = () => {
      if (this.#worker === worker) this.#dropWorker("piece worker sent an unreadable message");
    };
    this.#worker = worker;
    return worker;
  }

  #onReply(worker: Worker, reply: PieceReply): void {
    if (this.#worker !== worker || reply.type === "closed") return;
    const job = this.#jobs.get(reply.id);
    if (job === undefined) return;
    this.#jobs.delete(reply.id);
    this.#lastProgressMs = Date.now();
    if (reply.type === "done") job.resolve({ verdict: reply.ok ? "written" : "bad", data: reply.data });
    else job.reject(new StorageError("io", reply.message));
    if (this.#jobs.size === 0) this.#disarmWatchdog();
  }

  #armWatchdog(): void {
    if (this.#watchdog !== null) return;
    this.#watchdog = setTimeout(() => {
      this.#watchdog = null;
      if (this.#worker === null || this.#jobs.size === 0) return;
      const idleMs = Date.now() - this.#lastProgressMs;
      if (idleMs >= this.#stallMs) this.#dropWorker(`piece worker made no progress for ${idleMs} ms`);
      else this.#armWatchdog();
    }, this.#stallMs);
  }

  #disarmWatchdog(): void {
    if (this.#watchdog === null) return;
    clearTimeout(this.#watchdog);
    this.#watchdog = null;
  }

  #stopWorker(): void {
    this.#disarmWatchdog();
    const worker = this.#worker;
    this.#worker = null;
    if (worker === null) return;
    worker.onmessage = worker.onerror = worker.onmessageerror = null;
    worker.terminate();
  }

  /**
   * Give up on the Worker for good: jobs whose bytes it holds are lost, any still here (a failed post) are redone
   * in-process; later jobs run in-process.
   */
  #dropWorker(reason: string): void {
    this.#isWorkerUsable = false;
    this.#stopWorker();
    this.#onWarning(`${reason}; hashing in-process`);
    for (const job of [...this.#jobs.values()]) {
      if (job.data.buffer.detached) {
        this.#jobs.delete(job.id);
        job.resolve({ verdict: "lost", data: null });
      } else {
        this.#runInProcess(job);
      }
    }
  }

  #runInProcess(job: Job): void {
    const run = this.#inProcess.then(async () => {
      const ok = equals(sha1(job.data), pieceHash(this.#storage.meta, job.index));
      if (ok) {
        for (const r of job.ranges) {
          await this.#storage.writeBlock(job.index, r.begin, job.data.subarray(r.begin, r.begin + r.length));
        }
      }
      return ok;
    });
    this.#inProcess = run.catch(() => {});
    run.then(
      (ok) => {
        this.#jobs.delete(job.id);
        job.resolve({ verdict: ok ? "written" : "bad", data: job.data });
      },
      (err: unknown) => {
        this.#jobs.delete(job.id);
        job.reject(err);
      },
    );
  }
}
