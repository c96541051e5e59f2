// The tracker's listings over every swarm (issue #19): /stats (totals, history, the largest swarms) and the full
// scrape. Each walks the whole store, so each has a cap on what it lists and a public answer is computed at most once
// per cache period of the injected clock: a stranger polling /stats costs one walk a period, whatever the rate.
// Reads the store and the registry; writes nothing.

import { encodeBencode } from "../bencode.ts";
import { fromHex, toLatin1, utf8 } from "../bytes.ts";
import { formatIp } from "./announce.ts";
import type { StatsUser } from "./private_mode.ts";
import type { Registry } from "./registry.ts";
import type { SwarmCounts, SwarmStore } from "./swarm_store.ts";

/** A public /stats is recomputed at most once per this period (the dashboard polls every 5 s). */
export const STATS_CACHE_MS = 10_000;
/** Cap on torrents a public /stats lists (the largest swarms; the dashboard shows 500 rows). */
export const MAX_PUBLIC_STATS_TORRENTS = 500;
/** Cap on torrents an admin /stats lists. */
export const MAX_STATS_TORRENTS = 2_000;
/** Cap on peers listed per torrent in an admin /stats. */
export const MAX_STATS_PEERS = 1_000;
/** A full scrape (admin only) is recomputed at most once per this period. */
export const FULL_SCRAPE_CACHE_MS = 30_000;
/** Cap on torrents in a full scrape (the largest swarms first, then registered torrents; ~70 bytes each). */
export const MAX_FULL_SCRAPE_TORRENTS = 100_000;
/** One swarm-size sample per minute for the dashboard chart... */
export const HISTORY_INTERVAL_MS = 60_000;
/** ...kept for six hours. */
export const HISTORY_SAMPLES = 360;

/** One history sample of /stats. */
export interface HistorySample {
  t: number;
  peers: number;
  seeders: number;
  leechers: number;
}

/** A torrent in /stats. */
export interface StatsTorrent {
  infoHash: string;
  name: string | null;
  size: number | null;
  seeders: number;
  leechers: number;
  completed: number;
  peers?: { ip: string; port: number; left: number }[];
}

/** The /stats JSON. */
export interface Stats {
  version: string;
  uptimeS: number;
  totals: { torrents: number; peers: number; seeders: number; leechers: number; completed: number };
  history: HistorySample[];
  /** The largest swarms first, then registered torrents without peers, up to the cap. */
  torrents: StatsTorrent[];
  /** Some torrents were left out (the cap). */
  isTruncated: boolean;
  /** Admin only: per-user totals and leak signal (issue #6). */
  users?: StatsUser[];
}

/** Options of TrackerStats. */
export interface TrackerStatsOptions {
  store: SwarmStore;
  registry: Registry;
  now: () => number;
  /** Shown in /stats. */
  version?: string;
  /** Admin /stats: per-user totals (private mode). */
  statsUsers?: () => StatsUser[];
  /** Public answers' lifetime (default STATS_CACHE_MS). */
  cacheMs?: number;
  /** Full scrape's lifetime (default FULL_SCRAPE_CACHE_MS). */
  fullScrapeCacheMs?: number;
}

/** A value recomputed at most once per `lifetimeMs` of `now` (and when the clock went back, so it cannot stick). */
class Expiring<T> {
  #value: T | null = null;
  #fromMs = Number.NEGATIVE_INFINITY;

  constructor(readonly lifetimeMs: number, readonly now: () => number) {}

  get(compute: () => T): T {
    const nowMs = this.now();
    if (this.#value === null || nowMs >= this.#fromMs + this.lifetimeMs || nowMs < this.#fromMs) {
      this.#value = compute();
      this.#fromMs = nowMs;
    }
    return this.#value;
  }
}

/** /stats, its history and the full scrape of one tracker. */
export class TrackerStats {
  readonly history: HistorySample[] = [];
  readonly #store: SwarmStore;
  readonly #registry: Registry;
  readonly #now: () => number;
  readonly #version: string;
  readonly #statsUsers: () => StatsUser[];
  readonly #startedMs: number;
  readonly #public: Expiring<{ stats: Stats; json: Uint8Array }>;
  readonly #fullScrape: Expiring<Uint8Array>;

  constructor(options: TrackerStatsOptions) {
    this.#store = options.store;
    this.#registry = options.registry;
    this.#now = options.now;
    this.#version = options.version ?? "";
    this.#statsUsers = options.statsUsers ?? (() => []);
    this.#startedMs = options.now();
    this.#public = new Expiring(options.cacheMs ?? STATS_CACHE_MS, options.now);
    this.#fullScrape = new Expiring(options.fullScrapeCacheMs ?? FULL_SCRAPE_CACHE_MS, options.now);
  }

