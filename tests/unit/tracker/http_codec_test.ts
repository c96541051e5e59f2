import { deepEqual, equal } from "../../_helpers/assert.ts";
import { assertThrowsCode } from "../../_helpers/assert.ts";
import { fromHex, fromLatin1, percentEncode, utf8 } from "../../../lib/bytes.ts";
import { TrackerError } from "../../../lib/errors.ts";
import {
  AnnounceQueryParser,
  hasAnnounceParams,
  parseAnnounceQuery,
  parseScrapeQuery,
} from "../../../lib/tracker/http_codec.ts";
import { keyFromBytes } from "../../../lib/tracker/announce.ts";

const HASH = fromHex("00202b4142ff7e2e2d5f0a0d2526265c3d3f2300")!;
const PEER = utf8("-qB4650-abcdefghijkl");
const BASE = `peer_id=${percentEncode(PEER)}&port=6881&uploaded=0&downloaded=0&left=100`;

Deno.test("parseAnnounceQuery() decodes info_hash byte-exactly (%00, %20, +, lower and upper escapes)", () => {
  const q = `info_hash=${percentEncode(HASH)}&${BASE}`;
  const req = parseAnnounceQuery(q);
  deepEqual(req.infoHash, HASH);
  deepEqual(req.peerId, PEER);
  equal(req.port, 6881);
  equal(req.left, 100);
  equal(req.event, "none");
  equal(req.numWant, 50);
  equal(req.isCompact, true);
  // Raw `+` is a literal 0x2b byte, `%20` is 0x20, mixed-case escapes agree.
  const plus = parseAnnounceQuery(`info_hash=%00%20+AB%ff~.-_%0A%0d%25%26%26%5C%3d%3F%23%00&${BASE}`);
  deepEqual(plus.infoHash, HASH);
  const upper = parseAnnounceQuery(`info_hash=%00%20%2BAB%FF%7E.-_%0a%0D%25%26%26%5c%3D%3f%23%00&${BASE}`);
  deepEqual(upper.infoHash, HASH);
});

Deno.test("parseAnnounceQuery() reads every BEP 3 field", () => {
  const req = parseAnnounceQuery(
    `info_hash=${percentEncode(HASH)}&${BASE}&event=completed&numwant=80&compact=0&no_peer_id=1&ip=10.0.0.1` +
      `&key=ab12&trackerid=t1&corrupt=0`,
  );
  equal(req.event, "completed");
  equal(req.numWant, 80);
  equal(req.isCompact, false);
  equal(req.isNoPeerId, true);
  equal(req.ipParam, "10.0.0.1");
  equal(req.key, 0xab12, "hex digits are the key's value (as a UDP key)");
  equal(req.trackerId, "t1");
});

Deno.test("parseAnnounceQuery() with start parses the query inside a whole URL exactly as the query alone", () => {
  const query = `info_hash=${percentEncode(HASH)}&${BASE}&event=started&numwant=7&key=k1&ip=10.0.0.2`;
  const url = `http://127.0.0.1:6969/announce?${query}`;
  deepEqual(parseAnnounceQuery(url, { start: url.indexOf("?") + 1 }), parseAnnounceQuery(query));
  // The length cap counts the query only, not what comes before it.
  const long = `info_hash=${percentEncode(HASH)}&${BASE}&pad=${"x".repeat(16_000)}`;
  equal(parseAnnounceQuery(`http://h/announce?${long}`, { start: 18 }).numWant, 50);
  assertThrowsCode(() => parseAnnounceQuery(`${long}${"y".repeat(400)}`), TrackerError, "query_too_long");
});

Deno.test("parseAnnounceQuery() maps events, tolerating paused, empty and unknown", () => {
  const ev = (e: string) => parseAnnounceQuery(`info_hash=${percentEncode(HASH)}&${BASE}&event=${e}`).event;
  equal(ev("started"), "started");
  equal(ev("stopped"), "stopped");
  equal(ev("paused"), "paused");
  equal(ev(""), "none");
  equal(ev("bogus"), "none");
});

