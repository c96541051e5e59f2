import { concat } from "../../../lib/bytes.ts";
import { WireError } from "../../../lib/errors.ts";
import { MAX_EXTENDED_PAYLOAD_BYTES, MessageDecoder } from "../../../lib/wire/message_decoder.ts";
import { encodeMessage, MAX_BLOCK_BYTES, MessageId } from "../../../lib/wire/messages.ts";
import { assertThrowsCode, deepEqual, equal, ok } from "../../_helpers/assert.ts";
import {
  decodeAll,
  expected,
  fromJson,
  handshakeBin,
  handshakeJson,
  messagesBin,
  messagesJson,
  toComparable,
} from "./_golden.ts";

Deno.test("MessageDecoder.readHandshake() reads a handshake split at every position, then messages", () => {
  const stream = concat([handshakeBin, encodeMessage({ type: "haveAll" })]);
  for (let i = 0; i <= stream.length; i++) {
    const d = new MessageDecoder({ isFastExtension: true });
    d.push(stream.slice(0, i));
    let h = d.readHandshake();
    if (i < 68) equal(h, null);
    d.push(stream.slice(i));
    h ??= d.readHandshake();
    ok(h !== null);
    equal(h.infoHash.hex, handshakeJson.infoHashHex);
    deepEqual(d.next(), { type: "haveAll" });
    equal(d.next(), null);
  }
});

Deno.test("MessageDecoder decodes the golden stream in one chunk and byte by byte", () => {
  deepEqual(decodeAll([messagesBin]).map(toComparable), expected);
  const bytes = Array.from({ length: messagesBin.length }, (_, i) => messagesBin.slice(i, i + 1));
  deepEqual(decodeAll(bytes).map(toComparable), expected);
});

Deno.test("MessageDecoder decodes the golden stream split at every byte position", () => {
  const want = JSON.stringify(expected);
  for (let i = 0; i <= messagesBin.length; i++) {
    const got = decodeAll([messagesBin.subarray(0, i), messagesBin.subarray(i)]).map(toComparable);
    if (JSON.stringify(got) !== want) deepEqual(got, expected, `split at ${i}`);
  }
});

Deno.test("MessageDecoder decodes every message split into three at every pair of positions", () => {
  for (const m of messagesJson.messages) {
    const bytes = encodeMessage(fromJson(m));
    if (bytes.length > 64) continue; // the 16 KiB block is covered by the two-way split above
    const want = [toComparable(fromJson(m))];
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j++) {
        const got = decodeAll([bytes.slice(0, i), bytes.slice(i, j), bytes.slice(j)]);
        deepEqual(got.map(toComparable), want, `${m.type} split at ${i},${j}`);
      }
    }
  }
});

Deno.test("MessageDecoder returns a piece block that later pushes never overwrite", () => {
  const block = Uint8Array.from({ length: MAX_BLOCK_BYTES }, (_, i) => i & 0xff);
  const bytes = encodeMessage({ type: "piece", pieceIndex: 1, begin: 0, block });
  const d = new MessageDecoder();
  d.push(bytes.slice(0, 100));
  d.push(bytes.slice(100));
  const m = d.next();
  ok(m !== null && m.type === "piece");
  d.push(new Uint8Array(1000).fill(0xee));
  deepEqual(m.block, block);
});

function frame(length: number, id: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const head = new Uint8Array(5);
  new DataView(head.buffer).setUint32(0, length);
  head[4] = id;
  return concat([head, payload]);
}

