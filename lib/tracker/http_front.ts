// The connection side of the default HTTP stack. Deno.serve (hyper) in Deno 2.9.6 has no connection timeouts and
// shows requests but not connections, so a stranger could hold any number of half-sent heads. Here Deno.listen
// accepts instead: each connection is counted per address and in all (over a cap it is closed at once, as the libc
// server does) and then served by Deno.serve's own machinery for one connection (serveHttpOnConnection: the same
// hyper, Request and Response as Deno.serve), with a deadline swept on a clock: headTimeoutMs for a connection that
// never sent a whole head, then the longer of idleTimeoutMs and writeTimeoutMs after each response (hyper shows neither
// where the next head starts nor when a response has been read: that one bound covers a head trickled on a kept-alive
// connection and a response the client does not read).

import { errorText } from "../errors.ts";
import { AddressTable } from "./address_table.ts";
import type { HttpHandler } from "./http_guard.ts";
import type { HttpLimits } from "./http_limits.ts";

/** Deno.serve's own per-connection entry (ext/http's serveHttpOnConnection). */
type ServeOnConnection = (
  conn: Deno.Conn,
  signal: { addEventListener(type: "abort", cancel: () => void): void },
  handler: (req: Request, info: { remoteAddr: Deno.NetAddr }) => Response | Promise<Response>,
  onError: (err: unknown) => Response | Promise<Response>,
  onListen: (addr: Deno.Addr) => void,
) => { finished: Promise<void>; shutdown(): Promise<void> };

/**
 * Deno.serve's per-connection entry, from the runtime's internals (stable in the pinned Deno; not public API), or null
 * where a runtime lacks it.
 */
export function serveOnConnection(): ServeOnConnection | null {
  const internals = (Deno as unknown as Record<symbol, Record<string, unknown> | undefined>)[
    (Deno as unknown as { internal: symbol }).internal
  ];
  const f = internals?.serveHttpOnConnection;
  return typeof f === "function" ? f as ServeOnConnection : null;
}

/** A served connection as the deadlines see it. */
export class FrontConn {
  /** Requests whose handler was called and has not settled (hyper serves one at a time). */
  open = 0;
  /** A response was handed to hyper on it. */
  hasAnswered = false;
  /** It was refused with "connection: close": closed at the next sweep (hyper would wait for the promised body). */
  isRefused = false;
  /** Since when its present deadline runs (ms): accepted, or the last response handed over. */
  sinceMs: number;
  /** Drops the connection (hyper's cancel, registered through addEventListener). */
  cancel: (() => void) | null = null;
  /** Its serve loop; null until served. */
  server: { finished: Promise<void>; shutdown(): Promise<void> } | null = null;
  /** Settles once it is gone and uncounted. */
  gone: Promise<void> = Promise.resolve();

  constructor(readonly host: string, nowMs: number) {
    this.sinceMs = nowMs;
  }

  /**
   * The one AbortSignal method Deno.serve's per-connection entry calls: it registers hyper's cancel. Standing in for a
   * signal saves an AbortController per connection, a third of the front's cost per connection.
   */
  addEventListener(_type: "abort", cancel: () => void): void {
    this.cancel = cancel;
  }
}

/**
 * Whether `c` is past its deadline at `nowMs`. None while a handler runs (the guard bounds bodies); headTimeoutMs from
 * accept until a first response; then the longer of idleTimeoutMs and writeTimeoutMs from the last response handed
 * over (hyper reports a response done once it has it, not once the client has read it: one deadline covers both);
 * a refused connection at once.
 */
export function isFrontExpired(
  c: FrontConn,
  nowMs: number,
  limits: Pick<HttpLimits, "headTimeoutMs" | "idleTimeoutMs" | "writeTimeoutMs">,
): boolean {
  if (c.open > 0) return false;
  if (c.isRefused) return true;
  const ms = c.hasAnswered ? Math.max(limits.idleTimeoutMs, limits.writeTimeoutMs) : limits.headTimeoutMs;
  return nowMs - c.sinceMs >= ms;
}

/** Options of startFront. */
export interface FrontOptions {
  hostname: string;
  port: number;
  handler: HttpHandler;
  onError: (err: unknown) => Response | Promise<Response>;
  limits: HttpLimits;
  serve: ServeOnConnection;
  onWarning: (message: string) => void;
  /** Clock in ms (default Date.now). */
  now?: () => number;
  /** Deno.listen (tests substitute a listener whose accept fails). */
  listen?: (o: Deno.TcpListenOptions & { transport: "tcp" }) => Deno.Listener;
}

