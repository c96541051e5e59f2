// Outgoing TCP connects of `btool peer`, each bounded by a timeout and by the session's stop signal; a socket that
// arrives too late is closed. The handshake is the caller's (PeerConnection.open).

import { WireError } from "../errors.ts";

/** Bound on one outgoing TCP connect. */
export const CONNECT_TIMEOUT_MS = 10_000;

/** Options of `dialPeer`. */
export interface DialOptions {
  signal: AbortSignal;
  /** Default CONNECT_TIMEOUT_MS. */
  timeoutMs?: number;
  /** The connect itself (default Deno.connect; tests pass a fake). */
  connect?: (hostname: string, port: number) => Promise<Deno.TcpConn>;
}

/**
 * Connect to `hostname:port`.
 * @throws {WireError} connect_timeout, connect_aborted; or the socket error of the connect
 */
export function dialPeer(hostname: string, port: number, options: DialOptions): Promise<Deno.TcpConn> {
  const connect = options.connect ?? ((h: string, p: number) => Deno.connect({ hostname: h, port: p }));
  return withTimeout(connect(hostname, port), options.timeoutMs ?? CONNECT_TIMEOUT_MS, options.signal);
}

/** `p` bounded by `ms` and by `signal`; a connection that arrives too late is closed. */
export function withTimeout<T extends { close(): void }>(p: Promise<T>, ms: number, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let isSettled = false;
    const settle = () => {
      if (isSettled) return false;
      isSettled = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      return true;
    };
    const giveUp = (err: Error) => {
      if (!settle()) return;
      reject(err);
      p.then((c) => c.close(), () => {});
    };
    const onAbort = () => giveUp(new WireError("connect_aborted", "Connect aborted: the session is stopping"));
    const timer = setTimeout(() => giveUp(new WireError("connect_timeout", `Connect timed out after ${ms} ms`)), ms);
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener("abort", onAbort);
    p.then((c) => {
      if (settle()) resolve(c);
    }, (err: unknown) => {
      if (settle()) reject(err);
    });
  });
}
