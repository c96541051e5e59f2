// Access control of a private tracker (issue #6), shared by the HTTP and UDP transports: the --listed and --private
// modes, passkey extraction (`?passkey=`, `/announce/<passkey>`, `/scrape/<passkey>`), constant-time passkey checks,
// a bounded per-IP limiter of failed passkeys and the leak signal (distinct IPs per passkey per hour).
// Pure policy over values: time comes in as `nowMs`; never logs a passkey, never does I/O.

import { hexDigitValue, timingSafeEquals, toHex, toLatin1 } from "../bytes.ts";
import { TrackerError } from "../errors.ts";

/** A passkey is 16 random bytes written as 32 lowercase hex digits. */
export const PASSKEY_HEX_CHARS = 32;
/** Failed passkeys one IP may send per window before it is refused for the rest of the window. */
export const DEFAULT_MAX_FAILURES_PER_IP = 10;
/** The failed-passkey window. */
export const DEFAULT_FAILURE_WINDOW_MS = 60_000;
/** Cap on IPs the failure limiter remembers (oldest dropped first): its memory is bounded whatever the attack. */
export const DEFAULT_MAX_LIMITED_IPS = 65_536;
/** Leak signal: a passkey announcing from more distinct IPs than this within one window is flagged. */
export const DEFAULT_LEAK_MAX_IPS = 10;
/** The leak window (one hour, issue #6). */
export const DEFAULT_LEAK_WINDOW_MS = 3_600_000;

/** The failure reason of `--listed` for an info hash that is not registered (issue #6). */
export const UNREGISTERED_REASON = "unregistered torrent";
/** The failure reason of `--private` without a passkey. */
export const PASSKEY_MISSING_REASON = "passkey required: use your announce URL with ?passkey=";
/** The failure reason of `--private` for a passkey that is unknown, revoked or malformed. */
export const PASSKEY_INVALID_REASON = "invalid passkey";
/** The failure reason once an IP sent too many invalid passkeys. */
export const PASSKEY_LIMITED_REASON = "too many invalid passkeys from your address: try again later";

/** A member allowed on a private tracker. */
export interface AccessUser {
  id: number;
  name: string;
  /** 32 lowercase hex digits. */
  passkeyHex: string;
}

/** True when `text` is exactly 32 hex digits (either case). */
export function isPasskeyHex(text: string): boolean {
  if (text.length !== PASSKEY_HEX_CHARS) return false;
  for (let i = 0; i < PASSKEY_HEX_CHARS; i++) if (hexDigitValue(text.charCodeAt(i)) < 0) return false;
  return true;
}

/** A fresh passkey from the platform's CSPRNG (or `randomBytes` in tests). */
export function createPasskey(
  randomBytes: (n: number) => Uint8Array = (n) => crypto.getRandomValues(new Uint8Array(n)),
): string {
  const bytes = randomBytes(PASSKEY_HEX_CHARS / 2);
  let hex = "";
  for (let i = 0; i < bytes.length; i++) hex += bytes[i]!.toString(16).padStart(2, "0");
  return hex;
}

/**
 * The `passkey` parameter of a query string (without `?`), or undefined when absent. Values are not decoded:
 * a passkey is hex. At most the first 64 characters are returned (longer values are invalid anyway).
 */
export function passkeyFromQuery(query: string): string | undefined {
  let at = query.startsWith("passkey=") ? 0 : query.indexOf("&passkey=");
  if (at < 0) return undefined;
  if (at > 0) at += 1;
  const start = at + 8;
  let end = query.indexOf("&", start);
  if (end < 0) end = query.length;
  return query.slice(start, Math.min(end, start + 2 * PASSKEY_HEX_CHARS));
}

/** A torrust-style path with the passkey as its last segment. */
export interface PasskeyPath {
  path: "/announce" | "/scrape";
  passkey: string;
}

/** `/announce/<passkey>` or `/scrape/<passkey>` (one segment, no further slash); null for anything else. */
export function splitPasskeyPath(path: string): PasskeyPath | null {
  let base: "/announce" | "/scrape";
  if (path.startsWith("/announce/")) base = "/announce";
  else if (path.startsWith("/scrape/")) base = "/scrape";
  else return null;
  const passkey = path.slice(base.length + 1);
  if (passkey.length === 0 || passkey.length > 2 * PASSKEY_HEX_CHARS || passkey.includes("/")) return null;
  return { path: base, passkey };
}

/**
 * Decode a passkey's 32 hex digits (either case) into `out` (16 bytes); returns its first 4 bytes as the index key
 * ("selector"), or -1 when `text` is not a passkey.
 */
