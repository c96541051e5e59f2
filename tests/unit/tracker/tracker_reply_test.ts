// HTTP tracker replies as the client reads them: compact, peers6 and dictionary peers, warnings, failures, scrapes.

import { assertThrowsCode, deepEqual, equal } from "../../_helpers/assert.ts";
import { encodeBencode } from "../../../lib/bencode.ts";
import { fromHex, toHex, toLatin1, utf8 } from "../../../lib/bytes.ts";
import { TrackerError } from "../../../lib/errors.ts";
import { decodeCompactPeers, parseAnnounceResponse, parseScrapeResponse } from "../../../lib/tracker/tracker_reply.ts";

function hex(text: string): Uint8Array {
  const b = fromHex(text);
  if (b === null) throw new Error(`bad hex ${text}`);
  return b;
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
