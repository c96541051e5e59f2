// The socket side of the libc HTTP server's connections (lib/tracker/_http_ffi.ts): a new connection's first read,
// reads into the RequestReader, writes whose rest is kept until the socket is writable, the lingering close after a
// refusal, memory held per connection and address against http_limits, deadlines, and the one close of each fd.
// The epoll set and the accept loop are the server's; this file only asks it to change a connection's events.
// Lengths go to libc as BigInt: a number for a usize parameter takes FFI's slow path (docs/PERFORMANCE.md).
// Invariants: a connection's fd is closed once, by close(), which forgets the connection first (a reused fd number
// then belongs to a new Conn); while a response is produced or written the connection is not read.

import { EAGAIN, EINTR, errno } from "./_libc.ts";
import type { HttpHandler } from "./http_guard.ts";
import type { HttpLimits } from "./http_limits.ts";
import { AddressTable } from "./address_table.ts";
import { Conn, connBytes, isExpired, LINGER_BYTES } from "./_http_conn.ts";
import {
  EPOLLERR,
  EPOLLHUP,
  EPOLLIN,
  EPOLLOUT,
  type HttpLibc,
  IPPROTO_TCP,
  MSG_MORE,
  MSG_NOSIGNAL,
  SHUT_WR,
  TCP_NODELAY,
} from "./_http_epoll.ts";
import { type ConnIo, internalError, type RawRequestHandler, RequestReader } from "./_http_requests.ts";

/** Bytes read per recv (one shared buffer). */
const READ_BYTES = 65_536;
const READ_BYTES_BIG = BigInt(READ_BYTES);
/** recv calls per readiness of one connection before others get their turn. */
const READS_PER_READY = 4;

/** Options of `ConnSockets`. */
export interface ConnSocketsOptions {
  lib: HttpLibc;
  limits: HttpLimits;
  handler: HttpHandler;
  rawRequest?: RawRequestHandler | undefined;
  now: () => number;
  warn: (message: string) => void;
  /** The URL authority of a request without a usable Host (the listening address). */
  authority: string;
  /** A shutdown began: refuse new connections, answer with "connection: close". */
  isStopping: () => boolean;
  /** Register `events` for c in the epoll set (0: out of the set). */
  setEvents: (c: Conn, events: number) => void;
}

/** The open connections of one libc HTTP server and everything done on their sockets. */
export class ConnSockets {
  readonly #lib: HttpLibc;
  readonly #s: HttpLibc["symbols"];
  readonly #limits: HttpLimits;
  readonly #now: () => number;
  readonly #warn: (message: string) => void;
  readonly #o: ConnSocketsOptions;
  readonly #reader: RequestReader;
  readonly #table: AddressTable;
  readonly #readBuf = new Uint8Array(READ_BYTES);
  readonly #one = Uint8Array.of(1, 0, 0, 0);
  /** Connections that outlived their first read, by fd (what epoll events are matched against). */
  readonly conns = new Map<number, Conn>();
  /** Open connections, those answered within their first read included. */
  #open = 0;
  #bytesRead = 0;

