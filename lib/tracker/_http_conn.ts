// One connection of the libc HTTP server (lib/tracker/_http_ffi.ts) as data, and the rules over it that need no
// socket: which deadline applies now, how many bytes it holds, and the per-address table that caps connections and
// bytes per client. Pure: the server passes the clock in.

import type { ChunkState } from "./http1.ts";
import type { HttpLimits } from "./http_limits.ts";

/** Bytes one chunk's bookkeeping costs (two offsets in a JS array), counted against the connection's memory cap. */
export const CHUNK_ENTRY_BYTES = 16;

/** A refused connection's unread input is dropped for at most this long before it is closed (as nginx's lingering close)... */
export const LINGER_MS = 5_000;
/** ...and at most this much of it. */
export const LINGER_BYTES = 1_048_576;

/** A connection. */
export class Conn {
  /** Unparsed input (a request not yet whole, or requests waiting behind the one in progress). */
  input: Uint8Array | null = null;
  inputLen = 0;
  /** Unsent output. */
  output: Uint8Array | null = null;
  outputAt = 0;
  /** Close once the output is sent. */
  isClosing = false;
  /** A response is being produced by the ordinary handler. */
  isBusy = false;
  isClosed = false;
  /** Registered epoll events; 0: not in the set. */
  events = 0;
  /** Last progress (ms): accepted, a response sent, or output taken by the client. */
  sinceMs: number;
  /** When the request now arriving sent its first byte (ms); -1: none is arriving. */
  requestSinceMs = -1;
  /** The partial request's head is whole (only its body is missing). */
  isHeadDone = false;
  /** 100 Continue already sent for the request being received. */
  isContinueSent = false;
  /** Bytes of the partial request at the start of `input` known to hold no head end yet. */
  scanned = 0;
  /** The partial request's head is whole and valid; the request is this many bytes (a Content-Length body). */
  bodyNeed = 0;
  /** The partial request's chunked body, decoded so far, where that body starts in it, and its cap. */
  chunk: ChunkState | null = null;
  chunkBodyAt = 0;
  bodyCap = 0;
  isNoDelay = false;
  /** A response was sent on it (before that, silence counts against headTimeoutMs, not idleTimeoutMs). */
  hasAnswered = false;
  /** Close after the output only once the client's unread input is drained (a refusal). */
  isLingerAfter = false;
  /** Sent its last response and shut its writing side: what arrives is dropped until EOF or LINGER_MS/BYTES. */
  isDraining = false;
  drainedBytes = 0;
  /** Counted in the AddressTable (taken out once, when it closes). */
  isCounted = false;
  /** Bytes counted for it in the AddressTable and the server's total. */
  heldBytes = 0;

  constructor(readonly fd: number, readonly host: string, readonly port: number, nowMs: number) {
    this.sinceMs = nowMs;
  }
}

/** What a connection holds now: its buffers' capacity and its chunk bookkeeping. */
export function connBytes(c: Conn): number {
  return (c.input?.length ?? 0) + (c.output?.length ?? 0) + (c.chunk?.parts.length ?? 0) / 2 * CHUNK_ENTRY_BYTES;
}

/** Which deadline a connection is under, and since when it runs. */
export type ConnDeadline = "busy" | "write" | "linger" | "request" | "head" | "idle";

/**
 * The deadline `c` is under: none while its handler runs; write while output waits; linger while a refused
 * connection's input is drained; request (head and body) from the
 * first byte of a request whose head is whole; head from the first byte of a request not yet whole, or from accept for
 * a connection that never sent one; idle after a response.
 */
export function connDeadline(c: Conn): ConnDeadline {
  if (c.isBusy) return "busy";
  if (c.output !== null) return "write";
  if (c.isDraining) return "linger";
  if (c.requestSinceMs >= 0) return c.isHeadDone ? "request" : "head";
  return "idle";
}

/** Whether `c` is past its deadline at `nowMs`. */
export function isExpired(c: Conn, nowMs: number, limits: HttpLimits): boolean {
  switch (connDeadline(c)) {
    case "busy":
      return false;
    case "write":
      return nowMs - c.sinceMs >= limits.writeTimeoutMs;
    case "linger":
      return nowMs - c.sinceMs >= LINGER_MS;
    case "request":
      return nowMs - c.requestSinceMs >= limits.requestTimeoutMs;
    case "head":
      return nowMs - c.requestSinceMs >= limits.headTimeoutMs;
    case "idle":
      return nowMs - c.sinceMs >= (c.hasAnswered ? limits.idleTimeoutMs : limits.headTimeoutMs);
  }
}
