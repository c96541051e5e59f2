// Fuzz target: the HTTP/1.1 request-head parser and chunked body decoder of the libc server (lib/tracker/http1.ts).
// Neither throws (a result is HEAD_OK, HEAD_INCOMPLETE or a status), so any exception is a bug. Properties: only the
// documented statuses; offsets inside the head; a head parsed at an offset gives the same result; a prefix of a head
// is incomplete or fails as the whole does; a chunked body decodes the same in one call and across random splits, and
// a body chunk-encoded here decodes to itself.

import { equals, fromLatin1 } from "../../lib/bytes.ts";
import {
  type ChunkedBody,
  createChunkState,
  decodeChunked,
  HEAD_INCOMPLETE,
  HEAD_OK,
  RequestHeadParser,
} from "../../lib/tracker/http1.ts";
import { expect, type FuzzTarget, oneOf, pick, type Random } from "./_harness.ts";

const HEAD_STATUSES = new Set([HEAD_OK, HEAD_INCOMPLETE, 400]);
const BODY_STATUSES = new Set([HEAD_INCOMPLETE, 400, 413]);
const METHODS = ["GET", "HEAD", "POST", "get", "PUT", "G\u00e9T", ""];
const TARGETS = ["/announce?info_hash=%00%01&port=1", "/", "/scrape", "*", "/a b", "/\u00ff\u0080raw", ""];
const VERSIONS = ["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.x", "http/1.1", "HTTP/1.12"];
const HEADERS = [
  "Host: tracker.example:6969",
  "Connection: close",
  "Connection: keep-alive, Upgrade",
  "Content-Length: 5",
  "Content-Length: 0",
  "Content-Length: 99999999999999999",
  "Transfer-Encoding: chunked",
  "Transfer-Encoding: gzip, chunked",
  "Transfer-Encoding: chunked, gzip",
  "Expect: 100-continue",
  "Expect: nope",
  "User-Agent: qBittorrent/4.6",
  " folded: x",
  "Bad Name: x",
  "X-Ctl: a\u0001b",
  "X-Empty:",
  "NoColon",
];

/** Chunk-encode `body`; with `isLoose`, one data line in ten ends in a bare LF (refused: 400). */
function chunkEncode(body: Uint8Array, random: Random, isLoose = true): string {
  let out = "";
  for (let at = 0; at < body.length;) {
    const n = Math.min(body.length - at, 1 + pick(random, 40));
    const ext = random() < 0.1 ? ";name=value" : random() < 0.05 ? " " : "";
    out += `${n.toString(16)}${ext}\r\n${String.fromCharCode(...body.subarray(at, at + n))}${
      isLoose && random() < 0.1 ? "\n" : "\r\n"
    }`;
    at += n;
  }
  return out + (random() < 0.2 ? "0\r\nTrailer: x\r\n\r\n" : "0\r\n\r\n");
}

function randomBody(random: Random): Uint8Array {
  const body = new Uint8Array(pick(random, 200));
  for (let i = 0; i < body.length; i++) body[i] = pick(random, 256);
  return body;
}

function generate(random: Random): Uint8Array {
  const eol = random() < 0.9 ? "\r\n" : "\n";
  let head = random() < 0.05 ? "\r\n" : "";
  head += `${random() < 0.9 ? "GET" : oneOf(random, METHODS)} ${oneOf(random, TARGETS)} ${
    random() < 0.8 ? "HTTP/1.1" : oneOf(random, VERSIONS)
  }${eol}`;
  for (let i = pick(random, 6); i > 0; i--) head += oneOf(random, HEADERS) + eol;
  const isChunked = random() < 0.3;
  if (isChunked) head += `Transfer-Encoding: chunked${eol}`;
  head += eol;
  if (isChunked) head += chunkEncode(randomBody(random), random);
  else if (random() < 0.2) head += "hello";
  return fromLatin1(head);
}

type HeadSnapshot = { result: number; fields?: string };

