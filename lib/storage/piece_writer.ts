// Verify-then-write of whole downloaded pieces, off the JS thread: a few Workers (./_piece_hash_worker.ts) check
// the SHA-1 and write the piece's files; the piece's ArrayBuffer is transferred there and back (no copy). Robust by
// design: a Worker that cannot start, throws, or makes no progress for `stallMs` is dropped; the jobs it held settle
// as "lost" (their bytes went with it: the caller fetches those pieces again), later jobs go to the Workers left, and
// once none is left (no new one is started after a failure) they run in-process. Nothing waits forever.
//
// Why not a SharedArrayBuffer the caller keeps: V8 copies into one byte by byte from an unaligned source (a block
// inside a socket read is unaligned), 10x slower than into an ArrayBuffer.

import { equals } from "../bytes.ts";
import { errorText, StorageError } from "../errors.ts";
import { mapRange } from "../file_map.ts";
import type { PieceReply, PieceRequest, PieceWrite } from "./_piece_hash_worker.ts";
import { pieceHash, pieceSize } from "../pieces.ts";
import { sha1 } from "../sha1.ts";
import type { Storage } from "./storage.ts";

/** A Worker with jobs and no reply for this long is considered stuck: it is dropped and its jobs settle as lost. */
export const WORKER_STALL_MS = 30_000;
/**
 * Workers started by default. One: on the 2-core bench machine, under load, a second Worker cost more CPU than it
 * saved in waiting (10 of 10 interleaved 1 GiB runs were faster with one); more can pay off with idle cores.
 */
export const PIECE_WORKERS = 1;

/** A byte range inside a piece. */
export interface PieceRange {
  begin: number;
  length: number;
}

/** Options of `PieceWriter`. */
export interface PieceWriterOptions {
  /** Use Workers when the storage allows it (default true); false hashes and writes in-process. */
  isWorkerEnabled?: boolean;
  /** How many Workers (default PIECE_WORKERS, at least 1). */
  workers?: number;
  /** The Worker module (tests: a worker that dies or hangs). Default: lib/storage/_piece_hash_worker.ts. */
  workerUrl?: string;
  /** See WORKER_STALL_MS. */
  stallMs?: number;
  /** Told when a Worker is dropped (with why). */
  onWarning?: (message: string) => void;
}

/**
 * How a piece ended: `written` (SHA-1 matched, the ranges are on disk), `bad` (mismatch, nothing written) or `lost`
 * (the Worker holding it failed: fetch the piece again). `data` is the piece's bytes (a new view when they went to
 * a Worker and came back), null when lost.
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
  /** The Worker holding it, or null in-process. */
  slot: Slot | null;
  resolve: (v: PieceVerdict) => void;
  reject: (err: unknown) => void;
}

interface Slot {
  worker: Worker;
  /** Ids of the jobs it holds. */
  jobs: Set<number>;
  /** Last reply, or when it got work while idle. */
  lastProgressMs: number;
}

/**
 * Verifies and writes whole pieces of one Storage (see PieceVerdict). `data` passed to `verifyAndWrite` is handed
 * over: when it spans its whole ArrayBuffer, that buffer is transferred to a Worker (detached here) and comes back
 * in the verdict; otherwise it is copied first. Use only the verdict's `data` afterwards. Each job goes to the
 * Worker with the fewest jobs. `close()` drops the Workers (call it once no job is pending).
 */
export class PieceWriter {
  #storage: Storage;
  #paths: readonly string[] | null;
  #workerUrl: string;
  #workerCount: number;
  #stallMs: number;
  #onWarning: (message: string) => void;
  #slots: Slot[] = [];
  /** False once a Worker failed (or they were never allowed): no new Worker is started. */
  #mayStartWorkers: boolean;
  #jobs = new Map<number, Job>();
  #nextId = 1;
  #watchdog: ReturnType<typeof setTimeout> | null = null;
  /** In-process jobs run one after another. */
  #inProcess: Promise<unknown> = Promise.resolve();
  #isClosed = false;

  constructor(storage: Storage, options: PieceWriterOptions = {}) {
    this.#storage = storage;
    this.#paths = storage.writablePaths?.() ?? null;
    this.#workerUrl = options.workerUrl ?? new URL("./_piece_hash_worker.ts", import.meta.url).href;
    this.#workerCount = Math.max(1, options.workers ?? PIECE_WORKERS);
    this.#stallMs = options.stallMs ?? WORKER_STALL_MS;
    this.#onWarning = options.onWarning ?? (() => {});
    this.#mayStartWorkers = (options.isWorkerEnabled ?? true) && this.#paths !== null;
  }

  /** True while jobs go to Workers (false once all failed, or when the storage cannot be written from one). */
  get isUsingWorker(): boolean {
    return this.#slots.length > 0 || this.#mayStartWorkers;
  }

  /** Jobs not settled yet. */
  get pendingJobs(): number {
    return this.#jobs.size;
  }

