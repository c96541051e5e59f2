// The request side of the libc HTTP server (lib/tracker/_http_ffi.ts): turns a connection's bytes into requests
// (heads parsed in place, Content-Length and chunked bodies capped by route), answers each through `rawRequest` or
// the ordinary handler, in order, and refuses what is malformed. It reaches the socket only through ConnIo.

import {
  type ChunkedBody,
  type ConnectionHeader,
  createChunkState,
  decodeChunked,
  hasHeadEnd,
  HEAD_INCOMPLETE,
  HEAD_OK,
  httpDate,
  RequestHeadParser,
} from "./http1.ts";
import type { HttpHandler } from "./http_guard.ts";
import type { HttpLimits } from "./http_limits.ts";
import type { Conn } from "./_http_conn.ts";
import {
  authorityOf,
  encodeBareRefusal,
  ENCODED_CONTINUE,
  encodeRefusal,
  encodeResponse,
  pathOnly,
  rawReplyBytes,
  rawReplyHead,
  targetPath,
  writeRawReply,
} from "./_http_reply.ts";

/**
 * A synchronous shortcut for GET requests: the body of a 200 text/plain response for the request target (path and
 * query, as sent) `request[targetStart, targetEnd)` from the client at `remoteHost`, or null to hand the request to
 * the ordinary handler. `request` and `header(lowerName)` (a request header) are valid only during the call; the
 * body returned is copied at once, so it may be a view the handler reuses. http1.ts targetText() reads the target as
 * text.
 */
export type RawRequestHandler = (
  request: Uint8Array,
  targetStart: number,
  targetEnd: number,
  remoteHost: string,
  header: (lowerName: string) => string | null,
) => Uint8Array | null;

/** What the request side asks of the socket side. */
export interface ConnIo {
  /** A shutdown began: responses say "connection: close". */
  readonly isStopping: boolean;
  /** The URL authority of a request without a usable Host (the listening address). */
  readonly authority: string;
  /** Send `bytes[0, len)` (what the socket does not take is kept); close after it when `isCloseAfter`. */
  send(c: Conn, bytes: Uint8Array, len: number, isCloseAfter: boolean): void;
  /** Send what the socket takes now, best effort (100 Continue). */
  sendNow(c: Conn, bytes: Uint8Array): void;
  /** Stop reading c while its handler runs... */
  pause(c: Conn): void;
  /** ...and read it again. */
  resume(c: Conn): void;
  /** Keep `bytes` as c's input; false when that closed it (a memory cap). */
  keepInput(c: Conn, bytes: Uint8Array): boolean;
  /** Count what c holds against the caps; false when that closed it. */
  account(c: Conn): boolean;
  close(c: Conn): void;
}

/** Options of RequestReader. */
export interface RequestReaderOptions {
  handler: HttpHandler;
  rawRequest: RawRequestHandler | undefined;
  limits: HttpLimits;
  now: () => number;
  warn: (message: string) => void;
  io: ConnIo;
}

