// Owns the in-memory view of which info hashes this tracker serves (registered torrents), written through to
// TrackerDb, and the similar-hash hint for tools that mangle info-hash encoding. Never prints, never does I/O
// besides the db it is given.
// Invariants: the cache holds exactly the db's registered rows as of the load in the constructor plus the
// register/unregister calls through this object; cached records' `completed`/`lastSeenMs` follow the db's
// addCompleted/touchTorrents in this process (TrackerDb.observeCounters). Records are shared: callers never mutate.

import { fromHex } from "../bytes.ts";
import type { CounterChange, TorrentMeta, TorrentRecord, TrackerDb } from "../persist/db.ts";
import { key20 } from "./access.ts";

/** Default similar-hash tolerance (issue #4): same first 10 and last 5 hex digits. */
export const SIMILAR_PREFIX_DIGITS = 10;
export const SIMILAR_SUFFIX_DIGITS = 5;
/** Hex digits of the prefix index; a `prefixDigits` below this falls back to a scan of all torrents. */
const INDEX_PREFIX_DIGITS = 6;
const HEX_DIGITS = 40;

/** Options of `Registry.findSimilar`; each is clamped to 0..40 whole digits. */
export interface SimilarOptions {
  prefixDigits?: number;
  suffixDigits?: number;
}

function clampDigits(value: number | undefined, fallback: number): number {
  if (value === undefined || !Number.isFinite(value)) return fallback;
  return Math.min(HEX_DIGITS, Math.max(0, Math.trunc(value)));
}

/** How many hex digits two equal-length strings share position by position. */
function sameDigits(a: string, b: string): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a.charCodeAt(i) === b.charCodeAt(i)) n++;
  return n;
}

/** Registered torrents, cached in memory over a TrackerDb. `has` is O(1) for the announce hot path. */
export class Registry {
  readonly #db: TrackerDb;
  readonly #byHash = new Map<string, TorrentRecord>();
  /** First INDEX_PREFIX_DIGITS hex digits → info hashes with that prefix. */
  readonly #byPrefix = new Map<string, string[]>();
  /** `key20()` of every registered info hash: the listed-mode check without hex on the hot path (issue #6). */
  readonly #byKey = new Set<string>();
  /** `all()`'s sorted list, rebuilt after a register/unregister. */
  #sorted: TorrentRecord[] | null = null;

  constructor(db: TrackerDb) {
    this.#db = db;
    for (const rec of db.listTorrents({ registeredOnly: true })) this.#put(rec);
    db.observeCounters((change) => this.#onCounters(change));
  }

  #onCounters(change: CounterChange): void {
    switch (change.type) {
      case "completed": {
        const rec = this.#byHash.get(change.infoHashHex);
        if (rec === undefined) return;
        rec.completed += change.count;
        rec.lastSeenMs = Math.max(rec.lastSeenMs, change.nowMs);
        return;
      }
      case "seen":
        for (const hex of change.infoHashHexes) {
          const rec = this.#byHash.get(hex);
          if (rec !== undefined) rec.lastSeenMs = Math.max(rec.lastSeenMs, change.nowMs);
        }
        return;
      default: {
        const unknownChange: never = change;
        void unknownChange;
      }
    }
  }

