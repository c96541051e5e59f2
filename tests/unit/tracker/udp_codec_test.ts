import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { readFixture } from "../../_helpers/tmp.ts";
import { fromHex, fromUtf8, toHex, utf8 } from "../../../lib/bytes.ts";
import {
  createConnectionIdIssuer,
  decodeUdpReply,
  decodeUdpRequest,
  encodeUdpReply,
  encodeUdpRequest,
  UDP_MAX_SCRAPE_HASHES,
  type UdpEvent,
  type UdpReply,
  type UdpRequest,
} from "../../../lib/tracker/udp_codec.ts";

// deno-lint-ignore no-explicit-any
type Sidecar = Record<string, any>;

function fixture(name: string): { bytes: Uint8Array; values: Sidecar } {
  return {
    bytes: readFixture(`udp/${name}.bin`),
    values: JSON.parse(fromUtf8(readFixture(`udp/${name}.json`))),
  };
}

function hex(text: string): Uint8Array {
  const b = fromHex(text);
  if (b === null) throw new Error(`bad hex ${text}`);
  return b;
}

function requestFromSidecar(v: Sidecar): UdpRequest {
  switch (v.type) {
    case "connect":
      return { type: "connect", transactionId: v.transactionId };
    case "announce":
      return {
        type: "announce",
        connectionId: hex(v.connectionIdHex),
        transactionId: v.transactionId,
        infoHash: hex(v.infoHashHex),
        peerId: hex(v.peerIdHex),
        downloaded: v.downloaded,
        left: v.left,
        uploaded: v.uploaded,
        event: v.event as UdpEvent,
        ip: v.ip,
        key: v.key,
        numWant: v.numWant,
        port: v.port,
        urlData: utf8(v.urlData),
      };
    case "scrape":
      return {
        type: "scrape",
        connectionId: hex(v.connectionIdHex),
        transactionId: v.transactionId,
        infoHashes: (v.infoHashesHex as string[]).map(hex),
      };
  }
  throw new Error(`unknown sidecar type ${v.type}`);
}

function replyFromSidecar(v: Sidecar): UdpReply {
  switch (v.type) {
    case "connect":
      return { type: "connect", transactionId: v.transactionId, connectionId: hex(v.connectionIdHex) };
    case "announce":
      return {
        type: "announce",
        transactionId: v.transactionId,
        interval: v.interval,
        leechers: v.leechers,
        seeders: v.seeders,
        peers: hex(v.peersHex),
      };
    case "scrape":
      return { type: "scrape", transactionId: v.transactionId, files: v.files };
    case "error":
      return { type: "error", transactionId: v.transactionId, message: v.message };
  }
  throw new Error(`unknown sidecar type ${v.type}`);
}

// Byte arrays compared as hex so subarray views and copies compare equal.
function normalize(value: unknown): unknown {
  if (value instanceof Uint8Array) return toHex(value);
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]));
  }
  return value;
}

const REQUEST_FIXTURES = [
  "connect_request",
  "announce_request",
  "announce_request_bep41",
  "announce_request_urldata",
  "scrape_request",
  "libtorrent_connect_request",
  "libtorrent_announce_request",
];
const REPLY_FIXTURES = ["connect_reply", "announce_reply_ipv4", "announce_reply_ipv6", "scrape_reply", "error_reply"];
// Fixtures laid out exactly as our encoder writes them (the others differ only in option layout).
const CANONICAL_REQUESTS = ["connect_request", "announce_request", "announce_request_urldata", "scrape_request"];

for (const name of REQUEST_FIXTURES) {
  Deno.test(`decodeUdpRequest() decodes golden ${name}`, () => {
    const { bytes, values } = fixture(name);
    const decoded = decodeUdpRequest(bytes);
    equal(decoded.type, "request");
    if (decoded.type !== "request") return;
    deepEqual(normalize(decoded.request), normalize(requestFromSidecar(values)));
  });
}

for (const name of CANONICAL_REQUESTS) {
  Deno.test(`encodeUdpRequest() writes golden ${name}`, () => {
    const { bytes, values } = fixture(name);
    equal(toHex(encodeUdpRequest(requestFromSidecar(values))), toHex(bytes));
  });
}

Deno.test("encodeUdpRequest() output of the libtorrent announce decodes to the same values", () => {
  const { values } = fixture("libtorrent_announce_request");
  const request = requestFromSidecar(values);
  const decoded = decodeUdpRequest(encodeUdpRequest(request));
  ok(decoded.type === "request");
  deepEqual(normalize(decoded.request), normalize(request));
});

