// Peer wire codec: the BEP 3 handshake and messages, BEP 6 fast extension and BEP 10 extended messages.
// Encoding and an incremental decoder that enforces a per-message length cap before buffering the body.
// Pure: no sockets, no clocks; the semantics of a message (is this request allowed?) belong to the connection.

import { decodeBencode, encodeBencode, isBytes, isDict } from "../bencode.ts";
import { allocBytes, fromLatin1, readU16BE, readU32BE, writeU16BE, writeU32BE } from "../bytes.ts";
import { WireError } from "../errors.ts";
import { INFO_HASH_BYTES, InfoHash } from "../infohash.ts";

/** The handshake's protocol string (BEP 3). */
export const PROTOCOL_STRING = "BitTorrent protocol";
/** Handshake length: 1 + 19 (pstr) + 8 (reserved) + 20 (info hash) + 20 (peer id). */
export const HANDSHAKE_BYTES = 68;
/** Peer ids are 20 raw bytes (BEP 20 describes the conventional prefixes). */
export const PEER_ID_BYTES = 20;
/** Largest block we request or serve: 16 KiB (BEP 3 "All current implementations use 2^14"). */
export const MAX_BLOCK_BYTES = 16384;
/** Largest BEP 10 extended message payload (after the extended id) we buffer. */
export const MAX_EXTENDED_PAYLOAD_BYTES = 1024 * 1024;
/** Largest BEP 10 extended handshake (extended id 0) we decode; real ones are a few hundred bytes. */
export const MAX_EXTENDED_HANDSHAKE_BYTES = 64 * 1024;
/** Largest `reqq` we believe from a peer (libtorrent's default is 500; more would not change our queue). */
export const MAX_PEER_REQQ = 4096;
/** Largest payload of a message with an id we do not know; it is skipped without being buffered. */
export const MAX_UNKNOWN_PAYLOAD_BYTES = 1024 * 1024;
/** Largest piece count whose bitfield we accept when the decoder is not told the exact count. */
export const MAX_PIECE_COUNT = 8 * 1024 * 1024;

const PROTOCOL_STRING_BYTES = fromLatin1(PROTOCOL_STRING);

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

/** A BEP 3 handshake. `reserved` is the 8 reserved bytes as sent. */
export interface Handshake {
  reserved: Uint8Array;
  infoHash: InfoHash;
  peerId: Uint8Array;
}

/** Reserved bytes advertising what we support: BEP 6 fast (reserved[7] & 0x04), BEP 10 (reserved[5] & 0x10). */
export function createReserved(options: { isFastExtension?: boolean; isExtensionProtocol?: boolean } = {}): Uint8Array {
  const reserved = new Uint8Array(8);
  if (options.isFastExtension) reserved[7] = reserved[7]! | 0x04;
  if (options.isExtensionProtocol) reserved[5] = reserved[5]! | 0x10;
  return reserved;
}

/** True when `reserved` advertises the BEP 6 fast extension. */
export function hasFastExtension(reserved: Uint8Array): boolean {
  return (reserved[7]! & 0x04) !== 0;
}

/** True when `reserved` advertises the BEP 10 extension protocol. */
export function hasExtensionProtocol(reserved: Uint8Array): boolean {
  return (reserved[5]! & 0x10) !== 0;
}

/**
 * Encode a handshake (68 bytes).
 * @throws {WireError} peer_id_length when `peerId` is not 20 bytes; reserved_length when `reserved` is not 8
 */
export function encodeHandshake(handshake: Handshake): Uint8Array {
  if (handshake.peerId.length !== PEER_ID_BYTES) {
    throw new WireError("peer_id_length", `Cannot encode handshake: peer id is ${handshake.peerId.length} bytes`);
  }
  if (handshake.reserved.length !== 8) {
    throw new WireError("reserved_length", `Cannot encode handshake: reserved is ${handshake.reserved.length} bytes`);
  }
  const out = new Uint8Array(HANDSHAKE_BYTES);
  out[0] = PROTOCOL_STRING_BYTES.length;
  out.set(PROTOCOL_STRING_BYTES, 1);
  out.set(handshake.reserved, 20);
  out.set(handshake.infoHash.bytes, 28);
  out.set(handshake.peerId, 48);
  return out;
}

/**
 * Decode a handshake from the start of `bytes` (extra bytes after 68 are ignored).
 * Incremental: returns null while fewer than 68 bytes are there, but a wrong protocol prefix throws as soon as
 * its first wrong byte is visible, so a non-BitTorrent sender is dropped without waiting.
 * @throws {WireError} handshake_protocol when the protocol string is not "BitTorrent protocol"
 */
