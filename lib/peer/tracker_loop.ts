// The announce loop of one torrent (BEP 3, 12, 15): `started`, then regular announces at the tracker's interval
// (at least MIN_ANNOUNCE_INTERVAL_S), `completed` as soon as it is due, backoff after failures, and a bounded
// `stopped` at shutdown. Peers found go to `onPeers`; it owns no sockets of its own (lib/tracker/client.ts and udp_tracker_socket.ts do).

import { TrackerError } from "../errors.ts";
import type { TrackerClientOptions } from "../tracker/client.ts";
import type { AnnounceResponse } from "../tracker/tracker_reply.ts";
import { announceToTiers, type TrackerTiers } from "../tracker/tracker_tiers.ts";
import type { AnnounceParams, ClientAnnounceEvent as AnnounceEvent } from "../tracker/tracker_url.ts";

/** Peers asked of the tracker per announce. */
export const NUM_WANT = 80;
/** First retry after a failed announce round, doubled up to MAX_ANNOUNCE_RETRY_S. */
export const ANNOUNCE_RETRY_BASE_S = 15;
/** Longest wait between failed announce rounds. */
export const MAX_ANNOUNCE_RETRY_S = 30 * 60;
/** Shortest interval we accept from a tracker (guards against 0 or tiny intervals). */
export const MIN_ANNOUNCE_INTERVAL_S = 5;
/** Bound on the `stopped` announce at shutdown. */
export const STOP_ANNOUNCE_TIMEOUT_MS = 5_000;

/** announceToTiers of lib/tracker/tracker_tiers.ts (tests pass a fake). */
export type AnnounceFn = (
  tiers: TrackerTiers,
  request: AnnounceParams,
  options: TrackerClientOptions & { onWarning?: (url: string, err: TrackerError) => void },
) => Promise<{ url: string; response: AnnounceResponse }>;

/** Options of `startTrackerLoop`. */
export interface TrackerLoopOptions {
  tiers: TrackerTiers;
  /** The announce values now (counters, `left`), for `event` (numwant is set here). */
  params: (event: AnnounceEvent | undefined) => Omit<AnnounceParams, "numWant" | "event">;
  onAnnounced: (
    result: { url: string; event: AnnounceEvent | "none"; response: AnnounceResponse; waitS: number },
  ) => void;
  onWarning: (message: string) => void;
  /** Default announceToTiers. */
  announce?: AnnounceFn;
  /** Wait `ms` or until woken (default: a timer). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** A running announce loop. */
export interface TrackerLoop {
  /** Announce `completed` now (once the download is complete). */
  complete(): void;
  /** End the loop (aborts an announce in flight). */
  halt(): Promise<void>;
  /** Announce `stopped` with the final counters (best effort, bounded by STOP_ANNOUNCE_TIMEOUT_MS). */
  announceStopped(): Promise<void>;
}

/** Start announcing with `started`. */
export function startTrackerLoop(options: TrackerLoopOptions): TrackerLoop {
  const announce = options.announce ?? announceToTiers;
  const stopController = new AbortController();
  let pendingEvent: AnnounceEvent | undefined = "started";
  let wake: AbortController | null = null;

  const request = (event: AnnounceEvent | undefined): AnnounceParams => ({
    ...options.params(event),
    numWant: event === "stopped" ? 0 : NUM_WANT,
    ...(event === undefined ? {} : { event }),
  });

  async function loop(): Promise<void> {
    let retryS = ANNOUNCE_RETRY_BASE_S;
    while (!stopController.signal.aborted) {
      const event = pendingEvent;
      let waitS: number;
      try {
        const { url, response } = await announce(options.tiers, request(event), {
          signal: stopController.signal,
          onWarning: (u, err) => options.onWarning(`Tracker ${u}: ${err.message}`),
        });
        if (pendingEvent === event) pendingEvent = undefined;
        if (response.warning !== undefined) options.onWarning(`Tracker ${url} warning: ${response.warning}`);
        waitS = Math.max(MIN_ANNOUNCE_INTERVAL_S, response.interval);
        retryS = ANNOUNCE_RETRY_BASE_S;
        options.onAnnounced({ url, event: event ?? "none", response, waitS });
      } catch (err: unknown) {
        if (stopController.signal.aborted) return;
        if (!(err instanceof TrackerError)) throw err;
        options.onWarning(`Announce failed: ${err.message}`);
        waitS = retryS;
        retryS = Math.min(MAX_ANNOUNCE_RETRY_S, retryS * 2);
      }
      if (stopController.signal.aborted) return;
      if (pendingEvent !== undefined && pendingEvent !== event) continue;
      wake = new AbortController();
      const both = AbortSignal.any([wake.signal, stopController.signal]);
      await (options.sleep ?? sleep)(waitS * 1000, both);
      wake = null;
    }
  }

  const task = loop().catch((err: unknown) => options.onWarning(err instanceof Error ? err.message : String(err)));
  return {
    complete() {
      if (stopController.signal.aborted) return;
      pendingEvent = "completed";
      wake?.abort();
    },
    halt() {
      stopController.abort();
      return task;
    },
    async announceStopped() {
      const timeout = new AbortController();
      const timer = setTimeout(() => timeout.abort(), STOP_ANNOUNCE_TIMEOUT_MS);
      try {
        await announce(options.tiers, request("stopped"), {
          signal: timeout.signal,
          timeoutMs: STOP_ANNOUNCE_TIMEOUT_MS,
        });
      } catch {
        // best effort
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Wait `ms`, or less when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}
