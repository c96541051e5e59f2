// Every limit of the tracker's HTTP side, in one place: both stacks (Deno.serve with the front of
// lib/tracker/http_front.ts and the guard of lib/tracker/http_guard.ts, and the libc server of
// lib/tracker/_http_ffi.ts) and the routes that read bodies take their caps from here, so that a request the one
// accepts the other accepts too. Values only: no I/O.

/** Bytes of a request head (request line and headers): Deno.serve's own cap (hyper answers 400 beyond, so do we). */
export const MAX_HEAD_BYTES = 65_536;
/** Header lines of one request: Deno.serve's own cap (400 beyond). */
export const MAX_HEADER_LINES = 128;
/** Body of the bulk admin calls (/api/..., /add_torrent_info): a registration of thousands of torrents. */
export const MAX_BULK_BODY_BYTES = 64 * 1_048_576;
/** Body of every other route (announce and scrape are GETs; the rest of the admin API takes small JSON). */
export const MAX_SMALL_BODY_BYTES = 65_536;

/** The routes whose bodies may be large (prefix match on the path). */
const BULK_PREFIXES = ["/api/", "/add_torrent_info"] as const;

/** The body cap of a request to `path` (the target's path, without the query). */
export function maxBodyBytesFor(path: string): number {
  for (const p of BULK_PREFIXES) if (path.startsWith(p)) return MAX_BULK_BODY_BYTES;
  return MAX_SMALL_BODY_BYTES;
}

/** Limits of an HTTP server; each bounds what one client (or all of them) can make it hold. */
export interface HttpLimits {
  /** Request line and headers (400 beyond, as hyper). */
  maxHeadBytes: number;
  /** A request body, by the path it is sent to (413 beyond). */
  maxBodyBytes: (path: string) => number;
  /** Open connections of all clients together (and requests in progress, on Deno.serve). */
  maxConnections: number;
  /** Open connections of one client address (and requests in progress, on Deno.serve). */
  maxPerAddress: number;
  /** Unparsed input and unsent output held for one connection (libc; bodies, chunk bookkeeping, trailers). */
  maxConnectionBytes: number;
  /** Input, output and bodies held for one client address (all its connections or requests together). */
  maxAddressBytes: number;
  /** Unparsed input and unsent output held for all connections together; the connection that passes it is closed. */
  maxBufferedBytes: number;
  /** A request head must arrive whole within this long of the connection's first byte or its previous response. */
  headTimeoutMs: number;
  /** A request (head and body) must arrive whole within this long of its first byte (Slowloris). */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  idleTimeoutMs: number;
  /** A response the client does not read for this long is dropped with its connection. */
  writeTimeoutMs: number;
  /** How often the timeouts are checked. */
  sweepIntervalMs: number;
  /** Socket peers exempt from the per-address caps (trusted reverse proxies): they count in the totals only. */
  isUncapped: (host: string) => boolean;
}

export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = {
  maxHeadBytes: MAX_HEAD_BYTES,
  maxBodyBytes: maxBodyBytesFor,
  maxConnections: 16_384,
  maxPerAddress: 256,
  maxConnectionBytes: MAX_BULK_BODY_BYTES + MAX_HEAD_BYTES + 1_048_576,
  maxAddressBytes: 2 * MAX_BULK_BODY_BYTES + 2 * 1_048_576,
  maxBufferedBytes: 512 * 1_048_576,
  headTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  idleTimeoutMs: 60_000,
  writeTimeoutMs: 60_000,
  sweepIntervalMs: 1_000,
  isUncapped: () => false,
};

/** `limits` over the defaults (a number as maxBodyBytes caps every route alike: tests). */
export function resolveLimits(
  limits: Partial<Omit<HttpLimits, "maxBodyBytes">> & { maxBodyBytes?: number | ((path: string) => number) } = {},
): HttpLimits {
  const body = limits.maxBodyBytes;
  return {
    ...DEFAULT_HTTP_LIMITS,
    ...limits,
    maxBodyBytes: typeof body === "number" ? () => body : body ?? maxBodyBytesFor,
  };
}

/** What resolveLimits takes. */
export type HttpLimitsInput = Parameters<typeof resolveLimits>[0];
