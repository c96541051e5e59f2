// `btool peer` front end (issue #5): checks the data (resume file or hash check), runs lib/peer/session.ts, renders
// a TTY progress line, JSON status lines or nothing, and stops cleanly on Ctrl+C/SIGTERM (announce `stopped`, save
// the resume file, exit 0). Never exits the process itself.

import { errorText } from "../lib/errors.ts";
import { BtoolError, UsageError } from "../lib/errors.ts";
import type { Metainfo } from "../lib/metainfo.ts";
import { isResumeFresh, readFileStamps, readResume, writeResume } from "../lib/peer/resume.ts";
import {
  checkPieces,
  createSession,
  DEFAULT_MAX_PEERS,
  type Session,
  type SessionStatus,
} from "../lib/peer/session.ts";
import { checkData } from "../lib/storage/check.ts";
import { createEmptyFiles, createFsStorage, dataPath } from "../lib/storage/storage.ts";
import { Bitfield } from "../lib/wire/bitfield.ts";
import { parseByteSize, parseCommand, parseIntOption } from "./args.ts";
import { formatBytes, formatEta, formatRate, ProgressBar } from "./progress.ts";
import { loadTorrentFile } from "./show.ts";
import { formatReport } from "./verify.ts";
import { safeJson, terminalSafe } from "./_escape.ts";

/** Default listening port. */
export const DEFAULT_PORT = 6881;

/** Help text for `btool peer`. */
export const HELP = `Usage: btool peer FILE.torrent [options]

Download a torrent over the BitTorrent protocol and seed it. Data lives at DIR/<name> (single-file) or
DIR/<name>/<path…> (multi-file). What is already there is checked first (a resume file in DIR/.btool skips the hash
check after a clean stop). Runs until Ctrl+C or SIGTERM, which announce "stopped", save the resume file and exit 0.

Options:
  --dir DIR             download folder (default: the current folder)
  --port N              TCP port to accept peers on (default ${DEFAULT_PORT}; 0 picks a free one)
  --seed                the data must already be complete: verify it, print a verdict per file and seed
                        (exit 1 naming the incomplete files otherwise)
  --exit-when-done      exit 0 as soon as every piece is verified and written
  --seed-ratio R        stop seeding once uploaded ≥ R × the torrent's size
  --max-peers N         most connections at once (default ${DEFAULT_MAX_PEERS})
  --peer HOST:PORT      also connect to this peer (repeatable; e.g. a local client)
  --upload-limit RATE   cap the upload rate, bytes per second (e.g. 500K, 2M, 2MiB/s; 0 = none)
  --download-limit RATE cap the download rate, same units
  --only N,M…           download only these files, numbered from 1 in torrent order as \`btool show --json\`
                        lists them (padding files not counted); pieces shared with other files are fetched,
                        but only the chosen files are written
  --quiet               print errors only
  --json                print one JSON status line per second on stdout
  -h, --help            show this help

Exit codes: 0 done or stopped cleanly, 1 error (incomplete data with --seed), 2 bad usage.`;

/** One `--json` status line. */
export interface JsonStatus extends SessionStatus {
  event: "status" | "complete" | "stopped";
  name: string;
  infoHash: string;
  port: number;
  percent: number;
}

/** Parse "host:port" or "[v6]:port". @throws {UsageError} */
export function parseHostPort(text: string): { hostname: string; port: number } {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(text) ?? /^([^:\s]+):(\d+)$/.exec(text);
  if (m === null) throw new UsageError(`Invalid peer: "${text}" is not HOST:PORT`);
  return { hostname: m[1]!, port: parseIntOption(m[2]!, "peer port", 1, 65535) };
}

