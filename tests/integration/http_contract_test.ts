// One contract, both HTTP stacks (lib/tracker/http_server.ts): the same raw bytes over TCP to the tracker on Deno.serve
// (the default) and on the libc server (`io: "libc"`, Linux), with the default limits of lib/tracker/http_limits.ts;
// each case asserts its status and body on each stack, and that the two stacks answer alike. Where hyper answers by
// itself (a malformed head: 400 with no body), the libc server answers as hyper does.

import { deepEqual, equal, ok } from "../_helpers/assert.ts";
import { createTestTracker } from "../_helpers/tracker.ts";
import { type HttpIo, startHttpServer } from "../../lib/tracker/http_server.ts";
import { MAX_BULK_BODY_BYTES, MAX_HEAD_BYTES, MAX_SMALL_BODY_BYTES } from "../../lib/tracker/http_limits.ts";
import { Client, type HttpResponse } from "./_http_raw_client.ts";

const TOKEN = "contract-token";
const IS_LINUX = Deno.build.os === "linux";
const STACKS: readonly HttpIo[] = IS_LINUX ? ["deno", "libc"] : ["deno"];

/** A registration body of `count` torrents, each with a comment of `pad` bytes (a `btool register` batch). */
function bulkBody(count: number, pad: number): string {
  const torrents = [];
  for (let i = 0; i < count; i++) {
    torrents.push({ infoHash: i.toString(16).padStart(40, "0"), name: `t${i}`, comment: "c".repeat(pad) });
  }
  return JSON.stringify({ torrents });
}

function post(path: string, body: string, extra = ""): string {
  return `POST ${path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${body.length}\r\nConnection: close\r\n${extra}\r\n${body}`;
}

function chunked(path: string, parts: string[], extra = ""): string {
  let out = `POST ${path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${TOKEN}\r\nTransfer-Encoding: chunked\r\n` +
    `Connection: close\r\n${extra}\r\n`;
  for (const p of parts) out += `${p.length.toString(16)};ext=1\r\n${p}\r\n`;
  return out + "0\r\nX-Trailer: t\r\n\r\n";
}

/** What one stack answered: status and body of each response, and whether the connection then closed. */
interface Outcome {
  responses: { status: number; body: string }[];
  isClosed: boolean;
}

interface Case {
  name: string;
  /** Bytes to send (written whole, then the responses are read). */
  request: string;
  /** Expected statuses, in order. */
  statuses: number[];
  /** Expected body of the last response, or a test of it. */
  body?: string | ((body: string) => boolean);
  /** Sent after a 100 Continue, which must come first (not counted in statuses). */
  afterContinue?: string;
}

