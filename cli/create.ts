// `btool create` front end (issue #3): parse options, hash with a progress bar, write the .torrent atomically.
// The work is lib/create.ts; this file only talks to the user and the output file.

import config from "../deno.json" with { type: "json" };
import { discardPrewarmedHashWorker } from "../lib/_hash_pool.ts";
import { AUTO_MAX_PIECES, checkPieceLength, CreateError, createTorrent, torrentName } from "../lib/create.ts";
import { BtoolError, UsageError } from "../lib/errors.ts";
import { openLibcSha1, type Sha1Choice } from "../lib/sha1.ts";
import { parseByteSize, parseCommand, parseIntOption } from "./args.ts";
import { formatBytes, ProgressBar } from "./progress.ts";
import { terminalSafe } from "./_escape.ts";

/** Help text for `btool create`. */
export const HELP = `Usage: btool create PATH --announce URL [options]

Make a .torrent of a file or folder. Same data and options give the same info hash as mktorrent:
files sorted bytewise by path, hidden files and zero-length files kept, symbolic links followed,
FIFOs/sockets/devices skipped. Names that are not portable (control characters, < > : " \\ | ? *,
a trailing dot or space, CON/AUX/NUL/COM1/LPT1..., two names equal but for case) are refused:
clients would save them under other names, so the data would not verify; rename or --exclude them.

Options:
  -a, --announce URL       tracker URL (required); repeat for backup trackers, one tier each;
                           "URL1,URL2" puts several URLs in one tier (as mktorrent -a)
  -p, --private            set private=1 (BEP 27): no DHT/PEX/LSD; changes the info hash
      --piece-length SIZE  bytes (262144) or with a suffix (256K, 1M): a power of two, 16K..256M;
                           "auto" (default): the smallest power of two from 16 KiB to 16 MiB
                           giving at most ${AUTO_MAX_PIECES} pieces (1 GiB -> 1 MiB pieces)
  -c, --comment TEXT       comment (outside the info dict)
  -s, --source TEXT        source tag inside the info dict (changes the info hash, as mktorrent -s)
  -w, --web-seed URL       web seed (BEP 19); repeatable
  -x, --exclude GLOB       leave out matching files/folders; repeatable. "*" and "?" match within a
                           name, "**" across folders; a GLOB without "/" matches a name at any depth,
                           one with "/" the path under PATH (e.g. "*.nfo", ".git", "sub/**/*.tmp")
  -d, --no-date            do not write the creation date
  -o, --output FILE        where to write (default: <name>.torrent in the current folder)
  -f, --force              overwrite FILE if it exists
  -t, --threads N          hashing threads (default: the number of cores)
      --sha1 deno|libc     deno (default): the runtime's SHA-1 (WebCrypto for small inputs in pieces of
                           up to 64 KiB, else node:crypto on every hashing thread);
                           libc: OpenSSL's SHA1() through FFI instead (docs/PERFORMANCE.md has both
                           speeds); same .torrent bytes. Needs Linux, libcrypto.so.3 and --allow-ffi;
                           fails with an error otherwise
  -h, --help               show this help

A progress bar (MiB/s, ETA) is drawn on stderr when it is a terminal. On success, prints the
output path and the info hash.

Example:
  btool create ./data --announce http://tracker.example:6969/announce --private -o data.torrent`;

const OPTIONS = {
  announce: { type: "string", short: "a", multiple: true },
  private: { type: "boolean", short: "p" },
  "piece-length": { type: "string" },
  comment: { type: "string", short: "c" },
  source: { type: "string", short: "s" },
  "web-seed": { type: "string", short: "w", multiple: true },
  exclude: { type: "string", short: "x", multiple: true },
  "no-date": { type: "boolean", short: "d" },
  output: { type: "string", short: "o" },
  force: { type: "boolean", short: "f" },
  threads: { type: "string", short: "t" },
  sha1: { type: "string", default: "deno" },
} as const;

const URL_SCHEMES = new Set(["http:", "https:", "udp:", "ws:", "wss:"]);

function checkUrl(url: string, what: string, schemes: ReadonlySet<string>): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`Invalid ${what}: "${url}" is not a URL`);
  }
  if (!schemes.has(parsed.protocol)) {
    throw new UsageError(`Invalid ${what}: "${url}" must start with ${[...schemes].join("//, ")}//`);
  }
  return url;
}

/** `--announce` values → tiers: each flag one tier, commas inside a flag split URLs of the same tier (mktorrent). */
export function parseAnnounceTiers(values: readonly string[]): string[][] {
  return values.map((v) =>
    v.split(",").map((u) => u.trim()).filter((u) => u !== "").map((u) => checkUrl(u, "announce URL", URL_SCHEMES))
  ).filter((t) => t.length > 0);
}

/** `--piece-length` text → bytes or "auto". @throws {UsageError} */
export function parsePieceLengthOption(text: string | undefined): number | "auto" {
  if (text === undefined || text.toLowerCase() === "auto") return "auto";
  const bytes = parseByteSize(text, "piece length");
  try {
    checkPieceLength(bytes);
  } catch (err: unknown) {
    if (err instanceof CreateError) throw new UsageError(err.message, { cause: err });
    throw err;
  }
  return bytes;
}

