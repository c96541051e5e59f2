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
  type SessionOptions,
  type SessionStatus,
} from "../lib/peer/session.ts";
import { checkData } from "../lib/storage/check.ts";
import { createEmptyFiles, createFsStorage, dataPath } from "../lib/storage/storage.ts";
import { Bitfield } from "../lib/wire/bitfield.ts";
import { parseByteSize, parseCommand, parseIntOption } from "./args.ts";
import { formatBytes, formatEta, formatRate, ProgressBar } from "./progress.ts";
import { loadTorrentFile } from "./show.ts";
import { formatReport } from "./verify.ts";
import { safeJson } from "./_escape.ts";
import { PeerOutput } from "./_peer_output.ts";

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

/** The flags of `btool peer` (node:util parseArgs); each is read and checked in parsePeerOptions below. */
const PEER_FLAGS = {
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
} as const;

/** What `btool peer`'s flags ask for, checked (--only is read once the torrent is: parseOnly). */
export interface PeerCliOptions {
  torrentPath: string;
  dir: string;
  port: number;
  maxPeers: number;
  isSeed: boolean;
  isExitWhenDone: boolean;
  seedRatio?: number;
  extraPeers: { hostname: string; port: number }[];
  /** Bytes per second; null: no limit. */
  uploadLimit: number | null;
  downloadLimit: number | null;
  /** --only as given. */
  only?: string;
  isQuiet: boolean;
  isJson: boolean;
}

/** Parse a --seed-ratio value: a plain decimal number. @throws {UsageError} */
export function parseSeedRatio(text: string): number {
  const ratio = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(ratio)) {
    throw new UsageError(`Invalid seed ratio: "${text}" is not a number`);
  }
  return ratio;
}

/**
 * Parse and check the flags of `btool peer`: declared in PEER_FLAGS, read here, documented in HELP.
 * @throws {UsageError}
 */
export function parsePeerOptions(argv: string[]): PeerCliOptions {
  const { values, positionals } = parseCommand(argv, PEER_FLAGS);
  if (positionals.length !== 1) throw new UsageError("Expected exactly one FILE.torrent");
  if (values.quiet && values.json) throw new UsageError("Choose one of --quiet and --json");
  const uploadLimit = parseRate(values["upload-limit"], "upload limit");
  const downloadLimit = parseRate(values["download-limit"], "download limit");
  const port = parseIntOption(values.port, "port", 0, 65535);
  const maxPeers = parseIntOption(values["max-peers"], "max peers", 1, 10_000);
  const seedRatio = values["seed-ratio"] === undefined ? undefined : parseSeedRatio(values["seed-ratio"]);
  return {
    torrentPath: positionals[0]!,
    dir: values.dir,
    port,
    maxPeers,
    isSeed: values.seed,
    isExitWhenDone: values["exit-when-done"],
    ...(seedRatio === undefined ? {} : { seedRatio }),
    extraPeers: (values.peer ?? []).map(parseHostPort),
    uploadLimit,
    downloadLimit,
    ...(values.only === undefined ? {} : { only: values.only }),
    isQuiet: values.quiet,
    isJson: values.json,
  };
}

/** Why the session ended. */
type StopReason = "done" | "signal" | "ratio" | "fatal";

/**
 * Ctrl+C/SIGTERM: during the check it stops the check (`isInterrupted`, see progressOf); while trading it stops the
 * session cleanly (`finished` resolves). Call dispose() when done.
 */
function listenForStop() {
  const { promise: finished, resolve: finish } = Promise.withResolvers<StopReason>();
  let isInterrupted = false;
  const onSignal = () => {
    isInterrupted = true;
    finish("signal");
  };
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  return {
    finished,
    finish,
    isInterrupted: () => isInterrupted,
    dispose: () => {
      for (const s of signals) Deno.removeSignalListener(s, onSignal);
    },
  };
}

type StopListener = ReturnType<typeof listenForStop>;

/** What the data checks before trading share. */
interface CheckContext {
  out: PeerOutput;
  stop: StopListener;
}

/** A check's progress callback: draws `bar`, and throws Interrupted once a signal arrived. */
function progressOf(bar: ProgressBar, stop: StopListener): (n: number) => void {
  return (n) => {
    if (stop.isInterrupted()) throw new Interrupted();
    bar.update(n);
  };
}