function decodePasskey(text: string, out: Uint8Array): number {
  if (text.length !== PASSKEY_HEX_CHARS) return -1;
  for (let i = 0; i < PASSKEY_HEX_CHARS / 2; i++) {
    const hi = hexDigitValue(text.charCodeAt(2 * i));
    const lo = hexDigitValue(text.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) return -1;
    out[i] = (hi << 4) | lo;
  }
  return ((out[0]! << 24) | (out[1]! << 16) | (out[2]! << 8) | out[3]!) >>> 0;
}

/**
 * Active users by passkey. A lookup finds candidates by the passkey's first 4 bytes and then compares the whole
 * passkey with `timingSafeEquals`, so response times do not reveal how much of a guessed passkey is right.
 */
export class PasskeyIndex {
  readonly #bySelector = new Map<number, { user: AccessUser; bytes: Uint8Array }[]>();
  readonly #equals: (a: Uint8Array, b: Uint8Array) => boolean;
  /** Scratch for the passkey being looked up (the announce hot path allocates nothing here). */
  readonly #scratch = new Uint8Array(PASSKEY_HEX_CHARS / 2);
  #size = 0;

  /** @param options.equals tests only: the passkey comparison (default: the constant-time `timingSafeEquals`) */
  constructor(
    users: Iterable<AccessUser> = [],
    options: { equals?: (a: Uint8Array, b: Uint8Array) => boolean } = {},
  ) {
    this.#equals = options.equals ?? timingSafeEquals;
    for (const user of users) {
      const bytes = new Uint8Array(PASSKEY_HEX_CHARS / 2);
      const key = decodePasskey(user.passkeyHex, bytes);
      if (key < 0) continue;
      const entry = { user, bytes };
      const bucket = this.#bySelector.get(key);
      if (bucket === undefined) this.#bySelector.set(key, [entry]);
      else bucket.push(entry);
      this.#size++;
    }
  }

  /** How many users the index holds. */
  get size(): number {
    return this.#size;
  }

  /** The user owning `passkey` (32 hex digits, any case), or null. */
  lookup(passkey: string): AccessUser | null {
    const bytes = this.#scratch;
    const key = decodePasskey(passkey, bytes);
    if (key < 0) return null;
    const bucket = this.#bySelector.get(key);
    if (bucket === undefined) return null;
    let found: AccessUser | null = null;
    // Compare against every candidate (not stopping at the first hit): the work does not depend on the match.
    for (const entry of bucket) if (this.#equals(bytes, entry.bytes)) found = entry.user;
    return found;
  }
}

/**
 * A 10-character map key for a 20-byte value (info hash, peer id): two bytes per UTF-16 unit. About 4× cheaper
 * than hex on the announce hot path; `keyToHex20` turns it back.
 */
export function key20(b: Uint8Array): string {
  return String.fromCharCode(
    (b[0]! << 8) | b[1]!,
    (b[2]! << 8) | b[3]!,
    (b[4]! << 8) | b[5]!,
    (b[6]! << 8) | b[7]!,
    (b[8]! << 8) | b[9]!,
    (b[10]! << 8) | b[11]!,
    (b[12]! << 8) | b[13]!,
    (b[14]! << 8) | b[15]!,
    (b[16]! << 8) | b[17]!,
    (b[18]! << 8) | b[19]!,
  );
}

/** The hex of the 20 bytes whose `key20` starts at `key[at]`. */
export function keyToHex20(key: string, at = 0): string {
  let hex = "";
  for (let i = at; i < at + 10; i++) hex += key.charCodeAt(i).toString(16).padStart(4, "0");
  return hex;
}

/** A compact map key for an address: a number for IPv4 (4 bytes), a string for IPv6 (16 bytes). */
export type IpKey = number | string;

/** The map key of a 4- or 16-byte address. */
export function ipKey(ip: Uint8Array): IpKey {
  if (ip.length === 4) return ((ip[0]! << 24) | (ip[1]! << 16) | (ip[2]! << 8) | ip[3]!) >>> 0;
  return toLatin1(ip);
}

/** Options of FailedPasskeyLimiter. */
export interface LimiterOptions {
  maxFailures?: number;
  windowMs?: number;
  /** Cap on remembered IPs (memory bound). */
  maxIps?: number;
}

/**
 * Counts failures (bad passkeys, bad admin tokens) per IP in fixed windows. Memory is bounded: at most `maxIps`
 * entries; when full, the oldest entry is dropped (Map order = first failure order), so an attacker with many
 * addresses only costs bounded memory and never blocks anyone else. The table empties by itself: entries whose
 * window has passed are dropped from the front as failures and checks come in (at most once per window for checks).
 */
export class FailedPasskeyLimiter {
  readonly #maxFailures: number;
  readonly #windowMs: number;
  readonly #maxIps: number;
  readonly #byIp = new Map<IpKey, { startMs: number; failures: number }>();
  /** When `isBlocked` next drops expired entries (one comparison per check until then). */
  #nextPruneMs = Number.NEGATIVE_INFINITY;

