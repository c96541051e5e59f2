// Torrent data storage: the `Storage` interface (block read/write, piece verification) with a file-system and an
// in-memory implementation. Files live at DIR/<name> (single-file) or DIR/<name>/<path…> (multi-file).
// Paths come only from validated Metainfo and pass safeRelativePath again here; nothing is written in read-only mode.

import { equals } from "../bytes.ts";
import { errorText, StorageError } from "../errors.ts";
import { mapRange, safeRelativePath } from "../file_map.ts";
import type { Metainfo, TorrentFile } from "../metainfo.ts";
import { isPieceIndex, pieceHash, pieceSize } from "../pieces.ts";
import { sha1 } from "../sha1.ts";
import { createParentDir, readFullyAt, ReadHandles, writeFullyAt, WriteHandles } from "./_fs_handles.ts";

/** Read and write a torrent's data by piece, block and byte range. */
export interface Storage {
  readonly meta: Metainfo;
  /**
   * Read `length` bytes at `begin` inside piece `index`.
   * @throws {StorageError} range, missing (a file is absent), short_read (a file is too short), io
   */
  readBlock(index: number, begin: number, length: number): Promise<Uint8Array>;
  /** Read a whole piece. @throws {StorageError} as readBlock */
  readPiece(index: number): Promise<Uint8Array>;
  /** Write `data` at `begin` inside piece `index`. @throws {StorageError} range, read_only, io */
  writeBlock(index: number, begin: number, data: Uint8Array): Promise<void>;
  /**
   * True when piece `index` is present and its SHA-1 matches; false when it differs or its data is missing or
   * short. The piece is read whole (WebCrypto hashes whole buffers) into one buffer the storage reuses; the digest
   * runs after the read, so several verifications in flight overlap one's hashing with the next one's reading.
   * @throws {StorageError} range, io
   */
  verifyPiece(index: number): Promise<boolean>;
  /** Release open files. Further calls fail. */
  close(): Promise<void>;
  /**
   * The path of each of `meta.files` where this storage's data lives, for writers on other threads (PieceWriter's
   * Worker); null or absent when the data cannot be written that way (read-only, in memory, wrapped).
   */
  writablePaths?(): readonly string[] | null;
  /**
   * The size of each of `meta.files` on disk now, null when it does not exist (padding files report their length);
   * absent for storages without files. Lets a check skip pieces that cannot be there without reading anything.
   * @throws {StorageError} io
   */
  fileSizes?(): Promise<(number | null)[]>;
}

/** Options for createFsStorage. */
export interface FsStorageOptions {
  /** Never create or write files (for `btool verify` and seeding from data you must not touch). */
  isReadOnly?: boolean;
}

export { MAX_CONCURRENT_WRITES, MAX_OPEN_FILES } from "./_fs_handles.ts";

function checkRange(meta: Metainfo, index: number, begin: number, length: number): number {
  if (!isPieceIndex(meta, index)) {
    throw new StorageError("range", `Cannot access piece "${index}": outside 0..${meta.pieceCount - 1}`);
  }
  const size = pieceSize(meta, index);
  if (
    !Number.isSafeInteger(begin) || !Number.isSafeInteger(length) || begin < 0 || length < 0 || begin + length > size
  ) {
    throw new StorageError("range", `Cannot access piece ${index}: range "${begin}+${length}" is outside 0..${size}`);
  }
  return index * meta.pieceLength + begin;
}

/** Where file `file` of a torrent lives below `dir`. @throws {MetainfoError} unsafe_path */
export function dataPath(dir: string, file: TorrentFile): string {
  return `${dir.replace(/\/+$/, "") || "/"}/${safeRelativePath(file.path)}`;
}

/** Whether `digest` is piece `index`'s hash. */
async function matchesPieceHash(meta: Metainfo, index: number, digest: Promise<Uint8Array>): Promise<boolean> {
  return equals(await digest, pieceHash(meta, index));
}