/** --seed: the resume file if it is fresh and complete, else a full check; null (reported) when data is missing. */
async function checkForSeeding(
  meta: Metainfo,
  dir: string,
  fresh: Bitfield | null,
  c: CheckContext,
): Promise<Bitfield | null> {
  if (fresh !== null && fresh.isComplete) {
    c.out.say(`${meta.name}: all ${meta.pieceCount} pieces verified (resume file is up to date)`);
    return fresh;
  }
  const bar = new ProgressBar(meta.totalLength, { label: "checking", isEnabled: c.out.isTty });
  const report = await checkData(meta, dir, { onProgress: progressOf(bar, c.stop) }).finally(() => bar.finish());
  c.out.say(formatReport(report));
  if (!report.isComplete) {
    const bad = report.files.filter((f) => f.status !== "ok").map((f) => f.path);
    c.out.error(`cannot seed: incomplete data in ${bad.map((p) => `"${p}"`).join(", ")}`);
    return null;
  }
  const have = new Bitfield(meta.pieceCount, { isFull: true });
  await writeResume(meta, dir, have).catch(() => {});
  return have;
}

/** A download: create the empty files wanted, then the resume file if fresh, else a hash check of what is there. */
async function checkForDownload(
  meta: Metainfo,
  dir: string,
  fresh: Bitfield | null,
  c: CheckContext & { selectedFiles: ReadonlySet<number> | null },
): Promise<Bitfield> {
  if (c.selectedFiles === null) await createEmptyFiles(meta, dir);
  else await createSelectedEmptyFiles(meta, dir, c.selectedFiles);
  if (fresh !== null) {
    c.out.say(`${meta.name}: ${fresh.count}/${meta.pieceCount} pieces from the resume file`);
    return fresh;
  }
  const checkStorage = createFsStorage(meta, dir, { isReadOnly: true });
  const bar = new ProgressBar(meta.totalLength, { label: "checking", isEnabled: c.out.isTty });
  let have: Bitfield;
  try {
    have = await checkPieces(checkStorage, { onProgress: progressOf(bar, c.stop) });
  } finally {
    bar.finish();
    await checkStorage.close();
  }
  if (have.count > 0) c.out.say(`${meta.name}: ${have.count}/${meta.pieceCount} pieces already verified`);
  return have;
}

/** The pieces we have before trading; null when --seed finds the data incomplete. */
async function checkExisting(
  meta: Metainfo,
  o: PeerCliOptions,
  c: CheckContext & { selectedFiles: ReadonlySet<number> | null },
): Promise<Bitfield | null> {
  const resume = await readResume(meta, o.dir);
  const isFresh = resume !== null && isResumeFresh(resume, await readFileStamps(meta, o.dir));
  const fresh = isFresh ? resume.have : null;
  return o.isSeed ? checkForSeeding(meta, o.dir, fresh, c) : checkForDownload(meta, o.dir, fresh, c);
}

/** What trade() hands the session's callbacks. */
interface TradeContext {
  out: PeerOutput;
  stop: StopListener;
  have: Bitfield;
  session: () => Session | undefined;
  onFatal: (err: unknown) => void;
}

/** The session's callbacks: output by mode, the resume file on completion, and the reasons to stop. */
function sessionCallbacks(meta: Metainfo, o: PeerCliOptions, c: TradeContext): Partial<SessionOptions> {
  const { out, stop } = c;
  return {
    onWarning: (message) => out.warn(message),
    onProgress: (s) => {
      if (out.isJson) out.json(jsonLine(meta, c.session()?.port ?? o.port, "status", s));
      else if (out.isTty) out.drawProgress(formatStatusLine(meta.name, s));
    },
    onEvent: (e) => {
      if (e.type !== "listening") return;
      const doing = o.isSeed || c.have.isComplete ? "seeding" : "downloading";
      out.notice(`${meta.name} (${meta.infoHash.hex}): listening on port ${e.port}, ${doing}`);
    },
    onComplete: () => {
      const session = c.session();
      const s = session?.status();
      if (s !== undefined) out.json(jsonLine(meta, session!.port, "complete", s));
      out.notice(`${meta.name}: download complete (${formatBytes(meta.totalLength)})`);
      void writeResume(meta, o.dir, session!.haveBitfield()).catch((err: unknown) => out.warn(errorText(err)));
      if (o.isExitWhenDone) stop.finish("done");
    },
    onSeedRatio: () => stop.finish("ratio"),
    onFatal: (err) => {
      c.onFatal(err);
      stop.finish("fatal");
    },
  };
}

