// Incremental decoder of a peer's byte stream (BEP 3 framing, BEP 6 fast messages, BEP 10 extended): the handshake,
// then messages, each length checked against its id's cap before the body is buffered.
// Pure: no sockets, no clocks; what a message means for the peer belongs to the connection.

import { readU16BE, readU32BE } from "../bytes.ts";
import { WireError } from "../errors.ts";
import { decodeHandshake, type Handshake, HANDSHAKE_BYTES } from "./handshake.ts";
import { MAX_BLOCK_BYTES, MessageId, type WireMessage } from "./messages.ts";

/** Largest BEP 10 extended message payload (after the extended id) we buffer. */
export const MAX_EXTENDED_PAYLOAD_BYTES = 1024 * 1024;
/** Largest payload of a message with an id we do not know; it is skipped without being buffered. */
export const MAX_UNKNOWN_PAYLOAD_BYTES = 1024 * 1024;
/** Largest piece count whose bitfield we accept when the decoder is not told the exact count. */
export const MAX_PIECE_COUNT = 8 * 1024 * 1024;

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
