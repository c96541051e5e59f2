// Tracker URLs (BEP 3, 41, 48): what a tracker URL names (http(s) as is, udp as host, port and BEP 41 URL data), the
// HTTP announce query built byte-exact from AnnounceParams, and the scrape URL derived from an announce URL. Pure.

import { percentEncode, utf8 } from "../bytes.ts";
import { TrackerError } from "../errors.ts";
import type { AnnounceFields } from "./announce.ts";

/** Announce event; absent means a regular interval announce. */
export type ClientAnnounceEvent = "started" | "completed" | "stopped";

/** What the client tells a tracker (port: our listening TCP port). */
export interface AnnounceParams extends AnnounceFields {
  event?: ClientAnnounceEvent;
  /** Peers wanted; absent = the tracker's default (UDP -1). */
  numWant?: number;
  /** Unsigned 32-bit key identifying this client across IP changes (HTTP: 8 hex digits). */
  key?: number;
  /** The `tracker id` an earlier HTTP reply gave (sent back as `trackerid`). */
  trackerId?: Uint8Array;
}

/** A parsed tracker URL. */
export type TrackerTarget =
  | { type: "http"; url: string }
  | { type: "udp"; hostname: string; port: number; urlData: Uint8Array };

/**
 * Parse a tracker URL: http(s) is kept as is; udp gives host, port and the BEP 41 URL data (path and query).
 * @throws {TrackerError} tracker_url for other schemes, missing ports and unparseable URLs
 */
export function parseTrackerUrl(url: string): TrackerTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err: unknown) {
    throw new TrackerError("tracker_url", `Invalid tracker URL: "${url}"`, { cause: err });
  }
  if (parsed.protocol === "http:" || parsed.protocol === "https:") return { type: "http", url };
  if (parsed.protocol !== "udp:") throw new TrackerError("tracker_url", `Unsupported tracker URL scheme: "${url}"`);
  const port = Number(parsed.port);
  if (parsed.port === "" || !Number.isSafeInteger(port) || port < 1 || port > 65535) {
    throw new TrackerError("tracker_url", `UDP tracker URL needs a port: "${url}"`);
  }
  let hostname = parsed.hostname;
  if (hostname.startsWith("[") && hostname.endsWith("]")) hostname = hostname.slice(1, -1);
  if (hostname === "") throw new TrackerError("tracker_url", `UDP tracker URL needs a host: "${url}"`);
  // BEP 41: the URL data is the path and query exactly as written after host:port.
  const afterHost = url.indexOf("/", url.indexOf("//") + 2);
  const rest = afterHost < 0 ? "" : url.slice(afterHost).replace(/#.*$/, "");
  return { type: "udp", hostname, port, urlData: utf8(rest) };
}

/** Append `query` to `url` with `&` when it already has a query (passkey URLs, INTEROP.md 10), else `?`. */
export function appendQuery(url: string, query: string): string {
  const hash = url.indexOf("#");
  const base = hash < 0 ? url : url.slice(0, hash);
  if (query === "") return base;
  if (!base.includes("?")) return `${base}?${query}`;
  return base.endsWith("?") || base.endsWith("&") ? base + query : `${base}&${query}`;
}

/** The full HTTP announce URL: binary fields percent-encoded byte by byte (never `+`), always `compact=1`. */
export function buildAnnounceUrl(url: string, request: AnnounceParams): string {
  const parts = [
    "info_hash=" + percentEncode(request.infoHash),
    "peer_id=" + percentEncode(request.peerId),
    "port=" + request.port,
    "uploaded=" + request.uploaded,
    "downloaded=" + request.downloaded,
    "left=" + request.left,
    "compact=1", // opentracker refuses anything else (INTEROP.md 22)
  ];
  if (request.event !== undefined) parts.push("event=" + request.event);
  if (request.numWant !== undefined) parts.push("numwant=" + request.numWant);
  if (request.key !== undefined) parts.push("key=" + (request.key >>> 0).toString(16).padStart(8, "0"));
  if (request.trackerId !== undefined) parts.push("trackerid=" + percentEncode(request.trackerId));
  return appendQuery(url, parts.join("&"));
}

/**
 * The scrape URL of an HTTP announce URL (BEP 48): the last path segment must start with `announce`, which
 * becomes `scrape` (Transmission's rule, INTEROP.md 9); null when the tracker has no scrape form.
 */
export function scrapeUrlFor(announceUrl: string): string | null {
  const q = announceUrl.search(/[?#]/);
  const path = q < 0 ? announceUrl : announceUrl.slice(0, q);
  const slash = path.lastIndexOf("/");
  const schemeEnd = path.indexOf("//");
  if (slash < 0 || slash <= schemeEnd + 1) return null;
  if (!path.startsWith("announce", slash + 1)) return null;
  return announceUrl.slice(0, slash + 1) + "scrape" + announceUrl.slice(slash + 1 + "announce".length);
}
