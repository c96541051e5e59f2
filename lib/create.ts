// Makes a new v1 torrent (BEP 3, 12, 19, 27) from a file or folder: walk, hash on all cores, encode.
// File order and info keys match mktorrent, so the same data and options give the same info hash.
// Never prints: progress goes through `onProgress`; the caller writes the returned bytes.

import type { HashJob, HashSegment } from "./_hash_job.ts";
import { JobReader } from "./_hash_job.ts";
import { hasPrewarmedHashWorker, spawnHashWorker, takePrewarmedHashWorker } from "./_hash_pool.ts";
import type { HashReply, HashStart } from "./_hash_worker.ts";
import { encodeBencode } from "./bencode.ts";
import { compare, utf8 } from "./bytes.ts";
import { BtoolError, StorageError } from "./errors.ts";
import type { InfoHash } from "./infohash.ts";
import {
  checkPathComponent,
  MAX_FILES,
  MAX_PIECE_LENGTH_BYTES,
  type Metainfo,
  MIN_PIECE_LENGTH_BYTES,
  parseMetainfo,
} from "./metainfo.ts";
import { safePathComponent, safeTorrentPaths } from "./safe_path.ts";
import { openLibcSha1, type Sha1Choice, type SyncSha1 } from "./sha1.ts";
import { nodeSha1 } from "./_sha1_node.ts";

/** A torrent cannot be made from this input or with these options. */
export class CreateError extends BtoolError {}

/** `auto` piece length: the smallest power of two giving at most this many pieces… */
export const AUTO_MAX_PIECES = 2000;
/** …but never below 16 KiB… */
export const AUTO_MIN_PIECE_LENGTH_BYTES = 16 * 1024;
/** …nor above 16 MiB. */
export const AUTO_MAX_PIECE_LENGTH_BYTES = 16 * 1024 * 1024;
/** Bytes per job handed to a hasher: big enough to keep messaging rare, small enough to balance the tail. */
export const JOB_BYTES = 8 * 1024 * 1024;
/**
 * Up to this many bytes, hash in-process: `new Worker()` blocks the main thread ~25 ms and a Worker needs ~50 ms more
 * to load before it hashes anything, while one core hashes 64 MiB in about 50 ms (measured on the 2-core dev box).
 */
export const INLINE_MAX_BYTES = 64 * 1024 * 1024;
/** Upper bound on hashing Workers, whatever the core count says. */
export const MAX_WORKERS = 16;

/**
 * Piece length for `auto`: the smallest power of two from 16 KiB to 16 MiB that gives at most 2000 pieces,
 * i.e. 1001–2000 pieces unless clamped (1 GiB → 1 MiB pieces, 1024 of them).
 */
export function autoPieceLength(totalBytes: number): number {
  let pl = AUTO_MIN_PIECE_LENGTH_BYTES;
  while (pl < AUTO_MAX_PIECE_LENGTH_BYTES && Math.ceil(totalBytes / pl) > AUTO_MAX_PIECES) pl *= 2;
  return pl;
}

/**
 * Check an explicit piece length: a power of two from 16 KiB to 256 MiB.
 * @throws {CreateError} invalid_piece_length
 */
export function checkPieceLength(bytes: number): void {
  const isPowerOfTwo = Number.isSafeInteger(bytes) && bytes > 0 && 2 ** Math.round(Math.log2(bytes)) === bytes;
  if (!isPowerOfTwo || bytes < MIN_PIECE_LENGTH_BYTES || bytes > MAX_PIECE_LENGTH_BYTES) {
    throw new CreateError(
      "invalid_piece_length",
      `Invalid piece length: "${bytes}" must be a power of two from 16 KiB to 256 MiB (e.g. 262144, 1M)`,
    );
  }
}

function escapeRegExp(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? "\\" + c : c;
}

/**
 * Compile an exclude glob. `*` matches within one name, `?` one character, `[abc]`/`[!abc]` a class and `**` any
 * run of names. A glob without `/` matches a file or folder name at any depth; a glob with `/` matches the whole
 * path relative to the torrent's folder (a leading `/` is ignored).
 */
