// BEP 3 peer handshake: the 68 bytes each side sends first, and the reserved bits that advertise BEP 6 (fast
// extension) and BEP 10 (extension protocol). Pure codec: which info hashes we serve is the acceptor's business.

import { fromLatin1 } from "../bytes.ts";
import { WireError } from "../errors.ts";
import { INFO_HASH_BYTES, InfoHash } from "../infohash.ts";

/** The handshake's protocol string (BEP 3). */
export const PROTOCOL_STRING = "BitTorrent protocol";
/** Handshake length: 1 + 19 (pstr) + 8 (reserved) + 20 (info hash) + 20 (peer id). */
export const HANDSHAKE_BYTES = 68;
/** Peer ids are 20 raw bytes (BEP 20 describes the conventional prefixes). */
export const PEER_ID_BYTES = 20;

const PROTOCOL_STRING_BYTES = fromLatin1(PROTOCOL_STRING);

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
