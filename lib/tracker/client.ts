// Tracker client: announce and scrape to http(s):// trackers (BEP 3, 23 compact, 7 peers6, 48 scrape URL) and
// udp:// trackers (BEP 15, lib/tracker/udp_tracker_socket.ts), dispatched by URL (tracker_url.ts), replies read by
// tracker_reply.ts. Never prints; every network read has a cap and a time bound; failures are TrackerError with a
// stable code.

import { percentEncode, readBodyCapped } from "../bytes.ts";
import { TrackerError } from "../errors.ts";
import {
  type AnnounceResponse,
  parseAnnounceResponse,
  parseScrapeResponse,
  type ScrapeStats,
  tryFailureReason,
} from "./tracker_reply.ts";
import { type AnnounceParams, appendQuery, buildAnnounceUrl, parseTrackerUrl, scrapeUrlFor } from "./tracker_url.ts";
import { UdpTrackerSocket, type UdpTrackerSocketOptions } from "./udp_tracker_socket.ts";

/** Options shared by announce and scrape. */
export interface TrackerClientOptions {
  signal?: AbortSignal;
  /** Bound on a whole HTTP request (default HTTP_TIMEOUT_MS). UDP uses its own retry schedule. */
  timeoutMs?: number;
  /** Cap on an HTTP reply body (default MAX_RESPONSE_BYTES). */
  maxResponseBytes?: number;
  /** Long-lived UDP socket(s) for connection id reuse; without it a temporary one is opened and closed. */
  udp?: UdpTrackerSocket;
  /** Options for the temporary UDP socket when `udp` is absent. */
  udpOptions?: UdpTrackerSocketOptions;
}

/** Default bound on one HTTP tracker request. */
export const HTTP_TIMEOUT_MS = 30_000;
/** Default cap on an HTTP tracker reply (a 200-peer dictionary reply is ~20 KB; scrapes of a few torrents less). */
export const MAX_RESPONSE_BYTES = 2 * 1024 * 1024;

/**
 * Announce to an http(s):// or udp:// tracker.
 * @throws {TrackerError} tracker_failure (the tracker refused: `reason` holds its text), tracker_http_status,
 *   tracker_bad_response, tracker_too_large, tracker_timeout, tracker_aborted, tracker_network, tracker_url
 */
export async function announce(
  url: string,
  request: AnnounceParams,
  options: TrackerClientOptions = {},
): Promise<AnnounceResponse> {
  const target = parseTrackerUrl(url);
  if (target.type === "http") {
    const body = await httpGet(buildAnnounceUrl(url, request), options);
    return parseAnnounceResponse(body);
  }
  return await withUdp(options, (udp) => udp.announce(target, request, pickSignal(options)));
}

/**
 * Scrape `infoHashes` from an http(s):// tracker (URL derived per BEP 48) or a udp:// tracker.
 * Returns counts keyed by info hash hex; torrents the tracker does not know are absent.
 * @throws {TrackerError} as announce, plus tracker_no_scrape when the HTTP URL has no scrape form
 */
export async function scrape(
  url: string,
  infoHashes: readonly Uint8Array[],
  options: TrackerClientOptions = {},
): Promise<Map<string, ScrapeStats>> {
  const target = parseTrackerUrl(url);
  if (target.type === "http") {
    const scrapeUrl = scrapeUrlFor(url);
    if (scrapeUrl === null) {
      throw new TrackerError("tracker_no_scrape", `Tracker does not support scrape: "${url}"`);
    }
    const query = infoHashes.map((h) => "info_hash=" + percentEncode(h)).join("&");
    return parseScrapeResponse(await httpGet(appendQuery(scrapeUrl, query), options));
  }
  return await withUdp(options, (udp) => udp.scrape(target, infoHashes, pickSignal(options)));
}

function pickSignal(options: TrackerClientOptions): { signal?: AbortSignal } {
  return options.signal === undefined ? {} : { signal: options.signal };
}

async function withUdp<T>(options: TrackerClientOptions, fn: (udp: UdpTrackerSocket) => Promise<T>): Promise<T> {
  if (options.udp !== undefined) return await fn(options.udp);
  const udp = new UdpTrackerSocket(options.udpOptions ?? {});
  try {
    return await fn(udp);
  } finally {
    await udp.close();
  }
}

// HTTP

async function httpGet(url: string, options: TrackerClientOptions): Promise<Uint8Array> {
  const timeoutMs = options.timeoutMs ?? HTTP_TIMEOUT_MS;
  const maxBytes = options.maxResponseBytes ?? MAX_RESPONSE_BYTES;
  const controller = new AbortController();
  let isTimedOut = false;
  const timer = setTimeout(() => {
    isTimedOut = true;
    controller.abort();
  }, timeoutMs);
  const onAbort = () => controller.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    if (options.signal?.aborted) throw new TrackerError("tracker_aborted", "Tracker request aborted");
    const response = await fetch(url, { signal: controller.signal, redirect: "follow" });
    const body = await readCapped(response, maxBytes, url);
    if (response.status !== 200) {
      // A failure reason in a non-200 reply is still the best message to show (INTEROP.md 2).
      const failure = tryFailureReason(body);
      if (failure !== null) throw new TrackerError("tracker_failure", failure);
      throw new TrackerError("tracker_http_status", `Tracker answered HTTP ${response.status}: "${url}"`);
    }
    return body;
  } catch (err: unknown) {
    if (err instanceof TrackerError) throw err;
    if (isTimedOut) {
      throw new TrackerError("tracker_timeout", `Tracker did not answer within ${timeoutMs} ms: "${url}"`, {
        cause: err,
      });
    }
    if (options.signal?.aborted) throw new TrackerError("tracker_aborted", "Tracker request aborted", { cause: err });
    throw new TrackerError("tracker_network", `Cannot reach tracker: "${url}"`, { cause: err });
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}

async function readCapped(response: Response, maxBytes: number, url: string): Promise<Uint8Array> {
  const bytes = await readBodyCapped(response, maxBytes);
  if (bytes === null) throw new TrackerError("tracker_too_large", `Tracker reply over ${maxBytes} bytes: "${url}"`);
  return bytes;
}
