// Fuzz target: the peer wire MessageDecoder (lib/wire/message_decoder.ts), fed its stream in random splits. Input layout:
// byte 0 = options (bit 0: fast extension negotiated, bit 1: the stream starts with a handshake), byte 1 = the
// torrent's piece count (0: unknown), then the stream. Properties: only WireError escapes; any two splits decode the
// same messages and stop at the same error; the buffer never holds more than was pushed; a stream of known messages
// decoded whole re-encodes to its own bytes; extended handshakes decode or fail with WireError.

import { concat, fromLatin1, toHex } from "../../lib/bytes.ts";
import { WireError } from "../../lib/errors.ts";
import { InfoHash } from "../../lib/infohash.ts";
import { decodeExtendedHandshake, encodeExtendedHandshake } from "../../lib/wire/extended_handshake.ts";
import { createReserved, encodeHandshake } from "../../lib/wire/handshake.ts";
import { MessageDecoder } from "../../lib/wire/message_decoder.ts";
import { encodeMessage, type WireMessage } from "../../lib/wire/messages.ts";
import { expect, expectOnly, type FuzzTarget, oneOf, pick, type Random } from "./_harness.ts";

function bytes(random: Random, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = pick(random, 256);
  return out;
}

function u32(random: Random): number {
  return random() < 0.8 ? pick(random, 5000) : oneOf(random, [0, 0x3fff, 0x4000, 0xffffffff]);
}

function randomMessage(random: Random, pieceCount: number, isFast: boolean): WireMessage {
  const span = () => ({ pieceIndex: u32(random), begin: u32(random), length: u32(random) });
  switch (pick(random, isFast ? 17 : 12)) {
    case 0:
      return { type: "keepAlive" };
    case 1:
      return { type: oneOf(random, ["choke", "unchoke", "interested", "notInterested"] as const) };
    case 2:
      return { type: "have", pieceIndex: u32(random) };
    case 3:
      return { type: "bitfield", bytes: bytes(random, Math.ceil(pieceCount / 8)) };
    case 4:
      return { type: "request", ...span() };
    case 5:
      return { type: "piece", pieceIndex: u32(random), begin: u32(random), block: bytes(random, pick(random, 300)) };
    case 6:
      return { type: "cancel", ...span() };
    case 7:
      return { type: "port", port: pick(random, 65536) };
    case 8:
    case 9: {
      const payload = random() < 0.5
        ? encodeExtendedHandshake({ extensions: new Map([["ut_metadata", 1]]), clientName: "x", listenPort: 6881 })
        : bytes(random, pick(random, 40));
      return { type: "extended", extendedId: random() < 0.5 ? 0 : pick(random, 256), payload };
    }
    case 10:
    case 11:
      return { type: "have", pieceIndex: pick(random, Math.max(1, pieceCount)) };
    case 12:
      return { type: "suggest", pieceIndex: u32(random) };
    case 13:
      return { type: oneOf(random, ["haveAll", "haveNone"] as const) };
    case 14:
      return { type: "reject", ...span() };
    default:
      return { type: "allowedFast", pieceIndex: u32(random) };
  }
}

function generate(random: Random): Uint8Array {
  const isFast = random() < 0.5;
  const hasHandshake = random() < 0.3;
  const pieceCount = random() < 0.8 ? 1 + pick(random, 255) : 0;
  const parts: Uint8Array[] = [new Uint8Array([(isFast ? 1 : 0) | (hasHandshake ? 2 : 0), pieceCount])];
  if (hasHandshake) {
    const reserved = createReserved({ isFastExtension: isFast, isExtensionProtocol: true });
    parts.push(encodeHandshake({ reserved, infoHash: new InfoHash(bytes(random, 20)), peerId: bytes(random, 20) }));
  }
  for (let i = pick(random, 12); i > 0; i--) {
    parts.push(encodeMessage(randomMessage(random, pieceCount, isFast)).slice());
  }
  if (random() < 0.05) parts.push(new Uint8Array([0, 0, 0, 5, 200, 1, 2, 3, 4])); // an unknown id
  return concat(parts);
}

interface Decoded {
  /** Each message (byte fields as hex), then "error <code>" if the stream broke. */
  log: string[];
  /** Bytes consumed without error, and whether any unknown message was skipped. */
  consumedAll: boolean;
  hasUnknown: boolean;
  messages: WireMessage[];
}

/** Decode `stream` pushed in chunks cut at random points (as separate copies or adjacent views of one buffer). */
function decode(stream: Uint8Array, flags: number, pieceCount: number, random: Random | null): Decoded {
  const decoder = new MessageDecoder({
    isFastExtension: (flags & 1) !== 0,
    ...(pieceCount > 0 ? { pieceCount } : {}),
  });
  const out: Decoded = { log: [], consumedAll: false, hasUnknown: false, messages: [] };
  let hasHandshake = (flags & 2) !== 0;
  let pushed = 0;
  const isCopies = random !== null && random() < 0.5;
  const err = expectOnly(() => {
    for (let at = 0; at < stream.length;) {
      const n = random === null ? stream.length : Math.min(stream.length - at, 1 + pick(random, 24));
      decoder.push(isCopies ? stream.slice(at, at + n) : stream.subarray(at, at + n));
      at += n;
      pushed += n;
      expect(decoder.bufferedBytes <= pushed, "never more buffered than pushed");
      if (hasHandshake) {
        const h = decoder.readHandshake();
        if (h === null) continue;
        out.log.push(`handshake ${toHex(h.reserved)} ${h.infoHash.hex} ${toHex(h.peerId)}`);
        hasHandshake = false;
      }
      for (let m = decoder.next(); m !== null; m = decoder.next()) {
        out.log.push(JSON.stringify(m, (_k, v) => (v instanceof Uint8Array ? toHex(v) : v)));
        out.messages.push(m);
        if (m.type === "unknown") out.hasUnknown = true;
        if (m.type === "extended" && m.extendedId === 0) {
          expectOnly(() => decodeExtendedHandshake(m.payload), WireError);
        }
      }
    }
  }, WireError);
  if (err !== null) out.log.push(`error ${err.code}`);
  out.consumedAll = err === null && !hasHandshake && decoder.bufferedBytes === 0;
  return out;
}

function check(input: Uint8Array, random: Random): void {
  if (input.length < 2) return;
  const flags = input[0]!, pieceCount = input[1]!;
  const stream = input.subarray(2);
  const whole = decode(stream, flags, pieceCount, null);
  const split = decode(stream, flags, pieceCount, random);
  expect(whole.log.join("\n") === split.log.join("\n"), "two splits decode the same messages and error");
  if (whole.consumedAll && !whole.hasUnknown) {
    const body = (flags & 2) !== 0 ? stream.subarray(68) : stream;
    const again = concat(whole.messages.map((m) => encodeMessage(m).slice()));
    expect(toHex(again) === toHex(body), "decoded messages re-encode to the stream");
  }
}

/** The wire MessageDecoder target. */
export const wireTarget: FuzzTarget = {
  name: "wire",
  generate,
  check,
  alphabet: fromLatin1("\u0000\u0001\u0004\u0005\u0007\u0009\u000d\u0011\u0014\u00ff"),
};
