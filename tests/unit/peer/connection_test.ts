// PeerConnection over an in-memory socket (tests/unit/peer/_fake_conn.ts): handshakes both ways (outgoing `open`,
// incoming `accept` routed by info hash), the write-queue cap against a peer that never reads, and BEP 6 rejects
// of blocks we never asked for. Socket behaviour with real TCP is in tests/integration/connection_test.ts.

import { concat, utf8 } from "../../../lib/bytes.ts";
import { WireError } from "../../../lib/errors.ts";
import { InfoHash } from "../../../lib/infohash.ts";
import {
  MAX_SENT_REQUESTS,
  MAX_WRITE_QUEUE_BYTES,
  PeerConnection,
  type PeerConnectionOptions,
} from "../../../lib/peer/connection.ts";
import { BLOCK_BYTES } from "../../../lib/pieces.ts";
import { createReserved, decodeHandshake, encodeHandshake } from "../../../lib/wire/handshake.ts";
import { encodeMessage, encodeMessages, type WireMessage } from "../../../lib/wire/messages.ts";
import { assertRejectsCode, deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { FakeConn } from "./_fake_conn.ts";

const INFO_HASH = InfoHash.fromHex("0102030405060708090a0b0c0d0e0f1011121314");
const OTHER_HASH = InfoHash.fromHex("ffffffffffffffffffffffffffffffffffffffff");
/** 10 pieces of 32 KiB. */
const GEOMETRY = { pieceLength: 2 * BLOCK_BYTES, pieceCount: 10, totalLength: 10 * 2 * BLOCK_BYTES };
const OUR_ID = utf8("-BT0100-ourselves0000");
const THEIR_ID = utf8("-XX0001-theirs000000");

function options(extra: Partial<PeerConnectionOptions> = {}): PeerConnectionOptions {
  return { infoHash: INFO_HASH, peerId: OUR_ID.subarray(0, 20), geometry: GEOMETRY, ...extra };
}

function theirHandshake(infoHash = INFO_HASH, peerId = THEIR_ID.subarray(0, 20)): Uint8Array {
  return encodeHandshake({ reserved: createReserved({ isFastExtension: true }), infoHash, peerId });
}

/** An established fast-extension connection to a scripted peer. */
async function connected(): Promise<{ fake: FakeConn; pc: PeerConnection }> {
  const fake = new FakeConn();
  fake.push(theirHandshake());
  const pc = await PeerConnection.open(fake.conn, options());
  ok(pc.isFastExtension);
  return { fake, pc };
}

/** Every message the connection yields until it closes. */
async function drain(pc: PeerConnection): Promise<WireMessage[]> {
  const out: WireMessage[] = [];
  for await (const m of pc.messages()) out.push(m);
  return out;
}

function closeCode(pc: PeerConnection): string | null {
  const reason = pc.closeReason;
  return reason instanceof WireError ? reason.code : null;
}

Deno.test("PeerConnection closes a peer that requests but never reads at MAX_WRITE_QUEUE_BYTES (#19)", async () => {
  const { fake, pc } = await connected();
  fake.isBlocked = true; // from now on the peer reads nothing
  // We choke it, so every request is answered with a 17-byte reject that can only pile up.
  const count = Math.ceil((2 * MAX_WRITE_QUEUE_BYTES) / 17);
  const requests = [];
  for (let i = 0; i < count; i++) requests.push({ type: "request" as const, pieceIndex: i % 10, begin: 0, length: 1 });
  fake.push(encodeMessages(requests));
  fake.end();
  let maxQueued = 0;
  for await (const _ of pc.messages()) maxQueued = Math.max(maxQueued, pc.queuedBytes);
  equal(closeCode(pc), "write_queue_full");
  ok(maxQueued <= MAX_WRITE_QUEUE_BYTES, `queued ${maxQueued} bytes`);
  ok(fake.isClosed);
});

Deno.test("PeerConnection holds a paused reader's uploads in flight without closing it", async () => {
  const { fake, pc } = await connected();
  fake.isBlocked = true;
  const inbox = drain(pc);
  void pc.send({ type: "unchoke" }).catch(() => {});
  // The session keeps at most 16 blocks of uploads in flight per peer (MAX_SERVE_INFLIGHT_BLOCKS).
  const reqs = [];
  for (let i = 0; i < 16; i++) {
    reqs.push({ type: "request" as const, pieceIndex: i >> 1, begin: (i & 1) * BLOCK_BYTES, length: BLOCK_BYTES });
  }
  fake.push(encodeMessages(reqs));
  for (let i = 0; i < 1000 && pc.pendingRequests < 16; i++) await Promise.resolve();
  equal(pc.pendingRequests, 16);
  const sends = reqs.map((r) => pc.sendPiece(r, new Uint8Array(BLOCK_BYTES)).catch(() => false));
  ok(!pc.isClosed);
  ok(pc.queuedBytes >= 15 * BLOCK_BYTES && pc.queuedBytes <= MAX_WRITE_QUEUE_BYTES);
  pc.close();
  await inbox;
  await Promise.all(sends);
  equal(pc.closeReason, null);
});

Deno.test("PeerConnection closes on a BEP 6 reject for a block we never requested (#19)", async () => {
  const { fake, pc } = await connected();
  fake.push(encodeMessage({ type: "reject", pieceIndex: 3, begin: 0, length: BLOCK_BYTES }));
  fake.end(); // without the check, the loop would end here cleanly
  const got = await drain(pc);
  deepEqual(got, []);
  equal(closeCode(pc), "unrequested_reject");
  ok(fake.isClosed);
});

Deno.test("PeerConnection yields a reject for our request, also after a cancel, but not twice", async () => {
  const { fake, pc } = await connected();
  const a = { pieceIndex: 1, begin: 0, length: BLOCK_BYTES };
  const b = { pieceIndex: 2, begin: BLOCK_BYTES, length: BLOCK_BYTES };
  await pc.sendMany([{ type: "request", ...a }]);
  await pc.send({ type: "request", ...b });
  await pc.send({ type: "cancel", ...b }); // BEP 6: a cancelled request is still answered, possibly by a reject
  fake.push(encodeMessage({ type: "reject", ...a }));
  fake.push(encodeMessage({ type: "reject", ...b }));
  fake.push(encodeMessage({ type: "reject", ...a }));
  fake.end(); // without the check, the loop would end here cleanly
  const got = await drain(pc);
  deepEqual(got, [{ type: "reject", ...a }, { type: "reject", ...b }]);
  equal(closeCode(pc), "unrequested_reject");
});

Deno.test("PeerConnection treats a reject after the block arrived as unrequested", async () => {
  const { fake, pc } = await connected();
  const a = { pieceIndex: 4, begin: 0, length: BLOCK_BYTES };
  await pc.send({ type: "request", ...a });
  fake.push(encodeMessage({ type: "piece", pieceIndex: 4, begin: 0, block: new Uint8Array(BLOCK_BYTES) }));
  fake.push(encodeMessage({ type: "reject", ...a }));
  fake.end(); // without the check, the loop would end here cleanly
  const got = await drain(pc);
  deepEqual(got.map((m) => m.type), ["piece"]);
  equal(closeCode(pc), "unrequested_reject");
});

Deno.test("PeerConnection remembers at most MAX_SENT_REQUESTS requests, oldest forgotten first", async () => {
  const { fake, pc } = await connected();
  const reqs = [];
  for (let i = 0; i <= MAX_SENT_REQUESTS; i++) {
    reqs.push({ type: "request" as const, pieceIndex: i % 10, begin: 0, length: 1 + Math.floor(i / 10) });
  }
  await pc.sendMany(reqs);
  const newest = reqs.at(-1)!;
  fake.push(encodeMessage({ ...newest, type: "reject" }));
  fake.push(encodeMessage({ ...reqs[0]!, type: "reject" })); // forgotten: now unrequested
  fake.end(); // without the check, the loop would end here cleanly
  const got = await drain(pc);
  deepEqual(got, [{ ...newest, type: "reject" }]);
  equal(closeCode(pc), "unrequested_reject");
});

Deno.test("PeerConnection.accept() answers for the torrent the handshake names and decodes with its geometry", async () => {
  const fake = new FakeConn();
  const bitfield = new Uint8Array(2).fill(0xff);
  bitfield[1] = 0xc0; // 10 pieces
  // Handshake and bitfield in one chunk: accept must not swallow the bitfield.
  fake.push(concat([theirHandshake(), encodeMessage({ type: "bitfield", bytes: bitfield })]));
  fake.end();
  const asked: string[] = [];
  const pc = await PeerConnection.accept(fake.conn, (infoHash) => {
    asked.push(infoHash.hex);
    return infoHash.equals(INFO_HASH) ? options() : null;
  });
  deepEqual(asked, [INFO_HASH.hex]);
  ok(pc.infoHash.equals(INFO_HASH));
  const ours = decodeHandshake(concat(fake.written));
  ok(ours !== null && ours.infoHash.equals(INFO_HASH));
  deepEqual(await drain(pc), [{ type: "bitfield", bytes: bitfield }]);
  equal(pc.closeReason, null);
});

Deno.test("PeerConnection.accept() refuses an info hash we do not serve and closes the socket", async () => {
  const fake = new FakeConn();
  fake.push(theirHandshake(OTHER_HASH));
  await assertRejectsCode(
    () => PeerConnection.accept(fake.conn, (h) => h.equals(INFO_HASH) ? options() : null),
    WireError,
    "unknown_info_hash",
  );
  ok(fake.isClosed);
  equal(fake.written.length, 0, "we said nothing");
});

Deno.test("PeerConnection.accept() and open() refuse ourselves and a wrong protocol", async () => {
  const self = new FakeConn();
  self.push(theirHandshake(INFO_HASH, OUR_ID.subarray(0, 20)));
  await assertRejectsCode(() => PeerConnection.accept(self.conn, () => options()), WireError, "self_connection");
  const garbage = new FakeConn();
  garbage.push(new Uint8Array(68).fill(7));
  await assertRejectsCode(() => PeerConnection.accept(garbage.conn, () => options()), WireError, "handshake_protocol");
  const other = new FakeConn();
  other.push(theirHandshake(OTHER_HASH));
  await assertRejectsCode(() => PeerConnection.open(other.conn, options()), WireError, "info_hash_mismatch");
  const closed = new FakeConn();
  closed.end();
  await assertRejectsCode(() => PeerConnection.accept(closed.conn, () => options()), WireError, "handshake_closed");
  ok(self.isClosed && garbage.isClosed && other.isClosed && closed.isClosed);
});