export function decodeHandshake(bytes: Uint8Array): Handshake | null {
  const prefix = Math.min(bytes.length, 1 + PROTOCOL_STRING_BYTES.length);
  for (let i = 0; i < prefix; i++) {
    const expected = i === 0 ? PROTOCOL_STRING_BYTES.length : PROTOCOL_STRING_BYTES[i - 1]!;
    if (bytes[i] !== expected) {
      throw new WireError("handshake_protocol", `Invalid handshake: wrong protocol byte at offset ${i}`);
    }
  }
  if (bytes.length < HANDSHAKE_BYTES) return null;
  return {
    reserved: bytes.slice(20, 28),
    infoHash: new InfoHash(bytes.slice(28, 28 + INFO_HASH_BYTES)),
    peerId: bytes.slice(48, 68),
  };
}

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

/** Options of `MessageDecoder`. */
export interface MessageDecoderOptions {
  /** The torrent's piece count: a bitfield must be exactly ceil(pieceCount / 8) bytes. */
  pieceCount?: number;
  /** Whether BEP 6 was negotiated (both handshakes set the bit); if not, fast messages close the connection. */
  isFastExtension?: boolean;
  /** Cap on an extended message's payload (default MAX_EXTENDED_PAYLOAD_BYTES). */
  maxExtendedPayloadBytes?: number;
}

const FAST_IDS: ReadonlySet<number> = new Set([
  MessageId.Suggest,
  MessageId.HaveAll,
  MessageId.HaveNone,
  MessageId.Reject,
  MessageId.AllowedFast,
]);

/**
 * Incremental decoder of one peer's byte stream. `push()` chunks as they arrive, then call `readHandshake()`
 * (once, if the stream starts with one) and `next()` until it returns null ("need more bytes").
 *
 * Memory: `push` takes ownership of the chunk (do not modify it afterwards). A message lying inside one chunk is a
 * subarray of it; one spanning chunks is copied once into a fresh buffer (chunks that are adjacent views of one
 * buffer, as consecutive reads into a reused buffer are, count as one chunk). Either way a `piece` block is never
 * overwritten later. The length prefix is checked against the message id's cap as soon as the 5-byte header is
 * there, before the body is waited for, so a hostile length costs at most the chunks already pushed.
 *
 * Unknown ids are reported as `{ type: "unknown" }` and their payload skipped (BEP 3 sets no rule; being lenient
 * keeps us compatible with clients' private messages). Fast messages without BEP 6 are an error (BEP 6: "the peer
 * MUST close the connection").
 */
export class MessageDecoder {
  #chunks: Uint8Array[] = [];
  /** Offset of the first unread byte in #chunks[0]. */
  #head = 0;
  #buffered = 0;
  /** Payload bytes of an unknown message still to discard. */
  #skip = 0;
  #maxBitfieldBytes: number;
  #exactBitfieldBytes: number | null;
  #maxExtendedPayloadBytes: number;
  /** The largest payload any id may have: a length over it is refused from the 4 length bytes alone. */
  #maxPayloadOfAnyId: number;
  /** Whether BEP 6 messages are allowed (set it once both handshakes are known). */
  isFastExtension: boolean;

