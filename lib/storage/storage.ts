// Torrent data storage: the `Storage` interface (block read/write, piece verification) with a file-system and an
// in-memory implementation. Files live at DIR/<name> (single-file) or DIR/<name>/<path…> (multi-file).
// Paths come only from validated Metainfo and pass safeRelativePath again here; nothing is written in read-only mode.

import { equals } from "../bytes.ts";
import { errorText, StorageError } from "../errors.ts";
import { mapRange, safeRelativePath } from "../file_map.ts";
import type { Metainfo, TorrentFile } from "../metainfo.ts";
import { isPieceIndex, pieceHash, pieceSize } from "../pieces.ts";
import { sha1 } from "../sha1.ts";

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

/** Most files kept open at once; older handles are closed first. */
export const MAX_OPEN_FILES = 64;
/** Writes running at once, each on its own handle (no shared file position), so they never queue behind reads. */
export const MAX_CONCURRENT_WRITES = 4;

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

interface Handle {
  file: Deno.FsFile;
  isWritable: boolean;
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
  const handles = new Map<number, Handle>(); // insertion order = least recently used first
  let queue: Promise<unknown> = Promise.resolve();
  let isClosed = false;
  /** Idle write handles per file (at most MAX_CONCURRENT_WRITES in all, plus those in use). */
  const writeHandles = new Map<number, Deno.FsFile[]>();
  let idleWriteHandles = 0;
  let writesRunning = 0;
  const writeWaiters: (() => void)[] = [];
  const writesInFlight = new Set<Promise<unknown>>();
  /** One piece, allocated at the first verification and reused by every later one. */
  let verifyBuffer: Uint8Array | null = null;

  async function writeSlot<T>(fn: () => Promise<T>): Promise<T> {
    while (writesRunning >= MAX_CONCURRENT_WRITES) await new Promise<void>((resolve) => writeWaiters.push(resolve));
    writesRunning++;
    try {
      return await fn();
    } finally {
      writesRunning--;
      writeWaiters.shift()?.();
    }
  }

  async function takeWriteHandle(fileIndex: number): Promise<Deno.FsFile> {
    const idle = writeHandles.get(fileIndex)?.pop();
    if (idle !== undefined) {
      idleWriteHandles--;
      return idle;
    }
    const path = paths[fileIndex]!;
    try {
      const cut = path.lastIndexOf("/");
      if (cut > 0) await Deno.mkdir(path.slice(0, cut), { recursive: true });
      return await Deno.open(path, { read: true, write: true, create: true });
    } catch (err: unknown) {
      const msg = errorText(err);
      throw new StorageError("io", `Cannot open "${path}": ${msg}`, { cause: err });
    }
  }

  function giveWriteHandle(fileIndex: number, file: Deno.FsFile): void {
    if (isClosed || idleWriteHandles >= MAX_CONCURRENT_WRITES) {
      file.close();
      return;
    }
    let list = writeHandles.get(fileIndex);
    if (list === undefined) writeHandles.set(fileIndex, list = []);
    list.push(file);
    idleWriteHandles++;
  }

  function serial<T>(fn: () => Promise<T>): Promise<T> {
    if (isClosed) return Promise.reject(new StorageError("closed", "Cannot use storage: it is closed"));
    const run = queue.then(fn);
    queue = run.catch(() => {});
    return run;
  }

  async function handle(fileIndex: number, isWrite: boolean): Promise<Deno.FsFile> {
    const cached = handles.get(fileIndex);
    if (cached !== undefined && (cached.isWritable || !isWrite)) {
      handles.delete(fileIndex);
      handles.set(fileIndex, cached);
      return cached.file;
    }
    if (cached !== undefined) {
      handles.delete(fileIndex);
      cached.file.close();
    }
    while (handles.size >= MAX_OPEN_FILES) {
      const [oldest, h] = handles.entries().next().value as [number, Handle];
      handles.delete(oldest);
      h.file.close();
    }
    const path = paths[fileIndex]!;
    let file: Deno.FsFile;
    try {
      if (isWrite) {
        const cut = path.lastIndexOf("/");
        if (cut > 0) await Deno.mkdir(path.slice(0, cut), { recursive: true });
        file = await Deno.open(path, { read: true, write: true, create: true });
      } else {
        file = await Deno.open(path, { read: true });
      }
    } catch (err: unknown) {
      if (err instanceof Deno.errors.NotFound) {
        throw new StorageError("missing", `Cannot open "${path}": no such file`, { cause: err });
      }
      const msg = errorText(err);
      throw new StorageError("io", `Cannot open "${path}": ${msg}`, { cause: err });
    }
    handles.set(fileIndex, { file, isWritable: isWrite });
    return file;
  }

