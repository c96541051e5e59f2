// Response bytes of the libc HTTP server (lib/tracker/_http_reply.ts): raw replies written into a reused buffer,
// refusals (plain text as Deno.serve's guard; bare as hyper), responses from a Response, URL parts of a target.

import { equal, ok } from "../../_helpers/assert.ts";
import {
  authorityOf,
  encodeBareRefusal,
  encodeRefusal,
  encodeResponse,
  pathOnly,
  rawReplyBytes,
  rawReplyHead,
  targetPath,
  writeRawReply,
} from "../../../lib/tracker/_http_reply.ts";

const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const DATE = "Sat, 05 Dec 2026 00:00:00 GMT";

Deno.test("writeRawReply() writes head, Content-Length digits, the Connection tail and the body", () => {
  const head = rawReplyHead(DATE);
  for (const [body, connection, tail] of [["", "", ""], ["x".repeat(65), "close", "connection: close\r\n"]] as const) {
    const b = new TextEncoder().encode(body);
    const out = new Uint8Array(rawReplyBytes(head, b.length));
    const n = writeRawReply(out, head, b, connection);
    equal(
      dec(out.subarray(0, n)),
      `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ndate: ${DATE}\r\ncontent-length: ${b.length}\r\n${tail}\r\n${body}`,
    );
  }
});

Deno.test("encodeRefusal() and encodeBareRefusal(): the guard's plain text, hyper's empty 400", () => {
  equal(
    dec(encodeRefusal(413, "close", DATE)),
    `HTTP/1.1 413 Content Too Large\r\ncontent-type: text/plain\r\ndate: ${DATE}\r\ncontent-length: 22\r\n` +
      "connection: close\r\n\r\n413 Content Too Large\n",
  );
  equal(
    dec(encodeBareRefusal(400, DATE)),
    `HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\ndate: ${DATE}\r\n\r\n`,
  );
});

Deno.test("encodeResponse(): a Response's status, headers and body; none of the body for HEAD", async () => {
  const res = () => new Response("hello", { status: 201, headers: { "x-a": "b" } });
  const full = dec(await encodeResponse(res(), { isHead: false, connection: "", date: DATE }));
  ok(full.startsWith("HTTP/1.1 201 Created\r\n"));
  ok(full.includes("x-a: b\r\n") && full.includes("content-length: 5\r\n"));
  ok(full.endsWith("\r\n\r\nhello"));
  const head = dec(await encodeResponse(res(), { isHead: true, connection: "close", date: DATE }));
  ok(head.endsWith("connection: close\r\n\r\n"));
});

Deno.test("targetPath(), pathOnly(), authorityOf(): origin and absolute forms; unsafe Host values replaced", () => {
  equal(targetPath("/a?b"), "/a?b");
  equal(targetPath("http://x:1/api/torrents?q"), "/api/torrents?q");
  equal(targetPath("http://x"), "/");
  equal(targetPath("http://x?q"), "/?q");
  equal(targetPath("*"), null);
  equal(pathOnly("/api/torrents?x=1"), "/api/torrents");
  equal(authorityOf("tracker.example:6969", "fallback"), "tracker.example:6969");
  equal(authorityOf("[::1]:80", "fallback"), "[::1]:80");
  equal(authorityOf("a b", "127.0.0.1:1"), "127.0.0.1:1");
  equal(authorityOf(null, "127.0.0.1:1"), "127.0.0.1:1");
});