/** After the session stopped: save what is verified (not for --seed), then the last JSON line or summary. */
async function reportStopped(
  meta: Metainfo,
  o: PeerCliOptions,
  session: Session,
  reason: StopReason,
  out: PeerOutput,
): Promise<void> {
  const final = session.status();
  // Save what is verified, so a restart skips the hash check (only valid while nothing writes the files).
  if (!o.isSeed) await writeResume(meta, o.dir, session.haveBitfield()).catch(() => {});
  out.json(jsonLine(meta, session.port, "stopped", final));
  out.notice(
    `${meta.name}: stopped (${reason}); ${formatBytes(final.haveBytes)} of ${formatBytes(final.totalBytes)} ` +
      `verified, downloaded ${formatBytes(final.downloaded)}, uploaded ${formatBytes(final.uploaded)}`,
  );
}

/** Run the session until a reason to stop, then stop it; resolves to 0 or throws peer_fatal. */
async function trade(
  meta: Metainfo,
  o: PeerCliOptions,
  c: { out: PeerOutput; stop: StopListener; have: Bitfield; selectedFiles: ReadonlySet<number> | null },
): Promise<number> {
  const { out, stop, have, selectedFiles } = c;
  const storage = createFsStorage(meta, o.dir, { isReadOnly: o.isSeed });
  let fatalError: unknown = null;
  let session: Session | undefined;
  try {
    session = createSession(meta, {
      storage,
      have,
      port: o.port,
      maxPeers: o.maxPeers,
      peers: o.extraPeers,
      ...(selectedFiles === null ? {} : { selectedFiles }),
      ...(o.uploadLimit === null ? {} : { uploadLimit: o.uploadLimit }),
      ...(o.downloadLimit === null ? {} : { downloadLimit: o.downloadLimit }),
      ...(o.seedRatio === undefined ? {} : { seedRatio: o.seedRatio }),
      ...sessionCallbacks(meta, o, { out, stop, have, session: () => session, onFatal: (err) => fatalError = err }),
    });
  } catch (err: unknown) {
    await storage.close();
    throw err;
  }
  if (o.isExitWhenDone && session.status().isComplete) stop.finish("done");
  let reason: StopReason;
  try {
    reason = await stop.finished;
  } finally {
    await session.stop();
    await storage.close();
    out.clearProgress();
  }
  await reportStopped(meta, o, session, reason, out);
  if (reason === "fatal") {
    const msg = fatalError instanceof Error ? fatalError.message : String(fatalError);
    throw new BtoolError("peer_fatal", msg, { cause: fatalError });
  }
  return 0;
}

/** Run `btool peer` with `argv` (after the subcommand); resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  const o = parsePeerOptions(argv);
  const out = new PeerOutput({
    isJson: o.isJson,
    isQuiet: o.isQuiet,
    isTty: !o.isJson && !o.isQuiet && isStderrTerminal(),
  });
  const meta = await loadTorrentFile(o.torrentPath);
  const selectedFiles = o.only === undefined ? null : parseOnly(o.only, meta);
  if (selectedFiles !== null && o.isSeed) throw new UsageError("--only cannot be used with --seed");
  const stop = listenForStop();
  try {
    const have = await checkExisting(meta, o, { out, stop, selectedFiles });
    if (have === null) return 1;
    return await trade(meta, o, { out, stop, have, selectedFiles });
  } catch (err: unknown) {
    if (!(err instanceof Interrupted)) throw err;
    out.say(`${meta.name}: interrupted during the check; nothing was announced`);
    return 0;
  } finally {
    stop.dispose();
  }
}

/** Thrown from a check's progress callback when a signal arrived. */
class Interrupted extends BtoolError {
  constructor() {
    super("interrupted", "Interrupted by a signal");
  }
}
