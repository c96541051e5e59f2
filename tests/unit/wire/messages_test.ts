import { concat, utf8 } from "../../../lib/bytes.ts";
import { WireError } from "../../../lib/errors.ts";
import { encodeMessage, encodeMessages, encodePieceHeader } from "../../../lib/wire/messages.ts";
import { assertThrowsCode, deepEqual, equal } from "../../_helpers/assert.ts";
import { fromJson, messagesBin, messagesJson } from "./_golden.ts";

Deno.test("encodeMessage() produces the golden stream", () => {
  const encoded = concat(messagesJson.messages.map((m) => encodeMessage(fromJson(m))));
  equal(encoded.length, messagesBin.length);
  deepEqual(encoded, messagesBin);
});

Deno.test("encodePieceHeader() + block equals encodeMessage(piece)", () => {
  const block = utf8("hello");
  deepEqual(
    concat([encodePieceHeader(9, 32, block.length), block]),
    encodeMessage({ type: "piece", pieceIndex: 9, begin: 32, block }),
  );
});

Deno.test("encodeMessage() refuses the decode-only unknown message", () => {
  assertThrowsCode(() => encodeMessage({ type: "unknown", id: 99, length: 0 }), WireError, "encode_unknown");
});

Deno.test("encodeMessages() equals the concatenated encodeMessage() of each", () => {
  const msgs = [
    { type: "request", pieceIndex: 7, begin: 16384, length: 16384 },
    { type: "have", pieceIndex: 0x01020304 },
    { type: "cancel", pieceIndex: 0xffffffff, begin: 0, length: 1 },
  ] as const;
  deepEqual(encodeMessages(msgs), concat(msgs.map((m) => encodeMessage(m))));
  equal(encodeMessages([]).length, 0);
});