/** Read `out.length` bytes of the torrent's data from `start` into `out`, through `readAt` for each file's part. */
async function readSegments(
  meta: Metainfo,
  start: number,
  out: Uint8Array,
  readAt: (fileIndex: number, fileOffset: number, out: Uint8Array) => Promise<void>,
): Promise<void> {
  let at = 0;
  for (const seg of mapRange(meta.files, start, out.length)) {
    await readAt(seg.fileIndex, seg.fileOffset, out.subarray(at, at + seg.length));
    at += seg.length;
  }
}

/** The size on disk of each file at `paths`, null when absent; padding files report their length. */
function statFileSizes(meta: Metainfo, paths: readonly string[]): Promise<(number | null)[]> {
  return Promise.all(meta.files.map(async (f, i) => {
    if (f.isPadding) return f.length;
    try {
      return (await Deno.stat(paths[i]!)).size;
    } catch (err: unknown) {
      if (err instanceof Deno.errors.NotFound) return null;
      throw new StorageError("io", `Cannot stat "${paths[i]}": ${errorText(err)}`, { cause: err });
    }
  }));
}

/** Whether a read failed only because the data is not there (yet): verifyPiece answers false for it. */
function isAbsentData(err: unknown): boolean {
  return err instanceof StorageError && (err.code === "missing" || err.code === "short_read");
}

function closedError(): StorageError {
  return new StorageError("closed", "Cannot use storage: it is closed");
}

/**
 * Storage over files below `dir`. Reads and verifications run one at a time on shared handles (a seek followed by a
 * read must not interleave with another); at most MAX_OPEN_FILES of those stay open. Writes run up to
 * MAX_CONCURRENT_WRITES at once, each on a handle of its own taken from a small per-file pool (Deno has no pwrite:
 * a private handle makes seek + write positional), so a download's writes overlap instead of queueing.
 * Writing creates missing folders and files. Callers must not read a range while it is being written.
 */
export function createFsStorage(meta: Metainfo, dir: string, options: FsStorageOptions = {}): Storage {
  const isReadOnly = options.isReadOnly ?? false;
  const paths = meta.files.map((f) => dataPath(dir, f));
  const readHandles = new ReadHandles(paths);
  const writeHandles = new WriteHandles(paths);
  let queue: Promise<unknown> = Promise.resolve();
  let isClosed = false;
  const writesInFlight = new Set<Promise<unknown>>();
  /** One piece, allocated at the first verification and reused by every later one. */
  let verifyBuffer: Uint8Array | null = null;

  function serial<T>(fn: () => Promise<T>): Promise<T> {
    if (isClosed) return Promise.reject(closedError());
    const run = queue.then(fn);
    queue = run.catch(() => {});
    return run;
  }

  async function readAt(fileIndex: number, fileOffset: number, out: Uint8Array): Promise<void> {
    // BEP 47 padding files are zeros that never exist on disk.
    if (meta.files[fileIndex]!.isPadding) return void out.fill(0);
    await readFullyAt(await readHandles.get(fileIndex), fileOffset, out, paths[fileIndex]!);
  }

  async function writeAt(fileIndex: number, fileOffset: number, data: Uint8Array): Promise<void> {
    if (meta.files[fileIndex]!.isPadding) return;
    const file = await writeHandles.take(fileIndex);
    try {
      await writeFullyAt(file, fileOffset, data, paths[fileIndex]!);
    } catch (err: unknown) {
      file.close();
      throw err;
    }
    writeHandles.give(fileIndex, file);
  }

  async function writeRange(index: number, begin: number, data: Uint8Array): Promise<void> {
    const start = checkRange(meta, index, begin, data.length);
    if (isReadOnly) throw new StorageError("read_only", `Cannot write piece ${index}: storage is read-only`);
    let at = 0;
    for (const seg of mapRange(meta.files, start, data.length)) {
      await writeAt(seg.fileIndex, seg.fileOffset, data.subarray(at, at + seg.length));
      at += seg.length;
    }
  }

  async function readRange(start: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await readSegments(meta, start, out, readAt);
    return out;
  }

  /** Read piece `index` into the verify buffer and start its digest; null when its data is absent or short. */
  async function readForVerify(index: number): Promise<{ digest: Promise<Uint8Array> } | null> {
    checkRange(meta, index, 0, 0);
    verifyBuffer ??= new Uint8Array(meta.pieceLength);
    const piece = verifyBuffer.subarray(0, pieceSize(meta, index));
    try {
      await readSegments(meta, index * meta.pieceLength, piece, readAt);
    } catch (err: unknown) {
      if (isAbsentData(err)) return null;
      throw err;
    }
    return { digest: sha1(piece) };
  }

  return {
    meta,
    readBlock(index, begin, length) {
      return serial(() => readRange(checkRange(meta, index, begin, length), length));
    },
    readPiece(index) {
      return serial(() => readRange(checkRange(meta, index, 0, pieceSizeOr0(meta, index)), pieceSizeOr0(meta, index)));
    },
    writeBlock(index, begin, data) {
      if (isClosed) return Promise.reject(closedError());
      const run = writeHandles.run(() => writeRange(index, begin, data));
      const settled = run.catch(() => {});
      writesInFlight.add(settled);
      void settled.finally(() => writesInFlight.delete(settled));
      return run;
    },
    async verifyPiece(index) {
      // Only the read holds the queue: sha1 has copied the bytes when it returns, so the next read may reuse them.
      const read = await serial(() => readForVerify(index));
      return read !== null && await matchesPieceHash(meta, index, read.digest);
    },
    writablePaths() {
      return isReadOnly ? null : paths;
    },
    fileSizes() {
      return statFileSizes(meta, paths);
    },
    async close() {
      if (isClosed) return;
      await Promise.all([queue, ...writesInFlight]);
      isClosed = true;
      readHandles.closeAll();
      writeHandles.closeAll();
    },
  };
}

