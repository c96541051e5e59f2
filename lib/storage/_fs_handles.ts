// File handles of createFsStorage (lib/storage/storage.ts): a least-recently-used cache of shared read handles, a
// pool of private write handles under a cap on writes running at once, and whole reads and writes at an offset.
// Knows paths by file index only; which bytes go where is storage.ts's (and file_map.ts's) business.

import { errorText, StorageError } from "../errors.ts";

/** Most files kept open at once; older handles are closed first. */
export const MAX_OPEN_FILES = 64;
/** Writes running at once, each on its own handle (no shared file position), so they never queue behind reads. */
export const MAX_CONCURRENT_WRITES = 4;

/** Create the folder `path` lives in (and its parents). */
export async function createParentDir(path: string): Promise<void> {
  const cut = path.lastIndexOf("/");
  if (cut > 0) await Deno.mkdir(path.slice(0, cut), { recursive: true });
}

/** Open `path` for reading and writing, creating it and its folders. @throws {StorageError} io */
export async function openForWrite(path: string): Promise<Deno.FsFile> {
  try {
    await createParentDir(path);
    return await Deno.open(path, { read: true, write: true, create: true });
  } catch (err: unknown) {
    throw new StorageError("io", `Cannot open "${path}": ${errorText(err)}`, { cause: err });
  }
}

/**
 * Read handles by file index, at most `maxOpen` open (the least recently used is closed first). Handles are shared:
 * the caller runs a seek and its read one at a time.
 */
export class ReadHandles {
  readonly #paths: readonly string[];
  readonly #maxOpen: number;
  /** Insertion order = least recently used first. */
  readonly #open = new Map<number, Deno.FsFile>();

  constructor(paths: readonly string[], maxOpen: number = MAX_OPEN_FILES) {
    this.#paths = paths;
    this.#maxOpen = maxOpen;
  }

  /** Files open now. */
  get openCount(): number {
    return this.#open.size;
  }

  /** The read handle of file `fileIndex`. @throws {StorageError} missing (no such file), io */
  async get(fileIndex: number): Promise<Deno.FsFile> {
    const cached = this.#open.get(fileIndex);
    if (cached !== undefined) {
      this.#open.delete(fileIndex);
      this.#open.set(fileIndex, cached);
      return cached;
    }
    while (this.#open.size >= this.#maxOpen) {
      const [oldest, file] = this.#open.entries().next().value as [number, Deno.FsFile];
      this.#open.delete(oldest);
      file.close();
    }
    const path = this.#paths[fileIndex]!;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (err: unknown) {
      if (err instanceof Deno.errors.NotFound) {
        throw new StorageError("missing", `Cannot open "${path}": no such file`, { cause: err });
      }
      throw new StorageError("io", `Cannot open "${path}": ${errorText(err)}`, { cause: err });
    }
    this.#open.set(fileIndex, file);
    return file;
  }

  closeAll(): void {
    for (const file of this.#open.values()) file.close();
    this.#open.clear();
  }
}

/**
 * Write handles: at most `maxWrites` writes run at once (`run`), each on a handle of its own (`take`, then `give`
 * back), since Deno has no pwrite and a private handle makes seek + write positional. Idle handles are kept up to
 * `maxWrites` in all; after closeAll every handle given back is closed.
 */
export class WriteHandles {
  readonly #paths: readonly string[];
  readonly #maxWrites: number;
  readonly #idle = new Map<number, Deno.FsFile[]>();
  #idleCount = 0;
  #running = 0;
  readonly #waiters: (() => void)[] = [];
  #isClosed = false;

  constructor(paths: readonly string[], maxWrites: number = MAX_CONCURRENT_WRITES) {
    this.#paths = paths;
    this.#maxWrites = maxWrites;
  }

  /** Writes running now. */
  get running(): number {
    return this.#running;
  }

  /** Run `fn` once fewer than `maxWrites` others run. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#running >= this.#maxWrites) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#running++;
    try {
      return await fn();
    } finally {
      this.#running--;
      this.#waiters.shift()?.();
    }
  }

  /** An idle handle of file `fileIndex`, or a new one (creating the file). @throws {StorageError} io */
  take(fileIndex: number): Promise<Deno.FsFile> {
    const idle = this.#idle.get(fileIndex)?.pop();
    if (idle === undefined) return openForWrite(this.#paths[fileIndex]!);
    this.#idleCount--;
    return Promise.resolve(idle);
  }

  /** Hand back a handle that wrote without error: kept idle, or closed past the cap or after closeAll. */
  give(fileIndex: number, file: Deno.FsFile): void {
    if (this.#isClosed || this.#idleCount >= this.#maxWrites) {
      file.close();
      return;
    }
    let list = this.#idle.get(fileIndex);
    if (list === undefined) this.#idle.set(fileIndex, list = []);
    list.push(file);
    this.#idleCount++;
  }

  closeAll(): void {
    this.#isClosed = true;
    for (const list of this.#idle.values()) for (const file of list) file.close();
    this.#idle.clear();
    this.#idleCount = 0;
  }
}

/**
 * Fill `out` from `file` at `fileOffset`. @throws {StorageError} short_read (the file ends first), io
 * @param path for messages only
 */
export async function readFullyAt(file: Deno.FsFile, fileOffset: number, out: Uint8Array, path: string): Promise<void> {
  try {
    await file.seek(fileOffset, Deno.SeekMode.Start);
    let done = 0;
    while (done < out.length) {
      const n = await file.read(out.subarray(done));
      if (n === null) {
        throw new StorageError("short_read", `Cannot read "${path}": file ends before byte ${fileOffset + out.length}`);
      }
      done += n;
    }
  } catch (err: unknown) {
    if (err instanceof StorageError) throw err;
    throw new StorageError("io", `Cannot read "${path}": ${errorText(err)}`, { cause: err });
  }
}

/**
 * Write all of `data` to `file` at `fileOffset`. @throws {StorageError} io
 * @param path for messages only
 */
export async function writeFullyAt(
  file: Deno.FsFile,
  fileOffset: number,
  data: Uint8Array,
  path: string,
): Promise<void> {
  try {
    await file.seek(fileOffset, Deno.SeekMode.Start);
    let done = 0;
    while (done < data.length) done += await file.write(data.subarray(done));
  } catch (err: unknown) {
    throw new StorageError("io", `Cannot write "${path}": ${errorText(err)}`, { cause: err });
  }
}