  /** Start the Workers now (each takes tens of ms to load), so the first pieces do not wait for them. */
  warmUp(): void {
    while (!this.#isClosed && this.#mayStartWorkers && this.#slots.length < this.#workerCount) {
      if (this.#startWorker() === null) break;
    }
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
      slot: null,
      resolve,
      reject,
    };
    this.#jobs.set(job.id, job);
    const slot = this.#pickSlot();
    if (slot === null) {
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
    job.slot = slot;
    if (slot.jobs.size === 0) slot.lastProgressMs = Date.now();
    slot.jobs.add(job.id);
    try {
      slot.worker.postMessage(request, [job.data.buffer]);
    } catch (err: unknown) {
      this.#dropSlot(slot, `cannot post to a piece worker: ${errorText(err)}`);
      return promise;
    }
    this.#armWatchdog();
    return promise;
  }

  /** Stop the Workers. Pending jobs still settle (lost, or in-process). */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#mayStartWorkers = false;
    for (const slot of [...this.#slots]) {
      if (slot.jobs.size > 0) this.#dropSlot(slot, "closed with jobs pending");
      else this.#stopSlot(slot);
    }
    this.#disarmWatchdog();
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

  /** The Worker with the fewest jobs (starting another while all are busy and the pool is not full), or null. */
  #pickSlot(): Slot | null {
    let best: Slot | null = null;
    for (const slot of this.#slots) if (best === null || slot.jobs.size < best.jobs.size) best = slot;
    if ((best === null || best.jobs.size > 0) && this.#mayStartWorkers && this.#slots.length < this.#workerCount) {
      return this.#startWorker() ?? best;
    }
    return best;
  }

  #startWorker(): Slot | null {
    let worker: Worker;
    try {
      worker = new Worker(this.#workerUrl, { type: "module" });
    } catch (err: unknown) {
      this.#mayStartWorkers = false;
      this.#onWarning(`Piece worker unavailable: ${err instanceof Error ? err.message : err}`);
      return null;
    }
    const slot: Slot = { worker, jobs: new Set(), lastProgressMs: Date.now() };
    worker.onmessage = (e: MessageEvent<PieceReply>) => this.#onReply(slot, e.data);
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault(); // a dying Worker must not take the process with it
      this.#dropSlot(slot, `piece worker failed: ${e.message}`);
    };
    worker.onmessageerror = () => this.#dropSlot(slot, "piece worker sent an unreadable message");
    this.#slots.push(slot);
    return slot;
  }

  #onReply(slot: Slot, reply: PieceReply): void {
    if (reply.type === "closed") return;
    const job = this.#jobs.get(reply.id);
    if (job === undefined || job.slot !== slot) return;
    this.#jobs.delete(reply.id);
    slot.jobs.delete(reply.id);
    slot.lastProgressMs = Date.now();
    if (reply.type === "done") job.resolve({ verdict: reply.ok ? "written" : "bad", data: reply.data });
    else job.reject(new StorageError("io", reply.message));
  }

  #armWatchdog(): void {
    if (this.#watchdog !== null) return;
    this.#watchdog = setTimeout(() => {
      this.#watchdog = null;
      const now = Date.now();
      for (const slot of [...this.#slots]) {
        const idleMs = now - slot.lastProgressMs;
        if (slot.jobs.size > 0 && idleMs >= this.#stallMs) {
          this.#dropSlot(slot, `piece worker made no progress for ${idleMs} ms`);
        }
      }
      if (this.#slots.some((slot) => slot.jobs.size > 0)) this.#armWatchdog();
    }, this.#stallMs);
  }

  #disarmWatchdog(): void {
    if (this.#watchdog === null) return;
    clearTimeout(this.#watchdog);
    this.#watchdog = null;
  }

  #stopSlot(slot: Slot): void {
    const i = this.#slots.indexOf(slot);
    if (i < 0) return;
    this.#slots.splice(i, 1);
    slot.worker.onmessage = slot.worker.onerror = slot.worker.onmessageerror = null;
    slot.worker.terminate();
    if (this.#slots.length === 0) this.#disarmWatchdog();
  }

  /**
   * Give up on one Worker for good (and start no new ones): jobs whose bytes it holds are lost, any still here (a
   * failed post) are redone in-process. Later jobs go to the Workers left, or run in-process.
   */
  #dropSlot(slot: Slot, reason: string): void {
    if (!this.#slots.includes(slot)) return;
    this.#mayStartWorkers = false;
    this.#stopSlot(slot);
    this.#onWarning(`${reason}; ${this.#slots.length > 0 ? "using the other workers" : "hashing in-process"}`);
    for (const id of slot.jobs) {
      const job = this.#jobs.get(id);
      if (job === undefined) continue;
      job.slot = null;
      if (job.data.buffer.detached) {
        this.#jobs.delete(job.id);
        job.resolve({ verdict: "lost", data: null });
      } else {
        this.#runInProcess(job);
      }
    }
    slot.jobs.clear();
  }

  #runInProcess(job: Job): void {
    const run = this.#inProcess.then(async () => {
      const ok = equals(await sha1(job.data), pieceHash(this.#storage.meta, job.index));
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
