// ReadCache (whole recent pieces, LRU, capped) and UploadServer (refuses pieces we lack, serves what is pending).

import { READ_CACHE_BYTES, ReadCache, type UploadPeer, UploadServer } from "../../../lib/peer/upload_server.ts";
import { BLOCK_BYTES } from "../../../lib/pieces.ts";
import { createMemoryStorage, type Storage } from "../../../lib/storage/storage.ts";
import { concat } from "../../../lib/bytes.ts";
import { MessageDecoder } from "../../../lib/wire/message_decoder.ts";
import { encodeMessage } from "../../../lib/wire/messages.ts";
import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { openFakePeer } from "./_fake_conn.ts";
import { PIECE_BYTES, smallTorrent } from "./_torrent.ts";

function counting(storage: Storage): { storage: Storage; reads: number[] } {
  const reads: number[] = [];
  return {
    reads,
    storage: { ...storage, readPiece: (i: number) => (reads.push(i), storage.readPiece(i)) },
  };
}

Deno.test("ReadCache reads a piece once for all its blocks and hands out copies", async () => {
  const { meta, data } = await smallTorrent();
  const { storage, reads } = counting(createMemoryStorage(meta, { data }));
  const cache = new ReadCache(meta, storage);
  const a = await cache.read(1, 0, BLOCK_BYTES);
  const b = await cache.read(1, BLOCK_BYTES, BLOCK_BYTES);
  deepEqual(concat([a, b]), data.subarray(PIECE_BYTES, 2 * PIECE_BYTES));
  deepEqual(reads, [1]);
  a.fill(0);
  deepEqual(await cache.read(1, 0, BLOCK_BYTES), data.subarray(PIECE_BYTES, PIECE_BYTES + BLOCK_BYTES));
  equal(cache.bytes, PIECE_BYTES);
});

Deno.test("ReadCache stays within READ_CACHE_BYTES, evicting the least recently used", async () => {
  const { meta, data } = await smallTorrent(4);
  const { storage, reads } = counting(createMemoryStorage(meta, { data }));
  const cache = new ReadCache(meta, storage);
  const fits = READ_CACHE_BYTES / PIECE_BYTES;
  ok(fits > 4);
  for (let round = 0; round < 3; round++) for (let i = 0; i < 4; i++) await cache.read(i, 0, 100);
  deepEqual(reads, [0, 1, 2, 3]);
  ok(cache.bytes <= READ_CACHE_BYTES);
});

Deno.test("UploadServer rejects a request for a piece we lack and serves a pending one", async () => {
  const { meta, data } = await smallTorrent();
  const { fake, conn } = await openFakePeer(meta, "theirs000000");
  const tasks: Promise<unknown>[] = [];
  const uploaded: number[] = [];
  const cache = new ReadCache(meta, createMemoryStorage(meta, { data }));
  const server = new UploadServer({
    read: (i, b, l) => cache.read(i, b, l),
    hasPiece: (i) => i === 0,
    limiter: null,
    track: (t) => tasks.push(t),
    onUploaded: (_, n) => uploaded.push(n),
  });
  const peer: UploadPeer = { conn, serveQueue: [], serving: 0 };
  const inbox = (async () => {
    for await (const _ of conn.messages()) { /* requests are read by the connection */ }
  })();
  await conn.send({ type: "unchoke" });
  const want = { pieceIndex: 0, begin: BLOCK_BYTES, length: BLOCK_BYTES };
  const lack = { pieceIndex: 2, begin: 0, length: BLOCK_BYTES };
  fake.push(concat([encodeMessage({ type: "request", ...want }), encodeMessage({ type: "request", ...lack })]));
  for (let i = 0; i < 100 && conn.pendingRequests < 2; i++) await Promise.resolve();
  equal(conn.pendingRequests, 2);
  server.request(peer, want);
  server.request(peer, lack);
  await Promise.all(tasks);
  deepEqual(uploaded, [BLOCK_BYTES]);
  const decoder = new MessageDecoder({ pieceCount: meta.pieceCount, isFastExtension: true });
  decoder.push(concat(fake.written));
  decoder.readHandshake();
  const sent = [];
  for (let m = decoder.next(); m !== null; m = decoder.next()) sent.push(m);
  deepEqual(sent.map((m) => m.type).sort(), ["piece", "reject", "unchoke"]);
  const piece = sent.find((m) => m.type === "piece");
  ok(piece?.type === "piece");
  deepEqual(piece.block, data.subarray(BLOCK_BYTES, 2 * BLOCK_BYTES));
  conn.close();
  await inbox;
});