/** The progress line: `name  45.2%  ↓ 12.3 MiB/s  ↑ 1.00 MiB/s  peers 3 (1 seed)  ETA 0:12`. */
export function formatStatusLine(name: string, s: SessionStatus): string {
  const percent = s.totalBytes === 0 ? 100 : (s.haveBytes / s.totalBytes) * 100;
  const eta = s.isComplete
    ? "done"
    : s.downloadRate > 0
    ? formatEta((s.totalBytes - s.haveBytes) / s.downloadRate)
    : "--:--";
  return `${name}  ${percent.toFixed(1).padStart(5)}%  ${formatBytes(s.haveBytes)}/${formatBytes(s.totalBytes)}` +
    `  down ${formatRate(s.downloadRate)}  up ${formatRate(s.uploadRate)}` +
    `  peers ${s.peers} (${s.seeds} seed${s.seeds === 1 ? "" : "s"}, ${s.peers - s.seeds} leecher${
      s.peers - s.seeds === 1 ? "" : "s"
    })  ETA ${eta}`;
}

function jsonLine(meta: Metainfo, port: number, event: JsonStatus["event"], s: SessionStatus): string {
  const line: JsonStatus = {
    event,
    name: meta.name,
    infoHash: meta.infoHash.hex,
    port,
    percent: s.totalBytes === 0 ? 100 : Math.floor((s.haveBytes / s.totalBytes) * 1000) / 10,
    ...s,
    downloadRate: Math.round(s.downloadRate),
    uploadRate: Math.round(s.uploadRate),
  };
  return safeJson(line);
}

const ENCODER = new TextEncoder();

/** Parse a rate (`500K`, `2M`, `2MiB/s`); null for absent or 0 (no limit). @throws {UsageError} */
export function parseRate(text: string | undefined, what: string): number | null {
  if (text === undefined) return null;
  const value = parseByteSize(text.replace(/\/s$/i, ""), what);
  return value === 0 ? null : value;
}

/**
 * Parse `--only N,M…` (1-based file numbers, padding files not counted) into indexes of meta.files.
 * @throws {UsageError}
 */
export function parseOnly(text: string, meta: Pick<Metainfo, "files">): Set<number> {
  const real = meta.files.map((f, i) => ({ f, i })).filter((x) => !x.f.isPadding).map((x) => x.i);
  const out = new Set<number>();
  for (const part of text.split(",")) {
    const n = parseIntOption(part.trim(), "file number in --only", 1, Math.max(1, real.length));
    if (n > real.length) throw new UsageError(`Invalid file number in --only: "${n}" (the torrent has ${real.length})`);
    out.add(real[n - 1]!);
  }
  return out;
}

async function createSelectedEmptyFiles(meta: Metainfo, dir: string, selected: ReadonlySet<number>): Promise<void> {
  for (const i of selected) {
    const f = meta.files[i]!;
    if (f.length !== 0) continue;
    const path = dataPath(dir, f);
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    (await Deno.open(path, { write: true, create: true })).close();
  }
}

function isStderrTerminal(): boolean {
  try {
    return Deno.stderr.isTerminal();
  } catch {
    return false;
  }
}