function parseHead(b: Uint8Array, at: number, maxHeadBytes: number): HeadSnapshot & { parser: RequestHeadParser } {
  const p = new RequestHeadParser();
  const result = p.parse(b, at, maxHeadBytes);
  expect(HEAD_STATUSES.has(result), `parse() result ${result} is a documented one`);
  if (result !== HEAD_OK) return { result, parser: p };
  expect(
    at <= p.methodStart && p.methodStart < p.methodEnd && p.methodEnd < p.targetStart &&
      p.targetStart < p.targetEnd && p.targetEnd < p.headEnd && p.headEnd <= b.length,
    "head offsets in order and inside the input",
  );
  for (const o of p.lines) expect(o > p.targetEnd && o < p.headEnd, "header offsets inside the head");
  // The text accessors never throw on a parsed head.
  p.methodText(b);
  p.targetText(b);
  p.hostText(b);
  p.header(b, "content-length");
  const headers = p.headerList(b);
  const fields = JSON.stringify({
    m: [p.methodStart - at, p.methodEnd - at, p.targetStart - at, p.targetEnd - at, p.headEnd - at],
    l: p.lines.map((o) => o - at),
    f: [p.isGet, p.isHead, p.isHttp10, p.isClose, p.contentLength, p.isChunked, p.isExpectContinue, p.isTargetRaw],
    h: headers,
  });
  return { result, fields, parser: p };
}

function sameBody(a: ChunkedBody | number, b: ChunkedBody | number): boolean {
  if (typeof a === "number" || typeof b === "number") return a === b;
  return a.end === b.end && equals(a.body, b.body);
}

/** decodeChunked in one call and fed growing prefixes with one state; both must agree. */
function checkChunked(b: Uint8Array, at: number, random: Random): ChunkedBody | number {
  const maxBody = oneOf(random, [64, 1024, 1 << 20]);
  const whole = decodeChunked(b, at, maxBody);
  if (typeof whole === "number") expect(BODY_STATUSES.has(whole), `decodeChunked() result ${whole} is documented`);
  else expect(whole.body.length <= maxBody && whole.end <= b.length, "body within its cap, end inside the input");
  const state = createChunkState();
  let split: ChunkedBody | number = HEAD_INCOMPLETE;
  for (let cut = at; split === HEAD_INCOMPLETE;) {
    cut = cut >= b.length ? b.length : Math.min(b.length, cut + 1 + pick(random, 48));
    split = decodeChunked(b.subarray(0, cut), at, maxBody, state);
    if (cut === b.length) break;
  }
  expect(sameBody(whole, split), "chunked body decodes the same whole and split");
  return whole;
}

function check(input: Uint8Array, random: Random): void {
  const maxHeadBytes = oneOf(random, [64, 256, 8192]);
  const head = parseHead(input, 0, maxHeadBytes);

  const junk = new Uint8Array(pick(random, 8)).fill(0x41);
  const shifted = new Uint8Array(junk.length + input.length);
  shifted.set(input, junk.length);
  const atOffset = parseHead(shifted, junk.length, maxHeadBytes);
  expect(atOffset.result === head.result && atOffset.fields === head.fields, "same head parsed at an offset");

  const headEnd = head.result === HEAD_OK ? head.parser.headEnd : input.length;
  for (let i = 0; i < 2 && headEnd > 0; i++) {
    const prefix = parseHead(input.subarray(0, pick(random, headEnd)), 0, maxHeadBytes);
    // A refused head may be refused as too large (431) when it arrives in pieces: no line end seen yet.
    expect(
      prefix.result === HEAD_INCOMPLETE ||
        (head.result !== HEAD_OK && (prefix.result === head.result || prefix.result === 431)),
      `a prefix of the head is incomplete or fails alike (prefix ${prefix.result}, whole ${head.result})`,
    );
  }
  if (head.result === HEAD_OK) {
    const whole = parseHead(input.subarray(0, headEnd), 0, maxHeadBytes);
    expect(whole.fields === head.fields, "bytes after the head do not change it");
    if (head.parser.isChunked) checkChunked(input, headEnd, random);
  } else if (random() < 0.3) {
    checkChunked(input, 0, random);
  }

  // Round trip: a random body, chunk-encoded, decodes to itself.
  if (random() < 0.2) {
    const body = randomBody(random);
    const decoded = checkChunked(fromLatin1(chunkEncode(body, random, false)), 0, random);
    expect(
      typeof decoded === "number" ? body.length > 64 && decoded === 413 : equals(decoded.body, body),
      "chunked round trip",
    );
  }
}

/** The HTTP/1.1 head and chunked body target. */
export const http1Target: FuzzTarget = {
  name: "http1",
  generate,
  check,
  alphabet: fromLatin1("\r\n: ;,0123456789abcdefHTP/."),
};