for (const name of REPLY_FIXTURES) {
  Deno.test(`decodeUdpReply() decodes golden ${name}`, () => {
    const { bytes, values } = fixture(name);
    deepEqual(normalize(decodeUdpReply(bytes)), normalize(replyFromSidecar(values)));
  });
  Deno.test(`encodeUdpReply() writes golden ${name}`, () => {
    const { bytes, values } = fixture(name);
    equal(toHex(encodeUdpReply(replyFromSidecar(values))), toHex(bytes));
  });
}

function announceBytes(): Uint8Array {
  return fixture("announce_request").bytes;
}

function patched(bytes: Uint8Array, at: number, values: number[]): Uint8Array {
  const out = bytes.slice();
  out.set(values, at);
  return out;
}

const CONNECT = fixture("connect_request").bytes;
const SCRAPE = fixture("scrape_request").bytes;

const MALFORMED: { name: string; packet: Uint8Array }[] = [
  { name: "empty", packet: new Uint8Array(0) },
  { name: "short (15 bytes)", packet: CONNECT.subarray(0, 15) },
  { name: "bad magic", packet: patched(CONNECT, 0, [0, 0, 4, 0x18]) },
  { name: "unknown action 4", packet: patched(CONNECT, 8, [0, 0, 0, 4]) },
  { name: "error action from a client", packet: patched(CONNECT, 8, [0, 0, 0, 3]) },
  { name: "huge action", packet: patched(CONNECT, 8, [0xff, 0xff, 0xff, 0xff]) },
  { name: "announce truncated to 97 bytes", packet: announceBytes().subarray(0, 97) },
  { name: "announce with event 4", packet: patched(announceBytes(), 80, [0, 0, 0, 4]) },
  { name: "announce with a truncated URL data option", packet: Uint8Array.of(...announceBytes(), 2, 10, 0x2f) },
  { name: "announce with an option type but no length", packet: Uint8Array.of(...announceBytes(), 2) },
  { name: "scrape without hashes", packet: SCRAPE.subarray(0, 16) },
  { name: "truncated scrape (one hash + 19 bytes)", packet: SCRAPE.subarray(0, 16 + 39) },
  { name: "truncated scrape (one hash + 1 byte)", packet: SCRAPE.subarray(0, 16 + 21) },
];

for (const { name, packet } of MALFORMED) {
  Deno.test(`decodeUdpRequest() drops a malformed packet: ${name}`, () => {
    equal(decodeUdpRequest(packet).type, "drop");
  });
}

Deno.test("decodeUdpRequest() accepts the old 100-byte announce (zero extensions = end of options)", () => {
  const d = decodeUdpRequest(Uint8Array.of(...announceBytes(), 0, 0));
  ok(d.type === "request" && d.request.type === "announce");
  equal(d.request.urlData.length, 0);
});

Deno.test("decodeUdpRequest() skips unknown BEP 41 options by their length byte and concatenates URL data", () => {
  const packet = Uint8Array.of(...announceBytes(), 2, 2, 0x2f, 0x61, 9, 3, 1, 2, 3, 1, 2, 1, 0x62);
  const d = decodeUdpRequest(packet);
  ok(d.type === "request" && d.request.type === "announce");
  equal(fromUtf8(d.request.urlData), "/ab");
});

