// Peer wire messages (BEP 3, BEP 5 port, BEP 6 fast extension, BEP 10 extended): the message ids, the
// `WireMessage` union and its encoding with the 4-byte length prefix. Decoding is lib/wire/message_decoder.ts.
// Pure: no sockets, no clocks; the semantics of a message (is this request allowed?) belong to the connection.

import { allocBytes, writeU16BE, writeU32BE } from "../bytes.ts";
import { WireError } from "../errors.ts";

/** Largest block we request or serve: 16 KiB (BEP 3 "All current implementations use 2^14"). */
export const MAX_BLOCK_BYTES = 16384;

/** Message ids on the wire (BEP 3, BEP 5 port, BEP 6 fast extension, BEP 10 extended). */
export const MessageId = {
  Choke: 0,
  Unchoke: 1,
  Interested: 2,
  NotInterested: 3,
  Have: 4,
  Bitfield: 5,
  Request: 6,
  Piece: 7,
  Cancel: 8,
  Port: 9,
  Suggest: 0x0d,
  HaveAll: 0x0e,
  HaveNone: 0x0f,
  Reject: 0x10,
  AllowedFast: 0x11,
  Extended: 20,
} as const;
/** One of the known message ids. */
export type MessageId = typeof MessageId[keyof typeof MessageId];

/** A decoded or to-be-encoded peer message. `block` and `payload` may share memory with the decoder's input. */
export type WireMessage =
  | { type: "keepAlive" }
  | { type: "choke" }
  | { type: "unchoke" }
  | { type: "interested" }
  | { type: "notInterested" }
  | { type: "have"; pieceIndex: number }
  | { type: "bitfield"; bytes: Uint8Array }
  | { type: "request"; pieceIndex: number; begin: number; length: number }
  | { type: "piece"; pieceIndex: number; begin: number; block: Uint8Array }
  | { type: "cancel"; pieceIndex: number; begin: number; length: number }
  | { type: "port"; port: number }
  | { type: "suggest"; pieceIndex: number }
  | { type: "haveAll" }
  | { type: "haveNone" }
  | { type: "reject"; pieceIndex: number; begin: number; length: number }
  | { type: "allowedFast"; pieceIndex: number }
  | { type: "extended"; extendedId: number; payload: Uint8Array }
  /** An id we do not know: reported (length = payload bytes) and skipped, never buffered. Only decoded. */
  | { type: "unknown"; id: number; length: number };

// Small messages are carved from a slab (bytes.allocBytes): a fresh ArrayBuffer per message costs about 1 µs.
function fixed(id: number, payloadBytes: number): Uint8Array {
  const out = allocBytes(5 + payloadBytes);
  writeU32BE(out, 0, 1 + payloadBytes);
  out[4] = id;
  return out;
}

function withIndex(id: number, pieceIndex: number): Uint8Array {
  const out = fixed(id, 4);
  writeU32BE(out, 5, pieceIndex);
  return out;
}

function withSpan(id: number, pieceIndex: number, begin: number, length: number): Uint8Array {
  const out = fixed(id, 12);
  writeU32BE(out, 5, pieceIndex);
  writeU32BE(out, 9, begin);
  writeU32BE(out, 13, length);
  return out;
}

/**
 * The 13-byte header of a piece message whose block of `length` bytes follows separately
 * (lets the sender write the block without copying it into the message).
 */
export function encodePieceHeader(pieceIndex: number, begin: number, length: number): Uint8Array {
  const out = allocBytes(13);
  writeU32BE(out, 0, 9 + length);
  out[4] = MessageId.Piece;
  writeU32BE(out, 5, pieceIndex);
  writeU32BE(out, 9, begin);
  return out;
}

/**
 * Encode one message with its 4-byte length prefix.
 * @throws {WireError} encode_unknown for an `unknown` message (those are only decoded)
 */
export function encodeMessage(msg: WireMessage): Uint8Array {
  switch (msg.type) {
    case "keepAlive":
      return allocBytes(4);
    case "choke":
      return fixed(MessageId.Choke, 0);
    case "unchoke":
      return fixed(MessageId.Unchoke, 0);
    case "interested":
      return fixed(MessageId.Interested, 0);
    case "notInterested":
      return fixed(MessageId.NotInterested, 0);
    case "have":
      return withIndex(MessageId.Have, msg.pieceIndex);
    case "bitfield": {
      const out = fixed(MessageId.Bitfield, msg.bytes.length);
      out.set(msg.bytes, 5);
      return out;
    }
    case "request":
      return withSpan(MessageId.Request, msg.pieceIndex, msg.begin, msg.length);
    case "piece": {
      const out = new Uint8Array(13 + msg.block.length);
      out.set(encodePieceHeader(msg.pieceIndex, msg.begin, msg.block.length), 0);
      out.set(msg.block, 13);
      return out;
    }
    case "cancel":
      return withSpan(MessageId.Cancel, msg.pieceIndex, msg.begin, msg.length);
    case "port": {
      const out = fixed(MessageId.Port, 2);
      writeU16BE(out, 5, msg.port);
      return out;
    }
    case "suggest":
      return withIndex(MessageId.Suggest, msg.pieceIndex);
    case "haveAll":
      return fixed(MessageId.HaveAll, 0);
    case "haveNone":
      return fixed(MessageId.HaveNone, 0);
    case "reject":
      return withSpan(MessageId.Reject, msg.pieceIndex, msg.begin, msg.length);
    case "allowedFast":
      return withIndex(MessageId.AllowedFast, msg.pieceIndex);
    case "extended": {
      const out = fixed(MessageId.Extended, 1 + msg.payload.length);
      out[5] = msg.extendedId;
      out.set(msg.payload, 6);
      return out;
    }
    case "unknown":
      throw new WireError("encode_unknown", `Cannot encode message: unknown id "${msg.id}"`);
    default: {
      const never: never = msg;
      throw new WireError("encode_unknown", `Cannot encode message: ${String(never)}`);
    }
  }
}

/**
 * Encode several `request`, `cancel` or `have` messages back to back into one buffer (a pipeline refill): the same
 * bytes as concatenating `encodeMessage` of each.
 */
export function encodeMessages(
  msgs: readonly Extract<WireMessage, { type: "request" | "cancel" | "have" }>[],
): Uint8Array {
  let size = 0;
  for (const m of msgs) size += m.type === "have" ? 9 : 17;
  const out = allocBytes(size);
  let at = 0;
  for (const m of msgs) {
    if (m.type === "have") {
      writeU32BE(out, at, 5);
      out[at + 4] = MessageId.Have;
      writeU32BE(out, at + 5, m.pieceIndex);
      at += 9;
    } else {
      writeU32BE(out, at, 13);
      out[at + 4] = m.type === "request" ? MessageId.Request : MessageId.Cancel;
      writeU32BE(out, at + 5, m.pieceIndex);
      writeU32BE(out, at + 9, m.begin);
      writeU32BE(out, at + 13, m.length);
      at += 17;
    }
  }
  return out;
}