const CASES: Case[] = [
  {
    name: "a bulk registration larger than 4 MiB is accepted (what `btool register` sends)",
    request: post("/api/torrents", bulkBody(6_000, 1_000)),
    statuses: [200],
    body: (b) => JSON.parse(b).results.length === 6_000,
  },
  {
    name: "a bulk body over MAX_BULK_BODY_BYTES is refused (413) from its Content-Length",
    request: `POST /api/torrents HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: ${
      MAX_BULK_BODY_BYTES + 1
    }\r\n\r\n`,
    statuses: [413],
    body: "413 Content Too Large\n",
  },
  {
    name: "a body over MAX_SMALL_BODY_BYTES to another route is refused (413)",
    request: post("/stats", "x".repeat(MAX_SMALL_BODY_BYTES + 1)),
    statuses: [413],
    body: "413 Content Too Large\n",
  },
  {
    name: "a chunked body (extensions, trailer) is read whole",
    request: chunked("/api/torrents", [bulkBody(2, 10).slice(0, 40), bulkBody(2, 10).slice(40)]),
    statuses: [200],
    body: (b) => JSON.parse(b).results.length === 2,
  },
  {
    name: "a chunked body over MAX_SMALL_BODY_BYTES is refused (413)",
    request: chunked("/stats", ["x".repeat(40_000), "y".repeat(40_000)]),
    statuses: [413],
    body: "413 Content Too Large\n",
  },
  {
    name: "Expect: 100-continue gets 100 before the body is read",
    request: post("/api/torrents", "", "Expect: 100-continue\r\n").replace(
      "Content-Length: 0",
      `Content-Length: ${bulkBody(1, 1).length}`,
    ),
    afterContinue: bulkBody(1, 1),
    statuses: [200],
  },
  {
    name: "Content-Length with Transfer-Encoding is refused (400, smuggling)",
    request: "POST /stats HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    statuses: [400],
    body: "",
  },
  {
    name: "Transfer-Encoding other than chunked is refused (400)",
    request: "POST /stats HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
    statuses: [400],
    body: "",
  },
  {
    name: "Transfer-Encoding with a coding before chunked is refused (400)",
    request: "POST /stats HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
    statuses: [400],
    body: "",
  },
  { name: "a malformed request line is refused (400)", request: "GARBAGE\r\n\r\n", statuses: [400], body: "" },
  {
    name: "a bare CR in a header is refused (400)",
    request: "GET /stats HTTP/1.1\r\nHost: t\rX: y\r\n\r\n",
    statuses: [400],
    body: "",
  },
  {
    name: "two Host headers are refused (400)",
    request: "GET /stats HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
    statuses: [400],
    body: "",
  },
  {
    name: "whitespace before a header's colon is refused (400)",
    request: "GET /stats HTTP/1.1\r\nHost : t\r\n\r\n",
    statuses: [400],
    body: "",
  },
  {
    name: "two different Content-Lengths are refused (400)",
    request: "POST /stats HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    statuses: [400],
    body: "",
  },
  {
    name: "a head over MAX_HEAD_BYTES is refused (400, as hyper)",
    request: `GET /stats HTTP/1.1\r\nHost: t\r\nX-Big: ${"a".repeat(MAX_HEAD_BYTES + 1_000)}\r\n\r\n`,
    statuses: [400],
    body: "",
  },
  {
    name: "more than 128 header lines are refused (400, as hyper)",
    request: "GET /stats HTTP/1.1\r\nHost: t\r\n" + "X-A: b\r\n".repeat(200) + "\r\n",
    statuses: [400],
    body: "",
  },
  { name: "HTTP/2.0 in a request line is refused (400)", request: "GET / HTTP/2.0\r\n\r\n", statuses: [400], body: "" },
  {
    name: "bare LF line ends, no Host, and an unknown Expect are accepted (as hyper)",
    request: "GET /api/info HTTP/1.1\nAuthorization: Bearer " + TOKEN + "\nExpect: magic\nConnection: close\n\n",
    statuses: [200],
    body: (b) => JSON.parse(b).torrents !== undefined,
  },
  {
    name: "pipelined requests are answered in order, then HTTP/1.0 closes",
    request: `GET /api/info HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n` +
      "GET /nothing-here HTTP/1.0\r\n\r\n",
    statuses: [200, 404],
  },
];

async function runCase(io: HttpIo, c: Case): Promise<Outcome> {
  const t = createTestTracker({ adminToken: TOKEN });
  const server = startHttpServer({ hostname: "127.0.0.1", port: 0, io, handler: t.tracker.handler });
  const client = new Client(await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port }));
  try {
    // A refused request may be closed while we still write it: what was answered is what counts.
    await client.send(c.request).catch(() => {});
    const responses: HttpResponse[] = [];
    if (c.afterContinue !== undefined) {
      equal((await client.readResponse(`${c.name}: 100 on ${io}`)).status, 100);
      await client.send(c.afterContinue);
    }
    for (let i = 0; i < c.statuses.length; i++) responses.push(await client.readResponse(`${c.name} on ${io}`));
    const rest = await client.readToEof(`${c.name}: EOF on ${io}`).catch(() => new Uint8Array(1));
    return {
      responses: responses.map((r) => ({ status: r.status, body: r.text })),
      isClosed: rest.length === 0,
    };
  } finally {
    client.close();
    await server.shutdown();
    t.close();
  }
}

for (const c of CASES) {
  Deno.test(`HTTP contract: ${c.name}`, async () => {
    const outcomes = new Map<HttpIo, Outcome>();
    for (const io of STACKS) {
      const o = await runCase(io, c);
      outcomes.set(io, o);
      deepEqual(o.responses.map((r) => r.status), c.statuses, `${io}: statuses`);
      ok(o.isClosed, `${io}: the connection closes after the response`);
      const body = o.responses.at(-1)!.body;
      if (typeof c.body === "string") equal(body, c.body, `${io}: body`);
      else if (c.body !== undefined) ok(c.body(body), `${io}: body ${JSON.stringify(body.slice(0, 200))}`);
    }
    if (outcomes.size === 2) {
      // The two stacks agree on status and body (JSON bodies compared as values: key order is the handler's).
      const [a, b] = [outcomes.get("deno")!, outcomes.get("libc")!];
      deepEqual(b.responses.map((r) => r.status), a.responses.map((r) => r.status), "same statuses");
      deepEqual(b.responses.map((r) => r.body), a.responses.map((r) => r.body), "same bodies");
    }
  });
}