  #put(rec: TorrentRecord): void {
    const hex = rec.infoHashHex;
    this.#sorted = null;
    if (!this.#byHash.has(hex)) {
      const key = hex.slice(0, INDEX_PREFIX_DIGITS);
      const bucket = this.#byPrefix.get(key);
      if (bucket === undefined) this.#byPrefix.set(key, [hex]);
      else bucket.push(hex);
      const bytes = fromHex(hex);
      if (bytes !== null) this.#byKey.add(key20(bytes));
    }
    this.#byHash.set(hex, rec);
  }

  #drop(hex: string): void {
    if (!this.#byHash.delete(hex)) return;
    this.#sorted = null;
    const bytes = fromHex(hex);
    if (bytes !== null) this.#byKey.delete(key20(bytes));
    const key = hex.slice(0, INDEX_PREFIX_DIGITS);
    const bucket = this.#byPrefix.get(key);
    if (bucket === undefined) return;
    const at = bucket.indexOf(hex);
    if (at >= 0) bucket.splice(at, 1);
    if (bucket.length === 0) this.#byPrefix.delete(key);
  }

  /**
   * Reload the cache from the db (after another process changed it, e.g. `btool tracker unregister`; issue #6).
   */
  reload(): void {
    this.#byHash.clear();
    this.#byPrefix.clear();
    this.#byKey.clear();
    this.#sorted = null;
    for (const rec of this.#db.listTorrents({ registeredOnly: true })) this.#put(rec);
  }

  /** Whether the 20-byte `infoHash` is registered (the announce hot path: no hex). */
  hasInfoHash(infoHash: Uint8Array): boolean {
    return infoHash.length === 20 && this.#byKey.has(key20(infoHash));
  }

  /** Whether `infoHashHex` (40 hex digits, any case) is registered. */
  has(infoHashHex: string): boolean {
    return this.#byHash.has(infoHashHex) || this.#byHash.has(infoHashHex.toLowerCase());
  }

  /** The registered torrent's record (do not mutate it); undefined when not registered. */
  get(infoHashHex: string): TorrentRecord | undefined {
    return this.#byHash.get(infoHashHex) ?? this.#byHash.get(infoHashHex.toLowerCase());
  }

  /** How many torrents are registered. */
  get size(): number {
    return this.#byHash.size;
  }

  /**
   * Register (or re-describe) a torrent in the db, then cache it. See `TrackerDb.registerTorrent`.
   * @throws {PersistError} `invalid_info_hash`, `invalid_value`
   */
  register(meta: TorrentMeta, nowMs: number): "added" | "updated" | "unchanged" {
    const result = this.#db.registerTorrent(meta, nowMs);
    if (result !== "unchanged" || !this.has(meta.infoHashHex)) this.#refresh(meta.infoHashHex);
    return result;
  }

  /**
   * Register many torrents in one db transaction (bulk registration), then cache them.
   * @throws {PersistError} `invalid_info_hash`, `invalid_value` (nothing is registered then)
   */
  registerMany(metas: readonly TorrentMeta[], nowMs: number): ("added" | "updated" | "unchanged")[] {
    const results = this.#db.registerTorrents(metas, nowMs);
    results.forEach((result, i) => {
      const hex = (metas[i] as TorrentMeta).infoHashHex;
      if (result !== "unchanged" || !this.has(hex)) this.#refresh(hex);
    });
    return results;
  }

  #refresh(infoHashHex: string): void {
    const rec = this.#db.getTorrent(infoHashHex);
    if (rec?.isRegistered === true) this.#put(rec);
    else if (rec !== null) this.#drop(rec.infoHashHex);
  }

  /**
   * Unregister a torrent (db and cache). @returns whether it was registered
   * @throws {PersistError} `invalid_info_hash`
   */
  unregister(infoHashHex: string): boolean {
    const wasRegistered = this.#db.unregisterTorrent(infoHashHex);
    this.#drop(infoHashHex.toLowerCase());
    return wasRegistered;
  }

  /** Every registered torrent (cached records, do not mutate), by info hash. */
  all(): TorrentRecord[] {
    this.#sorted ??= [...this.#byHash.values()].sort((a, b) => a.infoHashHex < b.infoHashHex ? -1 : 1);
    return this.#sorted.slice();
  }

  /**
   * A registered torrent whose info hash closely matches `infoHashHex` but is not equal to it: the same first
   * `prefixDigits` and last `suffixDigits` hex digits (default 10 and 5). The hint for clients whose tools mangle
   * info-hash encoding (e.g. a `+` decoded as a space). Among several, the one sharing the most digit positions
   * (then the lowest hash) wins. Uses the prefix index unless `prefixDigits` is below 6.
   * @returns null when none matches or `infoHashHex` is not 40 hex digits
   */
  findSimilar(infoHashHex: string, options: SimilarOptions = {}): TorrentRecord | null {
    const hex = infoHashHex.toLowerCase();
    if (hex.length !== HEX_DIGITS || !/^[0-9a-f]+$/.test(hex)) return null;
    const prefixDigits = clampDigits(options.prefixDigits, SIMILAR_PREFIX_DIGITS);
    const suffixDigits = clampDigits(options.suffixDigits, SIMILAR_SUFFIX_DIGITS);
    const prefix = hex.slice(0, prefixDigits);
    const suffix = hex.slice(HEX_DIGITS - suffixDigits);
    const candidates: Iterable<string> = prefixDigits >= INDEX_PREFIX_DIGITS
      ? this.#byPrefix.get(hex.slice(0, INDEX_PREFIX_DIGITS)) ?? []
      : this.#byHash.keys();
    let best: string | null = null;
    let bestScore = -1;
    for (const cand of candidates) {
      if (cand === hex || !cand.startsWith(prefix) || !cand.endsWith(suffix)) continue;
      const score = sameDigits(cand, hex);
      if (score > bestScore || (score === bestScore && best !== null && cand < best)) {
        best = cand;
        bestScore = score;
      }
    }
    return best === null ? null : this.#byHash.get(best) ?? null;
  }
}
