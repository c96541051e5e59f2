// The libc HTTP server's message syntax (lib/tracker/http1.ts): request heads parsed in place (request line,
// versions, connection persistence, lengths, the refusals RFC 9112 asks for and hyper makes), chunked bodies,
// response heads.
// Sockets: tests/integration/http_server_test.ts.

import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import {
  createChunkState,
  decodeChunked,
  hasHeadEnd,
  HEAD_INCOMPLETE,
  HEAD_OK,
  isBodiless,
  latin1,
  reasonPhrase,
  RequestHeadParser,
  responseHead,
} from "../../../lib/tracker/http1.ts";
import { MAX_HEADER_LINES } from "../../../lib/tracker/http_limits.ts";

const enc = (s: string) => new TextEncoder().encode(s);

function parse(text: string | Uint8Array, maxHead = 16_384): { r: number; p: RequestHeadParser; b: Uint8Array } {
  const b = typeof text === "string" ? enc(text) : text;
  const p = new RequestHeadParser();
  return { r: p.parse(b, 0, maxHead), p, b };
}

Deno.test("http1: a GET head: method, target as sent, host, keep-alive by default, where the head ends", () => {
  const head = "GET /announce?info_hash=%00%2B+x&port=1 HTTP/1.1\r\nHost: 127.0.0.1:6969\r\nUser-Agent: t/1\r\n\r\n";
  const { r, p, b } = parse(head + "NEXT");
  equal(r, HEAD_OK);
  ok(p.isGet);
  equal(p.isHead, false);
  equal(p.methodText(b), "GET");
  equal(p.targetText(b), "/announce?info_hash=%00%2B+x&port=1");
  equal(p.hostText(b), "127.0.0.1:6969");
  equal(p.header(b, "user-agent"), "t/1");
  equal(p.header(b, "x-missing"), null);
  equal(p.isClose, false);
  equal(p.isHttp10, false);
  equal(p.contentLength, -1);
  equal(p.headEnd, head.length);
  deepEqual(p.headerList(b), [["Host", "127.0.0.1:6969"], ["User-Agent", "t/1"]]);
});

Deno.test("http1: bare LF line ends and leading empty lines are accepted", () => {
  const { r, p, b } = parse("\r\n\nHEAD / HTTP/1.1\nHost: h\n\n");
  equal(r, HEAD_OK);
  ok(p.isHead);
  equal(p.targetText(b), "/");
  equal(p.hostText(b), "h");
});

Deno.test("http1: an unfinished head is incomplete until it passes the head limit (then 400, as hyper)", () => {
  equal(parse("GET / HTTP/1.1\r\nHost: h\r\n").r, HEAD_INCOMPLETE);
  equal(parse("GET / HTTP/1.1").r, HEAD_INCOMPLETE);
  equal(parse("GET /" + "a".repeat(200), 100).r, 400);
  equal(parse("GET / HTTP/1.1\r\n" + "X-A: b\r\n".repeat(30), 100).r, 400);
  // MAX_HEADER_LINES (128, hyper's count) header lines pass; one more does not.
  equal(parse("GET / HTTP/1.1\r\n" + "X: y\r\n".repeat(MAX_HEADER_LINES) + "\r\n").r, HEAD_OK);
  equal(parse("GET / HTTP/1.1\r\n" + "X: y\r\n".repeat(MAX_HEADER_LINES + 1) + "\r\n").r, 400);
});