  constructor(o: ConnSocketsOptions) {
    this.#o = o;
    this.#lib = o.lib;
    this.#s = o.lib.symbols;
    this.#limits = o.limits;
    this.#now = o.now;
    this.#warn = o.warn;
    this.#table = new AddressTable(o.limits);
    this.#reader = new RequestReader({
      handler: o.handler,
      rawRequest: o.rawRequest,
      limits: o.limits,
      now: o.now,
      warn: o.warn,
      io: this.#io,
    });
  }

  /** The socket side as the request side sees it. */
  readonly #io: ConnIo = ((sockets: ConnSockets): ConnIo => ({
    get isStopping() {
      return sockets.#o.isStopping();
    },
    get authority() {
      return sockets.#o.authority;
    },
    send: (c, bytes, len, isCloseAfter) => sockets.#send(c, bytes, len, isCloseAfter),
    sendNow: (c, bytes) => void sockets.#s.send(c.fd, bytes, BigInt(bytes.length), MSG_NOSIGNAL),
    pause: (c) => sockets.#o.setEvents(c, 0),
    resume: (c) => sockets.#o.setEvents(c, EPOLLIN),
    keepInput: (c, bytes) => sockets.#keepInput(c, bytes),
    account: (c) => sockets.#account(c),
    close: (c) => sockets.#close(c),
  }))(this);

  get open(): number {
    return this.#open;
  }

  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** Bytes held for connections (input, output, chunk bookkeeping), all addresses. */
  get bufferedBytes(): number {
    return this.#table.bytes;
  }

  /**
   * A socket accept4 just returned: refused (closed) past the connection caps or while stopping, else read at once,
   * and filed for epoll only when it outlives that first read.
   */
  accepted(fd: number, host: string, port: number, now: number): void {
    if (this.#open >= this.#limits.maxConnections || this.#o.isStopping() || !this.#table.open(host)) {
      this.#s.close(fd);
      return;
    }
    this.#open++;
    const c = new Conn(fd, host, port, now);
    c.isCounted = true;
    // The request is usually there already: read it now, and skip the epoll registration and the table entry when
    // it is answered whole (nothing can look c up by fd before this returns: no epoll_wait runs meanwhile).
    try {
      this.#read(c);
    } catch (err: unknown) {
      this.#warn(internalError(err));
      this.#close(c);
    }
    if (c.isClosed) return;
    this.conns.set(fd, c);
    if (!c.isBusy && c.output === null) this.#o.setEvents(c, EPOLLIN);
  }

  /** One connection's readiness; what it throws closes it alone. */
  ready(c: Conn, events: number): void {
    try {
      if (c.output !== null) {
        if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) !== 0) this.#flush(c);
      } else if (c.isDraining) this.#drain(c);
      else if (!c.isBusy) this.#read(c);
    } catch (err: unknown) {
      this.#warn(internalError(err));
      this.#close(c);
    }
  }

  /** Close the connections past their deadlines; while stopping, also every one not producing or writing. */
  closeExpired(now: number, isStopping: boolean): void {
    const l = this.#limits;
    for (const c of this.conns.values()) {
      if (isExpired(c, now, l) || (isStopping && !c.isBusy && c.output === null)) this.#close(c);
    }
  }

  /** Close every filed connection. */
  closeAll(): void {
    for (const c of [...this.conns.values()]) this.#close(c);
  }

  #read(c: Conn): void {
    const s = this.#s;
    for (let reads = 0; reads < READS_PER_READY; reads++) {
      const n = Number(s.recv(c.fd, this.#readBuf, READ_BYTES_BIG, 0));
      if (n > 0) {
        this.#bytesRead += n;
        let data: Uint8Array;
        if (c.inputLen === 0) data = this.#readBuf.subarray(0, n);
        else {
          if (!this.#keepInput(c, this.#readBuf.subarray(0, n))) return;
          data = c.input!.subarray(0, c.inputLen);
        }
        this.#reader.process(c, data);
        if (c.isClosed || c.isBusy || c.output !== null || c.isDraining || n < READ_BYTES) return;
      } else if (n === 0) {
        this.#close(c);
        return;
      } else {
        const e = errno(this.#lib);
        if (e === EINTR) continue;
        if (e !== EAGAIN) this.#close(c);
        return;
      }
    }
  }

  /** Count what c holds now against the caps; false (and c closed, 413 or dropped) when it passes one. */
  #account(c: Conn): boolean {
    const bytes = connBytes(c);
    const delta = bytes - c.heldBytes;
    if (delta === 0) return true;
    c.heldBytes = bytes;
    const over = this.#table.hold(c.host, delta);
    if (bytes > this.#limits.maxConnectionBytes && c.output === null) {
      this.#reader.refuse(c, 413);
      return false;
    }
    if (over === "" && bytes <= this.#limits.maxConnectionBytes) return true;
    const what = over === "" ? "connection" : over;
    this.#warn(`HTTP: buffered input or unsent output passed the ${what} cap; dropping ${c.host}`);
    this.#close(c);
    return false;
  }

  /** Append `bytes` to c's input; false (and the connection closed) when that passes a memory cap. */
  #keepInput(c: Conn, bytes: Uint8Array): boolean {
    const need = c.inputLen + bytes.length;
    if (c.input === null || need > c.input.length) {
      // A Content-Length body gets exactly its size; else double (never past the connection's cap).
      const want = Math.max(need, c.bodyNeed, Math.min((c.input?.length ?? 0) * 2, this.#limits.maxConnectionBytes));
      const grown = new Uint8Array(Math.max(want, 1024));
      if (c.input !== null) grown.set(c.input.subarray(0, c.inputLen));
      c.input = grown;
      if (!this.#account(c)) return false;
    }
    c.input.set(bytes, c.inputLen);
    c.inputLen = need;
    return true;
  }

  /**
   * Send `bytes[0, len)`; what the socket does not take now is kept and sent when it becomes writable. A last response
   * goes with MSG_MORE: the close right after sends it and the FIN in one segment, one packet less per connection.
   */
  #send(c: Conn, bytes: Uint8Array, len: number, isCloseAfter: boolean): void {
    const n = Number(this.#s.send(c.fd, bytes, BigInt(len), isCloseAfter ? MSG_NOSIGNAL | MSG_MORE : MSG_NOSIGNAL));
    c.hasAnswered = true;
    if (n === len) {
      // Idle time counts from the response (a slow handler must not eat the keep-alive time).
      if (isCloseAfter) this.#closeAfterOutput(c);
      else c.sinceMs = this.#now();
      return;
    }
    if (n < 0) {
      const e = errno(this.#lib);
      if (e !== EAGAIN && e !== EINTR) return this.#close(c);
    }
    c.output = bytes.slice(Math.max(n, 0), len);
    c.outputAt = 0;
    c.isClosing = isCloseAfter;
    c.sinceMs = this.#now();
    if (!c.isNoDelay) {
      // A response in several segments: its last one must not wait for an ACK (Nagle).
      c.isNoDelay = true;
      this.#s.setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, this.#one, 4);
    }
    if (!this.#account(c)) return;
    this.#o.setEvents(c, EPOLLOUT);
  }

  /** The socket is writable again: send more of c's output. */
  #flush(c: Conn): void {
    const out = c.output!;
    const rest = out.length - c.outputAt;
    const n = Number(this.#s.send(c.fd, c.outputAt === 0 ? out : out.subarray(c.outputAt), BigInt(rest), MSG_NOSIGNAL));
    if (n < 0) {
      const e = errno(this.#lib);
      if (e !== EAGAIN && e !== EINTR) this.#close(c);
      return;
    }
    c.outputAt += n;
    c.sinceMs = this.#now();
    if (c.outputAt < out.length) return;
    c.output = null;
    if (c.isClosing) return this.#closeAfterOutput(c);
    if (!this.#account(c)) return;
    this.#o.setEvents(c, EPOLLIN);
    if (c.inputLen > 0) this.#reader.process(c, c.input!.subarray(0, c.inputLen));
  }

  /** The last response is sent: close, or for a refusal shut the writing side and drain what the client still sends. */
  #closeAfterOutput(c: Conn): void {
    if (!c.isLingerAfter || this.#s.shutdown(c.fd, SHUT_WR) !== 0) return this.#close(c);
    c.isDraining = true;
    c.sinceMs = this.#now();
    c.input = null;
    c.inputLen = 0;
    c.chunk = null;
    this.#account(c);
    // Reached from the first read (accept) too: then this files it so that epoll reports the rest.
    this.conns.set(c.fd, c);
    this.#o.setEvents(c, EPOLLIN);
  }

  /** Read and drop a draining connection's input; close at EOF, an error, or LINGER_BYTES. */
  #drain(c: Conn): void {
    for (;;) {
      const n = Number(this.#s.recv(c.fd, this.#readBuf, READ_BYTES_BIG, 0));
      if (n > 0) {
        c.drainedBytes += n;
        if (c.drainedBytes <= LINGER_BYTES) continue;
      } else if (n < 0) {
        const e = errno(this.#lib);
        if (e === EINTR) continue;
        if (e === EAGAIN) return;
      }
      return this.#close(c);
    }
  }

  #close(c: Conn): void {
    if (c.isClosed) return;
    c.isClosed = true;
    if (this.conns.get(c.fd) === c) this.conns.delete(c.fd);
    if (c.heldBytes !== 0) this.#table.hold(c.host, -c.heldBytes);
    c.heldBytes = 0;
    if (c.isCounted) {
      c.isCounted = false;
      this.#open--;
      this.#table.close(c.host);
    }
    c.input = c.output = null;
    c.inputLen = 0;
    c.chunk = null;
    this.#s.close(c.fd);
  }
}
