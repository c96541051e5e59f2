// Which info hashes may have a stored completed count: a fixed-size bit filter (a Bloom filter with two hash
// functions) in front of the db, so that a swarm made for, or a scrape of, a torrent never completed (a stranger's
// random hash) costs no db read. No false negatives: the filter is filled from the db at start and follows every
// addCompleted of this process (TrackerDb.observeCounters); a false positive only costs the db read of before.
// Bits are never cleared (a pruned row leaves its bits set until the next start: a false positive, not a wrong count).

import { toHex } from "../bytes.ts";
import type { CounterChange, TrackerDb } from "../persist/db.ts";
import type { Registry } from "./registry.ts";

/** Bits of the filter (2 MiB): about 0.014% false positives with 100k counted torrents, 1.3% with 1M. */
export const COMPLETED_FILTER_BITS = 2 ** 24;
const INDEX_MASK = COMPLETED_FILTER_BITS - 1;

/**
 * A set of info hashes that may answer "maybe" for one never added, never "no" for one added. The two bit
 * indices are the first two 24-bit groups of the info hash: a SHA-1 (or truncated SHA-256) digest is already
 * uniform, and a stranger who picks hashes to hit set bits only buys the db read any counted hash costs anyway.
 */
export class CompletedFilter {
  readonly #words = new Uint32Array(COMPLETED_FILTER_BITS / 32);
  #added = 0;

  /** Add the info hash `infoHash` (20 bytes, or more: only the first 6 are used). */
  add(infoHash: Uint8Array): void {
    this.#set(bytesIndex(infoHash, 0));
    this.#set(bytesIndex(infoHash, 3));
    this.#added++;
  }

  /** Add an info hash given as 40 hex digits (as the db stores it). */
  addHex(infoHashHex: string): void {
    this.#set(parseInt(infoHashHex.slice(0, 6), 16) & INDEX_MASK);
    this.#set(parseInt(infoHashHex.slice(6, 12), 16) & INDEX_MASK);
    this.#added++;
  }

  /** false: `infoHash` was never added; true: it may have been. */
  mayHave(infoHash: Uint8Array): boolean {
    return this.#isSet(bytesIndex(infoHash, 0)) && this.#isSet(bytesIndex(infoHash, 3));
  }

  /** How many adds the filter has taken (repeats included): what its false-positive rate follows. */
  get added(): number {
    return this.#added;
  }

  #set(index: number): void {
    this.#words[index >>> 5]! |= 1 << (index & 31);
  }

  #isSet(index: number): boolean {
    return (this.#words[index >>> 5]! & (1 << (index & 31))) !== 0;
  }
}

function bytesIndex(b: Uint8Array, at: number): number {
  return ((b[at]! << 16) | (b[at + 1]! << 8) | b[at + 2]!) & INDEX_MASK;
}

/** What `createCompletedOf` needs of the db. */
export type CompletedDb = Pick<TrackerDb, "getTorrent" | "observeCounters" | "countedInfoHashes">;

/**
 * The swarm store's `completedOf` over `db`: fills a CompletedFilter with one streaming read of the counted torrents,
 * keeps it current through `db.observeCounters`, and answers 0 without the db for a hash the filter has not seen.
 * A registered torrent's count comes from `registry` (it keeps its records' counts live) without the db either.
 */
export function createCompletedOf(
  db: CompletedDb,
  options: { registry?: Pick<Registry, "get">; filter?: CompletedFilter } = {},
): (infoHash: Uint8Array) => number {
  const filter = options.filter ?? new CompletedFilter();
  // Observe before the read: a count added in between is then in the filter either way.
  db.observeCounters((change: CounterChange) => {
    if (change.type === "completed" && change.count > 0) filter.addHex(change.infoHashHex);
  });
  for (const hex of db.countedInfoHashes()) filter.addHex(hex);
  const registry = options.registry;
  return (infoHash) => {
    if (!filter.mayHave(infoHash)) return 0;
    const hex = toHex(infoHash);
    const registered = registry?.get(hex);
    return registered !== undefined ? registered.completed : db.getTorrent(hex)?.completed ?? 0;
  };
}
