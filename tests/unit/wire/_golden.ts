// The golden wire fixtures (fixtures/wire/) as values, shared by the encoder and decoder tests.
import { Buffer } from "node:buffer";
import { fromHex, toHex } from "../../../lib/bytes.ts";
import { sha1 } from "../../../lib/sha1.ts";
import { MessageDecoder } from "../../../lib/wire/message_decoder.ts";
import type { WireMessage } from "../../../lib/wire/messages.ts";
import { equal } from "../../_helpers/assert.ts";
import { readFixture } from "../../_helpers/tmp.ts";
import { oracleSha1 } from "../../_helpers/torrent.ts";

export interface HandshakeSidecar {
  reservedHex: string;
  infoHashHex: string;
  peerIdHex: string;
  isFastExtension: boolean;
  isExtensionProtocol: boolean;
}

export type JsonMessage = Record<string, unknown> & { type: string };
export interface MessagesSidecar {
  pieceCount: number;
  messages: JsonMessage[];
}

export const handshakeBin = readFixture("wire/handshake.bin");
export const handshakeJson: HandshakeSidecar = JSON.parse(new TextDecoder().decode(readFixture("wire/handshake.json")));
export const messagesBin = readFixture("wire/messages.bin");
export const messagesJson: MessagesSidecar = JSON.parse(new TextDecoder().decode(readFixture("wire/messages.json")));

export function hex(text: string): Uint8Array {
  const b = fromHex(text);
  if (b === null) throw new Error(`bad hex ${text}`);
  return b;
}

/** A sidecar message as a WireMessage (for encoding) — the 16 KiB block is rebuilt from its known pattern. */
export function fromJson(m: JsonMessage): WireMessage {
  const { type, ...rest } = m;
  switch (type) {
    case "bitfield":
      return { type, bytes: hex(rest.bytesHex as string) };
    case "piece": {
      const block = typeof rest.blockHex === "string"
        ? hex(rest.blockHex)
        : Uint8Array.from({ length: rest.blockLength as number }, (_, i) => (i * 7) & 0xff);
      return { type, pieceIndex: rest.pieceIndex as number, begin: rest.begin as number, block };
    }
    case "extended":
      return { type, extendedId: rest.extendedId as number, payload: hex(rest.payloadHex as string) };
    default:
      return { type, ...rest } as WireMessage;
  }
}

/** A decoded WireMessage as comparable plain values. */
export function toComparable(m: WireMessage): Record<string, unknown> {
  switch (m.type) {
    case "bitfield":
      return { type: m.type, bytes: toHex(m.bytes) };
    case "piece":
      return { type: m.type, pieceIndex: m.pieceIndex, begin: m.begin, block: blockName(m.block) };
    case "extended":
      return { type: m.type, extendedId: m.extendedId, payload: toHex(m.payload) };
    default:
      return { ...m };
  }
}

/** The sidecar's blocks; a decoded block is named by the one it equals (a native compare keeps this cheap). */
export const knownBlocks: Buffer[] = [];
for (const m of messagesJson.messages) {
  const w = fromJson(m);
  if (w.type !== "piece") continue;
  if (typeof m.blockSha1 === "string") equal(toHex(await sha1(w.block)), m.blockSha1, "sidecar block pattern");
  knownBlocks.push(Buffer.from(w.block));
}

export function blockName(block: Uint8Array): string {
  const b = Buffer.from(block.buffer, block.byteOffset, block.length);
  const at = knownBlocks.findIndex((k) => k.equals(b));
  return at < 0 ? `unknown block sha1 ${toHex(oracleSha1(block))}` : `block #${at}`;
}

export const expected = messagesJson.messages.map((m) => toComparable(fromJson(m)));

export function decodeAll(chunks: Uint8Array[], options = { pieceCount: 20, isFastExtension: true }): WireMessage[] {
  const d = new MessageDecoder(options);
  const out: WireMessage[] = [];
  for (const c of chunks) {
    d.push(c);
    for (let m = d.next(); m !== null; m = d.next()) out.push(m);
  }
  equal(d.bufferedBytes, 0);
  return out;
}