Deno.test("parseAnnounceQuery() clamps negative and huge numbers", () => {
  const req = parseAnnounceQuery(
    `info_hash=${percentEncode(HASH)}&peer_id=${percentEncode(PEER)}&port=1&uploaded=-5&downloaded=` +
      `99999999999999999999999&left=9223372036854775807&numwant=100000`,
  );
  equal(req.uploaded, 0);
  equal(req.downloaded, Number.MAX_SAFE_INTEGER);
  equal(req.left, Number.MAX_SAFE_INTEGER);
  equal(req.numWant, 200);
  equal(parseAnnounceQuery(`info_hash=${percentEncode(HASH)}&${BASE}&numwant=-1`).numWant, 50);
  equal(parseAnnounceQuery(`info_hash=${percentEncode(HASH)}&${BASE}&numwant=500`, { numWantMax: 30 }).numWant, 30);
});

Deno.test("parseAnnounceQuery() refuses malformed requests with one code each", () => {
  const h = percentEncode(HASH);
  const p = percentEncode(PEER);
  const cases: [string, string][] = [
    [`${BASE}`, "missing_info_hash"],
    [`info_hash=${h}&port=1&left=0`, "missing_peer_id"],
    [`info_hash=${h}&peer_id=${p}&left=0`, "missing_port"],
    [`info_hash=${h}&peer_id=${p}&port=1`, "missing_left"],
    [`info_hash=${h.slice(0, -3)}&${BASE}`, "invalid_info_hash"], // 19 bytes
    [`info_hash=${h}%41&${BASE}`, "invalid_info_hash"], // 21 bytes
    [`info_hash=%zz${h.slice(3)}&${BASE}`, "invalid_info_hash"],
    [`info_hash=${h}&peer_id=abc&port=1&left=0`, "invalid_peer_id"],
    [`info_hash=${h}&peer_id=${p}&port=0&left=0`, "invalid_port"],
    [`info_hash=${h}&peer_id=${p}&port=65536&left=0`, "invalid_port"],
    [`info_hash=${h}&peer_id=${p}&port=-1&left=0`, "invalid_port"],
    [`info_hash=${h}&peer_id=${p}&port=x&left=0`, "invalid_port"],
    [`info_hash=${h}&peer_id=${p}&port=1&left=1e5`, "invalid_left"],
    [`info_hash=${h}&peer_id=${p}&port=1&left=`, "invalid_left"],
    [`info_hash=${h}&${BASE}&uploaded=12a`, "invalid_uploaded"],
    [`info_hash=${h}&${BASE}&numwant=ten`, "invalid_numwant"],
    [`info_hash=${h}&${BASE}&x=${"a".repeat(20_000)}`, "query_too_long"],
  ];
  for (const [q, code] of cases) assertThrowsCode(() => parseAnnounceQuery(q), TrackerError, code);
});

Deno.test("parseScrapeQuery() collects every info_hash once, in order", () => {
  const a = new Uint8Array(20).fill(1);
  const b = new Uint8Array(20).fill(0x2b);
  const hashes = parseScrapeQuery(
    `info_hash=${percentEncode(a)}&info_hash=${"+".repeat(20)}&info_hash=${percentEncode(a)}`,
  );
  deepEqual(hashes, [a, b]);
  deepEqual(parseScrapeQuery(""), []);
  assertThrowsCode(() => parseScrapeQuery("info_hash=abc"), TrackerError, "invalid_info_hash");
  const many = Array.from({ length: 201 }, (_, i) => `info_hash=${percentEncode(new Uint8Array(20).fill(i))}`);
  assertThrowsCode(() => parseScrapeQuery(many.join("&")), TrackerError, "too_many_hashes");
});