/**
 * Create the folders and zero-length files of `meta` below `dir` (no block write ever creates a zero-length file).
 * Padding files are skipped. Existing files are left as they are.
 * @throws {StorageError} io
 */
export async function createEmptyFiles(meta: Metainfo, dir: string): Promise<void> {
  for (const f of meta.files) {
    if (f.length !== 0 || f.isPadding) continue;
    const path = dataPath(dir, f);
    try {
      await createParentDir(path);
      (await Deno.open(path, { write: true, create: true })).close();
    } catch (err: unknown) {
      const msg = errorText(err);
      throw new StorageError("io", `Cannot create "${path}": ${msg}`, { cause: err });
    }
  }
}

/** Piece size, or 0 for a bad index (checkRange then reports it). */
function pieceSizeOr0(meta: Metainfo, index: number): number {
  return isPieceIndex(meta, index) ? pieceSize(meta, index) : 0;
}

/** Storage in memory (one buffer of `totalLength` bytes, zero-filled): for tests and small torrents. */
export function createMemoryStorage(meta: Metainfo, options: { data?: Uint8Array } = {}): Storage {
  const data = new Uint8Array(meta.totalLength);
  if (options.data !== undefined) data.set(options.data.subarray(0, meta.totalLength));
  let isClosed = false;
  function open(): void {
    if (isClosed) throw new StorageError("closed", "Cannot use storage: it is closed");
  }
  return {
    meta,
    readBlock(index, begin, length) {
      return Promise.resolve().then(() => {
        open();
        const start = checkRange(meta, index, begin, length);
        return data.slice(start, start + length);
      });
    },
    readPiece(index) {
      return this.readBlock(index, 0, pieceSizeOr0(meta, index));
    },
    writeBlock(index, begin, block) {
      return Promise.resolve().then(() => {
        open();
        data.set(block, checkRange(meta, index, begin, block.length));
      });
    },
    verifyPiece(index) {
      return Promise.resolve().then(() => {
        open();
        const size = pieceSizeOr0(meta, index);
        const start = checkRange(meta, index, 0, size);
        return matchesPieceHash(meta, index, sha1(data.subarray(start, start + size)));
      });
    },
    close() {
      isClosed = true;
      return Promise.resolve();
    },
  };
}