  constructor(options: LimiterOptions = {}) {
    this.#maxFailures = options.maxFailures ?? DEFAULT_MAX_FAILURES_PER_IP;
    this.#windowMs = options.windowMs ?? DEFAULT_FAILURE_WINDOW_MS;
    this.#maxIps = Math.max(1, options.maxIps ?? DEFAULT_MAX_LIMITED_IPS);
  }

  /** IPs currently remembered. */
  get size(): number {
    return this.#byIp.size;
  }

  /** True when `ip` used up its failures in the current window. */
  isBlocked(ip: IpKey, nowMs: number): boolean {
    if (this.#byIp.size === 0) return false;
    if (nowMs >= this.#nextPruneMs) {
      this.#pruneFront(nowMs);
      this.#nextPruneMs = nowMs + this.#windowMs;
    }
    const e = this.#byIp.get(ip);
    if (e === undefined) return false;
    if (nowMs - e.startMs >= this.#windowMs) {
      this.#byIp.delete(ip);
      return false;
    }
    return e.failures >= this.#maxFailures;
  }

  /** Count one failure from `ip`. */
  recordFailure(ip: IpKey, nowMs: number): void {
    const e = this.#byIp.get(ip);
    if (e !== undefined && nowMs - e.startMs < this.#windowMs) {
      e.failures++;
      return;
    }
    if (e !== undefined) this.#byIp.delete(ip);
    this.#pruneFront(nowMs);
    while (this.#byIp.size >= this.#maxIps) {
      const oldest = this.#byIp.keys().next().value;
      if (oldest === undefined) break;
      this.#byIp.delete(oldest);
    }
    this.#byIp.set(ip, { startMs: nowMs, failures: 1 });
  }

  /** Drop expired entries from the front: entries are in window-start order, so the first live one ends it. */
  #pruneFront(nowMs: number): void {
    for (const [ip, e] of this.#byIp) {
      if (nowMs - e.startMs < this.#windowMs) return;
      this.#byIp.delete(ip);
    }
  }

  /** Drop entries whose window has passed. */
  prune(nowMs: number): void {
    for (const [ip, e] of this.#byIp) if (nowMs - e.startMs >= this.#windowMs) this.#byIp.delete(ip);
  }
}

/** Options of LeakDetector. */
export interface LeakOptions {
  /** Flag a passkey seen from more distinct IPs than this per window. */
  maxIps?: number;
  windowMs?: number;
}

/** A passkey's leak state in the current window. */
export interface LeakState {
  userId: number;
  distinctIps: number;
  isFlagged: boolean;
}

/**
 * The leak signal: distinct IPs per user in fixed windows (default one hour). Per user it remembers at most
 * `maxIps + 1` addresses (enough to flag), and only users that announced, so memory is bounded by the user count.
 */
export class LeakDetector {
  readonly #maxIps: number;
  readonly #windowMs: number;
  readonly #byUser = new Map<number, { startMs: number; ips: Set<IpKey>; isFlagged: boolean }>();

  constructor(options: LeakOptions = {}) {
    this.#maxIps = options.maxIps ?? DEFAULT_LEAK_MAX_IPS;
    this.#windowMs = options.windowMs ?? DEFAULT_LEAK_WINDOW_MS;
  }

  /** Record an announce of `userId` from `ip`. @returns true when this announce newly flags the user */
  observe(userId: number, ip: IpKey, nowMs: number): boolean {
    let e = this.#byUser.get(userId);
    if (e === undefined || nowMs - e.startMs >= this.#windowMs) {
      e = { startMs: nowMs, ips: new Set<IpKey>(), isFlagged: false };
      this.#byUser.set(userId, e);
    }
    if (e.isFlagged || e.ips.has(ip)) return false;
    e.ips.add(ip);
    if (e.ips.size > this.#maxIps) {
      e.isFlagged = true;
      return true;
    }
    return false;
  }

  /** The current window's state of `userId` (zero IPs when it has not announced). */
  state(userId: number, nowMs: number): LeakState {
    const e = this.#byUser.get(userId);
    if (e === undefined || nowMs - e.startMs >= this.#windowMs) return { userId, distinctIps: 0, isFlagged: false };
    return { userId, distinctIps: e.ips.size, isFlagged: e.isFlagged };
  }

  /** Forget a user (revoked or rotated). */
  forget(userId: number): void {
    this.#byUser.delete(userId);
  }
}

/** Options of AccessControl. */
export interface AccessOptions {
  /** Only registered info hashes are served (`--listed`). */
  isListed?: boolean;
  /** Every announce and scrape needs a valid passkey (`--private`). */
  isPrivate?: boolean;
  /** Registered torrents: `hasInfoHash` for the check, `findSimilar` for the hint. */
  registry?: {
    hasInfoHash(infoHash: Uint8Array): boolean;
    has(infoHashHex: string): boolean;
    findSimilar(infoHashHex: string): { infoHashHex: string; name?: string } | null;
  };
  users?: Iterable<AccessUser>;
  limiter?: LimiterOptions;
  leak?: LeakOptions;
  /** Told when a passkey is newly flagged by the leak signal (names the user, never the passkey). */
  onLeak?: (user: AccessUser, distinctIps: number) => void;
}

/**
 * The checks both transports run before touching the swarm: `authorize` (passkey, when private) and `checkListed`
 * (registry, when listed). Both throw a TrackerError whose reason goes to the client.
 */
export class AccessControl {
  readonly isListed: boolean;
  readonly isPrivate: boolean;
  readonly limiter: FailedPasskeyLimiter;
  readonly leaks: LeakDetector;
  readonly #registry: AccessOptions["registry"];
  readonly #onLeak: AccessOptions["onLeak"];
  #index: PasskeyIndex;

  constructor(options: AccessOptions = {}) {
    this.isListed = options.isListed === true;
    this.isPrivate = options.isPrivate === true;
    this.#registry = options.registry;
    this.#onLeak = options.onLeak;
    this.#index = new PasskeyIndex(options.users ?? []);
    this.limiter = new FailedPasskeyLimiter(options.limiter);
    this.leaks = new LeakDetector(options.leak);
    if (this.isListed && this.#registry === undefined) {
      throw new TrackerError("no_registry", "Listed mode needs the registry");
    }
  }

  /** True when neither mode is on (the open tracker: no checks at all). */
  get isOpen(): boolean {
    return !this.isListed && !this.isPrivate;
  }

  /** Replace the active users (after add, revoke or rotate): takes effect for the next request. */
  setUsers(users: Iterable<AccessUser>): void {
    this.#index = new PasskeyIndex(users);
  }

  /** Active users known. */
  get userCount(): number {
    return this.#index.size;
  }

  /**
   * Check a passkey. Open for passkeys (not private): returns the user when the passkey is valid, else null and
   * nothing is refused. Private: returns the user or throws.
   * @param ip an `ipKey()` of the client's address
   * @throws {TrackerError} passkey_limited, passkey_missing, passkey_invalid
   */
  authorize(passkey: string | undefined, ip: IpKey, nowMs: number): AccessUser | null {
    if (!this.isPrivate) {
      if (passkey === undefined || this.#index.size === 0) return null;
      const user = this.#index.lookup(passkey);
      if (user !== null) this.#observe(user, ip, nowMs);
      return user;
    }
    if (this.limiter.isBlocked(ip, nowMs)) throw new TrackerError("passkey_limited", PASSKEY_LIMITED_REASON);
    if (passkey === undefined || passkey === "") {
      throw new TrackerError("passkey_missing", PASSKEY_MISSING_REASON);
    }
    const user = this.#index.lookup(passkey);
    if (user === null) {
      this.limiter.recordFailure(ip, nowMs);
      throw new TrackerError("passkey_invalid", PASSKEY_INVALID_REASON);
    }
    this.#observe(user, ip, nowMs);
    return user;
  }

  #observe(user: AccessUser, ip: IpKey, nowMs: number): void {
    if (this.leaks.observe(user.id, ip, nowMs)) {
      this.#onLeak?.(user, this.leaks.state(user.id, nowMs).distinctIps);
    }
  }

  /** True when `infoHash` may be served (always when not listed). */
  isAllowed(infoHash: Uint8Array): boolean {
    return !this.isListed || this.#registry!.hasInfoHash(infoHash);
  }

  /**
   * Listed mode: refuse an info hash that is not registered, naming a registered torrent with a close info hash
   * when there is one (the similar-hash hint).
   * @throws {TrackerError} unregistered
   */
  checkListed(infoHash: Uint8Array): void {
    if (!this.isListed || this.#registry!.hasInfoHash(infoHash)) return;
    throw new TrackerError("unregistered", unregisteredReason(toHex(infoHash), this.#registry!));
  }
}

function unregisteredReason(infoHashHex: string, registry: NonNullable<AccessOptions["registry"]>): string {
  const match = registry.findSimilar(infoHashHex);
  if (match === null) return UNREGISTERED_REASON;
  return `${UNREGISTERED_REASON}; close to registered torrent ${match.infoHashHex}` +
    (match.name === undefined ? "" : ` ("${match.name}")`) + ": check how your tool encodes info hashes";
}