Deno.test("decodeUdpRequest() clamps 64-bit counters past 2^53 and reads numWant as signed", () => {
  const all = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
  const d = decodeUdpRequest(patched(announceBytes(), 64, all));
  ok(d.type === "request" && d.request.type === "announce");
  equal(d.request.left, Number.MAX_SAFE_INTEGER);
  equal(d.request.numWant, -1);
  const exact = decodeUdpRequest(patched(announceBytes(), 56, [0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
  ok(exact.type === "request" && exact.request.type === "announce");
  equal(exact.request.downloaded, Number.MAX_SAFE_INTEGER);
});

Deno.test(`decodeUdpRequest() answers a scrape of more than ${UDP_MAX_SCRAPE_HASHES} hashes with an error`, () => {
  const request: UdpRequest = {
    type: "scrape",
    connectionId: new Uint8Array(8),
    transactionId: 99,
    infoHashes: Array.from({ length: UDP_MAX_SCRAPE_HASHES + 1 }, () => new Uint8Array(20)),
  };
  const d = decodeUdpRequest(encodeUdpRequest(request));
  ok(d.type === "error");
  equal(d.transactionId, 99);
  const max = decodeUdpRequest(encodeUdpRequest({ ...request, infoHashes: request.infoHashes.slice(1) }));
  ok(max.type === "request" && max.request.type === "scrape");
  equal(max.request.infoHashes.length, UDP_MAX_SCRAPE_HASHES);
});

Deno.test("decodeUdpRequest() with an issuer: a wrong connection id is dropped, with no error reply (#19)", () => {
  const issuer = createConnectionIdIssuer({ secret: utf8("s3cret"), now: () => 1_000_000 });
  const id = issuer.issue("127.0.0.1", 40000);
  const values = fixture("announce_request").values;
  const good = encodeUdpRequest({ ...requestFromSidecar(values), connectionId: id } as UdpRequest);
  const opts = { connectionIds: issuer, address: "127.0.0.1", port: 40000 };
  equal(decodeUdpRequest(good, opts).type, "request");
  deepEqual(decodeUdpRequest(announceBytes(), opts), { type: "drop", reason: "bad connection id" });
  equal(decodeUdpRequest(good, { ...opts, port: 40001 }).type, "drop");
  equal(decodeUdpRequest(SCRAPE, opts).type, "drop");
  equal(decodeUdpRequest(CONNECT, opts).type, "request");
});

Deno.test("decodeUdpRequest() checks the connection id before a scrape's hash limit: no error to a bad id (#19)", () => {
  const issuer = createConnectionIdIssuer({ secret: utf8("s3cret"), now: () => 1_000_000 });
  const opts = { connectionIds: issuer, address: "127.0.0.1", port: 40000 };
  const tooMany = (connectionId: Uint8Array) =>
    encodeUdpRequest({
      type: "scrape",
      connectionId,
      transactionId: 7,
      infoHashes: Array.from({ length: UDP_MAX_SCRAPE_HASHES + 1 }, () => new Uint8Array(20)),
    });
  equal(decodeUdpRequest(tooMany(new Uint8Array(8).fill(1)), opts).type, "drop");
  equal(decodeUdpRequest(tooMany(issuer.issue("127.0.0.1", 40000)), opts).type, "error");
});

Deno.test("decodeUdpReply() returns null for junk", () => {
  equal(decodeUdpReply(new Uint8Array(7)), null);
  equal(decodeUdpReply(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 1, 1)), null);
  equal(decodeUdpReply(Uint8Array.of(0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0)), null);
  equal(decodeUdpReply(Uint8Array.of(0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0)), null);
  equal(decodeUdpReply(Uint8Array.of(0, 0, 0, 9, 0, 0, 0, 1)), null);
});

Deno.test("encodeUdpRequest() splits URL data longer than 255 bytes over several options", () => {
  const values = fixture("announce_request").values;
  const urlData = utf8("/announce?x=" + "a".repeat(600));
  const packet = encodeUdpRequest({ ...requestFromSidecar(values), urlData } as UdpRequest);
  equal(packet.length, 98 + urlData.length + 3 * 2 + 1);
  const d = decodeUdpRequest(packet);
  ok(d.type === "request" && d.request.type === "announce");
  equal(fromUtf8(d.request.urlData), fromUtf8(urlData));
});

Deno.test("encodeUdpReply() clamps counts to 32 bits and caps the error message", () => {
  const reply = encodeUdpReply({
    type: "announce",
    transactionId: 1,
    interval: -5,
    leechers: 2 ** 40,
    seeders: 1.5,
    peers: new Uint8Array(0),
  });
  equal(toHex(reply.subarray(8)), "00000000ffffffff00000001");
  const err = encodeUdpReply({ type: "error", transactionId: 1, message: "x".repeat(5000) });
  ok(err.length <= 8 + 512);
});

Deno.test("encodeUdpReply() cuts a long error message on a UTF-8 character boundary (#19, found by fuzzing)", () => {
  // 171 three-byte characters are 513 bytes: a byte cut at 512 would split the last one into U+FFFD.
  const message = "€".repeat(171);
  const packet = encodeUdpReply({ type: "error", transactionId: 7, message });
  const back = decodeUdpReply(packet);
  ok(back?.type === "error");
  equal(back.message, "€".repeat(170));
  equal(packet.length, 8 + 510);
});
