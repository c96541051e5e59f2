// One hashing job for `createTorrent`: read a run of consecutive pieces from files on disk and SHA-1 each piece.
// Shared by the hash Workers (lib/_hash_worker.ts) and the in-process path of lib/create.ts.
// Memory is bounded by one chunk buffer per hasher; never prints. Hashes with node:crypto, synchronously: the one
// path where WebCrypto costs measurably more (lib/sha1.ts, docs/PERFORMANCE.md).

import { errorText, StorageError } from "./errors.ts";
import { createSha1Sync, type Sha1Sync, sha1Sync } from "./sha1.ts";

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
 * Bytes read per system call, a power of two: large reads keep syscalls few, small ones keep the data in the
 * core's L2 cache between the kernel's copy and the hash.
 */
export const READ_CHUNK_BYTES = 1024 * 1024;

/** Reads job data with one open file at a time (jobs come in increasing offset order per hasher). */
export class JobReader {
  #path = "";
  #file: Deno.FsFile | null = null;
  #pos = 0;
  #buf = new Uint8Array(0);

  /** Read `job` and return its piece hashes (20 bytes each, in order). @throws {StorageError} read_failed, file_changed */
  run(job: HashJob): Uint8Array<ArrayBuffer> {
    const pl = job.pieceLength;
    // Whole pieces per read when they fit in a chunk; otherwise a piece is read (and hashed) a chunk at a time.
    const chunkBytes = Math.min(
      pl <= READ_CHUNK_BYTES ? Math.floor(READ_CHUNK_BYTES / pl) * pl : READ_CHUNK_BYTES,
      job.byteLength,
    );
    if (this.#buf.length < chunkBytes) this.#buf = new Uint8Array(chunkBytes);
    const out = new Uint8Array(job.pieceCount * 20);
    let seg = 0;
    let segDone = 0;
    let jobDone = 0;
    let piece = 0;
    let partial: Sha1Sync | null = null;
    let pieceFill = 0;
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
      for (let at = 0; at < want;) {
        const n = Math.min(want - at, pl - pieceFill);
        const bytes = this.#buf.subarray(at, at + n);
        at += n;
        const isPieceEnd = pieceFill + n === pl || (at === want && jobDone === job.byteLength);
        if (pieceFill === 0 && isPieceEnd) {
          out.set(sha1Sync(bytes), 20 * piece++);
          continue;
        }
        partial ??= createSha1Sync();
        partial.update(bytes);
        pieceFill += n;
        if (isPieceEnd) {
          out.set(partial.digest(), 20 * piece++);
          partial = null;
          pieceFill = 0;
        }
      }
    }
    return out;
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