/** A thrown value as a warning's text. */
export function internalError(err: unknown): string {
  return `Internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
}

/** The request side of one server (one parser for all its connections: a head is parsed whole, in one call). */
export class RequestReader {
  readonly #handler: HttpHandler;
  readonly #raw: RawRequestHandler | undefined;
  readonly #limits: HttpLimits;
  readonly #now: () => number;
  readonly #warn: (message: string) => void;
  readonly #io: ConnIo;
  readonly #parser = new RequestHeadParser();
  #writeBuf = new Uint8Array(65_536);
  /** The request being answered by `rawRequest` and its header lookup (one function for all requests). */
  #headerData: Uint8Array = new Uint8Array(0);
  readonly #header = (name: string) => this.#parser.header(this.#headerData, name);
  /** The Date header's text and the raw reply's head up to "content-length: ", for `#dateSecond`. */
  #date = "";
  #rawHead: Uint8Array = new Uint8Array(0);
  #dateSecond = -1;

  constructor(o: RequestReaderOptions) {
    this.#handler = o.handler;
    this.#raw = o.rawRequest;
    this.#limits = o.limits;
    this.#now = o.now;
    this.#warn = o.warn;
    this.#io = o.io;
  }

  /**
   * Answer the whole requests at the start of `data`; keep the rest as c's input. A request that is not whole yet
   * costs each later read only its new bytes: the head-end search, the Content-Length wait and the chunked decoder
   * go on where they stopped (c.scanned, c.bodyNeed, c.chunk), and the head is parsed again once, when it is whole.
   */
  process(c: Conn, data: Uint8Array): void {
    const p = this.#parser, limits = this.#limits;
    let at = 0;
    while (at < data.length && !c.isClosed && !c.isBusy && c.output === null && !c.isClosing) {
      const avail = data.length - at;
      // State about a partial request is about the one at the start of c.input (`at` 0 of a continued read).
      const isResumed = at === 0 && (c.scanned > 0 || c.bodyNeed > 0 || c.chunk !== null);
      if (isResumed && c.bodyNeed > 0 && avail < c.bodyNeed) break;
      // A head seen in part before is searched from where that search stopped (a fresh one is parsed at once: the
      // parser finds its end too).
      if (isResumed && c.bodyNeed === 0 && c.chunk === null) {
        if (!hasHeadEnd(data, at + Math.max(0, c.scanned - 2))) {
          if (avail > limits.maxHeadBytes) return this.refuse(c, 400, true);
          c.scanned = avail;
          break;
        }
      }
      let chunked: ChunkedBody | null = null;
      if (isResumed && c.chunk !== null) {
        const r = decodeChunked(data, at + c.chunkBodyAt, c.bodyCap, c.chunk);
        if (r === HEAD_INCOMPLETE) break;
        if (typeof r === "number") return this.refuse(c, r);
        chunked = r;
      }
      const r = p.parse(data, at, limits.maxHeadBytes);
      if (r === HEAD_INCOMPLETE) {
        // Not whole yet (for a resumed head: the empty line found was one a request may start with). Later reads
        // search only their new bytes.
        c.scanned = avail;
        break;
      }
      if (r !== HEAD_OK) return this.refuse(c, r, true);
      let body: Uint8Array | null = null;
      let next = p.headEnd;
      if (p.isChunked) {
        if (chunked === null) {
          c.bodyCap = this.#bodyCap(data);
          c.chunk = createChunkState();
          c.chunkBodyAt = p.headEnd - at;
          const first = decodeChunked(data, p.headEnd, c.bodyCap, c.chunk);
          if (first === HEAD_INCOMPLETE) {
            c.isHeadDone = true;
            this.#sendContinue(c);
            break;
          }
          if (typeof first === "number") return this.refuse(c, first);
          chunked = first;
        }
        body = chunked.body;
        next = chunked.end;
      } else if (p.contentLength > 0) {
        if (p.contentLength > this.#bodyCap(data)) return this.refuse(c, 413);
        if (p.headEnd + p.contentLength > data.length) {
          c.bodyNeed = p.headEnd - at + p.contentLength;
          c.isHeadDone = true;
          this.#sendContinue(c);
          break;
        }
        next = p.headEnd + p.contentLength;
        body = data.slice(p.headEnd, next);
      }
      c.scanned = c.bodyNeed = 0;
      c.chunk = null;
      c.isContinueSent = c.isHeadDone = false;
      c.requestSinceMs = -1;
      this.#dispatch(c, data, body);
      at = next;
    }
    if (c.isClosed) return;
    const rest = data.length - at;
    if (rest === 0) {
      // Nothing waits: an idle keep-alive connection holds no buffer.
      c.input = null;
      c.inputLen = 0;
      this.#io.account(c);
      return;
    }
    // A request starts arriving: its deadline runs from now (later pieces do not reset it).
    if (c.requestSinceMs < 0) c.requestSinceMs = this.#now();
    if (data.buffer === c.input?.buffer) {
      if (at > 0) c.input.copyWithin(0, at, data.length);
      c.inputLen = rest;
      this.#io.account(c); // the chunk bookkeeping may have grown
    } else this.#io.keepInput(c, data.subarray(at));
  }

  /** The body cap of the request just parsed (from its target's path). */
  #bodyCap(data: Uint8Array): number {
    return this.#limits.maxBodyBytes(pathOnly(targetPath(this.#parser.targetText(data)) ?? "/"));
  }

  /** `Expect: 100-continue` and the body is not here yet: tell the client to send it (once per request). */
  #sendContinue(c: Conn): void {
    if (!this.#parser.isExpectContinue || c.isContinueSent) return;
    c.isContinueSent = true;
    this.#io.sendNow(c, ENCODED_CONTINUE);
  }

  /** Answer the request just parsed (its bytes are `data`, valid only during this call). */
  #dispatch(c: Conn, data: Uint8Array, body: Uint8Array | null): void {
    const p = this.#parser;
    const isKeepAlive = !p.isClose && !this.#io.isStopping;
    const connection: ConnectionHeader = !isKeepAlive ? "close" : p.isHttp10 ? "keep-alive" : "";
    if (p.isGet && this.#raw !== undefined) {
      let bytes: Uint8Array | null;
      try {
        this.#headerData = data;
        bytes = this.#raw(data, p.targetStart, p.targetEnd, c.host, this.#header);
      } catch (err: unknown) {
        this.#warn(internalError(err));
        return this.refuse(c, 500);
      }
      if (bytes !== null) return this.#sendRaw(c, bytes, connection);
    }
    // The ordinary handler: everything it needs is copied out of `data` now.
    const method = p.methodText(data);
    const isHead = p.isHead;
    let req: Request;
    try {
      const path = targetPath(p.targetText(data));
      if (path === null) return this.refuse(c, 400, true);
      const authority = authorityOf(p.hostText(data), this.#io.authority);
      req = new Request(`http://${authority}${path}`, {
        method,
        headers: p.headerList(data),
        ...(body === null || method === "GET" || isHead ? {} : { body: body as Uint8Array<ArrayBuffer> }),
      });
    } catch {
      return this.refuse(c, 400, true);
    }
    c.isBusy = true;
    this.#io.pause(c);
    const info = { remoteAddr: { transport: "tcp" as const, hostname: c.host, port: c.port } };
    // A shutdown that began while the handler ran closes the connection after this response.
    const connectionNow = (): ConnectionHeader => this.#io.isStopping ? "close" : connection;
    new Promise<Response>((resolve) => resolve(this.#handler(req, info)))
      .then(async (res) => {
        const said = connectionNow();
        return { bytes: await encodeResponse(res, { isHead, connection: said, date: this.httpDate() }), said };
      })
      .catch((err: unknown) => {
        // The request was read whole, so the stream is intact: the connection goes on as the request asked.
        this.#warn(internalError(err));
        const said = connectionNow();
        return { bytes: encodeRefusal(500, said, this.httpDate()), said };
      })
      .then(({ bytes, said }) => {
        c.isBusy = false;
        if (c.isClosed) return;
        this.#io.send(c, bytes, bytes.length, said === "close");
        if (c.isClosed || c.output !== null) return;
        this.#io.resume(c);
        if (c.inputLen > 0) this.process(c, c.input!.subarray(0, c.inputLen));
      })
      .catch((err: unknown) => {
        this.#warn(internalError(err));
        this.#io.close(c);
      });
  }

  /**
   * Refuse a request with `status`, then close (the rest of the stream cannot be trusted). `isBare`: a malformed
   * head, answered as hyper answers it (no body); else a plain-text body as Deno.serve's guard.
   */
  refuse(c: Conn, status: number, isBare = false): void {
    c.inputLen = 0;
    // The client may still be sending (a body, the rest of a head): read and drop that before closing, or the close
    // resets the connection and the refusal is lost with it.
    c.isLingerAfter = true;
    const bytes = isBare ? encodeBareRefusal(status, this.httpDate()) : encodeRefusal(status, "close", this.httpDate());
    this.#io.send(c, bytes, bytes.length, true);
  }

  httpDate(): string {
    const now = this.#now();
    const second = Math.floor(now / 1000);
    if (second !== this.#dateSecond) {
      this.#dateSecond = second;
      this.#date = httpDate(now);
      this.#rawHead = rawReplyHead(this.#date);
    }
    return this.#date;
  }

  /** A 200 text/plain response with `body`, written straight from the shared output buffer. */
  #sendRaw(c: Conn, body: Uint8Array, connection: ConnectionHeader): void {
    this.httpDate();
    const most = rawReplyBytes(this.#rawHead, body.length);
    if (this.#writeBuf.length < most) this.#writeBuf = new Uint8Array(most * 2);
    const n = writeRawReply(this.#writeBuf, this.#rawHead, body, connection);
    this.#io.send(c, this.#writeBuf, n, connection === "close");
  }
}
