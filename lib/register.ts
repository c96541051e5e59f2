// `btool register` (issues #6, #18): find .torrent files, parse them, build their metadata and register them in bulk
// with a btool tracker (POST /api/torrents, admin) in batches capped by count and by bytes; retry network errors and
// 5xx with backoff, never a refusal (4xx); warn per torrent when it will not work with that tracker; optionally
// unregister what is gone (--prune). Never prints: reports via callbacks.

import { errorText } from "./errors.ts";
import { Api, RegisterError } from "./_register_api.ts";
import { type Metainfo, parseMetainfo } from "./metainfo.ts";

/** Torrents per bulk request. */
export const REGISTER_BATCH_TORRENTS = 1_000;
/**
 * Cap on one bulk request's JSON body (issue #18). Half the smallest body cap a btool tracker has had on this path
 * (4 MiB, the libc HTTP server before #18), so older trackers take it too; the admin API itself allows 64 MiB.
 */
export const REGISTER_BATCH_BYTES = 2 * 1024 * 1024;
/** Retries of one request after a network error or a 5xx (issue #6: 3). */
export const REGISTER_RETRIES = 3;
/** First backoff; doubled on each retry. */
export const REGISTER_BACKOFF_MS = 250;
/** Timeout of one request. */
export const REGISTER_TIMEOUT_MS = 60_000;
/** Files read at once. */
const READ_CONCURRENCY = 16;
/** Cap on a .torrent file read (larger ones are refused as invalid). */
export const MAX_TORRENT_FILE_BYTES = 64 * 1024 * 1024;
/** Cap on directory entries walked (a hostile tree costs bounded memory). */
export const MAX_FOUND_FILES = 1_000_000;
/** File entries sent per torrent (the count is always sent). */
export const MAX_SENT_FILES = 1_000;

export { RegisterError };

/** The metadata registered for one torrent (JSON of POST /api/torrents). */
export interface TorrentRegistration {
  infoHash: string;
  name: string;
  size: number;
  pieceLength: number;
  comment?: string;
  createdBy?: string;
  creationDate?: number;
  source?: string;
  isPrivate: boolean;
  fileCount: number;
  files: { path: string; length: number }[];
  announce: string[];
}

/** What happened to one torrent file. */
export type TorrentOutcome =
  | { type: "added" | "updated" | "unchanged" | "would_register"; path: string; infoHash: string; name: string }
  | { type: "invalid"; path: string; error: string }
  | { type: "duplicate"; path: string; infoHash: string; sameAs: string }
  | {
    type: "failed";
    path: string;
    infoHash: string;
    error: string;
    /** too_large (this torrent alone is over the batch cap), api_refused (4xx), tracker_failed (5xx after the
     * retries), tracker_unreachable (no connection after the retries), no_status (missing from the reply). */
    code: string;
  };

/** A per-torrent warning: it will not work with this tracker as it is. */
export interface RegisterWarning {
  path: string;
  infoHash: string;
  message: string;
}

/** The result of `registerTorrents`. */
export interface RegisterSummary {
  trackerUrl: string;
  isDryRun: boolean;
  found: number;
  /** Added or updated. */
  registered: number;
  added: number;
  updated: number;
  unchanged: number;
  /** Invalid files plus torrents whose registration failed. */
  failed: number;
  duplicates: number;
  /** Unregistered by --prune (or that would be, on a dry run). */
  pruned: number;
  outcomes: TorrentOutcome[];
  warnings: RegisterWarning[];
  /** Tracker mode, when the tracker said. */
  tracker: { isPrivate: boolean; isListed: boolean } | null;
}

/** Options of registerTorrents. */
export interface RegisterOptions {
  /** The tracker's base URL (`http://host:6969`) or any of its announce URLs. */
  trackerUrl: string;
  adminToken?: string;
  isDryRun?: boolean;
  isPrune?: boolean;
  batchTorrents?: number;
  /** Cap on one request's body (REGISTER_BATCH_BYTES). */
  batchBytes?: number;
  retries?: number;
  backoffMs?: number;
  /** Injected for tests. */
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  onProgress?: (phase: "read" | "register", done: number, total: number) => void;
  /** Called once per invalid file as it is found. */
  onInvalid?: (path: string, error: string) => void;
  onWarning?: (warning: RegisterWarning) => void;
  /** Told before each retry. */
  onRetry?: (attempt: number, error: string) => void;
}

