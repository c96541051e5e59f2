// Fuzz target: the UDP tracker codec (lib/tracker/udp_codec.ts), requests and replies. Every datagram goes through
// both decoders, which never throw (junk is "drop" or null). Properties: what decodes re-encodes to a datagram that
// decodes to the same value; random request and reply values survive encode then decode.

import { fromLatin1, toHex, utf8 } from "../../lib/bytes.ts";
import {
  type ConnectionIdVerifier,
  decodeUdpReply,
  decodeUdpRequest,
  encodeUdpReply,
  encodeUdpRequest,
  MAX_ERROR_MESSAGE_BYTES,
  MAX_URL_DATA_BYTES,
  type UdpReply,
  type UdpRequest,
} from "../../lib/tracker/udp_codec.ts";
import { expect, type FuzzTarget, oneOf, pick, type Random } from "./_harness.ts";

const U32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff];
const COUNTERS = [0, 1, 2 ** 32, 2 ** 53 - 1];

function bytes(random: Random, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = pick(random, 256);
  return out;
}

function u32(random: Random): number {
  return random() < 0.8 ? pick(random, 2 ** 32) : oneOf(random, U32);
}

function counter(random: Random): number {
  return random() < 0.8 ? pick(random, 2 ** 40) : oneOf(random, COUNTERS);
}

function randomRequest(random: Random): UdpRequest {
  switch (pick(random, 3)) {
    case 0:
      return { type: "connect", transactionId: u32(random) };
    case 1:
      return {
        type: "announce",
        connectionId: bytes(random, 8),
        transactionId: u32(random),
        infoHash: bytes(random, 20),
        peerId: bytes(random, 20),
        downloaded: counter(random),
        left: counter(random),
        uploaded: counter(random),
        event: pick(random, 4) as 0 | 1 | 2 | 3,
        ip: u32(random),
        key: u32(random),
        numWant: random() < 0.2 ? -1 : pick(random, 500),
        port: pick(random, 65536),
        urlData: random() < 0.5
          ? new Uint8Array(0)
          : fromLatin1("/announce?passkey=".padEnd(pick(random, MAX_URL_DATA_BYTES), "x")),
      };
    default:
      return {
        type: "scrape",
        connectionId: bytes(random, 8),
        transactionId: u32(random),
        infoHashes: Array.from({ length: 1 + pick(random, 74) }, () => bytes(random, 20)),
      };
  }
}

function randomReply(random: Random): UdpReply {
  switch (pick(random, 4)) {
    case 0:
      return { type: "connect", transactionId: u32(random), connectionId: bytes(random, 8) };
    case 1:
      return {
        type: "announce",
        transactionId: u32(random),
        interval: u32(random),
        leechers: u32(random),
        seeders: u32(random),
        peers: bytes(random, 6 * pick(random, 30)),
      };
    case 2:
      return {
        type: "scrape",
        transactionId: u32(random),
        files: Array.from({ length: pick(random, 74) }, () => ({
          seeders: u32(random),
          completed: u32(random),
          leechers: u32(random),
        })),
      };
    default: {
      // Messages near the byte cap, with multi-byte characters that a cut could split.
      const unit = oneOf(random, ["a", "é", "€", "😀", "Connection ID mismatch "]);
      return { type: "error", transactionId: u32(random), message: unit.repeat(pick(random, 600)) };
    }
  }
}

function generate(random: Random): Uint8Array {
  return random() < 0.5 ? encodeUdpRequest(randomRequest(random)) : encodeUdpReply(randomReply(random)).slice();
}

/** A value as comparable text (byte fields as hex). */
function show(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (v instanceof Uint8Array ? toHex(v) : v));
}

/**
 * `back` is what `sent` became on the wire: the same, except that an error message is cut to MAX_ERROR_MESSAGE_BYTES
 * (on a character boundary: the cut text is a prefix of the message).
 */
function sameReply(back: UdpReply | null, sent: UdpReply): boolean {
  if (back?.type === "error" && sent.type === "error") {
    const cut = utf8(back.message).length;
    return back.transactionId === sent.transactionId && sent.message.startsWith(back.message) &&
      cut <= MAX_ERROR_MESSAGE_BYTES && (cut === utf8(sent.message).length || cut > MAX_ERROR_MESSAGE_BYTES - 4);
  }
  return show(back) === show(sent);
}

const verifier: ConnectionIdVerifier = { verify: (id) => (id[0]! & 1) === 0 };

function check(input: Uint8Array, random: Random): void {
  const options = random() < 0.5 ? {} : { connectionIds: verifier, address: "127.0.0.1", port: 6881 };
  const decoded = decodeUdpRequest(input, options);
  expect(["request", "drop", "error"].includes(decoded.type), "decodeUdpRequest() result type");
  if (decoded.type === "request") {
    const again = decodeUdpRequest(encodeUdpRequest(decoded.request));
    expect(again.type === "request", "a decoded request re-encodes to a request");
    expect(show(again.request) === show(decoded.request), "request decode(encode(decode(x))) === decode(x)");
  }
  const reply = decodeUdpReply(input);
  if (reply !== null) {
    const again = decodeUdpReply(encodeUdpReply(reply).slice());
    expect(sameReply(again, reply), `reply decode(encode(decode(x))) === decode(x): ${show(again)} / ${show(reply)}`);
  }

  const request = randomRequest(random);
  const r = decodeUdpRequest(encodeUdpRequest(request));
  expect(r.type === "request" && show(r.request) === show(request), "request value round trip");
  const value = randomReply(random);
  const back = decodeUdpReply(encodeUdpReply(value).slice());
  expect(sameReply(back, value), `reply value round trip: ${show(back).slice(-200)}`);
}

/** The UDP tracker codec target (requests and replies). */
export const udpTarget: FuzzTarget = { name: "udp", generate, check };
