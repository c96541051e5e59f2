// The private-tracker half of the server (issue #6): access checks and accounting on the announce path, the admin
// API for bulk registration and members (/api/...), per-user stats, and noticing changes other processes made to the
// db (`btool tracker user revoke` while the tracker runs). The HTTP server calls it; it opens no socket itself and
// never logs a passkey.

import { readBodyCapped, toLatin1 } from "../bytes.ts";
import { MAX_BULK_BODY_BYTES } from "./http_limits.ts";
import { errorText, TrackerError } from "../errors.ts";
import type { TorrentMeta, TrackerDb, UserRecord } from "../persist/db.ts";
import { AccessControl, type AccessUser, ipKey, passkeyFromQuery, splitPasskeyPath } from "./access.ts";
import { json } from "./admin_api.ts";
import type { Registry, SimilarOptions } from "./registry.ts";
import { Accounting, type AccountingSave } from "./member_accounting.ts";
import { memberAnnounceUrl, Users } from "./users.ts";

/** How often the db is checked for changes made by another process (users, registry). */
export const DB_POLL_INTERVAL_MS = 1_000;
/** Cap on the body of a bulk admin call (lib/tracker/http_limits.ts holds every HTTP limit). */
export { MAX_BULK_BODY_BYTES };
/** Cap on torrents in one bulk registration (clients send batches). */
export const MAX_BULK_TORRENTS = 10_000;
/** Cap on file entries kept per torrent in registered metadata (the count is always kept). */
export const MAX_META_FILES = 1_000;
/**
 * Default period of the background accounting save (skipped when nothing changed). Each save writes every accounted
 * peer (72 bytes each, ~1 MiB per event-loop turn), so the tracker's snapshot then finds little left to write.
 */
export const DEFAULT_ACCOUNTING_FLUSH_MS = 30_000;

/** Per-user totals in an admin /stats. */
export interface StatsUser {
  name: string;
  uploaded: number;
  downloaded: number;
  isRevoked: boolean;
  /** Distinct IPs in the current leak window. */
  distinctIps: number;
  isLeakFlagged: boolean;
}

/** Options of PrivateMode. */
export interface PrivateModeOptions {
  db: TrackerDb;
  registry: Registry;
  isListed?: boolean;
  isPrivate?: boolean;
  /** Leak signal threshold: distinct IPs per passkey per hour. */
  leakMaxIps?: number;
  similar?: SimilarOptions;
  /** Accounting counters older than this are not reloaded at start (seconds). */
  peerTimeoutS: number;
  now: () => number;
  onWarning: (message: string) => void;
  /** 0 turns the db poll off (tests call poll()). */
  pollIntervalMs?: number;
  /**
   * Period of the background accounting save, one chunk (ACCOUNTING_CHUNK_ENTRIES peers) per event-loop turn
   * (default 0: none; `createTracker` passes DEFAULT_ACCOUNTING_FLUSH_MS). `flush()` (snapshots, close) saves at
   * once.
   */
  flushIntervalMs?: number;
}

/** Access checks, accounting and the admin API of a tracker. */
export class PrivateMode {
  readonly access: AccessControl;
  readonly users: Users;
  readonly accounting: Accounting;
  readonly #db: TrackerDb;
  readonly #registry: Registry;
  readonly #now: () => number;
  readonly #onWarning: (message: string) => void;
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  /** The next step of a running background flush, or null. */
  #flushStep: ReturnType<typeof setTimeout> | null = null;
  /** close() was called: no background save starts (its timers would outlive this object). */
  #isClosed = false;
  #dataVersion: number;
  readonly #peerTimeoutMs: number;

