import { toHex, utf8 } from "../../../lib/bytes.ts";
import { WireError } from "../../../lib/errors.ts";
import { InfoHash } from "../../../lib/infohash.ts";
import {
  createReserved,
  decodeHandshake,
  encodeHandshake,
  hasExtensionProtocol,
  hasFastExtension,
} from "../../../lib/wire/handshake.ts";
import { assertThrowsCode, deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { handshakeBin, handshakeJson, hex } from "./_golden.ts";

Deno.test("decodeHandshake() decodes the golden handshake", () => {
  const h = decodeHandshake(handshakeBin);
  ok(h !== null);
  equal(toHex(h.reserved), handshakeJson.reservedHex);
  equal(h.infoHash.hex, handshakeJson.infoHashHex);
  equal(toHex(h.peerId), handshakeJson.peerIdHex);
  equal(hasFastExtension(h.reserved), handshakeJson.isFastExtension);
  equal(hasExtensionProtocol(h.reserved), handshakeJson.isExtensionProtocol);
});

Deno.test("encodeHandshake() produces the golden bytes", () => {
  const bytes = encodeHandshake({
    reserved: createReserved({ isFastExtension: true, isExtensionProtocol: true }),
    infoHash: InfoHash.fromHex(handshakeJson.infoHashHex),
    peerId: hex(handshakeJson.peerIdHex),
  });
  deepEqual(bytes, handshakeBin);
  deepEqual(createReserved(), new Uint8Array(8));
});

Deno.test("decodeHandshake() returns null on every prefix and throws early on a wrong protocol", () => {
  for (let i = 0; i < handshakeBin.length; i++) equal(decodeHandshake(handshakeBin.subarray(0, i)), null);
  assertThrowsCode(() => decodeHandshake(new Uint8Array([18])), WireError, "handshake_protocol");
  assertThrowsCode(() => decodeHandshake(utf8("GET / HTTP/1.1")), WireError, "handshake_protocol");
  const bad = handshakeBin.slice();
  bad[5] = 0x20;
  assertThrowsCode(() => decodeHandshake(bad.subarray(0, 6)), WireError, "handshake_protocol");
});

Deno.test("encodeHandshake() refuses a wrong-sized peer id", () => {
  const infoHash = InfoHash.fromHex(handshakeJson.infoHashHex);
  assertThrowsCode(
    () => encodeHandshake({ reserved: new Uint8Array(8), infoHash, peerId: new Uint8Array(19) }),
    WireError,
    "peer_id_length",
  );
});

Deno.test("encodeHandshake() refuses reserved bytes that are not 8", () => {
  const infoHash = InfoHash.fromHex(handshakeJson.infoHashHex);
  assertThrowsCode(
    () => encodeHandshake({ reserved: new Uint8Array(7), infoHash, peerId: new Uint8Array(20) }),
    WireError,
    "reserved_length",
  );
});

Deno.test("createReserved() sets only the bit of each extension asked for, and has*() read it back", () => {
  const fast = createReserved({ isFastExtension: true });
  deepEqual([...fast], [0, 0, 0, 0, 0, 0, 0, 0x04]);
  ok(hasFastExtension(fast) && !hasExtensionProtocol(fast));
  const ext = createReserved({ isExtensionProtocol: true });
  deepEqual([...ext], [0, 0, 0, 0, 0, 0x10, 0, 0]);
  ok(hasExtensionProtocol(ext) && !hasFastExtension(ext));
  // Other bits a peer sets (DHT, BEP 5: reserved[7] & 0x01) do not read as either extension.
  const other = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xef, 0xff, 0xfb);
  ok(!hasFastExtension(other) && !hasExtensionProtocol(other));
});

Deno.test("decodeHandshake() ignores bytes after the 68 and copies its fields out of the input", () => {
  const stream = new Uint8Array(100).fill(0xaa);
  stream.set(handshakeBin, 0);
  const h = decodeHandshake(stream);
  ok(h !== null);
  equal(h.infoHash.hex, handshakeJson.infoHashHex);
  stream.fill(0, 0, 68);
  equal(toHex(h.peerId), handshakeJson.peerIdHex);
  equal(h.infoHash.hex, handshakeJson.infoHashHex);
});