  async function readAt(fileIndex: number, fileOffset: number, length: number, out?: Uint8Array): Promise<Uint8Array> {
    // BEP 47 padding files are zeros that never exist on disk.
    if (meta.files[fileIndex]!.isPadding) return (out ?? new Uint8Array(length)).fill(0, 0, length);
    // Open first: checking absent data (a fresh download) must not allocate a piece-sized buffer per piece.
    const file = await handle(fileIndex, false);
    const buf = out ?? new Uint8Array(length);
    const path = paths[fileIndex]!;
    try {
      await file.seek(fileOffset, Deno.SeekMode.Start);
      let done = 0;
      while (done < length) {
        const n = await file.read(buf.subarray(done, length));
        if (n === null) {
          throw new StorageError(
            "short_read",
            `Cannot read "${path}": file ends before byte ${fileOffset + length}`,
          );
        }
        done += n;
      }
    } catch (err: unknown) {
      if (err instanceof StorageError) throw err;
      const msg = errorText(err);
      throw new StorageError("io", `Cannot read "${path}": ${msg}`, { cause: err });
    }
    return buf;
  }

  async function writeAt(fileIndex: number, fileOffset: number, data: Uint8Array): Promise<void> {
    if (meta.files[fileIndex]!.isPadding) return;
    const file = await takeWriteHandle(fileIndex);
    try {
      await file.seek(fileOffset, Deno.SeekMode.Start);
      let done = 0;
      while (done < data.length) done += await file.write(data.subarray(done));
    } catch (err: unknown) {
      file.close();
      const msg = errorText(err);
      throw new StorageError("io", `Cannot write "${paths[fileIndex]}": ${msg}`, { cause: err });
    }
    giveWriteHandle(fileIndex, file);
  }

  async function readRange(start: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let at = 0;
    for (const seg of mapRange(meta.files, start, length)) {
      await readAt(seg.fileIndex, seg.fileOffset, seg.length, out.subarray(at, at + seg.length));
      at += seg.length;
    }
    return out;
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
      if (isClosed) return Promise.reject(new StorageError("closed", "Cannot use storage: it is closed"));
      const run = writeSlot(async () => {
        const start = checkRange(meta, index, begin, data.length);
        if (isReadOnly) throw new StorageError("read_only", `Cannot write piece ${index}: storage is read-only`);
        let at = 0;
        for (const seg of mapRange(meta.files, start, data.length)) {
          await writeAt(seg.fileIndex, seg.fileOffset, data.subarray(at, at + seg.length));
          at += seg.length;
        }
      });
      const settled = run.catch(() => {});
      writesInFlight.add(settled);
      void settled.finally(() => writesInFlight.delete(settled));
      return run;
    },
    async verifyPiece(index) {
      // Only the read holds the queue: sha1 has copied the bytes when it returns, so the next read may reuse them.
      const digest = await serial(async () => {
        checkRange(meta, index, 0, 0);
        const size = pieceSize(meta, index);
        verifyBuffer ??= new Uint8Array(meta.pieceLength);
        let at = 0;
        try {
          for (const seg of mapRange(meta.files, index * meta.pieceLength, size)) {
            await readAt(seg.fileIndex, seg.fileOffset, seg.length, verifyBuffer.subarray(at, at + seg.length));
            at += seg.length;
          }
        } catch (err: unknown) {
          if (err instanceof StorageError && (err.code === "missing" || err.code === "short_read")) return null;
          throw err;
        }
        return { promise: sha1(verifyBuffer.subarray(0, size)) };
      });
      return digest !== null && await matchesPieceHash(meta, index, digest.promise);
    },
    writablePaths() {
      return isReadOnly ? null : paths;
    },
    fileSizes() {
      return Promise.all(meta.files.map(async (f, i) => {
        if (f.isPadding) return f.length;
        try {
          return (await Deno.stat(paths[i]!)).size;
        } catch (err: unknown) {
          if (err instanceof Deno.errors.NotFound) return null;
          const msg = errorText(err);
          throw new StorageError("io", `Cannot stat "${paths[i]}": ${msg}`, { cause: err });
        }
      }));
    },
    async close() {
      if (isClosed) return;
      await Promise.all([queue, ...writesInFlight]);
      isClosed = true;
      for (const h of handles.values()) h.file.close();
      handles.clear();
      for (const list of writeHandles.values()) for (const f of list) f.close();
      writeHandles.clear();
      idleWriteHandles = 0;
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
      const cut = path.lastIndexOf("/");
      if (cut > 0) await Deno.mkdir(path.slice(0, cut), { recursive: true });
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
