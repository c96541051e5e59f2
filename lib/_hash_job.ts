// One hashing job for `createTorrent`: read a run of consecutive pieces from files on disk and SHA-1 each piece.
// Shared by the hash Workers (lib/_hash_worker.ts) and the main thread (lib/create_hashing.ts), which hashes too.
// Hashes with the synchronous SHA-1 it is given (run: node:crypto, or OpenSSL through FFI with --sha1 libc) or with
// WebCrypto's digests in flight (runAsync: small inputs in small pieces; lib/sha1.ts says which where). Memory is
// bounded by one read buffer per hasher (one piece, or 1 MiB of smaller ones) and the copies of the digests in
// flight (DIGEST_BYTES_IN_FLIGHT); never prints.

import { errorText, StorageError } from "./errors.ts";
import { sha1, type SyncSha1 } from "./sha1.ts";

/** A byte range of one file. */
export interface HashSegment {
  path: string;
  offset: number;
  length: number;
}

/** Consecutive pieces `firstPiece…` whose bytes are the concatenation of `segments`. */
export interface HashJob {
  id: number;
  firstPiece: number;
  pieceCount: number;
  pieceLength: number;
  /** Total bytes of the job (the last piece of a torrent may be short). */
  byteLength: number;
  segments: HashSegment[];
}

/**
 * Bytes read per system call when pieces are smaller, a power of two: large reads keep syscalls few. A bigger piece
 * is read whole.
 */
export const READ_CHUNK_BYTES = 1024 * 1024;

/** WebCrypto digests of runAsync() at once: enough to keep every core busy while this thread reads. */
export const DIGESTS_IN_FLIGHT = 8;
/** Bytes those digests may hold (each is a copy of its piece); one piece is always allowed. */
export const DIGEST_BYTES_IN_FLIGHT = 8 * 1024 * 1024;

/** Reads job data with one open file at a time (jobs come in increasing offset order per hasher). */
export class JobReader {
  #path = "";
  #file: Deno.FsFile | null = null;
  #pos = 0;
  #buf = new Uint8Array(0);
  #syncSha1: SyncSha1 | null;

  /** `syncSha1`: the synchronous SHA-1 of run() (lib/_sha1_node.ts, or openLibcSha1()); runAsync() needs none. */
  constructor(syncSha1: SyncSha1 | null = null) {
    this.#syncSha1 = syncSha1;
  }

  /** Read `job` and return its piece hashes (20 bytes each, in order). @throws {StorageError} read_failed, file_changed */
  run(job: HashJob): Uint8Array<ArrayBuffer> {
    const syncSha1 = this.#syncSha1;
    if (syncSha1 === null) throw new TypeError("JobReader.run() needs the synchronous SHA-1 it was made without");
    const pl = job.pieceLength;
    const out = new Uint8Array(job.pieceCount * 20);
    let piece = 0;
    for (const want of this.#chunks(job)) {
      for (let at = 0; at < want; at += pl) {
        syncSha1(this.#buf.subarray(at, Math.min(at + pl, want)), out, 20 * piece++);
      }
    }
    return out;
  }

  /**
   * Like run(), hashing with WebCrypto (lib/sha1.ts): the digests run off this thread, up to DIGESTS_IN_FLIGHT (and
   * DIGEST_BYTES_IN_FLIGHT, one piece at least) at once, while the next bytes are read. `digest` must copy its input
   * when called, as sha1() does (tests substitute one).
   * @throws {StorageError} read_failed, file_changed
   */
  async runAsync(
    job: HashJob,
    digest: (data: Uint8Array) => Promise<Uint8Array> = sha1,
  ): Promise<Uint8Array<ArrayBuffer>> {
    const pl = job.pieceLength;
    const out = new Uint8Array(job.pieceCount * 20);
    const inFlight: Promise<void>[] = [];
    const maxInFlight = Math.max(1, Math.min(DIGESTS_IN_FLIGHT, Math.floor(DIGEST_BYTES_IN_FLIGHT / pl)));
    let piece = 0;
    try {
      for (const want of this.#chunks(job)) {
        for (let at = 0; at < want; at += pl) {
          if (inFlight.length >= maxInFlight) await inFlight.shift();
          const to = 20 * piece++;
          // sha1() copies the bytes when called: the buffer is free for the next read at once.
          inFlight.push(digest(this.#buf.subarray(at, Math.min(at + pl, want))).then((d) => out.set(d, to)));
        }
      }
    } finally {
      await Promise.all(inFlight);
    }
    return out;
  }

  /** Read `job` a chunk of whole pieces at a time into this.#buf, yielding each chunk's length. */
  *#chunks(job: HashJob): Generator<number> {
    const pl = job.pieceLength;
    // Whole pieces per read: several when they fit in a chunk, else one. Jobs start on piece boundaries.
    const chunkBytes = Math.min(pl <= READ_CHUNK_BYTES ? Math.floor(READ_CHUNK_BYTES / pl) * pl : pl, job.byteLength);
    if (this.#buf.length < chunkBytes) this.#buf = new Uint8Array(chunkBytes);
    let seg = 0;
    let segDone = 0;
    let jobDone = 0;
    while (jobDone < job.byteLength) {
      const want = Math.min(chunkBytes, job.byteLength - jobDone);
      let filled = 0;
      while (filled < want) {
        const s = job.segments[seg]!;
        const n = Math.min(s.length - segDone, want - filled);
        if (n > 0) this.#readExact(s.path, s.offset + segDone, this.#buf.subarray(filled, filled + n));
        filled += n;
        segDone += n;
        if (segDone === s.length) {
          seg++;
          segDone = 0;
        }
      }
      jobDone += want;
      yield want;
    }
  }

  #readExact(path: string, offset: number, into: Uint8Array): void {
    try {
      if (this.#path !== path || this.#file === null) {
        this.close();
        this.#file = Deno.openSync(path, { read: true });
        this.#path = path;
        this.#pos = 0;
      }
      const f = this.#file;
      if (this.#pos !== offset) {
        f.seekSync(offset, Deno.SeekMode.Start);
        this.#pos = offset;
      }
      let got = 0;
      while (got < into.length) {
        const n = f.readSync(into.subarray(got));
        if (n === null) {
          throw new StorageError(
            "file_changed",
            `Cannot hash "${path}": the file shrank while hashing (expected ${offset + into.length} bytes)`,
          );
        }
        got += n;
        this.#pos += n;
      }
    } catch (err: unknown) {
      this.close();
      if (err instanceof StorageError) throw err;
      const detail = errorText(err);
      throw new StorageError("read_failed", `Cannot read "${path}": ${detail}`, { cause: err });
    }
  }

  /** Close the open file, if any. */
  close(): void {
    try {
      this.#file?.close();
    } catch {
      // already closed
    }
    this.#file = null;
    this.#path = "";
  }
}