Deno.test("hasAnnounceParams() tells an announce from a dashboard visit", () => {
  equal(hasAnnounceParams(""), false);
  equal(hasAnnounceParams("refresh=1"), false);
  equal(hasAnnounceParams("info_hash=x&port=1"), true);
  equal(hasAnnounceParams("port=1&info_hash=x"), true);
});

Deno.test("parseAnnounceQuery() refuses percent escapes with non-hex or wide characters", () => {
  for (const bad of ["%G0", "%0\u0130", "%\u0230A", "\u0100"]) {
    const hash = percentEncode(HASH.subarray(0, 18)) + bad + "a";
    assertThrowsCode(() => parseAnnounceQuery(`info_hash=${hash}&${BASE}`), TrackerError, "invalid_info_hash");
  }
});

/** `text` as one byte per char (every char here is <= U+00FF). */
const bytesOf = (s: string) => fromLatin1(s);

/** Percent-encode each char >= 0x80 of `s`, as URL parsing does to a raw byte in a request target. */
const escapeHigh = (s: string) => s.replace(/[\x80-\xff]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

Deno.test("AnnounceQueryParser.parse() on raw bytes agrees with parseAnnounceQuery() on the escaped text", () => {
  const rawHash = "\x80\xff\xc3(" + "a".repeat(16);
  const rawPeer = "-XX0001-\xe9\xe9\xe9" + "b".repeat(9);
  const queries = [
    `info_hash=${percentEncode(HASH)}&${BASE}`,
    `info_hash=${rawHash}&peer_id=${rawPeer}&port=6881&left=0&event=completed&key=k\xe9y&ip=h\xf6st&trackerid=\xff`,
    `info_hash=${rawHash}&${BASE}&numwant=300&compact=0&no_peer_id=1&uploaded=-3&downloaded=99999999999999999999`,
    `peer_id=${percentEncode(PEER)}&info_hash=${percentEncode(HASH)}&info_hash=%00&left=5&port=1&event=paused&x`,
  ];
  const parser = new AnnounceQueryParser();
  for (const q of queries) {
    // A request around the query: the parser reads only [start, end).
    const wire = bytesOf(`GET /announce?${q} HTTP/1.1`);
    const got = parser.parse(wire, 14, wire.length - 9, 200);
    const want = parseAnnounceQuery(escapeHigh(q));
    deepEqual({ ...got, infoHash: got.infoHash.slice(), peerId: got.peerId.slice() }, {
      ipParam: undefined,
      key: undefined,
      trackerId: undefined,
      ...want,
    }, q);
  }
  // The raw bytes are the hash itself.
  deepEqual(parser.parse(bytesOf(queries[1]!), 0, queries[1]!.length).infoHash, bytesOf(rawHash));
  // Errors agree too, with the same code.
  const h = percentEncode(HASH);
  for (
    const [q, code] of [
      [`info_hash=${rawHash}\xff&${BASE}`, "invalid_info_hash"],
      [`info_hash=${h}&${BASE}&numwant=\xe9`, "invalid_numwant"],
      [`info_hash=${h}&peer_id=${percentEncode(PEER)}&port=7\xff&left=0`, "invalid_port"],
      [`info_hash=${h}&peer_id=${rawPeer}&left=0`, "missing_port"],
    ] as const
  ) {
    assertThrowsCode(() => parser.parse(bytesOf(q), 0, q.length), TrackerError, code);
    assertThrowsCode(() => parseAnnounceQuery(escapeHigh(q)), TrackerError, code);
  }
});

Deno.test("AnnounceQueryParser.parse() caps the query, key, trackerid and ip by their text length, as the text path does (#19, found by fuzzing)", () => {
  // 30 raw bytes are 90 characters of text ("%E9" each): over the 64-character cap on both paths; 21 (63) fit.
  const parser = new AnnounceQueryParser();
  for (const [n, isKept] of [[30, false], [21, true]] as const) {
    const raw = "\xe9".repeat(n);
    const q = `info_hash=${percentEncode(HASH)}&${BASE}&key=${raw}&trackerid=${raw}&ip=${raw}`;
    const got = parser.parse(bytesOf(q), 0, q.length);
    const want = parseAnnounceQuery(escapeHigh(q));
    const kept = isKept ? "%E9".repeat(n) : undefined;
    const key = isKept ? keyFromBytes(bytesOf(kept!), 0, 3 * n) : undefined;
    deepEqual([got.key, got.trackerId, got.ipParam], [key, kept, kept], `${n} raw bytes, bytes path`);
    deepEqual([want.key, want.trackerId, want.ipParam], [key, kept, kept], `${n} raw bytes, text path`);
  }
  // The query's own cap too: 5,500 raw bytes are 16,500 characters of text, over MAX_QUERY_CHARS (16,384).
  const q = `info_hash=${percentEncode(HASH)}&${BASE}&pad=${"\xe9".repeat(5500)}`;
  assertThrowsCode(() => parser.parse(bytesOf(q), 0, q.length), TrackerError, "query_too_long");
  assertThrowsCode(() => parseAnnounceQuery(escapeHigh(q)), TrackerError, "query_too_long");
});

Deno.test("AnnounceQueryParser refuses an empty numwant at the query's end whatever byte follows it (#19, found by fuzzing)", () => {
  // The byte after `end` is not the query's: on the libc path it is the request's next byte, on the text path a stale
  // byte of the reused scratch buffer. A "-" there made the empty numwant read as "-..." (the default) instead.
  const parser = new AnnounceQueryParser();
  const q = `info_hash=${percentEncode(HASH)}&${BASE}&numwant=`;
  const b = bytesOf(q + "-1");
  assertThrowsCode(() => parser.parse(b, 0, q.length), TrackerError, "invalid_numwant");
  parser.parseText(`${q}-1&${"x".repeat(64)}`, 0);
  assertThrowsCode(() => parser.parseText(q, 0), TrackerError, "invalid_numwant");
});

Deno.test("AnnounceQueryParser reused: no field of one request leaks into the next, even after a failure", () => {
  const parser = new AnnounceQueryParser();
  const full = `info_hash=${percentEncode(HASH)}&${BASE}&event=stopped&numwant=9&compact=0&no_peer_id=1` +
    `&ip=10.0.0.9&key=kk&trackerid=tt&uploaded=5&downloaded=6`;
  parser.parse(bytesOf(full), 0, full.length);
  assertThrowsCode(() => parser.parse(bytesOf("info_hash=%00"), 0, 13), TrackerError, "invalid_info_hash");
  const other = new Uint8Array(20).fill(7);
  const bare = `info_hash=${percentEncode(other)}&peer_id=${percentEncode(PEER)}&port=9&left=0`;
  const req = parser.parse(bytesOf(bare), 0, bare.length);
  deepEqual(req.infoHash, other);
  deepEqual(
    [req.event, req.numWant, req.isCompact, req.isNoPeerId, req.ipParam, req.key, req.trackerId, req.uploaded],
    ["none", 50, true, false, undefined, undefined, undefined, 0],
  );
  equal(req.downloaded, 0);
  // parseAnnounceQuery() hands out copies: a later parse does not change an earlier result.
  const first = parseAnnounceQuery(full);
  parseAnnounceQuery(bare);
  deepEqual(first.infoHash, HASH);
  equal(first.key, keyFromBytes(bytesOf("kk"), 0, 2));
});

Deno.test("AnnounceQueryParser.parse() caps the query's own length, not the request's", () => {
  const parser = new AnnounceQueryParser();
  const q = `info_hash=${percentEncode(HASH)}&${BASE}&pad=${"x".repeat(16_000)}`;
  const wire = bytesOf(`${"p".repeat(4000)}${q}`);
  equal(parser.parse(wire, 4000, wire.length).left, 100);
  const long = bytesOf(q + "y".repeat(400));
  assertThrowsCode(() => parser.parse(long, 0, long.length), TrackerError, "query_too_long");
});
