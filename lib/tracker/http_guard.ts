// The limits of lib/tracker/http_limits.ts on Deno.serve, which shows requests but not connections: a wrapper around
// the tracker's handler that caps requests in progress (per client address and in all), reads every body itself
// (capped by route, by the memory all bodies in flight may hold, per address and in all, and by a deadline), and
// answers what it refuses with the status the libc server uses. GET and HEAD bodies are left to hyper (no route reads
// one; looking costs an op call per announce). Connections, their caps and deadlines are lib/tracker/http_front.ts's;
// what hyper does by itself (head size) is written down in docs/ARCHITECTURE.md.

import { concat } from "../bytes.ts";
import type { HttpLimits } from "./http_limits.ts";

/** The ordinary handler (Deno.serve's shape, with the part of its info a tracker reads). */
export type HttpHandler = (
  req: Request,
  info: { remoteAddr: Deno.NetAddr },
) => Response | Promise<Response>;

/** Options of guardHandler. */
export interface GuardOptions {
  limits: HttpLimits;
  /** Clock in ms (default Date.now): body deadlines. */
  now?: () => number;
  /** Timer of the body deadline (tests drive it). */
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (timer: unknown) => void;
}

/** A guarded handler and what it holds now (for tests and stats). */
export interface GuardedHandler {
  handler: HttpHandler;
  /** Requests in progress (handler not settled), all addresses. */
  readonly inFlight: number;
  /** Body bytes held by requests in progress, all addresses. */
  readonly bufferedBytes: number;
}

/** A refusal: plain text, the status and its reason, and the connection closed after it. */
export function refusal(status: number, reason: string): Response {
  return new Response(`${status} ${reason}\n`, {
    status,
    headers: { "content-type": "text/plain", "connection": "close" },
  });
}

/** Requests in progress and body bytes held, per client address and in all (entries leave once they hold nothing). */
class InFlight {
  readonly perAddress = new Map<string, { requests: number; bytes: number }>();
  requests = 0;
  bytes = 0;

  enter(host: string): { requests: number; bytes: number } {
    let a = this.perAddress.get(host);
    if (a === undefined) this.perAddress.set(host, a = { requests: 0, bytes: 0 });
    a.requests++;
    this.requests++;
    return a;
  }

  leave(host: string, a: { requests: number; bytes: number }): void {
    this.requests--;
    if (--a.requests === 0 && a.bytes === 0) this.perAddress.delete(host);
  }
}

/** What readBody needs besides the request. */
interface BodyBudget {
  limits: HttpLimits;
  now: () => number;
  setTimer: (fn: () => void, ms: number) => unknown;
  clearTimer: (timer: unknown) => void;
  inFlight: InFlight;
  /** The request's socket peer and its address entry. */
  host: string;
  address: { requests: number; bytes: number };
  /** Bytes this request holds (given back by the caller when it is done). */
  held: { bytes: number };
}

/** The whole body of `req` up to `cap`, or a refusal. Bytes are counted while held (b.held, per address, in all). */
async function readBody(req: Request, cap: number, b: BodyBudget): Promise<Uint8Array | Response> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > cap) {
    await req.body?.cancel().catch(() => {});
    return refusal(413, "Content Too Large");
  }
  const reader = req.body!.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0, isLate = false;
  const deadline = b.now() + b.limits.requestTimeoutMs;
  const timer = b.setTimer(() => {
    isLate = true;
    reader.cancel().catch(() => {});
  }, b.limits.requestTimeoutMs);
  try {
    for (;;) {
      const r = await reader.read().catch(() => null);
      if (isLate || b.now() > deadline) return refusal(408, "Request Timeout");
      if (r === null) return refusal(400, "Bad Request");
      if (r.done) break;
      const n = r.value.length;
      total += n;
      if (total > cap) {
        reader.cancel().catch(() => {});
        return refusal(413, "Content Too Large");
      }
      if (
        b.inFlight.bytes + n > b.limits.maxBufferedBytes ||
        (b.address.bytes + n > b.limits.maxAddressBytes && !b.limits.isUncapped(b.host))
      ) {
        reader.cancel().catch(() => {});
        return refusal(503, "Service Unavailable");
      }
      b.inFlight.bytes += n;
      b.address.bytes += n;
      b.held.bytes += n;
      chunks.push(r.value);
    }
  } finally {
    b.clearTimer(timer);
  }
  return chunks.length === 1 ? chunks[0]! : concat(chunks);
}