/** A listening front. */
export interface Front {
  readonly addr: Deno.NetAddr;
  /** Open connections. */
  readonly connections: number;
  /** Close the connections past their deadline now (also run every sweepIntervalMs; 0: only when called). */
  sweep(): void;
  shutdown(): Promise<void>;
  readonly finished: Promise<void>;
}

/** Accept errors that mean "out of descriptors or memory for now": retried after a pause, as the libc server does. */
const ACCEPT_PAUSE_MS = 100;

/**
 * Listen on `hostname:port` and serve each accepted connection under the caps and deadlines of `limits`.
 * @throws what Deno.listen throws when the address cannot be bound
 */
export function startFront(o: FrontOptions): Front {
  const listener = (o.listen ?? Deno.listen)({ hostname: o.hostname, port: o.port, transport: "tcp" });
  const limits = o.limits;
  const now = o.now ?? Date.now;
  const table = new AddressTable(limits);
  const conns = new Set<FrontConn>();
  let isStopping = false;
  const stoppedAll = Promise.withResolvers<void>();

  const sweep = (): void => {
    const t = now();
    for (const c of conns) if (isFrontExpired(c, t, limits)) c.cancel?.();
  };
  const sweeper = limits.sweepIntervalMs > 0 ? setInterval(sweep, limits.sweepIntervalMs) : undefined;

  const serveOne = (conn: Deno.Conn): void => {
    const host = (conn.remoteAddr as Deno.NetAddr).hostname;
    if (isStopping || conns.size >= limits.maxConnections || !table.open(host)) {
      conn.close();
      return;
    }
    const c = new FrontConn(host, now());
    conns.add(c);
    const answered = (res: Response): Response => {
      c.open--;
      c.hasAnswered = true;
      c.sinceMs = now();
      if (res.status >= 400 && res.headers.get("connection") === "close") c.isRefused = true;
      return res;
    };
    const failed = (err: unknown): never => {
      c.open--;
      c.sinceMs = now();
      throw err; // to onError, as Deno.serve
    };
    const handler = (req: Request, info: { remoteAddr: Deno.NetAddr }): Response | Promise<Response> => {
      c.open++;
      let res: Response | Promise<Response>;
      try {
        res = o.handler(req, info);
      } catch (err: unknown) {
        return failed(err);
      }
      return res instanceof Promise ? res.then(answered, failed) : answered(res);
    };
    const forget = (): void => {
      conns.delete(c);
      table.close(host);
    };
    try {
      c.server = o.serve(conn, c, handler, o.onError, () => {});
    } catch (err: unknown) {
      o.onWarning(`Cannot serve a connection from ${host}: ${errorText(err)}`);
      forget();
      try {
        conn.close();
      } catch {
        // already closed
      }
      return;
    }
    c.gone = c.server.finished.then(forget, forget);
  };

  const acceptLoop = async (): Promise<void> => {
    let failures = 0; // in a row: one warning when they start, one when they end (not one per pause)
    while (!isStopping) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (err: unknown) {
        if (isStopping || err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted) return;
        if (failures++ === 0) o.onWarning(`Cannot accept HTTP connections (retrying): ${errorText(err)}`);
        await new Promise((r) => setTimeout(r, ACCEPT_PAUSE_MS));
        continue;
      }
      if (failures > 0) o.onWarning(`Accepting HTTP connections again after ${failures} failed attempts`);
      failures = 0;
      serveOne(conn);
    }
  };
  const accepting = acceptLoop();

  let stopped: Promise<void> | null = null;
  const shutdown = (): Promise<void> =>
    stopped ??= (async () => {
      isStopping = true;
      try {
        listener.close();
      } catch {
        // already closed
      }
      await accepting;
      const left = [...conns];
      await Promise.all(left.map((c) => c.server?.shutdown().catch(() => {})));
      await Promise.all(left.map((c) => c.gone));
      if (sweeper !== undefined) clearInterval(sweeper);
      stoppedAll.resolve();
    })();

  return {
    addr: listener.addr as Deno.NetAddr,
    get connections() {
      return conns.size;
    },
    sweep,
    shutdown,
    finished: stoppedAll.promise,
  };
}
