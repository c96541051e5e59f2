// A raw HTTP/1.1 client over TCP for the HTTP server tests (tests/integration/http_server_test.ts,
// http_contract_test.ts and http_front_test.ts): sends any bytes (malformed ones too), reads whole responses or
// everything until EOF, each wait bounded by WAIT_MS; ConnScope closes what a test opened.

import { equal, ok } from "../_helpers/assert.ts";

/** Bound of every wait (reads, polls). */
export const WAIT_MS = 5_000;

export const ENCODER = new TextEncoder();
export const DECODER = new TextDecoder();
export const CRLF_CRLF = ENCODER.encode("\r\n\r\n");

/** `text` as bytes, one byte per character (so "\xC3" is the byte 0xC3). */
export function bytesOf(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) throw new Error(`not a byte: ${text[i]}`);
    out[i] = c;
  }
  return out;
}

/** Bytes as text, one character per byte. */
export function latin1(b: Uint8Array): string {
  let out = "";
  for (const c of b) out += String.fromCharCode(c);
  return out;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Poll `cond` every 10 ms; fail after WAIT_MS. */
export async function waitFor(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${WAIT_MS} ms waiting for ${what}`);
    await delay(10);
  }
}

/** A GET request (HTTP/1.1) with `extra` header lines ("Name: value\r\n" each). */
export function get(path: string, extra = ""): string {
  return `GET ${path} HTTP/1.1\r\nHost: test\r\n${extra}\r\n`;
}

/** One parsed HTTP response. */
export interface HttpResponse {
  statusLine: string;
  status: number;
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Map<string, string>;
  body: Uint8Array;
  text: string;
}

/** A raw TCP client with a read buffer: reads whole responses, or everything until EOF, each within WAIT_MS. */
export class Client {
  readonly conn: Deno.TcpConn;
  /** Sleep this long after each read (a slow reader). */
  readDelayMs = 0;
  /** The connection ended with a reset rather than a FIN. */
  isReset = false;
  /** Received and not yet taken: #store[#head, #tail). */
  #store = new Uint8Array(65_536);
  #head = 0;
  #tail = 0;
  #isEof = false;
  #isClosed = false;

  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  get localPort(): number {
    return this.conn.localAddr.port;
  }

  async send(data: string | Uint8Array): Promise<void> {
    const b = typeof data === "string" ? bytesOf(data) : data;
    for (let at = 0; at < b.length;) at += await this.conn.write(b.subarray(at));
  }

  /** Read once more into the buffer; false at EOF (or reset). */
  async #fill(deadline: number, what: string): Promise<boolean> {
    if (this.#isEof) return false;
    const ms = deadline - Date.now();
    if (ms <= 0) throw this.#timeout(what);
    const chunk = new Uint8Array(65_536);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), ms));
    const read = this.conn.read(chunk).catch((err: unknown) => {
      if (err instanceof Deno.errors.ConnectionReset) {
        this.isReset = true;
        return null;
      }
      throw err;
    });
    try {
      const n = await Promise.race([read, timeout]);
      if (n === "timeout") {
        read.catch(() => {}); // settles when the connection is closed
        throw this.#timeout(what);
      }
      if (n === null) {
        this.#isEof = true;
        return false;
      }
      this.#append(chunk.subarray(0, n));
    } finally {
      clearTimeout(timer);
    }
    if (this.readDelayMs > 0) await delay(this.readDelayMs);
    return true;
  }

  get #buf(): Uint8Array {
    return this.#store.subarray(this.#head, this.#tail);
  }

  #append(bytes: Uint8Array): void {
    const held = this.#tail - this.#head;
    if (this.#tail + bytes.length > this.#store.length) {
      const store = held + bytes.length > this.#store.length
        ? new Uint8Array(Math.max(this.#store.length * 2, held + bytes.length))
        : this.#store;
      store.set(this.#buf);
      this.#store = store;
      this.#head = 0;
      this.#tail = held;
    }
    this.#store.set(bytes, this.#tail);
    this.#tail += bytes.length;
  }

  #timeout(what: string): Error {
    const got = JSON.stringify(latin1(this.#buf.subarray(0, 200)));
    return new Error(`Timed out after ${WAIT_MS} ms waiting for ${what} (buffered: ${got})`);
  }

  /** Buffer at least `n` bytes. */
  async #need(n: number, deadline: number, what: string): Promise<void> {
    while (this.#buf.length < n) {
      if (!await this.#fill(deadline, what)) {
        throw new Error(
          `EOF while waiting for ${what} (buffered: ${JSON.stringify(latin1(this.#buf.subarray(0, 200)))})`,
        );
      }
    }
  }

  /** Take the next CRLF-terminated line (without the CRLF). */
  async #line(deadline: number, what: string): Promise<string> {
    let at: number;
    while ((at = indexOf(this.#buf, CRLF_CRLF.subarray(0, 2))) < 0) {
      await this.#need(this.#buf.length + 1, deadline, what);
    }
    const line = latin1(this.#buf.subarray(0, at));
    this.#head += at + 2;
    return line;
  }

  #take(n: number): Uint8Array {
    const out = this.#buf.slice(0, n);
    this.#head += n;
    return out;
  }

  /** Read one response: head, then a body by content-length (or chunked, or until EOF); none for HEAD or 1xx. */
  async readResponse(what = "a response", o: { isHead?: boolean } = {}): Promise<HttpResponse> {
    const deadline = Date.now() + WAIT_MS;
    let end: number;
    while ((end = indexOf(this.#buf, CRLF_CRLF)) < 0) await this.#need(this.#buf.length + 1, deadline, what);
    const lines = latin1(this.#take(end + 4)).slice(0, -4).split("\r\n");
    const statusLine = lines[0]!;
    const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
    ok(m !== null, `not a status line: ${JSON.stringify(statusLine)}`);
    const status = Number(m[1]);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      ok(colon > 0, `not a header line: ${JSON.stringify(line)}`);
      const name = line.slice(0, colon).toLowerCase(), value = line.slice(colon + 1).trim();
      const had = headers.get(name);
      headers.set(name, had === undefined ? value : `${had}, ${value}`);
    }
    let body: Uint8Array;
    const length = headers.get("content-length");
    if (o.isHead === true || status < 200 || status === 204 || status === 304) body = new Uint8Array(0);
    else if (length !== undefined) {
      const n = Number(length);
      await this.#need(n, deadline, `${n} body bytes of ${what}`);
      body = this.#take(n);
    } else if (headers.get("transfer-encoding")?.toLowerCase() === "chunked") {
      const parts: Uint8Array[] = [];
      for (;;) {
        const size = parseInt(await this.#line(deadline, what), 16);
        if (size === 0) break;
        await this.#need(size + 2, deadline, what);
        parts.push(this.#take(size));
        this.#take(2);
      }
      while ((await this.#line(deadline, what)) !== "");
      body = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        body.set(p, at);
        at += p.length;
      }
    } else body = await this.readToEof(what);
    return { statusLine, status, headers, body, text: DECODER.decode(body) };
  }

  /** Everything until EOF (or a reset). */
  async readToEof(what = "EOF"): Promise<Uint8Array> {
    const deadline = Date.now() + WAIT_MS;
    while (await this.#fill(deadline, what));
    return this.#take(this.#buf.length);
  }

  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}

/** Read a response that must be `status`, then EOF with nothing after it. */
export async function expectRefusal(c: Client, status: number, what: string): Promise<HttpResponse> {
  const res = await c.readResponse(what);
  equal(res.status, status, `${what}: ${res.statusLine}`);
  equal(res.headers.get("connection"), "close", `${what}: a refusal says it closes`);
  equal((await c.readToEof(`EOF after ${what}`)).length, 0, `${what}: nothing after the refusal`);
  return res;
}

/** What a test opened (clients, servers); closed in its `finally` by close(): clients first, then servers. */
export class ConnScope {
  readonly #clients: Client[] = [];
  readonly #servers: { shutdown(): Promise<void> }[] = [];

  async connect(port: number, hostname = "127.0.0.1"): Promise<Client> {
    const c = new Client(await Deno.connect({ hostname, port }));
    this.#clients.push(c);
    return c;
  }

  /** Shut `server` down at close(); returns it. */
  track<S extends { shutdown(): Promise<void> }>(server: S): S {
    this.#servers.push(server);
    return server;
  }

  async close(): Promise<void> {
    for (const c of this.#clients) c.close();
    for (const s of this.#servers) await s.shutdown();
  }
}