/**
 * The tracker's origin from a base or announce URL (`http://h:1/announce?passkey=x` → `http://h:1`).
 * @throws {RegisterError} bad_tracker_url
 */
export function trackerOrigin(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err: unknown) {
    throw new RegisterError("bad_tracker_url", `Invalid tracker URL "${url}"`, { cause: err });
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new RegisterError("bad_tracker_url", `Invalid tracker URL "${url}": use http:// or https://`);
  }
  return parsed.origin;
}

/**
 * Every .torrent below `inputs` (directories are walked recursively, symlinked directories not followed; a file
 * named directly is taken whatever its extension), sorted, each once.
 * @throws {RegisterError} not_found (an input does not exist), too_many_files
 */
export async function findTorrentFiles(inputs: readonly string[]): Promise<string[]> {
  const out = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(dir)) {
      const path = `${dir.replace(/\/+$/, "")}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile && entry.name.toLowerCase().endsWith(".torrent")) {
        if (out.size >= MAX_FOUND_FILES) {
          throw new RegisterError("too_many_files", `Too many .torrent files: more than ${MAX_FOUND_FILES}`);
        }
        out.add(path);
      }
    }
  };
  for (const input of inputs) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(input);
    } catch (err: unknown) {
      throw new RegisterError("not_found", `Cannot read "${input}": ${errorText(err)}`, { cause: err });
    }
    if (info.isDirectory) await walk(input);
    else out.add(input);
  }
  return [...out].sort();
}

/** The registration metadata of a parsed torrent (deterministic, so re-registering changes nothing). */
export function torrentRegistration(meta: Metainfo): TorrentRegistration {
  const real = meta.files.filter((f) => f.isPadding !== true);
  const reg: TorrentRegistration = {
    infoHash: meta.infoHash.hex,
    name: meta.name,
    size: meta.totalLength,
    pieceLength: meta.pieceLength,
    isPrivate: meta.isPrivate,
    fileCount: real.length,
    // The tracker records the paths the torrent lists, not where btool would save them (#19).
    files: real.slice(0, MAX_SENT_FILES).map((f) => ({ path: (f.torrentPath ?? f.path).join("/"), length: f.length })),
    announce: [...new Set(meta.announceList.flat())],
  };
  if (meta.comment !== null) reg.comment = meta.comment;
  if (meta.createdBy !== null) reg.createdBy = meta.createdBy;
  if (meta.creationDate !== null) reg.creationDate = meta.creationDate;
  if (meta.source !== null) reg.source = meta.source;
  return reg;
}

/**
 * Why `reg` will not work with the tracker at `origin` (empty when it will): announce URLs pointing elsewhere, and
 * on a private tracker a private flag that is off or an announce URL without a passkey.
 */
export function registrationWarnings(
  reg: TorrentRegistration,
  origin: string,
  tracker: { isPrivate: boolean } | null,
): string[] {
  const warnings: string[] = [];
  const ours = reg.announce.filter((u) => originOf(u) === origin);
  if (reg.announce.length === 0) warnings.push(`has no announce URL: clients will not find ${origin}`);
  else if (ours.length === 0) {
    warnings.push(`announce URL points elsewhere ("${reg.announce[0]}"), not to ${origin}`);
  }
  if (tracker?.isPrivate === true) {
    if (!reg.isPrivate) warnings.push("private flag is off on a private tracker: clients may use DHT and PEX");
    if (ours.length > 0 && !ours.some(hasPasskey)) {
      warnings.push("announce URL has no passkey: give members their copy (btool tracker torrent-for)");
    }
  }
  return warnings;
}

function originOf(url: string): string | null {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}

function hasPasskey(url: string): boolean {
  return /[?&]passkey=[0-9a-fA-F]{32}(&|$)/.test(url) || /\/(announce|scrape)\/[0-9a-fA-F]{32}$/.test(url);
}

interface Parsed {
  path: string;
  reg: TorrentRegistration;
}

/**
 * Register every torrent found in `inputs` with the tracker (see the file comment).
 * @throws {RegisterError} bad_tracker_url, not_found, unauthorized (admin token refused), tracker_unreachable
 *   (no answer after the retries when asking the tracker's mode)
 */
export async function registerTorrents(inputs: readonly string[], options: RegisterOptions): Promise<RegisterSummary> {
  const origin = trackerOrigin(options.trackerUrl);
  const api = new Api(origin, {
    ...options,
    retries: options.retries ?? REGISTER_RETRIES,
    backoffMs: options.backoffMs ?? REGISTER_BACKOFF_MS,
    timeoutMs: REGISTER_TIMEOUT_MS,
  });
  const isDryRun = options.isDryRun === true;
  const files = await findTorrentFiles(inputs);
  const summary: RegisterSummary = {
    trackerUrl: origin,
    isDryRun,
    found: files.length,
    registered: 0,
    added: 0,
    updated: 0,
    unchanged: 0,
    failed: 0,
    duplicates: 0,
    pruned: 0,
    outcomes: [],
    warnings: [],
    tracker: null,
  };

  // The mode decides the warnings; a dry run goes on without it when the tracker is unreachable.
  try {
    const info = await api.call("GET", "/api/info") as { isPrivate?: unknown; isListed?: unknown };
    summary.tracker = { isPrivate: info.isPrivate === true, isListed: info.isListed === true };
  } catch (err: unknown) {
    if (!isDryRun || (err instanceof RegisterError && err.code === "unauthorized")) throw err;
  }

  const parsed = await readAll(files, options);
  const byHash = new Map<string, Parsed>();
  const unique: Parsed[] = [];
  for (const item of parsed) {
    if ("error" in item) {
      summary.outcomes.push({ type: "invalid", path: item.path, error: item.error });
      summary.failed++;
      continue;
    }
    const first = byHash.get(item.reg.infoHash);
    if (first !== undefined) {
      summary.outcomes.push({ type: "duplicate", path: item.path, infoHash: item.reg.infoHash, sameAs: first.path });
      summary.duplicates++;
      continue;
    }
    byHash.set(item.reg.infoHash, item);
    unique.push(item);
    for (const message of registrationWarnings(item.reg, origin, summary.tracker)) {
      const w = { path: item.path, infoHash: item.reg.infoHash, message };
      summary.warnings.push(w);
      options.onWarning?.(w);
    }
  }

  await registerBatches(api, unique, summary, options);
  summary.registered = summary.added + summary.updated;

  if (options.isPrune === true) summary.pruned = await prune(api, byHash, isDryRun, summary.tracker !== null);
  return summary;
}

/** The bytes `{"torrents":[` and `]}` add to a bulk body. */
const BATCH_ENVELOPE_BYTES = 15;

/** Batches of item indices, and the items that alone are over the byte cap. */
export interface BatchPlan {
  batches: number[][];
  tooLarge: number[];
}

/**
 * Split items whose JSON is `sizes[i]` bytes into consecutive batches of at most `maxTorrents` items and a body
 * (envelope, items and the commas between them) of at most `maxBytes`. An item that is over the cap by itself is
 * left out, in `tooLarge`, so one huge torrent fails alone.
 */
export function planBatches(sizes: readonly number[], caps: { maxTorrents: number; maxBytes: number }): BatchPlan {
  const plan: BatchPlan = { batches: [], tooLarge: [] };
  const maxTorrents = Math.max(1, caps.maxTorrents);
  let batch: number[] = [];
  let bytes = BATCH_ENVELOPE_BYTES;
  sizes.forEach((size, i) => {
    if (BATCH_ENVELOPE_BYTES + size > caps.maxBytes) {
      plan.tooLarge.push(i);
      return;
    }
    const comma = batch.length > 0 ? 1 : 0;
    if (batch.length >= maxTorrents || bytes + comma + size > caps.maxBytes) {
      plan.batches.push(batch);
      batch = [];
      bytes = BATCH_ENVELOPE_BYTES;
    }
    bytes += (batch.length > 0 ? 1 : 0) + size;
    batch.push(i);
  });
  if (batch.length > 0) plan.batches.push(batch);
  return plan;
}

async function registerBatches(
  api: Api,
  unique: readonly Parsed[],
  summary: RegisterSummary,
  options: RegisterOptions,
): Promise<void> {
  const encoder = new TextEncoder();
  const jsons = unique.map((p) => JSON.stringify(p.reg));
  const maxBytes = options.batchBytes ?? REGISTER_BATCH_BYTES;
  const plan = planBatches(jsons.map((j) => encoder.encode(j).length), {
    maxTorrents: options.batchTorrents ?? REGISTER_BATCH_TORRENTS,
    maxBytes,
  });
  const fail = (p: Parsed, code: string, error: string) => {
    summary.outcomes.push({ type: "failed", path: p.path, infoHash: p.reg.infoHash, error, code });
    summary.failed++;
  };
  for (const i of plan.tooLarge) {
    const size = encoder.encode(jsons[i]!).length;
    fail(unique[i]!, "too_large", `Its registration is ${size} bytes, over the ${maxBytes}-byte cap of one request`);
  }
  let done = plan.tooLarge.length;
  for (const batch of plan.batches) {
    const chunk = batch.map((i) => unique[i]!);
    if (summary.isDryRun) {
      for (const p of chunk) {
        summary.outcomes.push({ type: "would_register", path: p.path, infoHash: p.reg.infoHash, name: p.reg.name });
      }
    } else {
      try {
        const body = `{"torrents":[${batch.map((i) => jsons[i]!).join(",")}]}`;
        const reply = await api.call("POST", "/api/torrents", { bodyText: body, what: "the batch" }) as {
          results?: { infoHash?: unknown; status?: unknown }[];
        };
        const statuses = new Map<string, unknown>();
        for (const r of reply.results ?? []) statuses.set(String(r.infoHash), r.status);
        for (const p of chunk) {
          const status = statuses.get(p.reg.infoHash);
          if (status === "added" || status === "updated" || status === "unchanged") {
            summary.outcomes.push({ type: status, path: p.path, infoHash: p.reg.infoHash, name: p.reg.name });
            summary[status]++;
          } else fail(p, "no_status", "The tracker's reply has no status for it");
        }
      } catch (err: unknown) {
        if (err instanceof RegisterError && err.code === "unauthorized") throw err;
        const code = err instanceof RegisterError ? err.code : "failed";
        for (const p of chunk) fail(p, code, errorText(err));
      }
    }
    done += chunk.length;
    options.onProgress?.("register", done, unique.length);
  }
}

async function prune(api: Api, keep: Map<string, Parsed>, isDryRun: boolean, isReachable: boolean): Promise<number> {
  if (!isReachable) return 0;
  const listed = await api.call("GET", "/api/torrents") as { torrents?: { infoHash?: unknown }[] };
  const gone = (listed.torrents ?? []).map((t) => String(t.infoHash)).filter((h) => !keep.has(h));
  if (isDryRun) return gone.length;
  let n = 0;
  for (let at = 0; at < gone.length; at += REGISTER_BATCH_TORRENTS) {
    const reply = await api.call("POST", "/api/torrents/unregister", {
      body: { infoHashes: gone.slice(at, at + REGISTER_BATCH_TORRENTS) },
    }) as { unregistered?: unknown };
    n += typeof reply.unregistered === "number" ? reply.unregistered : 0;
  }
  return n;
}

async function readAll(
  files: readonly string[],
  options: RegisterOptions,
): Promise<(Parsed | { path: string; error: string })[]> {
  const out: (Parsed | { path: string; error: string })[] = new Array(files.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      const path = files[i]!;
      try {
        const stat = await Deno.stat(path);
        if (stat.size > MAX_TORRENT_FILE_BYTES) throw new Error(`larger than ${MAX_TORRENT_FILE_BYTES} bytes`);
        out[i] = { path, reg: torrentRegistration(await parseMetainfo(await Deno.readFile(path))) };
      } catch (err: unknown) {
        const error = errorText(err);
        out[i] = { path, error };
        options.onInvalid?.(path, error);
      }
      options.onProgress?.("read", ++done, files.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, files.length) }, worker));
  return out;
}