  constructor(options: MessageDecoderOptions = {}) {
    const pieceCount = options.pieceCount;
    this.#exactBitfieldBytes = pieceCount === undefined ? null : Math.ceil(pieceCount / 8);
    this.#maxBitfieldBytes = this.#exactBitfieldBytes ?? Math.ceil(MAX_PIECE_COUNT / 8);
    this.#maxExtendedPayloadBytes = options.maxExtendedPayloadBytes ?? MAX_EXTENDED_PAYLOAD_BYTES;
    this.#maxPayloadOfAnyId = Math.max(
      9 + MAX_BLOCK_BYTES,
      this.#maxBitfieldBytes,
      1 + this.#maxExtendedPayloadBytes,
      MAX_UNKNOWN_PAYLOAD_BYTES,
    );
    this.isFastExtension = options.isFastExtension ?? false;
  }

  /** Bytes pushed and not yet consumed. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** Append received bytes (ownership passes to the decoder). */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const n = this.#chunks.length;
    const last = this.#chunks[n - 1];
    if (last !== undefined && last.buffer === chunk.buffer && last.byteOffset + last.length === chunk.byteOffset) {
      // Adjacent in one buffer: one longer view, so a message across the boundary needs no copy.
      this.#chunks[n - 1] = new Uint8Array(last.buffer, last.byteOffset, last.length + chunk.length);
    } else {
      this.#chunks.push(chunk);
    }
    this.#buffered += chunk.length;
  }

  /**
   * The handshake at the start of the stream, or null while incomplete.
   * @throws {WireError} handshake_protocol (see `decodeHandshake`)
   */
  readHandshake(): Handshake | null {
    const visible = this.#peek(Math.min(this.#buffered, HANDSHAKE_BYTES));
    const handshake = decodeHandshake(visible);
    if (handshake === null) return null;
    this.#take(HANDSHAKE_BYTES);
    return handshake;
  }

  /**
   * The next complete message, or null when more bytes are needed.
   * @throws {WireError} message_too_long, message_too_short, message_size, fast_not_negotiated
   */
  next(): WireMessage | null {
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, this.#buffered);
      this.#drop(n);
      this.#skip -= n;
      if (this.#skip > 0) return null;
    }
    if (this.#buffered < 4) return null;
    const header = this.#peek(Math.min(5, this.#buffered));
    const length = readU32BE(header, 0);
    if (length === 0) {
      this.#drop(4);
      return { type: "keepAlive" };
    }
    if (header.length < 5) {
      if (length - 1 > this.#maxPayloadOfAnyId) throw tooLong(-1, length);
      return null;
    }
    const id = header[4]!;
    this.#checkLength(id, length - 1);
    if (isKnownId(id)) {
      if (this.#buffered < 4 + length) return null;
      const frame = this.#take(4 + length);
      return decodeFrame(id, frame.subarray(5));
    }
    // Unknown id: report now, discard the payload as it arrives.
    this.#drop(5);
    this.#skip = length - 1;
    const n = Math.min(this.#skip, this.#buffered);
    this.#drop(n);
    this.#skip -= n;
    return { type: "unknown", id, length: length - 1 };
  }

  #checkLength(id: number, payload: number): void {
    // First what the 4 length bytes alone decide, so the code does not depend on how the header arrived.
    if (payload > this.#maxPayloadOfAnyId) throw tooLong(id, payload + 1);
    if (FAST_IDS.has(id) && !this.isFastExtension) {
      throw new WireError("fast_not_negotiated", `Invalid message: id "${id}" without the fast extension`);
    }
    let min: number;
    let max: number;
    switch (id) {
      case MessageId.Choke:
      case MessageId.Unchoke:
      case MessageId.Interested:
      case MessageId.NotInterested:
      case MessageId.HaveAll:
      case MessageId.HaveNone:
        min = max = 0;
        break;
      case MessageId.Have:
      case MessageId.Suggest:
      case MessageId.AllowedFast:
        min = max = 4;
        break;
      case MessageId.Request:
      case MessageId.Cancel:
      case MessageId.Reject:
        min = max = 12;
        break;
      case MessageId.Port:
        min = max = 2;
        break;
      case MessageId.Bitfield:
        min = this.#exactBitfieldBytes ?? 0;
        max = this.#maxBitfieldBytes;
        break;
      case MessageId.Piece:
        min = 8;
        max = 8 + MAX_BLOCK_BYTES;
        break;
      case MessageId.Extended:
        min = 1;
        max = 1 + this.#maxExtendedPayloadBytes;
        break;
      default:
        min = 0;
        max = MAX_UNKNOWN_PAYLOAD_BYTES;
    }
    if (payload > max) throw tooLong(id, payload + 1);
    if (payload < min) {
      throw new WireError("message_too_short", `Invalid message: id "${id}" with length "${payload + 1}"`);
    }
  }

  /** The first `n` buffered bytes, contiguous (copies only when they span chunks; n is small here). */
  #peek(n: number): Uint8Array {
    const first = this.#chunks[0];
    if (first === undefined) return new Uint8Array(0);
    if (first.length - this.#head >= n) return first.subarray(this.#head, this.#head + n);
    return this.#gather(n);
  }

  #gather(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let at = 0;
    let offset = this.#head;
    for (const chunk of this.#chunks) {
      if (at >= n) break;
      const part = chunk.subarray(offset, offset + (n - at));
      out.set(part, at);
      at += part.length;
      offset = 0;
    }
    return out;
  }

  /** Remove and return the first `n` bytes (n ≤ buffered). */
  #take(n: number): Uint8Array {
    const first = this.#chunks[0]!;
    const out = first.length - this.#head >= n ? first.subarray(this.#head, this.#head + n) : this.#gather(n);
    this.#drop(n);
    return out;
  }

  #drop(n: number): void {
    this.#buffered -= n;
    while (n > 0) {
      const first = this.#chunks[0]!;
      const left = first.length - this.#head;
      if (n < left) {
        this.#head += n;
        return;
      }
      n -= left;
      this.#chunks.shift();
      this.#head = 0;
    }
  }
}