export function globToRegExp(glob: string): RegExp {
  const isPathGlob = glob.includes("/");
  const g = glob.replace(/^\/+/, "").replace(/\/+$/, "");
  let re = "";
  for (let i = 0; i < g.length; i++) {
    const c = g[i]!;
    if (c === "*") {
      if (g[i + 1] === "*") {
        i++;
        if (g[i + 1] === "/") {
          i++;
          re += "(?:.*/)?";
        } else re += ".*";
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = g.indexOf("]", i + 2);
      if (end < 0) re += "\\[";
      else {
        let body = g.slice(i + 1, end);
        const isNegated = body.startsWith("!") || body.startsWith("^");
        if (isNegated) body = body.slice(1);
        re += `[${isNegated ? "^/" : ""}${body.replace(/[\\\]]/g, "\\$&")}]`;
        i = end;
      }
    } else re += escapeRegExp(c);
  }
  return new RegExp(isPathGlob ? `^${re}$` : `(?:^|/)${re}$`, "u");
}

/** True when the relative path `relPath` ("dir/file") matches one of `globs` (as from globToRegExp). */
export function isExcluded(relPath: string, globs: readonly RegExp[]): boolean {
  for (const g of globs) if (g.test(relPath)) return true;
  return false;
}

/** A file to put in the torrent. */
export interface SourceFile {
  /** Where to read it. */
  fsPath: string;
  /** Components under the torrent's folder; `[]` for a single-file torrent. */
  path: string[];
  length: number;
}

/** What `listSourceFiles` found. */
export interface SourceTree {
  name: string;
  isSingleFile: boolean;
  /** In torrent order: bytewise by "/"-joined UTF-8 path, as mktorrent sorts. */
  files: SourceFile[];
  totalLength: number;
}

function baseName(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

/**
 * The torrent name for `path`: its last component as given (a symbolic link keeps its own name, as in mktorrent);
 * for `.`, `..` or `/`-only paths, the name of the folder they resolve to.
 * @throws {CreateError} not_found
 */
export async function torrentName(path: string): Promise<string> {
  const given = baseName(path);
  if (given !== "" && given !== "." && given !== "..") return given;
  try {
    return baseName(await Deno.realPath(path));
  } catch (err: unknown) {
    throw new CreateError("not_found", `Cannot create torrent: "${path}" does not exist`, { cause: err });
  }
}

function checkName(name: string, where: string): void {
  try {
    checkPathComponent(name, "name");
  } catch (err: unknown) {
    throw new CreateError(
      "unsafe_name",
      `Cannot add "${where}": "${name}" is not a portable file name (clients save it as "${
        safePathComponent(name) || "_"
      }"; rename or --exclude it)`,
      { cause: err },
    );
  }
  if (name.includes("\uFFFD")) {
    throw new CreateError("unsafe_name", `Cannot add "${where}": the file name is not valid UTF-8`);
  }
}

async function statFollow(path: string): Promise<Deno.FileInfo> {
  try {
    return await Deno.stat(path);
  } catch (err: unknown) {
    if (err instanceof Deno.errors.NotFound) {
      const isLink = await Deno.lstat(path).then((s) => s.isSymlink, () => false);
      throw new CreateError(
        isLink ? "broken_symlink" : "not_found",
        isLink ? `Cannot add "${path}": broken symbolic link` : `Cannot create torrent: "${path}" does not exist`,
        { cause: err },
      );
    }
    throw new StorageError("read_failed", `Cannot read "${path}": ${err instanceof Error ? err.message : err}`, {
      cause: err,
    });
  }
}

/**
 * Find the files for a torrent of `root`, as mktorrent does: regular files (symbolic links followed), hidden files
 * included, other kinds (FIFOs, sockets, devices) skipped, zero-length files kept, sorted bytewise by path.
 * @throws {CreateError} not_found, broken_symlink, symlink_loop, unsafe_name, too_many_files, no_files
 * @throws {StorageError} read_failed
 */
export async function listSourceFiles(
  root: string,
  options: { exclude?: readonly string[] } = {},
): Promise<SourceTree> {
  const globs = (options.exclude ?? []).map(globToRegExp);
  const rootInfo = await statFollow(root);
  const name = await torrentName(root);
  checkName(name, root);
  if (rootInfo.isFile) {
    return {
      name,
      isSingleFile: true,
      files: [{ fsPath: root, path: [], length: rootInfo.size }],
      totalLength: rootInfo.size,
    };
  }
  if (!rootInfo.isDirectory) {
    throw new CreateError("not_a_file", `Cannot create torrent: "${root}" is neither a file nor a folder`);
  }
  const found: { key: Uint8Array; file: SourceFile }[] = [];
  const walk = async (dir: string, parts: string[], ancestors: Set<string>): Promise<void> => {
    const entries: string[] = [];
    try {
      for await (const e of Deno.readDir(dir)) entries.push(e.name);
    } catch (err: unknown) {
      throw new StorageError("read_failed", `Cannot list "${dir}": ${err instanceof Error ? err.message : err}`, {
        cause: err,
      });
    }
    for (const entry of entries) {
      const fsPath = `${dir}/${entry}`;
      const path = [...parts, entry];
      const rel = path.join("/");
      if (isExcluded(rel, globs)) continue;
      checkName(entry, fsPath);
      const info = await statFollow(fsPath);
      if (info.isDirectory) {
        const id = `${info.dev}:${info.ino}`;
        if (ancestors.has(id)) {
          throw new CreateError("symlink_loop", `Cannot add "${fsPath}": symbolic link loop`);
        }
        await walk(fsPath, path, new Set([...ancestors, id]));
      } else if (info.isFile) {
        if (found.length >= MAX_FILES) {
          throw new CreateError("too_many_files", `Cannot create torrent: more than ${MAX_FILES} files`);
        }
        found.push({ key: utf8(rel), file: { fsPath, path, length: info.size } });
      }
    }
  };
  await walk(root.replace(/\/+$/, "") || "/", [], new Set([`${rootInfo.dev}:${rootInfo.ino}`]));
  if (found.length === 0) throw new CreateError("no_files", `Cannot create torrent: "${root}" holds no files`);
  // mktorrent inserts each path with strcmp on the whole "a/b" string, so "a b/x" < "a-b" < "a/x".
  found.sort((a, b) => compare(a.key, b.key));
  const files = found.map((f) => f.file);
  // Names that differ only in case are one file on Windows and macOS; parsing would rename one (lib/safe_path.ts).
  const safe = safeTorrentPaths(files.map((f) => [name, ...f.path]), {
    isMultiFile: true,
    isPadding: files.map(() => false),
  });
  const renamed = files.findIndex((f, i) => safe[i]!.at(-1) !== f.path.at(-1));
  if (renamed >= 0) {
    throw new CreateError(
      "unsafe_name",
      `Cannot add "${files[renamed]!.fsPath}": another file or folder has the same name but for case`,
    );
  }
  let totalLength = 0;
  for (const f of files) totalLength += f.length;
  return { name, isSingleFile: false, files, totalLength };
}

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
  /** "deno" (default): node:crypto; "libc": OpenSSL's SHA1() through FFI (lib/sha1.ts). Same bytes either way. */
  sha1?: Sha1Choice;
  onProgress?: (p: HashProgress) => void;
  signal?: AbortSignal;
}

async function hashInProcess(
  jobs: Generator<HashJob>,
  out: Uint8Array,
  totalBytes: number,
  syncSha1: SyncSha1,
  options: HashOptions,
): Promise<Uint8Array> {
  const reader = new JobReader(syncSha1);
  let bytesHashed = 0;
  try {
    for (const job of jobs) {
      // The hash is synchronous: let an abort (and anything else queued) through between jobs.
      if (job.id > 0) await yieldToEventLoop();
      options.signal?.throwIfAborted();
      out.set(reader.run(job), job.firstPiece * 20);
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
 * memory bounded by one 1 MiB read chunk per hasher, whatever the piece length. Uses `threads` hashers (the main
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
  const syncSha1 = options.sha1 === "libc" ? openLibcSha1() : nodeSha1;
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
    return hashInProcess(jobs, out, totalBytes, syncSha1, options);
  }
  return await hashWithWorkers(jobs, out, totalBytes, hashers - 1, syncSha1, options);
}

/** Trackers, flags and text of a new torrent (what is not read from disk). */
export interface TorrentOptions {
  /** Tracker tiers (BEP 12): `announce` is the first URL; `announce-list` is written when there are several URLs. */
  announceTiers?: readonly (readonly string[])[];
  /** Sets `private=1` inside info (BEP 27): changes the info hash. */
  isPrivate?: boolean;
  comment?: string;
  /** Written inside info (changes the info hash), as mktorrent's `-s`. */
  source?: string;
  /** Web seeds (BEP 19): one is written as a string, several as a list, as mktorrent does. */
  webSeeds?: readonly string[];
  createdBy?: string;
  /** Seconds since the Unix epoch; omitted when undefined. */
  creationDate?: number;
}

/** Input of `encodeTorrent`. */
export interface TorrentLayout {
  name: string;
  pieceLength: number;
  pieceHashes: Uint8Array;
  /** Single-file torrent: the file's length; multi-file: the files (path under the folder). */
  content: { type: "single"; length: number } | { type: "multi"; files: readonly { path: string[]; length: number }[] };
}

/**
 * Bencode a new torrent. The info dict holds exactly what mktorrent writes: `files` or `length`, `name`,
 * `piece length`, `pieces`, `private` only when set, `source` only when given.
 * @throws {BencodeError} only on values bencode cannot hold (unsafe integers)
 */
export function encodeTorrent(layout: TorrentLayout, options: TorrentOptions = {}): Uint8Array {
  const info: Record<string, unknown> = {
    name: layout.name,
    "piece length": layout.pieceLength,
    pieces: layout.pieceHashes,
  };
  if (layout.content.type === "single") info.length = layout.content.length;
  else info.files = layout.content.files.map((f) => ({ length: f.length, path: f.path }));
  if (options.isPrivate === true) info.private = 1;
  if (options.source !== undefined) info.source = options.source;
  const tiers = (options.announceTiers ?? []).map((t) => [...t]).filter((t) => t.length > 0);
  const urlCount = tiers.reduce((n, t) => n + t.length, 0);
  const seeds = options.webSeeds ?? [];
  const top: Record<string, unknown> = { info };
  if (urlCount > 0) top.announce = tiers[0]![0]!;
  if (urlCount > 1) top["announce-list"] = tiers;
  if (options.comment !== undefined) top.comment = options.comment;
  if (options.createdBy !== undefined) top["created by"] = options.createdBy;
  if (options.creationDate !== undefined) top["creation date"] = options.creationDate;
  if (seeds.length === 1) top["url-list"] = seeds[0]!;
  else if (seeds.length > 1) top["url-list"] = [...seeds];
  return encodeBencode(top as Parameters<typeof encodeBencode>[0]);
}

/** Options of `createTorrent`. */
export interface CreateOptions extends TorrentOptions, HashOptions {
  /** Bytes (a power of two from 16 KiB) or "auto" (the default; see autoPieceLength). */
  pieceLength?: number | "auto";
  /** Globs of files and folders to leave out (see globToRegExp). */
  exclude?: readonly string[];
}

/** A new torrent. */
export interface CreatedTorrent {
  /** The .torrent file's bytes. */
  bytes: Uint8Array;
  infoHash: InfoHash;
  /** The torrent parsed back (our own validation ran on it). */
  metainfo: Metainfo;
}

/**
 * Make a torrent of the file or folder at `path`: same file order and info keys as mktorrent, so the same data and
 * options give the same info hash.
 * @throws {CreateError} not_found, broken_symlink, symlink_loop, unsafe_name, too_many_files, no_files, empty_data,
 *   invalid_piece_length, aborted
 * @throws {StorageError} read_failed, file_changed
 * @throws {BtoolError} sha1_unavailable (`sha1: "libc"` where it cannot be opened)
 */
export async function createTorrent(path: string, options: CreateOptions = {}): Promise<CreatedTorrent> {
  const pl = options.pieceLength ?? "auto";
  if (pl !== "auto") checkPieceLength(pl);
  const tree = await listSourceFiles(path, options.exclude === undefined ? {} : { exclude: options.exclude });
  if (tree.totalLength === 0) {
    throw new CreateError("empty_data", `Cannot create torrent: "${path}" holds no data (every file is empty)`);
  }
  const pieceLength = pl === "auto" ? autoPieceLength(tree.totalLength) : pl;
  const pieceHashes = await hashPieces(tree.files, pieceLength, options);
  const bytes = encodeTorrent({
    name: tree.name,
    pieceLength,
    pieceHashes,
    content: tree.isSingleFile
      ? { type: "single", length: tree.totalLength }
      : { type: "multi", files: tree.files.map((f) => ({ path: f.path, length: f.length })) },
  }, options);
  const metainfo = await parseMetainfo(bytes);
  return { bytes, infoHash: metainfo.infoHash, metainfo };
}