  /** Add one history sample (the tracker's timer calls it every HISTORY_INTERVAL_MS). */
  sampleHistory(): void {
    const t = this.#store.totals();
    this.history.push({ t: this.#now(), peers: t.peers, seeders: t.seeders, leechers: t.leechers });
    if (this.history.length > HISTORY_SAMPLES) this.history.shift();
  }

  /**
   * /stats: public (cached, MAX_PUBLIC_STATS_TORRENTS, no addresses) or admin (fresh, MAX_STATS_TORRENTS, each with
   * up to MAX_STATS_PEERS peers, and the members' totals). A public answer is shared: do not mutate it.
   */
  stats(isAdmin: boolean): Stats {
    return isAdmin ? this.#compute(MAX_STATS_TORRENTS, true) : this.#publicOne().stats;
  }

  /** The public /stats as UTF-8 JSON (encoded once with it; shared: do not mutate). */
  publicJson(): Uint8Array {
    return this.#publicOne().json;
  }

  #publicOne(): { stats: Stats; json: Uint8Array } {
    return this.#public.get(() => {
      const stats = this.#compute(MAX_PUBLIC_STATS_TORRENTS, false);
      return { stats, json: utf8(JSON.stringify(stats)) };
    });
  }

  /**
   * The bencoded full scrape (BEP 48 `files` of every swarm, then registered torrents without one, up to
   * MAX_FULL_SCRAPE_TORRENTS), recomputed at most once per cache period. Shared: do not mutate.
   */
  fullScrape(): Uint8Array {
    return this.#fullScrape.get(() => {
      const files = new Map<string, Map<string, number>>();
      const put = (hash: Uint8Array, complete: number, downloaded: number, incomplete: number) =>
        files.set(
          toLatin1(hash),
          new Map([["complete", complete], ["downloaded", downloaded], ["incomplete", incomplete]]),
        );
      for (const sw of topSwarms(this.#store.swarms(), MAX_FULL_SCRAPE_TORRENTS).top) {
        put(fromHex(sw.infoHashHex)!, sw.seeders, sw.completed, sw.leechers);
      }
      for (const rec of this.#registry.all()) {
        if (files.size >= MAX_FULL_SCRAPE_TORRENTS) break;
        const hash = fromHex(rec.infoHashHex);
        if (hash === null || files.has(toLatin1(hash))) continue;
        const e = this.#store.scrape(hash);
        put(hash, e.complete, e.downloaded, e.incomplete);
      }
      return encodeBencode(new Map([["files", files]]));
    });
  }

  /** One walk over every swarm: totals, the `cap` largest swarms, registered torrents to fill up. */
  #compute(cap: number, isAdmin: boolean): Stats {
    const totals = this.#store.totals();
    const registry = this.#registry;
    const { top, registeredSeen } = topSwarms(this.#store.swarms(), cap, registry);
    const torrents: StatsTorrent[] = top.map((sw) => {
      const rec = registry.get(sw.infoHashHex);
      return {
        infoHash: sw.infoHashHex,
        name: rec?.name ?? null,
        size: rec?.size ?? null,
        seeders: sw.seeders,
        leechers: sw.leechers,
        completed: sw.completed,
      };
    });
    // Every swarm is counted once, and every registered torrent without a swarm.
    const torrentCount = totals.torrents + registry.size - registeredSeen;
    if (torrents.length < cap && registry.size > 0) {
      const listed = new Set(torrents.map((t) => t.infoHash));
      for (const rec of registry.all()) {
        if (torrents.length >= cap) break;
        if (listed.has(rec.infoHashHex)) continue;
        torrents.push({
          infoHash: rec.infoHashHex,
          name: rec.name ?? null,
          size: rec.size ?? null,
          seeders: 0,
          leechers: 0,
          completed: rec.completed,
        });
      }
    }
    if (isAdmin) {
      for (const t of torrents) {
        t.peers = this.#store.peersOf(fromHex(t.infoHash)!).slice(0, MAX_STATS_PEERS).map((p) => ({
          ip: formatIp(p.ip),
          port: p.port,
          left: p.left,
        }));
      }
    }
    return {
      version: this.#version,
      uptimeS: Math.floor((this.#now() - this.#startedMs) / 1000),
      totals: {
        torrents: torrentCount,
        peers: totals.peers,
        seeders: totals.seeders,
        leechers: totals.leechers,
        completed: totals.completed,
      },
      history: this.history,
      torrents,
      isTruncated: torrents.length < torrentCount,
      ...(isAdmin ? { users: this.#statsUsers() } : {}),
    };
  }
}

function peersIn(sw: SwarmCounts): number {
  return sw.seeders + sw.leechers;
}

/**
 * The `k` largest swarms (most peers first) in one pass, through a min-heap of k entries: O(n log k), no sort of
 * every swarm. Also counts the swarms `registry` knows (for the union count).
 */
export function topSwarms(
  swarms: Iterable<SwarmCounts>,
  k: number,
  registry?: { has(infoHashHex: string): boolean },
): { top: SwarmCounts[]; registeredSeen: number } {
  const heap: SwarmCounts[] = [];
  let registeredSeen = 0;
  for (const sw of swarms) {
    if (registry !== undefined && registry.has(sw.infoHashHex)) registeredSeen++;
    if (k <= 0) continue;
    if (heap.length < k) {
      heap.push(sw);
      siftUp(heap, heap.length - 1);
    } else if (peersIn(sw) > peersIn(heap[0]!)) {
      heap[0] = sw;
      siftDown(heap, 0);
    }
  }
  heap.sort((a, b) => peersIn(b) - peersIn(a) || (a.infoHashHex < b.infoHashHex ? -1 : 1));
  return { top: heap, registeredSeen };
}

function siftUp(heap: SwarmCounts[], at: number): void {
  while (at > 0) {
    const parent = (at - 1) >> 1;
    if (peersIn(heap[parent]!) <= peersIn(heap[at]!)) return;
    [heap[parent], heap[at]] = [heap[at]!, heap[parent]!];
    at = parent;
  }
}

function siftDown(heap: SwarmCounts[], at: number): void {
  for (;;) {
    const l = 2 * at + 1;
    const r = l + 1;
    let least = at;
    if (l < heap.length && peersIn(heap[l]!) < peersIn(heap[least]!)) least = l;
    if (r < heap.length && peersIn(heap[r]!) < peersIn(heap[least]!)) least = r;
    if (least === at) return;
    [heap[least], heap[at]] = [heap[at]!, heap[least]!];
    at = least;
  }
}