Deno.test("MessageDecoder drops an oversized length as soon as the header arrives, before buffering", () => {
  const cases: [string, Uint8Array][] = [
    ["piece over 16 KiB", frame(9 + MAX_BLOCK_BYTES + 1, 7)],
    ["bitfield over the piece count", frame(1 + 3 + 1, 5)],
    ["extended over the cap", frame(3 + MAX_EXTENDED_PAYLOAD_BYTES, 20)],
    ["have with 5 bytes", frame(6, 4)],
    ["choke with a payload", frame(2, 0)],
    ["request with 16 bytes", frame(17, 6)],
    ["unknown id over the cap", frame(0x7fffffff, 99)],
  ];
  for (const [name, bytes] of cases) {
    const d = new MessageDecoder({ pieceCount: 20, isFastExtension: true });
    d.push(bytes);
    try {
      assertThrowsCode(() => d.next(), WireError, "message_too_long");
    } catch (err) {
      throw new Error(name, { cause: err });
    }
  }
  // With only the 4 length bytes, a length over every id's cap already throws.
  const d = new MessageDecoder({ pieceCount: 20 });
  d.push(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
  assertThrowsCode(() => d.next(), WireError, "message_too_long");
});

Deno.test("MessageDecoder gives one error code for a huge length however the header arrives (#19, found by fuzzing)", () => {
  // A fast id without BEP 6 and a length over every cap: the 4 length bytes alone already say message_too_long, so
  // the whole header must say it too (it said fast_not_negotiated).
  const header = new Uint8Array([0x01, 0x29, 0x00, 0x00, MessageId.Reject]);
  for (const cut of [4, 5]) {
    const d = new MessageDecoder();
    d.push(header.slice(0, cut));
    assertThrowsCode(() => d.next(), WireError, "message_too_long");
  }
});

Deno.test("MessageDecoder refuses undersized lengths", () => {
  const cases: Uint8Array[] = [
    frame(1, 4), // have without an index
    frame(3, 5), // bitfield shorter than ceil(20 / 8)
    frame(12, 6), // request with 11 bytes
    frame(8, 7), // piece without begin
    frame(2, 9), // port with 1 byte
    frame(1, 20), // extended without an id
  ];
  for (const bytes of cases) {
    const d = new MessageDecoder({ pieceCount: 20 });
    d.push(bytes);
    assertThrowsCode(() => d.next(), WireError, "message_too_short");
  }
});

Deno.test("MessageDecoder refuses fast messages unless BEP 6 was negotiated", () => {
  for (const m of [{ type: "haveAll" }, { type: "haveNone" }, { type: "allowedFast", pieceIndex: 1 }] as const) {
    const d = new MessageDecoder();
    d.push(encodeMessage(m));
    assertThrowsCode(() => d.next(), WireError, "fast_not_negotiated");
    const fast = new MessageDecoder({ isFastExtension: true });
    fast.push(encodeMessage(m));
    deepEqual(fast.next(), m);
  }
});

Deno.test("MessageDecoder reports an unknown id and skips its payload without buffering it", () => {
  const payload = new Uint8Array(1000).fill(7);
  const stream = concat([frame(1 + payload.length, 0x42, payload), encodeMessage({ type: "have", pieceIndex: 5 })]);
  for (let i = 0; i <= stream.length; i += 37) {
    const got = decodeAll([stream.slice(0, i), stream.slice(i)]);
    deepEqual(got, [{ type: "unknown", id: 0x42, length: 1000 }, { type: "have", pieceIndex: 5 }]);
  }
  const d = new MessageDecoder();
  d.push(frame(1 + payload.length, 0x42, payload.subarray(0, 10)));
  deepEqual(d.next(), { type: "unknown", id: 0x42, length: 1000 });
  equal(d.bufferedBytes, 0);
  d.push(payload.subarray(10));
  equal(d.next(), null);
  equal(d.bufferedBytes, 0);
});

Deno.test("MessageDecoder without a piece count accepts any bitfield size up to the cap", () => {
  const d = new MessageDecoder();
  d.push(encodeMessage({ type: "bitfield", bytes: new Uint8Array(100).fill(0xff) }));
  const m = d.next();
  ok(m !== null && m.type === "bitfield");
  equal(m.bytes.length, 100);
});

Deno.test("MessageDecoder joins adjacent views of one buffer: a block across them is a view, not a copy", () => {
  const block = Uint8Array.from({ length: MAX_BLOCK_BYTES }, (_, i) => (i * 7) & 0xff);
  const bytes = concat([
    encodeMessage({ type: "have", pieceIndex: 2 }),
    encodeMessage({ type: "piece", pieceIndex: 1, begin: 0, block }),
  ]);
  const d = new MessageDecoder();
  d.push(bytes.subarray(0, 5000));
  deepEqual(d.next(), { type: "have", pieceIndex: 2 });
  equal(d.next(), null);
  d.push(bytes.subarray(5000, 9000));
  d.push(bytes.subarray(9000));
  const m = d.next();
  ok(m !== null && m.type === "piece");
  equal(m.block.buffer, bytes.buffer);
  deepEqual(m.block, block);
  equal(d.bufferedBytes, 0);
});
