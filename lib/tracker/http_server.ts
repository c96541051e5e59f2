// The tracker's HTTP listener: the libc server (lib/tracker/_http_ffi.ts) where it applies, Deno.serve otherwise or
// when asked (`io: "deno"`). Both serve the same `handler`; the libc one also answers GET announces and scrapes
// through `fast` straight from the request bytes.

import { errorText, TrackerError } from "../errors.ts";
import { formatHostPort } from "./announce.ts";
import { createFfiHttpServer, type FastHandler, type HttpHandler, type HttpLimits } from "./_http_ffi.ts";

export { DEFAULT_HTTP_LIMITS, type FastHandler, type HttpHandler, type HttpLimits } from "./_http_ffi.ts";

/** auto: libc on Linux with --allow-ffi and an IP literal, else Deno.serve; deno: always Deno.serve. */
export type HttpIo = "auto" | "deno";

/** Options of startHttpServer. */
export interface HttpServerOptions {
  hostname: string;
  port: number;
  handler: HttpHandler;
  fast?: FastHandler;
  io?: HttpIo;
  /** Limits of the libc server (Deno.serve has its own). */
  limits?: Partial<HttpLimits>;
  onWarning?: (message: string) => void;
  /** The libc server's waiting Worker (tests substitute a failing one). */
  workerUrl?: URL;
}

/** A listening HTTP server. */
export interface HttpServer {
  readonly addr: Deno.NetAddr;
  /** Which I/O path serves it. */
  readonly io: "libc" | "deno";
  /** Stop accepting, let requests in progress finish, close. */
  shutdown(): Promise<void>;
  readonly finished: Promise<void>;
}

/**
 * Listen on `hostname:port` (0: any free port) and serve.
 * @throws {TrackerError} listen_failed when the address cannot be bound
 */
export function startHttpServer(o: HttpServerOptions): HttpServer {
  if (o.io !== "deno") {
    const ffi = createFfiHttpServer(o);
    if (ffi !== null) {
      return { addr: ffi.addr, io: "libc", shutdown: () => ffi.shutdown(), finished: ffi.finished };
    }
  }
  const warn = o.onWarning ?? (() => {});
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: o.hostname,
      port: o.port,
      onListen: () => {},
      onError: (err: unknown) => {
        warn(`Internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        return new Response("internal error", { status: 500 });
      },
    }, (req, info) => o.handler(req, info as { remoteAddr: Deno.NetAddr }));
  } catch (err: unknown) {
    throw new TrackerError(
      "listen_failed",
      `Cannot listen on ${formatHostPort(o.hostname, o.port)}: ${errorText(err)}`,
      { cause: err },
    );
  }
  return { addr: server.addr, io: "deno", shutdown: () => server.shutdown(), finished: server.finished };
}
