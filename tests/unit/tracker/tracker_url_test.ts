// Tracker URLs: the HTTP announce query, passkey URLs, BEP 48 scrape URLs and udp:// URL parsing (BEP 41). Pure.

import { assertThrowsCode, deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { fromHex, utf8 } from "../../../lib/bytes.ts";
import { TrackerError } from "../../../lib/errors.ts";
import { appendQuery, buildAnnounceUrl, parseTrackerUrl, scrapeUrlFor } from "../../../lib/tracker/tracker_url.ts";

function hex(text: string): Uint8Array {
  const b = fromHex(text);
  if (b === null) throw new Error(`bad hex ${text}`);
  return b;
}

// Bytes 0x20 and 0x2b must never become "+" (INTEROP.md 1).
const INFO_HASH = hex("20" + "2b" + "41" + "00" + "ff" + "7e" + "2e" + "2d" + "5f" + "0123456789abcdef012345");
const PEER_ID = utf8("-BT0100-abc def+ghi");
const REQUEST = { infoHash: INFO_HASH, peerId: PEER_ID, port: 6881, uploaded: 1, downloaded: 2, left: 3 };

Deno.test("buildAnnounceUrl() percent-encodes bytes, never emits +, always asks compact=1", () => {
  const url = buildAnnounceUrl("http://t.example:6969/announce", {
    ...REQUEST,
    event: "started",
    numWant: 50,
    key: 0xabc,
  });
  equal(
    url,
    "http://t.example:6969/announce?info_hash=%20%2bA%00%ff~.-_%01%23Eg%89%ab%cd%ef%01%23E" +
      "&peer_id=-BT0100-abc%20def%2bghi&port=6881&uploaded=1&downloaded=2&left=3&compact=1&event=started" +
      "&numwant=50&key=00000abc",
  );
  ok(!url.includes("+"));
});

Deno.test("buildAnnounceUrl() appends with & to a passkey URL and sends trackerid back", () => {
  const url = buildAnnounceUrl("http://127.0.0.1:1/announce?passkey=0a1b", { ...REQUEST, trackerId: utf8("t 1") });
  ok(url.startsWith("http://127.0.0.1:1/announce?passkey=0a1b&info_hash="), url);
  ok(url.endsWith("&compact=1&trackerid=t%201"), url);
  equal(url.split("?").length, 2);
});

Deno.test("appendQuery() handles a trailing ? or &, fragments and an empty query", () => {
  equal(appendQuery("http://a/announce", "x=1"), "http://a/announce?x=1");
  equal(appendQuery("http://a/announce?", "x=1"), "http://a/announce?x=1");
  equal(appendQuery("http://a/announce?p=2&", "x=1"), "http://a/announce?p=2&x=1");
  equal(appendQuery("http://a/announce?p=2#frag", "x=1"), "http://a/announce?p=2&x=1");
  equal(appendQuery("http://a/announce", ""), "http://a/announce");
});

// BEP 48's examples, plus passkey paths.
const SCRAPE_URLS: [string, string | null][] = [
  ["http://example.com/announce", "http://example.com/scrape"],
  ["http://example.com/x/announce", "http://example.com/x/scrape"],
  ["http://example.com/announce.php", "http://example.com/scrape.php"],
  ["http://example.com/a", null],
  ["http://example.com/announce?x2%0644", "http://example.com/scrape?x2%0644"],
  ["http://example.com/announce?x=2/4", "http://example.com/scrape?x=2/4"],
  ["http://example.com/x%064announce", null],
  ["http://example.com/announce/x", null],
  ["https://t.example/0a1b2c/announce", "https://t.example/0a1b2c/scrape"],
  ["http://127.0.0.1:7/announce?passkey=ab", "http://127.0.0.1:7/scrape?passkey=ab"],
  ["http://example.com", null],
];

for (const [announceUrl, expected] of SCRAPE_URLS) {
  Deno.test(`scrapeUrlFor() maps ${announceUrl} to ${expected}`, () => {
    equal(scrapeUrlFor(announceUrl), expected);
  });
}

Deno.test("parseTrackerUrl() splits udp:// URLs into host, port and BEP 41 URL data", () => {
  const a = parseTrackerUrl("udp://127.0.0.1:6969/announce?passkey=abc");
  ok(a.type === "udp");
  equal(a.hostname, "127.0.0.1");
  equal(a.port, 6969);
  equal(new TextDecoder().decode(a.urlData), "/announce?passkey=abc");
  const b = parseTrackerUrl("udp://[::1]:80");
  ok(b.type === "udp");
  equal(b.hostname, "::1");
  equal(b.urlData.length, 0);
  const c = parseTrackerUrl("udp://tracker.example.org:1337/announce#x");
  ok(c.type === "udp");
  equal(new TextDecoder().decode(c.urlData), "/announce");
  deepEqual(parseTrackerUrl("https://t.example/announce"), { type: "http", url: "https://t.example/announce" });
});

for (const bad of ["udp://127.0.0.1/announce", "wss://t.example/announce", "not a url", "udp://h:0/"]) {
  Deno.test(`parseTrackerUrl() refuses ${bad}`, () => {
    assertThrowsCode(() => parseTrackerUrl(bad), TrackerError, "tracker_url");
  });
}