  constructor(options: PrivateModeOptions) {
    this.#db = options.db;
    this.#registry = options.registry;
    this.#now = options.now;
    this.#onWarning = options.onWarning;
    this.users = new Users(options.db);
    const similar = options.similar ?? {};
    this.access = new AccessControl({
      isListed: options.isListed === true,
      isPrivate: options.isPrivate === true,
      registry: {
        hasInfoHash: (infoHash) => this.#registry.hasInfoHash(infoHash),
        has: (hex) => this.#registry.has(hex),
        findSimilar: (hex) => this.#registry.findSimilar(hex, similar),
      },
      users: this.users.activeAccessUsers(),
      ...(options.leakMaxIps === undefined ? {} : { leak: { maxIps: options.leakMaxIps } }),
      onLeak: (user, n) => this.#onWarning(`Passkey of user "${user.name}" announced from ${n} addresses this hour`),
    });
    this.accounting = new Accounting(options.db, { sinceMs: this.#now() - options.peerTimeoutS * 1000 });
    this.#dataVersion = options.db.dataVersion();
    this.#peerTimeoutMs = options.peerTimeoutS * 1000;
    const pollMs = options.pollIntervalMs ?? DB_POLL_INTERVAL_MS;
    if (pollMs > 0) this.#timers.push(setInterval(() => this.#guard("reload users", () => this.poll()), pollMs));
    const flushMs = options.flushIntervalMs ?? 0;
    if (flushMs > 0) this.#timers.push(setInterval(() => this.flushInBackground(), flushMs));
  }

  #guard(what: string, fn: () => unknown): void {
    try {
      fn();
    } catch (err: unknown) {
      this.#onWarning(`Cannot ${what}: ${errorText(err)}`);
    }
  }

  /** True when announces need no check at all (open tracker, no members): the hot path skips everything. */
  get isOff(): boolean {
    return this.access.isOpen && this.access.userCount === 0;
  }

  /**
   * The checks of one announce or scrape: passkey (private), then registration (listed; pass null for a scrape).
   * @returns the member, or null for an anonymous client of an open tracker
   * @throws {TrackerError} passkey_limited, passkey_missing, passkey_invalid, unregistered
   */
  check(passkey: string | undefined, ip: Uint8Array, infoHash: Uint8Array | null, nowMs: number): AccessUser | null {
    const user = this.access.authorize(passkey, ipKey(ip), nowMs);
    if (infoHash !== null) this.access.checkListed(infoHash);
    return user;
  }

  /**
   * The UDP tracker's access hook (udp_server.ts UdpAccessHook): the passkey comes from BEP 41 URL data
   * (`/announce?passkey=…` or `/announce/<passkey>`; INTEROP.md 14: only libtorrent-family clients send it).
   * Announces of unregistered torrents are refused in listed mode; scrapes of them just count zeros. A member's
   * announce with `announce` counters is accounted like an HTTP one.
   * @throws {TrackerError} as `check`
   */
  checkUdp(
    request: {
      type: "announce" | "scrape";
      infoHashes: readonly Uint8Array[];
      urlData: Uint8Array;
      ip: Uint8Array;
      announce?: { peerId: Uint8Array; uploaded: number; downloaded: number; isStarted: boolean };
    },
  ): void {
    if (this.access.isOpen) return;
    let passkey: string | undefined;
    if (request.urlData.length > 0) {
      const text = toLatin1(request.urlData);
      const q = text.indexOf("?");
      const path = q < 0 ? text : text.slice(0, q);
      passkey = splitPasskeyPath(path)?.passkey ?? (q < 0 ? undefined : passkeyFromQuery(text.slice(q + 1)));
    }
    const hash = request.type === "announce" ? request.infoHashes[0] : undefined;
    const nowMs = this.#now();
    const user = this.check(passkey, request.ip, hash ?? null, nowMs);
    const a = request.announce;
    if (user !== null && hash !== undefined && a !== undefined) {
      this.accounting.record(user.id, hash, a.peerId, {
        uploaded: a.uploaded,
        downloaded: a.downloaded,
        isStarted: a.isStarted,
        nowMs,
      });
    }
  }

  /** Reload users and registry when another process changed the db. @returns whether it reloaded */
  poll(): boolean {
    const version = this.#db.dataVersion();
    if (version === this.#dataVersion) return false;
    this.#dataVersion = version;
    this.#reloadUsers();
    this.#registry.reload();
    return true;
  }

  #reloadUsers(): void {
    this.access.setUsers(this.users.activeAccessUsers());
  }

  /**
   * Save accounting a chunk per event-loop turn when anything changed, first dropping counters of peers silent past
   * the peer timeout. At most one runs; a failed step is reported and everything waits for the next period (nothing
   * is lost).
   */
  flushInBackground(): void {
    if (this.#isClosed || this.#flushStep !== null || this.accounting.isSaving || !this.accounting.hasChanges) return;
    let save: AccountingSave;
    try {
      this.accounting.expire(this.#now() - this.#peerTimeoutMs);
      save = this.accounting.beginSave();
    } catch (err: unknown) {
      this.#onWarning(`Cannot save accounting: ${errorText(err)}`);
      return;
    }
    const step = () => {
      this.#flushStep = null;
      try {
        if (!save.step()) this.#flushStep = setTimeout(step, 0);
      } catch (err: unknown) {
        this.#onWarning(`Cannot save accounting: ${errorText(err)}`);
      }
    };
    step();
  }

  /** True while a background save has steps left. */
  get isFlushing(): boolean {
    return this.#flushStep !== null;
  }

  /** Save accounting now, all of it (finishing a background save). @returns peer records written */
  flush(): number {
    if (this.#flushStep !== null) clearTimeout(this.#flushStep);
    this.#flushStep = null;
    this.accounting.expire(this.#now() - this.#peerTimeoutMs);
    return this.accounting.flush();
  }

  /** Per-user totals (db + not yet flushed) and leak state. */
  statsUsers(): StatsUser[] {
    const nowMs = this.#now();
    return this.users.list().map((u) => {
      const pending = this.accounting.pending(u.id);
      const leak = this.access.leaks.state(u.id, nowMs);
      return {
        name: u.name,
        uploaded: u.uploaded + pending.uploaded,
        downloaded: u.downloaded + pending.downloaded,
        isRevoked: u.revokedMs !== null,
        distinctIps: leak.distinctIps,
        isLeakFlagged: leak.isFlagged,
      };
    });
  }

  /** Stop the timers and write pending accounting. */
  close(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers.length = 0;
    if (this.#flushStep !== null) clearTimeout(this.#flushStep);
    this.#flushStep = null;
    this.#isClosed = true;
    this.#guard("save accounting", () => this.flush());
  }

  /**
   * The admin API under /api (the caller has checked the admin token):
   * GET /api/info; GET, POST /api/torrents; DELETE /api/torrents/<hex>; POST /api/torrents/unregister;
   * GET, POST /api/users; DELETE /api/users/<name>; POST /api/users/<name>/rotate.
   */
  async handleApi(req: Request, path: string): Promise<Response> {
    try {
      return await this.#route(req, path);
    } catch (err: unknown) {
      if (err instanceof TrackerError) return json({ error: err.reason }, 400);
      const code = (err as { code?: unknown }).code;
      if (typeof code === "string" && err instanceof Error) {
        const status = code === "unknown_user" ? 404 : code === "user_exists" ? 409 : code === "db_busy" ? 503 : 400;
        return json({ error: err.message, code }, status);
      }
      this.#onWarning(`Internal error in ${req.method} ${path}: ${errorText(err)}`);
      return json({ error: "internal error" }, 500);
    }
  }

  async #route(req: Request, path: string): Promise<Response> {
    const m = req.method;
    const origin = new URL(req.url).origin;
    const parts = path.split("/").filter((p) => p !== "").map((p) => decodeURIComponent(p)); // ["api", ...]
    const [, what, arg, sub] = parts;
    if (what === "info" && m === "GET" && arg === undefined) {
      return json({
        isPrivate: this.access.isPrivate,
        isListed: this.access.isListed,
        torrents: this.#registry.size,
        users: this.access.userCount,
      });
    }
    if (what === "torrents") {
      if (arg === undefined && m === "GET") {
        return json({ torrents: this.#registry.all().map((r) => ({ infoHash: r.infoHashHex, name: r.name ?? null })) });
      }
      if (arg === undefined && m === "POST") return this.#registerBulk(req);
      if (arg === "unregister" && m === "POST") {
        const body = await readJson(req);
        const hexes = (body as { infoHashes?: unknown })?.infoHashes;
        if (!Array.isArray(hexes) || hexes.length > MAX_BULK_TORRENTS || !hexes.every(isHex40)) {
          return json({ error: `infoHashes must be a list of at most ${MAX_BULK_TORRENTS} 40-hex info hashes` }, 400);
        }
        let n = 0;
        for (const hex of hexes) if (this.#registry.unregister(hex)) n++;
        return json({ unregistered: n });
      }
      if (arg !== undefined && sub === undefined && m === "DELETE") {
        if (!isHex40(arg)) return json({ error: "info hash must be 40 hex digits" }, 400);
        return json({ infoHash: arg.toLowerCase(), wasRegistered: this.#registry.unregister(arg) });
      }
    }
    if (what === "users") {
      if (arg === undefined && m === "GET") {
        return json({ users: this.users.list().map((u) => userJson(u, origin)) });
      }
      if (arg === undefined && m === "POST") {
        const name = (await readJson(req) as { name?: unknown })?.name;
        if (typeof name !== "string") return json({ error: "name must be a string" }, 400);
        const user = this.users.add(name, this.#now());
        this.#reloadUsers();
        return json(userJson(user, origin), 201);
      }
      if (arg !== undefined && sub === undefined && m === "DELETE") {
        const wasActive = this.users.revoke(arg, this.#now());
        this.#afterChange(arg);
        return json({ name: arg, wasActive });
      }
      if (arg !== undefined && sub === "rotate" && m === "POST") {
        const user = this.users.rotate(arg, this.#now());
        this.#afterChange(arg);
        return json(userJson(user, origin));
      }
    }
    return json({ error: `No such API call: ${m} ${path}` }, 404);
  }

  #afterChange(name: string): void {
    const user = this.users.get(name);
    if (user !== null) this.access.leaks.forget(user.id);
    this.#reloadUsers();
  }

  async #registerBulk(req: Request): Promise<Response> {
    const body = await readJson(req);
    const items = Array.isArray(body) ? body : (body as { torrents?: unknown })?.torrents;
    if (!Array.isArray(items)) return json({ error: "Body must be a list of torrents or { torrents: [...] }" }, 400);
    if (items.length > MAX_BULK_TORRENTS) {
      return json({ error: `At most ${MAX_BULK_TORRENTS} torrents per call: send batches` }, 413);
    }
    const metas: TorrentMeta[] = [];
    for (let i = 0; i < items.length; i++) {
      const meta = toBulkMeta(items[i]);
      if (typeof meta === "string") return json({ error: `Torrent ${i}: ${meta}` }, 400);
      metas.push(meta);
    }
    const results = this.#registry.registerMany(metas, this.#now());
    const counts = { added: 0, updated: 0, unchanged: 0 };
    for (const r of results) counts[r]++;
    return json({
      results: metas.map((meta, i) => ({ infoHash: meta.infoHashHex, status: results[i] })),
      counts,
      isPrivate: this.access.isPrivate,
      isListed: this.access.isListed,
    });
  }
}

function userJson(u: UserRecord, origin: string) {
  return {
    name: u.name,
    passkey: u.passkeyHex,
    announceUrl: memberAnnounceUrl(origin, u.passkeyHex),
    isRevoked: u.revokedMs !== null,
    createdMs: u.createdMs,
    uploaded: u.uploaded,
    downloaded: u.downloaded,
  };
}

function isHex40(v: unknown): v is string {
  return typeof v === "string" && /^[0-9a-fA-F]{40}$/.test(v);
}

/** @throws {TrackerError} body_too_large, bad_json */
async function readJson(req: Request): Promise<unknown> {
  if (req.body === null) return null;
  const bytes = await readBodyCapped(req, MAX_BULK_BODY_BYTES);
  if (bytes === null) throw new TrackerError("body_too_large", "Body is too large");
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (err: unknown) {
    throw new TrackerError("bad_json", "Body is not JSON", { cause: err });
  }
}

const STRING_FIELDS = { name: "name", comment: "comment", createdBy: "createdBy" } as const;

/** One entry of POST /api/torrents → TorrentMeta, or an error text. Unknown fields go to `extra`. */
export function toBulkMeta(item: unknown): TorrentMeta | string {
  if (typeof item !== "object" || item === null || Array.isArray(item)) return "each entry must be a JSON object";
  const obj = item as Record<string, unknown>;
  const hex = obj.infoHash ?? obj.info_hash;
  if (!isHex40(hex)) return "infoHash must be 40 hex digits";
  const meta: TorrentMeta = { infoHashHex: hex.toLowerCase() };
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === "infoHash" || k === "info_hash" || v === null || v === undefined) continue;
    if (k === "size" || k === "pieceLength") {
      if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) return `${k} must be a non-negative integer`;
      meta[k] = v;
    } else if (k in STRING_FIELDS) {
      if (typeof v !== "string") return `${k} must be a string`;
      meta[STRING_FIELDS[k as keyof typeof STRING_FIELDS]] = v;
    } else if (k === "files" && Array.isArray(v) && v.length > MAX_META_FILES) {
      extra[k] = v.slice(0, MAX_META_FILES);
    } else extra[k] = v;
  }
  if (Object.keys(extra).length > 0) meta.extra = extra;
  return meta;
}

/** True for paths of the admin API (the server checks the admin token first). */
export function isApiPath(path: string): boolean {
  return path === "/api" || path.startsWith("/api/");
}
