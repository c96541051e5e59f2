// handlePeerMessage over a PeerContext of real parts (picker, scheduler, piece flow, upload server, choker) and
// connections on in-memory sockets: interest follows what the peer has, blocks go to the piece flow, rejects and
// chokes free our requests, two finished peers part.

import { Choker } from "../../../lib/peer/choker.ts";
import { handlePeerMessage, type PeerContext, type PeerEntry } from "../../../lib/peer/peer_messages.ts";
import { PiecePicker } from "../../../lib/peer/picker.ts";
import { createRequestState, RequestScheduler } from "../../../lib/peer/request_scheduler.ts";
import { ReadCache, UploadServer } from "../../../lib/peer/upload_server.ts";
import type { Metainfo } from "../../../lib/metainfo.ts";
import { createMemoryStorage } from "../../../lib/storage/storage.ts";
import { Bitfield } from "../../../lib/wire/bitfield.ts";
import { MessageDecoder } from "../../../lib/wire/message_decoder.ts";
import type { WireMessage } from "../../../lib/wire/messages.ts";
import { concat } from "../../../lib/bytes.ts";
import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { seededRandom } from "../../_helpers/random.ts";
import { type FakeConn, openFakePeer } from "./_fake_conn.ts";
import { memoryPieceFlow, PIECE_BYTES, smallTorrent } from "./_torrent.ts";

async function setup(have?: Bitfield) {
  const { meta, data } = await smallTorrent(4);
  const picker = new PiecePicker(meta, { random: seededRandom(3), ...(have ? { have } : {}) });
  const storage = createMemoryStorage(meta, have ? { data } : {});
  const peers = new Map<string, PeerEntry>();
  const tasks: Promise<unknown>[] = [];
  const verified: number[] = [];
  let downloaded = 0;
  const scheduler = new RequestScheduler(picker, { now: () => 0, isActive: () => true });
  const ctx: PeerContext = {
    meta,
    picker,
    scheduler,
    uploads: new UploadServer({
      read: (i, b, l) => new ReadCache(meta, storage).read(i, b, l),
      hasPiece: (i) => picker.hasPiece(i),
      limiter: null,
      track: (t) => tasks.push(t),
      onUploaded: () => {},
    }),
    flow: memoryPieceFlow(meta, picker, storage, {
      track: (t) => tasks.push(t),
      pieceVerified: (i) => verified.push(i),
    }),
    choker: new Choker({ now: () => 0, random: seededRandom(4) }),
    peers,
    listenPort: 6881,
    isStopping: () => false,
    countDown: (n) => downloaded += n,
    refill: () => {},
  };
  const connect = async (id: string) => {
    const { fake, conn } = await openFakePeer(meta, id);
    const entry: PeerEntry = {
      id,
      conn,
      address: `10.0.0.1:${peers.size + 1}`,
      remoteIdHex: id,
      isIncoming: false,
      connectedAtMs: 0,
      pieces: new Bitfield(meta.pieceCount),
      downloaded: 0,
      uploaded: 0,
      tickDown: 0,
      tickUp: 0,
      downloadRate: 0,
      uploadRate: 0,
      isSeeding: false,
      serveQueue: [],
      serving: 0,
      ...createRequestState(0),
    };
    peers.set(id, entry);
    picker.addPeer(id);
    return { entry, fake };
  };
  const settle = async () => {
    for (let i = 0; i < 20; i++) await Promise.resolve();
    while (tasks.length > 0) await tasks.shift();
  };
  return { meta, data, picker, ctx, connect, settle, verified, downloaded: () => downloaded };
}

function sent(meta: Metainfo, fake: FakeConn): WireMessage[] {
  const d = new MessageDecoder({ pieceCount: meta.pieceCount, isFastExtension: true });
  d.push(concat(fake.written));
  d.readHandshake();
  const out: WireMessage[] = [];
  for (let m = d.next(); m !== null; m = d.next()) out.push(m);
  return out;
}

Deno.test("handlePeerMessage(): a seed's have-all makes us interested; its unchoke starts requests; blocks complete a piece", async () => {
  const { meta, data, picker, ctx, connect, settle, verified, downloaded } = await setup();
  const { entry, fake } = await connect("a");
  handlePeerMessage(ctx, entry, { type: "haveAll" });
  await settle();
  deepEqual(sent(meta, fake).map((m) => m.type), ["interested"]);
  entry.conn.peerChoking = false; // as the connection does on "unchoke"
  handlePeerMessage(ctx, entry, { type: "unchoke" });
  ok(entry.requested.size > 0);
  const first = [...entry.requested.values()].filter((r) =>
    r.pieceIndex === entry.requested.values().next().value!.pieceIndex
  );
  for (const r of first) {
    const start = r.pieceIndex * PIECE_BYTES + r.begin;
    handlePeerMessage(ctx, entry, {
      type: "piece",
      pieceIndex: r.pieceIndex,
      begin: r.begin,
      block: data.slice(start, start + r.length),
    });
  }
  await settle();
  deepEqual(verified, [first[0]!.pieceIndex]);
  ok(picker.hasPiece(first[0]!.pieceIndex));
  equal(downloaded(), first.reduce((n, r) => n + r.length, 0));
  entry.conn.close();
});

Deno.test("handlePeerMessage(): a choke and a reject free our requests; a peer with nothing for us stays uninteresting", async () => {
  const { meta, ctx, connect, settle } = await setup();
  const { entry, fake } = await connect("a");
  handlePeerMessage(ctx, entry, { type: "bitfield", bytes: new Bitfield(meta.pieceCount).toBytes() });
  await settle();
  deepEqual(sent(meta, fake), []);
  handlePeerMessage(ctx, entry, { type: "have", pieceIndex: 1 });
  entry.conn.peerChoking = false;
  handlePeerMessage(ctx, entry, { type: "unchoke" });
  const n = entry.requested.size;
  ok(n > 0 && [...entry.requested.values()].every((r) => r.pieceIndex === 1));
  const one = entry.requested.values().next().value!;
  handlePeerMessage(ctx, entry, { type: "reject", ...one });
  equal(entry.requested.size, n - 1);
  handlePeerMessage(ctx, entry, { type: "choke" });
  equal(entry.requested.size, 0);
  entry.conn.close();
});

Deno.test("handlePeerMessage(): two finished peers part", async () => {
  const { ctx, connect } = await setup(new Bitfield(4, { isFull: true }));
  const { entry } = await connect("a");
  handlePeerMessage(ctx, entry, { type: "haveAll" });
  equal(entry.conn.isClosed, true);
});
