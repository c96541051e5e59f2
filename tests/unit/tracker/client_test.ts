// Pure parts of the tracker client: URLs, query building, reply parsing, the BEP 12 tier walker. No network.

import { assertRejectsCode, assertThrowsCode, deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { seededRandom } from "../../_helpers/random.ts";
import { encodeBencode } from "../../../lib/bencode.ts";
import { fromHex, toHex, toLatin1, utf8 } from "../../../lib/bytes.ts";
import { TrackerError } from "../../../lib/errors.ts";
import {
  announceToTiers,
  appendQuery,
  buildAnnounceUrl,
  decodeCompactPeers,
  formatIPv6,
  parseAnnounceResponse,
  parseScrapeResponse,
  parseTrackerUrl,
  scrapeUrlFor,
  TrackerTiers,
} from "../../../lib/tracker/client.ts";

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

Deno.test("parseAnnounceResponse() reads a compact reply with peers6, counts and intervals", () => {
  const body = encodeBencode({
    complete: 5,
    incomplete: 3,
    interval: 1800,
    "min interval": 900,
    peers: Uint8Array.of(127, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0, 80),
    peers6: hex("000000000000000000000000000000011ae1" + "20010db80000000000000000000000420050"),
    "tracker id": "tid",
  });
  const r = parseAnnounceResponse(body);
  equal(r.interval, 1800);
  equal(r.minInterval, 900);
  equal(r.complete, 5);
  equal(r.incomplete, 3);
  deepEqual(r.peers, [
    { ip: "127.0.0.1", port: 6881 },
    { ip: "10.0.0.2", port: 80 },
    { ip: "::1", port: 6881 },
    { ip: "2001:db8::42", port: 80 },
  ]);
  equal(r.warning, undefined);
  equal(new TextDecoder().decode(r.trackerId), "tid");
});

Deno.test("parseAnnounceResponse() reads the dictionary model and skips bad entries", () => {
  const peerId = utf8("-XX0001-123456789012");
  const body = encodeBencode({
    interval: 60,
    peers: [
      { ip: "192.168.1.5", port: 51413, "peer id": peerId },
      { ip: "2001:db8::1", port: 6881 },
      { ip: "tracker.example", port: 0 },
      { port: 5 },
      "junk",
    ],
  });
  const r = parseAnnounceResponse(body);
  deepEqual(r.peers, [{ ip: "192.168.1.5", port: 51413, peerId }, { ip: "2001:db8::1", port: 6881 }]);
  equal(r.complete, undefined);
});

Deno.test("parseAnnounceResponse() returns the warning message and defaults a missing interval", () => {
  const r = parseAnnounceResponse(encodeBencode({ peers: "", "warning message": "Upgrade your client" }));
  equal(r.warning, "Upgrade your client");
  equal(r.interval, 1800);
  deepEqual(r.peers, []);
});

Deno.test("parseAnnounceResponse() turns a failure reason into TrackerError tracker_failure", () => {
  const err = assertThrowsCode(
    () => parseAnnounceResponse(encodeBencode({ "failure reason": "Unregistered torrent", interval: 1800 })),
    TrackerError,
    "tracker_failure",
  );
  equal(err.reason, "Unregistered torrent");
});

Deno.test("parseAnnounceResponse() accepts unsorted keys (lenient decode)", () => {
  const r = parseAnnounceResponse(utf8("d8:intervali120e5:peers0:8:completei1ee"));
  equal(r.interval, 120);
  equal(r.complete, 1);
});

const BAD_REPLIES: [string, Uint8Array][] = [
  ["HTML", utf8("<html>nope</html>")],
  ["a list", utf8("li1ee")],
  ["peers as a number", utf8("d8:intervali1e5:peersi5ee")],
  ["truncated", utf8("d8:intervali1e5:peers6:abc")],
];
for (const [name, body] of BAD_REPLIES) {
  Deno.test(`parseAnnounceResponse() refuses ${name} with tracker_bad_response`, () => {
    assertThrowsCode(() => parseAnnounceResponse(body), TrackerError, "tracker_bad_response");
  });
}

Deno.test("parseScrapeResponse() keys counts by info hash hex", () => {
  const h1 = hex("0123456789abcdef0123456789abcdef01234567");
  const files = new Map<string, unknown>([
    [toLatin1(h1), new Map([["complete", 4], ["downloaded", 9], ["incomplete", 2]])],
    ["short", new Map([["complete", 1]])],
  ]);
  const body = encodeBencode(new Map([["files", files]]) as never);
  const m = parseScrapeResponse(body);
  deepEqual([...m.entries()], [[toHex(h1), { complete: 4, downloaded: 9, incomplete: 2 }]]);
  assertThrowsCode(() => parseScrapeResponse(encodeBencode({ x: 1 })), TrackerError, "tracker_bad_response");
  assertThrowsCode(
    () => parseScrapeResponse(encodeBencode({ "failure reason": "no" })),
    TrackerError,
    "tracker_failure",
  );
});

Deno.test("decodeCompactPeers() skips port 0 and a trailing partial entry", () => {
  deepEqual(decodeCompactPeers(Uint8Array.of(1, 2, 3, 4, 0, 0, 5, 6, 7, 8, 0, 1, 9), 4), [{ ip: "5.6.7.8", port: 1 }]);
  deepEqual(decodeCompactPeers(new Uint8Array(17), 6), []);
});

const IPV6: [string, string][] = [
  ["00000000000000000000000000000000", "::"],
  ["00000000000000000000000000000001", "::1"],
  ["20010db8000000000000000000000001", "2001:db8::1"],
  ["20010db8000000010000000000000001", "2001:db8:0:1::1"],
  ["20010db8000100000001000100010001", "2001:db8:1:0:1:1:1:1"],
  ["fe800000000000000000000000000000", "fe80::"],
  ["20010000000000010000000000000000", "2001:0:0:1::"],
  ["00000000000000000000ffff7f000001", "::ffff:127.0.0.1"],
];
for (const [bytes, text] of IPV6) {
  Deno.test(`formatIPv6() writes ${text}`, () => equal(formatIPv6(hex(bytes)), text));
}

Deno.test("TrackerTiers shuffles each tier once with the injected random, drops empties and duplicates", () => {
  const list = [["a", "b", "c", "d"], [], ["e", "a"], ["f"]];
  const t1 = new TrackerTiers(list, { random: seededRandom(7) });
  const t2 = new TrackerTiers(list, { random: seededRandom(7) });
  deepEqual(t1.tiers, t2.tiers);
  equal(t1.tiers.length, 3);
  deepEqual([...t1.tiers[0]!].sort(), ["a", "b", "c", "d"]);
  deepEqual(t1.tiers[1], ["e"]);
  deepEqual(t1.order(), [...t1.tiers[0]!, "e", "f"]);
  const always0 = new TrackerTiers([["a", "b", "c"]], { random: () => 0 });
  deepEqual(always0.tiers, [["b", "c", "a"]]);
});

Deno.test("TrackerTiers.markSuccess() moves a tracker to the front of its own tier only", () => {
  const t = new TrackerTiers([["a", "b", "c"], ["d", "e"]], { random: () => 0.999 });
  deepEqual(t.tiers, [["a", "b", "c"], ["d", "e"]]);
  t.markSuccess("c");
  deepEqual(t.tiers, [["c", "a", "b"], ["d", "e"]]);
  t.markSuccess("e");
  deepEqual(t.order(), ["c", "a", "b", "e", "d"]);
  t.markSuccess("zzz");
  deepEqual(t.order(), ["c", "a", "b", "e", "d"]);
});

Deno.test("announceToTiers() tries every tracker in order and reports why each failed", async () => {
  const t = new TrackerTiers([["wss://a/announce", "ftp://b/announce"], ["not a url"]], { random: () => 0.999 });
  const seen: string[] = [];
  await assertRejectsCode(
    () => announceToTiers(t, REQUEST, { onWarning: (url, err) => seen.push(`${url} ${err.code}`) }),
    TrackerError,
    "tracker_unreachable",
  );
  deepEqual(seen, ["wss://a/announce tracker_url", "ftp://b/announce tracker_url", "not a url tracker_url"]);
});