function tooLong(id: number, length: number): WireError {
  return new WireError("message_too_long", `Invalid message: id "${id}" with length "${length}" over the cap`);
}

function isKnownId(id: number): boolean {
  return id <= MessageId.Port || FAST_IDS.has(id) || id === MessageId.Extended;
}

/** Decode a frame whose length was checked for its id; `p` is the payload after the id byte. */
function decodeFrame(id: number, p: Uint8Array): WireMessage {
  switch (id) {
    case MessageId.Choke:
      return { type: "choke" };
    case MessageId.Unchoke:
      return { type: "unchoke" };
    case MessageId.Interested:
      return { type: "interested" };
    case MessageId.NotInterested:
      return { type: "notInterested" };
    case MessageId.Have:
      return { type: "have", pieceIndex: readU32BE(p, 0) };
    case MessageId.Bitfield:
      return { type: "bitfield", bytes: p };
    case MessageId.Request:
      return { type: "request", pieceIndex: readU32BE(p, 0), begin: readU32BE(p, 4), length: readU32BE(p, 8) };
    case MessageId.Piece:
      return { type: "piece", pieceIndex: readU32BE(p, 0), begin: readU32BE(p, 4), block: p.subarray(8) };
    case MessageId.Cancel:
      return { type: "cancel", pieceIndex: readU32BE(p, 0), begin: readU32BE(p, 4), length: readU32BE(p, 8) };
    case MessageId.Port:
      return { type: "port", port: readU16BE(p, 0) };
    case MessageId.Suggest:
      return { type: "suggest", pieceIndex: readU32BE(p, 0) };
    case MessageId.HaveAll:
      return { type: "haveAll" };
    case MessageId.HaveNone:
      return { type: "haveNone" };
    case MessageId.Reject:
      return { type: "reject", pieceIndex: readU32BE(p, 0), begin: readU32BE(p, 4), length: readU32BE(p, 8) };
    case MessageId.AllowedFast:
      return { type: "allowedFast", pieceIndex: readU32BE(p, 0) };
    default:
      return { type: "extended", extendedId: p[0]!, payload: p.subarray(1) };
  }
}

/** The fields of a BEP 10 extended handshake (extended id 0) that we send and use. */
export interface ExtendedHandshake {
  /** Extension name → extended message id (0 disables); we offer none. */
  extensions: Map<string, number>;
  /** Client name and version (`v`). */
  clientName?: string;
  /** The sender's TCP listen port (`p`). */
  listenPort?: number;
  /** How many outstanding requests the sender queues without dropping (`reqq`), clamped to 1..MAX_PEER_REQQ. */
  maxRequests?: number;
}

/** Encode a BEP 10 extended handshake payload (the bencoded dict after the extended id 0). */
export function encodeExtendedHandshake(handshake: ExtendedHandshake): Uint8Array {
  return encodeBencode({
    m: new Map([...handshake.extensions].map(([k, v]) => [k, v] as const)),
    p: handshake.listenPort,
    reqq: handshake.maxRequests,
    v: handshake.clientName,
  });
}

/**
 * Decode a peer's BEP 10 extended handshake payload. Unknown keys are ignored and wrongly typed optional fields
 * are treated as absent (clients differ); only a payload that is not a bencoded dict, or is too large, is an error.
 * @throws {WireError} extended_handshake
 */
export function decodeExtendedHandshake(payload: Uint8Array): ExtendedHandshake {
  if (payload.length > MAX_EXTENDED_HANDSHAKE_BYTES) {
    throw new WireError("extended_handshake", `Invalid extended handshake: "${payload.length}" bytes over the cap`);
  }
  let value;
  try {
    // Lenient key order: BEP 10 payloads are produced by many encoders.
    value = decodeBencode(payload, { isStrict: false, maxDepth: 8 });
  } catch (err: unknown) {
    throw new WireError("extended_handshake", "Invalid extended handshake: not bencode", { cause: err });
  }
  if (!isDict(value)) throw new WireError("extended_handshake", "Invalid extended handshake: not a dictionary");
  const out: ExtendedHandshake = { extensions: new Map() };
  const m = value.get("m");
  if (isDict(m)) {
    for (const [k, v] of m) if (typeof v === "number" && v >= 0 && v <= 255) out.extensions.set(k, v);
  }
  const v = value.get("v");
  if (isBytes(v) && v.length <= 256) out.clientName = new TextDecoder().decode(v);
  const p = value.get("p");
  if (typeof p === "number" && p > 0 && p <= 65535) out.listenPort = p;
  const reqq = value.get("reqq");
  if (typeof reqq === "number" && reqq > 0) out.maxRequests = Math.min(MAX_PEER_REQQ, reqq);
  return out;
}