Deno.test("http1: connection persistence follows the version and the Connection tokens", () => {
  equal(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").p.isClose, true);
  equal(parse("GET / HTTP/1.1\r\nconnection: Keep-Alive, CLOSE\r\n\r\n").p.isClose, true);
  equal(parse("GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n").p.isClose, false);
  const old = parse("GET / HTTP/1.0\r\n\r\n").p;
  ok(old.isHttp10);
  equal(old.isClose, true);
  equal(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").p.isClose, false);
});

Deno.test("http1: Content-Length, chunked and Expect are read; conflicting or unknown framing is refused", () => {
  const post = parse("POST /x HTTP/1.1\r\nContent-Length: 12\r\nExpect: 100-Continue\r\n\r\n").p;
  equal(post.contentLength, 12);
  ok(post.isExpectContinue);
  ok(parse("POST /x HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n").p.isChunked);
  equal(parse("POST /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n").r, HEAD_OK);
  equal(parse("POST /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n").r, 400);
  equal(parse("POST /x HTTP/1.1\r\nContent-Length: -3\r\n\r\n").r, 400);
  equal(parse("POST /x HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n").r, 400);
  equal(parse("POST /x HTTP/1.1\r\nContent-Length: 9999999999999999\r\n\r\n").r, 400);
  // Request smuggling: both framings at once.
  equal(parse("POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n").r, 400);
  equal(parse("POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").r, 400);
  // Transfer-Encoding other than exactly one "chunked": where proxies and servers disagree on the framing.
  for (const te of ["gzip", "gzip, chunked", "chunked, chunked", "chunked;q=1", "xchunked"]) {
    equal(parse(`POST /x HTTP/1.1\r\nTransfer-Encoding: ${te}\r\n\r\n`).r, 400, te);
  }
  equal(parse("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n").r, 400);
  // Another expectation is ignored (as hyper does).
  const other = parse("POST /x HTTP/1.1\r\nExpect: something-else\r\n\r\n");
  equal(other.r, HEAD_OK);
  equal(other.p.isExpectContinue, false);
});

Deno.test("http1: Host: one is read, two are refused, none is accepted (as hyper)", () => {
  equal(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n").r, 400);
  equal(parse("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n").r, 400);
  const none = parse("GET / HTTP/1.1\r\n\r\n");
  equal(none.r, HEAD_OK);
  equal(none.p.hostText(none.b), null);
});

Deno.test("http1: a bare CR anywhere in a head is refused; bare LF line ends are not", () => {
  for (
    const bad of [
      "GET / HTTP/1.1\rHost: a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\n\r\r\n",
      "\rGET / HTTP/1.1\r\n\r\n",
      "GET /\r HTTP/1.1\r\n\r\n",
    ]
  ) equal(parse(bad).r, 400, JSON.stringify(bad));
  equal(parse("GET / HTTP/1.1\nHost: a\n\n").r, HEAD_OK);
});

Deno.test("http1: malformed request lines and header lines are refused with 400 (HTTP/2 too, as hyper)", () => {
  for (
    const bad of [
      "GARBAGE\r\n\r\n",
      "GET\r\n\r\n",
      " GET / HTTP/1.1\r\n\r\n",
      "GET  / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1 extra\r\n\r\n",
      "GET / HTTX/1.1\r\n\r\n",
      "GET / HTTP/1.x\r\n\r\n",
      "GE(T / HTTP/1.1\r\n\r\n",
      "GET /a\tb HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
      "GET / HTTP/1.1\r\nName : v\r\n\r\n",
      "GET / HTTP/1.1\r\n: v\r\n\r\n",
      "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
      "GET / HTTP/1.1\r\nA: b\x00c\r\n\r\n",
    ]
  ) equal(parse(bad).r, 400, JSON.stringify(bad));
  equal(parse("GET / HTTP/2.0\r\n\r\n").r, 400);
  equal(parse("GET / HTTP/1.2\r\n\r\n").r, 400);
});

Deno.test("http1: a target with raw bytes >= 0x80 reads percent-encoded; header values keep their bytes", () => {
  const b = new Uint8Array([...enc("GET /a"), 0xc3, 0xa9, ...enc("?x=1 HTTP/1.1\r\nX-V: "), 0xe9, ...enc("\r\n\r\n")]);
  const { r, p } = parse(b);
  equal(r, HEAD_OK);
  ok(p.isTargetRaw);
  equal(p.targetText(b), "/a%C3%A9?x=1");
  equal(p.header(b, "x-v"), "\u00e9");
  equal(latin1(enc("abc"), 1, 3), "bc");
});

Deno.test("http1: repeated headers join with a comma, as Headers.get does", () => {
  const { p, b } = parse("GET / HTTP/1.1\r\nX-F: 1.2.3.4\r\nx-f: 5.6.7.8\r\n\r\n");
  equal(p.header(b, "x-f"), "1.2.3.4, 5.6.7.8");
});

Deno.test("http1: the parser is reusable: a second parse forgets the first one's headers", () => {
  const p = new RequestHeadParser();
  const a = enc("POST / HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\nHost: a\r\n\r\n");
  equal(p.parse(a, 0, 1000), HEAD_OK);
  const b = enc("GET / HTTP/1.1\r\n\r\n");
  equal(p.parse(b, 0, 1000), HEAD_OK);
  equal(p.contentLength, -1);
  equal(p.isClose, false);
  equal(p.hostText(b), null);
  deepEqual(p.headerList(b), []);
});

Deno.test("http1: parse starts at an offset (pipelined requests)", () => {
  const two = enc("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
  const p = new RequestHeadParser();
  equal(p.parse(two, 0, 1000), HEAD_OK);
  equal(p.targetText(two), "/1");
  equal(p.parse(two, p.headEnd, 1000), HEAD_OK);
  equal(p.targetText(two), "/2");
  equal(p.headEnd, two.length);
});

Deno.test("http1: chunked bodies decode with extensions and trailers; partial, malformed and oversized ones", () => {
  const body = enc("4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: t\r\n\r\nNEXT");
  const r = decodeChunked(body, 0, 1000);
  ok(typeof r !== "number");
  equal(new TextDecoder().decode(r.body), "Wikipedia in\r\n\r\nchunks.");
  equal(r.end, body.length - 4);
  // Chunk lines end in CRLF: a bare LF is refused (hyper never completes such a body).
  for (const bare of ["3\nabc\r\n0\r\n\r\n", "3\r\nabc\n0\r\n\r\n", "0\n\r\n", "0\r\nT: 1\n\r\n", "0\r\n\n"]) {
    equal(decodeChunked(enc(bare), 0, 1000), 400, JSON.stringify(bare));
  }
  // Trailers: MAX_CHUNK_LINE bytes for all of them together.
  equal(decodeChunked(enc("0\r\n" + "T: 1\r\n".repeat(1000) + "\r\n"), 0, 1000), 400);
  for (const partial of ["4\r\nWi", "4\r\nWiki", "4\r\nWiki\r", "4\r\nWiki\r\n0\r\n", "4"]) {
    equal(decodeChunked(enc(partial), 0, 1000), HEAD_INCOMPLETE, partial);
  }
  equal(decodeChunked(enc("zz\r\nab\r\n"), 0, 1000), 400);
  equal(decodeChunked(enc("3\r\nabcX\r\n"), 0, 1000), 400);
  equal(decodeChunked(enc("123456789\r\n"), 0, 1000), 400);
  equal(decodeChunked(enc("a\r\n0123456789\r\n0\r\n\r\n"), 0, 5), 413);
  equal(decodeChunked(enc("1".repeat(5000)), 0, 1000), 400);
});

Deno.test("http1: response heads write their own framing headers and drop the handler's", () => {
  const head = responseHead(
    404,
    [["content-type", "text/plain"], ["Content-Length", "99"], ["connection", "keep-alive"], ["x-a", "b"]],
    7,
    "close",
    "Thu, 03 Dec 2026 14:00:00 GMT",
  );
  equal(
    head,
    "HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\nx-a: b\r\ndate: Thu, 03 Dec 2026 14:00:00 GMT\r\n" +
      "content-length: 7\r\nconnection: close\r\n\r\n",
  );
  const noBody = responseHead(204, [], 0, "", "D");
  equal(noBody, "HTTP/1.1 204 No Content\r\ndate: D\r\n\r\n");
  ok(isBodiless(304) && isBodiless(100) && !isBodiless(200));
  equal(reasonPhrase(431), "Request Header Fields Too Large");
  equal(reasonPhrase(299), "Status");
});

Deno.test("http1: a chunked body arriving a byte at a time decodes as in one piece, resuming where it stopped", () => {
  const whole = enc("5;x=y\r\nhello\r\n1\r\n \r\n6\r\nworld!\r\n0\r\nT: 1\r\n\r\nNEXT");
  const at = 3;
  const buf = new Uint8Array(at + whole.length);
  buf.set(whole, at);
  const once = decodeChunked(buf, at, 1000);
  ok(typeof once !== "number");
  for (const step of [1, 2, 7]) {
    const state = createChunkState();
    let got: ReturnType<typeof decodeChunked> = HEAD_INCOMPLETE;
    let calls = 0;
    for (let n = at + 1; got === HEAD_INCOMPLETE && n <= buf.length; n = Math.min(n + step, buf.length + 1)) {
      got = decodeChunked(buf.subarray(0, Math.min(n, buf.length)), at, 1000, state);
      calls++;
    }
    ok(typeof got !== "number", `step ${step}: ${got}`);
    equal(new TextDecoder().decode(got.body), "hello world!");
    equal(got.end, once.end);
    ok(calls > 1);
  }
  // The size limit holds across calls.
  const state = createChunkState();
  equal(decodeChunked(enc("3\r\nabc\r\n"), 0, 5, state), HEAD_INCOMPLETE);
  equal(decodeChunked(enc("3\r\nabc\r\n3\r\n"), 0, 5, state), 413);
});

Deno.test("http1: hasHeadEnd finds the empty line that ends a head, from a resume point", () => {
  ok(hasHeadEnd(enc("GET / HTTP/1.1\r\nA: b\r\n\r\n"), 0));
  ok(hasHeadEnd(enc("GET / HTTP/1.1\n\n"), 0));
  equal(hasHeadEnd(enc("GET / HTTP/1.1\r\nA: b\r\n"), 0), false);
  equal(hasHeadEnd(enc("GET / HTTP/1.1\r\nA: b\r\n\r"), 0), false);
  // Resuming two bytes before the old end still sees a terminator that straddles it.
  const b = enc("GET / HTTP/1.1\r\nA: b\r\n\r\n");
  ok(hasHeadEnd(b, b.length - 4));
  equal(hasHeadEnd(b, b.length - 1), false);
});