/**
 * Wrap `handler` with the limits. A request over a count cap gets 503 (all addresses) or 429 (its address); a body
 * over its route's cap 413; a body not whole within requestTimeoutMs 408; a body that would pass the memory caps 503.
 */
export function guardHandler(handler: HttpHandler, o: GuardOptions): GuardedHandler {
  const limits = o.limits;
  const now = o.now ?? Date.now;
  const setTimer = o.setTimer ?? ((fn: () => void, ms: number) => setTimeout(fn, ms));
  const clearTimer = o.clearTimer ?? ((t: unknown) => clearTimeout(t as number));
  const inFlight = new InFlight();

  const withBody = async (
    req: Request,
    info: { remoteAddr: Deno.NetAddr },
    address: { requests: number; bytes: number },
  ): Promise<Response> => {
    const held = { bytes: 0 };
    try {
      // hyper frames a body by its last coding when that is chunked ("gzip, chunked"); the libc server, stricter,
      // takes exactly "chunked" and refuses the rest as a malformed head (400, no body): so does this.
      const te = req.headers.get("transfer-encoding");
      if (te !== null && te.toLowerCase() !== "chunked") {
        await req.body?.cancel().catch(() => {});
        return new Response(null, { status: 400, headers: { connection: "close" } });
      }
      const url = req.url;
      const pathStart = url.indexOf("/", url.indexOf("//") + 2);
      const q = url.indexOf("?", pathStart);
      const cap = limits.maxBodyBytes(url.slice(pathStart, q < 0 ? url.length : q));
      const host = info.remoteAddr.hostname;
      const body = await readBody(req, cap, { limits, now, setTimer, clearTimer, inFlight, host, address, held });
      if (body instanceof Response) return body;
      const copy = new Request(url, {
        method: req.method,
        headers: req.headers,
        body: body as Uint8Array<ArrayBuffer>,
        signal: req.signal,
      });
      return await handler(copy, info);
    } finally {
      inFlight.bytes -= held.bytes;
      address.bytes -= held.bytes;
      inFlight.leave(info.remoteAddr.hostname, address);
    }
  };

  const guarded: HttpHandler = (req, info) => {
    if (inFlight.requests >= limits.maxConnections) return refusal(503, "Service Unavailable");
    // The table holds only addresses with requests in progress: an announce answered at once never touches it, nor
    // reads remoteAddr or body here (each getter is an op call, ~1 µs; the method shares the URL's).
    const perAddress = inFlight.perAddress;
    if (
      perAddress.size > 0 && (perAddress.get(info.remoteAddr.hostname)?.requests ?? 0) >= limits.maxPerAddress &&
      !limits.isUncapped(info.remoteAddr.hostname)
    ) {
      return refusal(429, "Too Many Requests");
    }
    const method = req.method;
    if (method !== "GET" && method !== "HEAD" && req.body !== null) {
      return withBody(req, info, inFlight.enter(info.remoteAddr.hostname));
    }
    const res = handler(req, info); // a throw goes to Deno.serve's onError (500), nothing was counted yet
    if (!(res instanceof Promise)) return res;
    const host = info.remoteAddr.hostname;
    const a = inFlight.enter(host);
    return res.finally(() => inFlight.leave(host, a));
  };

  return {
    handler: guarded,
    get inFlight() {
      return inFlight.requests;
    },
    get bufferedBytes() {
      return inFlight.bytes;
    },
  };
}