/** Run `btool peer` with `argv` (after the subcommand); resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    dir: { type: "string", default: "." },
    port: { type: "string", default: String(DEFAULT_PORT) },
    seed: { type: "boolean", default: false },
    "exit-when-done": { type: "boolean", default: false },
    "seed-ratio": { type: "string" },
    "max-peers": { type: "string", default: String(DEFAULT_MAX_PEERS) },
    peer: { type: "string", multiple: true },
    "upload-limit": { type: "string" },
    "download-limit": { type: "string" },
    only: { type: "string" },
    quiet: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  });
  if (positionals.length !== 1) throw new UsageError("Expected exactly one FILE.torrent");
  if (values.quiet && values.json) throw new UsageError("Choose one of --quiet and --json");
  const uploadLimit = parseRate(values["upload-limit"], "upload limit");
  const downloadLimit = parseRate(values["download-limit"], "download limit");
  const port = parseIntOption(values.port, "port", 0, 65535);
  const maxPeers = parseIntOption(values["max-peers"], "max peers", 1, 10_000);
  let seedRatio: number | undefined;
  if (values["seed-ratio"] !== undefined) {
    seedRatio = Number(values["seed-ratio"]);
    if (!/^\d+(\.\d+)?$/.test(values["seed-ratio"]) || !Number.isFinite(seedRatio)) {
      throw new UsageError(`Invalid seed ratio: "${values["seed-ratio"]}" is not a number`);
    }
  }
  const extraPeers = (values.peer ?? []).map(parseHostPort);
  const dir = values.dir;
  const isJson = values.json;
  const isQuiet = values.quiet;
  const isTty = !isJson && !isQuiet && isStderrTerminal();
  // Every line printed below holds outside text (torrent name, paths, peer and tracker messages): escaped (#19).
  const say = (text: string) => {
    if (!isQuiet && !isJson) console.log(text.split("\n").map(terminalSafe).join("\n"));
  };
  const meta = await loadTorrentFile(positionals[0]!);
  const selectedFiles = values.only === undefined ? null : parseOnly(values.only, meta);
  if (selectedFiles !== null && values.seed) throw new UsageError("--only cannot be used with --seed");

  // Ctrl+C/SIGTERM: during the check it stops the check; while trading it stops the session cleanly.
  const { promise: finished, resolve: finish } = Promise.withResolvers<"done" | "signal" | "ratio" | "fatal">();
  let isInterrupted = false;
  const onSignal = () => {
    isInterrupted = true;
    finish("signal");
  };
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  const progressOf = (bar: ProgressBar) => (n: number) => {
    if (isInterrupted) throw new Interrupted();
    bar.update(n);
  };
  try {
    // 1. What is already there.
    let have: Bitfield;
    const resume = await readResume(meta, dir);
    const isFresh = resume !== null && isResumeFresh(resume, await readFileStamps(meta, dir));
    if (values.seed) {
      if (isFresh && resume.have.isComplete) {
        have = resume.have;
        say(`${meta.name}: all ${meta.pieceCount} pieces verified (resume file is up to date)`);
      } else {
        const bar = new ProgressBar(meta.totalLength, { label: "checking", isEnabled: isTty });
        const report = await checkData(meta, dir, { onProgress: progressOf(bar) }).finally(() => bar.finish());
        say(formatReport(report));
        if (!report.isComplete) {
          const bad = report.files.filter((f) => f.status !== "ok").map((f) => f.path);
          console.error(
            terminalSafe(`btool peer: cannot seed: incomplete data in ${bad.map((p) => `"${p}"`).join(", ")}`),
          );
          return 1;
        }
        have = new Bitfield(meta.pieceCount, { isFull: true });
        await writeResume(meta, dir, have).catch(() => {});
      }
    } else {
      if (selectedFiles === null) await createEmptyFiles(meta, dir);
      else await createSelectedEmptyFiles(meta, dir, selectedFiles);
      if (isFresh) {
        have = resume.have;
        say(`${meta.name}: ${have.count}/${meta.pieceCount} pieces from the resume file`);
      } else {
        const checkStorage = createFsStorage(meta, dir, { isReadOnly: true });
        const bar = new ProgressBar(meta.totalLength, { label: "checking", isEnabled: isTty });
        try {
          have = await checkPieces(checkStorage, { onProgress: progressOf(bar) });
        } finally {
          bar.finish();
          await checkStorage.close();
        }
        if (have.count > 0) say(`${meta.name}: ${have.count}/${meta.pieceCount} pieces already verified`);
      }
    }

    // 2. Trade.
    const storage = createFsStorage(meta, dir, { isReadOnly: values.seed });
    let fatalError: unknown = null;
    let lastLineLength = 0;
    const drawTty = (line: string) => {
      const width = (() => {
        try {
          return Deno.consoleSize().columns || 80;
        } catch {
          return 80;
        }
      })();
      const text = terminalSafe(line).slice(0, Math.max(10, width - 1));
      lastLineLength = text.length;
      try {
        Deno.stderr.writeSync(ENCODER.encode(`\r${text}\x1b[K`));
      } catch {
        // a closed terminal must not stop the transfer
      }
    };
    const clearTty = () => {
      if (!isTty || lastLineLength === 0) return;
      try {
        Deno.stderr.writeSync(ENCODER.encode("\r\x1b[K"));
      } catch {
        // ignore
      }
      lastLineLength = 0;
    };
    const warn = (message: string) => {
      if (isQuiet) return;
      clearTty();
      console.error(terminalSafe(`btool peer: ${message}`));
    };

    let session: Session | undefined;
    try {
      session = createSession(meta, {
        storage,
        have,
        port,
        maxPeers,
        peers: extraPeers,
        ...(selectedFiles === null ? {} : { selectedFiles }),
        ...(uploadLimit === null ? {} : { uploadLimit }),
        ...(downloadLimit === null ? {} : { downloadLimit }),
        ...(seedRatio === undefined ? {} : { seedRatio }),
        onWarning: warn,
        onProgress: (s) => {
          if (isJson) console.log(jsonLine(meta, session?.port ?? port, "status", s));
          else if (isTty) drawTty(formatStatusLine(meta.name, s));
        },
        onEvent: (e) => {
          if (e.type === "listening" && !isQuiet && !isJson) {
            clearTty();
            console.error(terminalSafe(
              `btool peer: ${meta.name} (${meta.infoHash.hex}): listening on port ${e.port}, ` +
                `${values.seed || have.isComplete ? "seeding" : "downloading"}`,
            ));
          }
        },
        onComplete: () => {
          const s = session?.status();
          if (s !== undefined && isJson) console.log(jsonLine(meta, session!.port, "complete", s));
          if (!isJson && !isQuiet) {
            clearTty();
            console.error(
              terminalSafe(`btool peer: ${meta.name}: download complete (${formatBytes(meta.totalLength)})`),
            );
          }
          void writeResume(meta, dir, session!.haveBitfield()).catch((err: unknown) => warn(errorText(err)));
          if (values["exit-when-done"]) finish("done");
        },
        onSeedRatio: () => finish("ratio"),
        onFatal: (err) => {
          fatalError = err;
          finish("fatal");
        },
      });
    } catch (err: unknown) {
      await storage.close();
      throw err;
    }
    if (values["exit-when-done"] && session.status().isComplete) finish("done");

    let reason: "done" | "signal" | "ratio" | "fatal";
    try {
      reason = await finished;
    } finally {
      await session.stop();
      await storage.close();
      clearTty();
    }
    const final = session.status();
    // Save what is verified, so a restart skips the hash check (only valid while nothing writes the files).
    if (!values.seed) await writeResume(meta, dir, session.haveBitfield()).catch(() => {});
    if (isJson) console.log(jsonLine(meta, session.port, "stopped", final));
    else if (!isQuiet) {
      console.error(terminalSafe(
        `btool peer: ${meta.name}: stopped (${reason}); ${formatBytes(final.haveBytes)} of ${
          formatBytes(final.totalBytes)
        } verified, downloaded ${formatBytes(final.downloaded)}, uploaded ${formatBytes(final.uploaded)}`,
      ));
    }
    if (reason === "fatal") {
      const msg = fatalError instanceof Error ? fatalError.message : String(fatalError);
      throw new BtoolError("peer_fatal", msg, { cause: fatalError });
    }
    return 0;
  } catch (err: unknown) {
    if (!(err instanceof Interrupted)) throw err;
    say(`${meta.name}: interrupted during the check; nothing was announced`);
    return 0;
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
  }
}

/** Thrown from a check's progress callback when a signal arrived. */
class Interrupted extends BtoolError {
  constructor() {
    super("interrupted", "Interrupted by a signal");
  }
}
