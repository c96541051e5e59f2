// BEP 10 extended handshake (extended message id 0): the bencoded dict of extensions, client name, listen port and
// request queue size. Lenient on input (clients differ), capped in size; no extension is offered yet.

import { decodeBencode, encodeBencode, isBytes, isDict } from "../bencode.ts";
import { WireError } from "../errors.ts";

/** Largest BEP 10 extended handshake (extended id 0) we decode; real ones are a few hundred bytes. */
export const MAX_EXTENDED_HANDSHAKE_BYTES = 64 * 1024;
/** Largest `reqq` we believe from a peer (libtorrent's default is 500; more would not change our queue). */
export const MAX_PEER_REQQ = 4096;

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
