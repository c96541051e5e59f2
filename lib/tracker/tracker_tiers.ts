// The BEP 12 announce-list walker: tiers shuffled once, tried in order, a tracker that answers moved to the front of
// its tier; announceToTiers announces through lib/tracker/client.ts until one answers.

import { TrackerError } from "../errors.ts";
import { announce, type TrackerClientOptions } from "./client.ts";
import type { AnnounceParams } from "./tracker_url.ts";
import type { AnnounceResponse } from "./tracker_reply.ts";

/**
 * The BEP 12 tier walker: each tier shuffled once at creation, trackers tried tier by tier in order, and one that
 * answers moves to the front of its tier. Pure state: the caller does the announcing (or uses announceToTiers).
 */
export class TrackerTiers {
  #tiers: string[][];

  /** `announceList` as in the metainfo; empty tiers and duplicate URLs are dropped. */
  constructor(announceList: readonly (readonly string[])[], options: { random: () => number }) {
    const seen = new Set<string>();
    this.#tiers = [];
    for (const tier of announceList) {
      const urls = tier.filter((u) => {
        if (u === "" || seen.has(u)) return false;
        seen.add(u);
        return true;
      });
      // Fisher-Yates with the injected random (BEP 12: shuffle within each tier, once).
      for (let i = urls.length - 1; i > 0; i--) {
        const j = Math.floor(options.random() * (i + 1));
        [urls[i], urls[j]] = [urls[j]!, urls[i]!];
      }
      if (urls.length > 0) this.#tiers.push(urls);
    }
  }

  /** The tiers in their current order. */
  get tiers(): readonly (readonly string[])[] {
    return this.#tiers.map((t) => [...t]);
  }

  /** Every tracker in the order to try: tier by tier, each tier in its current order. */
  order(): string[] {
    return this.#tiers.flat();
  }

  /** `url` answered: move it to the front of its tier (BEP 12). */
  markSuccess(url: string): void {
    for (const tier of this.#tiers) {
      const i = tier.indexOf(url);
      if (i > 0) {
        tier.splice(i, 1);
        tier.unshift(url);
      }
      if (i >= 0) return;
    }
  }
}

/**
 * Announce to the first tracker of `tiers` that answers (BEP 12) and mark it. Any failure, a `failure reason` included,
 * moves on to the next tracker (reported through `onWarning`).
 * @throws {TrackerError} tracker_aborted; when none answered: the last tracker_failure if a tracker refused us
 *   (its reason is the most useful message), else tracker_unreachable (cause: the last error)
 */
export async function announceToTiers(
  tiers: TrackerTiers,
  request: AnnounceParams,
  options: TrackerClientOptions & { onWarning?: (url: string, err: TrackerError) => void } = {},
): Promise<{ url: string; response: AnnounceResponse }> {
  let last: TrackerError | undefined;
  let refused: TrackerError | undefined;
  for (const url of tiers.order()) {
    try {
      const response = await announce(url, request, options);
      tiers.markSuccess(url);
      return { url, response };
    } catch (err: unknown) {
      if (!(err instanceof TrackerError) || err.code === "tracker_aborted") throw err;
      options.onWarning?.(url, err);
      last = err;
      if (err.code === "tracker_failure") refused = err;
    }
  }
  if (refused !== undefined) throw refused;
  throw new TrackerError("tracker_unreachable", "No tracker answered", { cause: last });
}