/** `--sha1` text → the hash job's SHA-1. @throws {UsageError} unknown value, or libc off Linux */
export function parseSha1Option(text: string): Sha1Choice {
  if (text !== "deno" && text !== "libc") throw new UsageError(`Invalid --sha1: "${text}" (deno or libc)`);
  if (text === "libc" && Deno.build.os !== "linux") {
    throw new UsageError(`--sha1 libc needs Linux (this is ${Deno.build.os}); use --sha1 deno`);
  }
  return text;
}

function baseName(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

function dirName(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

function existsSync(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (err: unknown) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

function outputExists(path: string): BtoolError {
  return new BtoolError("output_exists", `Cannot write "${path}": it already exists (use --force to overwrite)`);
}

/**
 * Write `bytes` to `path` atomically: a temp file in the same folder, then a rename (with `overwrite`) or a hard
 * link that fails if `path` appeared meanwhile (without it). Readers never see a half-written file. Synchronous: a
 * .torrent is small, and the first async `Deno.writeFile` of a process costs ~4 ms more than the sync call.
 * @throws {BtoolError} output_exists, write_failed
 */
export function writeFileAtomic(path: string, bytes: Uint8Array, options: { overwrite: boolean }): void {
  const suffix = crypto.getRandomValues(new Uint32Array(1))[0]!.toString(16);
  const tmp = `${dirName(path)}/.${baseName(path)}.${suffix}.tmp`;
  try {
    Deno.writeFileSync(tmp, bytes, { createNew: true, mode: 0o644 });
    if (options.overwrite) Deno.renameSync(tmp, path);
    else {
      try {
        Deno.linkSync(tmp, path);
      } catch (err: unknown) {
        if (err instanceof Deno.errors.AlreadyExists) throw outputExists(path);
        // No hard links on this filesystem: check, then rename (a small race, but still no partial file).
        if (existsSync(path)) throw outputExists(path);
        Deno.renameSync(tmp, path);
      }
    }
  } catch (err: unknown) {
    if (err instanceof BtoolError) throw err;
    throw new BtoolError("write_failed", `Cannot write "${path}": ${err instanceof Error ? err.message : err}`, {
      cause: err,
    });
  } finally {
    try {
      Deno.removeSync(tmp);
    } catch {
      // renamed away, or never written
    }
  }
}

/** Run `btool create` with `argv` (after the subcommand); resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  try {
    return await create(argv);
  } finally {
    // The Worker cli/_create_prewarm.ts may have started, when hashing did not adopt it.
    discardPrewarmedHashWorker();
  }
}

async function create(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, OPTIONS);
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? "Missing PATH" : `Expected one PATH, got ${positionals.length}`);
  }
  const path = positionals[0]!;
  const announceTiers = parseAnnounceTiers(values.announce ?? []);
  if (announceTiers.length === 0) throw new UsageError("Missing --announce URL");
  const webSeeds = (values["web-seed"] ?? []).map((u) => checkUrl(u, "web seed URL", new Set(["http:", "https:"])));
  const pieceLength = parsePieceLengthOption(values["piece-length"]);
  const threads = values.threads === undefined ? undefined : parseIntOption(values.threads, "threads", 1, 64);
  const sha1 = parseSha1Option(values.sha1);
  // Asked for and unavailable (no --allow-ffi, no libcrypto.so.3): say so before walking or hashing anything.
  if (sha1 === "libc") openLibcSha1();

  await Deno.stat(path).catch((err: unknown) => {
    if (err instanceof Deno.errors.NotFound) {
      throw new CreateError("not_found", `Cannot create torrent: "${path}" does not exist`, { cause: err });
    }
  });
  const name = await torrentName(path);
  const output = values.output ?? `${name}.torrent`;
  const isForced = values.force === true;
  if (!isForced && existsSync(output)) throw outputExists(output);

  let bar: ProgressBar | null = null;
  let created;
  try {
    created = await createTorrent(path, {
      announceTiers,
      isPrivate: values.private === true,
      pieceLength,
      webSeeds,
      createdBy: `btool ${config.version}`,
      ...(values["no-date"] === true ? {} : { creationDate: Math.floor(Date.now() / 1000) }),
      ...(values.comment === undefined ? {} : { comment: values.comment }),
      ...(values.source === undefined ? {} : { source: values.source }),
      ...(values.exclude === undefined ? {} : { exclude: values.exclude }),
      ...(threads === undefined ? {} : { threads }),
      sha1,
      onProgress: (p) => {
        bar ??= new ProgressBar(p.totalBytes, { label: "hashing" });
        bar.update(p.bytesHashed);
      },
    });
    (bar as ProgressBar | null)?.finish();
  } catch (err: unknown) {
    (bar as ProgressBar | null)?.clear();
    throw err;
  }
  writeFileAtomic(output, created.bytes, { overwrite: isForced });
  const m = created.metainfo;
  const fileCount = m.files.length;
  console.log(`Created ${terminalSafe(output)}
  name       ${terminalSafe(m.name)}
  info hash  ${created.infoHash.hex}
  size       ${formatBytes(m.totalLength)} in ${fileCount} file${fileCount === 1 ? "" : "s"}
  pieces     ${m.pieceCount} x ${formatBytes(m.pieceLength)}${m.isPrivate ? "\n  private    yes" : ""}`);
  return 0;
}
