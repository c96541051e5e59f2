// The tracker's HTTP listener: Deno.serve (the design card's stack) by default, its connections accepted, capped and
// timed out by lib/tracker/http_front.ts and its handler wrapped by the limits of lib/tracker/http_guard.ts; or, when asked (`io: "libc"`, Linux only), the libc/epoll server of
// lib/tracker/_http_ffi.ts, which also answers GET announces and scrapes straight from the request bytes
// (`rawRequest`). Both take every limit from lib/tracker/http_limits.ts.

import { errorText, TrackerError } from "../errors.ts";
import { formatHostPort } from "./announce.ts";
import { createLibcHttpServer, type RawRequestHandler } from "./_http_ffi.ts";
import { guardHandler, type HttpHandler } from "./http_guard.ts";
import { serveOnConnection, startFront } from "./http_front.ts";
import { type HttpLimitsInput, resolveLimits } from "./http_limits.ts";

export type { RawRequestHandler } from "./_http_ffi.ts";
export type { HttpHandler } from "./http_guard.ts";
export { DEFAULT_HTTP_LIMITS, type HttpLimits, type HttpLimitsInput } from "./http_limits.ts";

/** deno: Deno.serve (default); libc: the libc/epoll server (Linux, --allow-ffi, an IP literal host). */
export type HttpIo = "deno" | "libc";

/** Options of startHttpServer. */
export interface HttpServerOptions {
  hostname: string;
  port: number;
  handler: HttpHandler;
  /** The libc server's shortcut for GETs (Deno.serve has no request bytes to give it). */
  rawRequest?: RawRequestHandler;
  io?: HttpIo;
  /** Over DEFAULT_HTTP_LIMITS; the same on both stacks. */
  limits?: HttpLimitsInput;
  onWarning?: (message: string) => void;
  /** The libc server's waiting Worker (tests substitute a failing one). */
  workerUrl?: URL;
  /** Deno.serve's per-connection entry (default: the runtime's; null: plain Deno.serve, as on a runtime without it). */
  serveOnConnection?: ReturnType<typeof serveOnConnection>;
  /** Clock in ms (default Date.now): connection deadlines and body deadlines (both). */
  now?: () => number;
}

/** A listening HTTP server. */
export interface HttpServer {
  readonly addr: Deno.NetAddr;
  /** Which I/O path serves it. */
  readonly io: HttpIo;
  /** Open connections (-1: not counted, on a Deno without the front). */
  readonly connections: number;
  /** Close the connections past their deadline now (also done every sweepIntervalMs). */
  sweep(): void;
  /** Stop accepting, let requests in progress finish, close. */
  shutdown(): Promise<void>;
  readonly finished: Promise<void>;
}

/**
 * Listen on `hostname:port` (0: any free port) and serve.
 * @throws {TrackerError} listen_failed when the address cannot be bound; libc_unavailable when `io` is "libc" and
 *   this system, the permissions or the host name do not allow it
 */
export function startHttpServer(o: HttpServerOptions): HttpServer {
  const limits = resolveLimits(o.limits);
  if (o.io === "libc") {
    const libc = createLibcHttpServer({ ...o, limits });
    if (libc === null) {
      throw new TrackerError(
        "libc_unavailable",
        `Cannot serve HTTP on libc at ${formatHostPort(o.hostname, o.port)}: it needs Linux on x86_64 or aarch64, ` +
          "--allow-ffi and an IP address as the host",
      );
    }
    return {
      addr: libc.addr,
      io: "libc",
      get connections() {
        return libc.connections;
      },
      sweep: () => libc.sweep(),
      shutdown: () => libc.shutdown(),
      finished: libc.finished,
    };
  }
  const warn = o.onWarning ?? (() => {});
  const guarded = guardHandler(o.handler, { limits, ...(o.now === undefined ? {} : { now: o.now }) });
  const onError = (err: unknown): Response => {
    warn(`Internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return new Response("500 Internal Server Error\n", { status: 500, headers: { "content-type": "text/plain" } });
  };
  const serve = o.serveOnConnection === undefined ? serveOnConnection() : o.serveOnConnection;
  try {
    if (serve !== null) {
      const front = startFront({
        hostname: o.hostname,
        port: o.port,
        handler: guarded.handler,
        onError,
        limits,
        serve,
        onWarning: warn,
        ...(o.now === undefined ? {} : { now: o.now }),
      });
      return {
        addr: front.addr,
        io: "deno",
        get connections() {
          return front.connections;
        },
        sweep: front.sweep,
        shutdown: front.shutdown,
        finished: front.finished,
      };
    }
    warn("This Deno has no serveHttpOnConnection: HTTP connections are served without per-address caps or deadlines");
    const server = Deno.serve(
      { hostname: o.hostname, port: o.port, onListen: () => {}, onError },
      guarded.handler as (req: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => Response | Promise<Response>,
    );
    return {
      addr: server.addr,
      io: "deno",
      connections: -1,
      sweep: () => {},
      shutdown: () => server.shutdown(),
      finished: server.finished,
    };
  } catch (err: unknown) {
    throw new TrackerError(
      "listen_failed",
      `Cannot listen on ${formatHostPort(o.hostname, o.port)}: ${errorText(err)}`,
      { cause: err },
    );
  }
}
