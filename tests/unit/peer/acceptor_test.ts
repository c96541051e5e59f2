// The acceptor over a fake listener and in-memory sockets: each handshake goes to the torrent its info hash names
// in the TorrentRegistry; unknown torrents and torrents that take no peer cost only that socket; silent sockets are
// evicted by the gate when newcomers arrive.

import { type AcceptingTorrent, startAcceptor } from "../../../lib/peer/acceptor.ts";
import type { PeerConnection, PeerConnectionOptions } from "../../../lib/peer/connection.ts";
import { TorrentRegistry } from "../../../lib/peer/torrent_registry.ts";
import { InfoHash } from "../../../lib/infohash.ts";
import { createReserved, encodeHandshake } from "../../../lib/wire/handshake.ts";
import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { FakeConn, FakeListener } from "./_fake_conn.ts";

const A = InfoHash.fromHex("0101010101010101010101010101010101010101");
const B = InfoHash.fromHex("0202020202020202020202020202020202020202");
const C = InfoHash.fromHex("0303030303030303030303030303030303030303");
const GEOMETRY = { pieceLength: 32768, pieceCount: 4, totalLength: 4 * 32768 };

class Torrent implements AcceptingTorrent {
  peers: { conn: PeerConnection; address: string }[] = [];
  constructor(readonly infoHash: InfoHash, public isTaking = true) {}
  incomingOptions(): PeerConnectionOptions | null {
    if (!this.isTaking) return null;
    return { infoHash: this.infoHash, peerId: new TextEncoder().encode("-BT0100-ourselves000"), geometry: GEOMETRY };
  }
  addIncoming(conn: PeerConnection, address: string): void {
    this.peers.push({ conn, address });
  }
}

function dialer(infoHash: InfoHash, host = "::ffff:10.0.0.7"): FakeConn {
  const fake = new FakeConn(host, 5000);
  fake.push(encodeHandshake({
    reserved: createReserved({ isFastExtension: true }),
    infoHash,
    peerId: new TextEncoder().encode("-XX0001-theirs000000"),
  }));
  return fake;
}

async function settle(): Promise<void> {
  for (let i = 0; i < 100; i++) await Promise.resolve();
}

Deno.test("startAcceptor() hands each handshake to the torrent it names and closes the others", async () => {
  const torrents = new TorrentRegistry<AcceptingTorrent>();
  const a = new Torrent(A);
  const b = new Torrent(B, false);
  torrents.add(A, a);
  torrents.add(B, b);
  equal(torrents.size, 2);
  const listener = new FakeListener();
  const acceptor = startAcceptor(listener as unknown as Deno.Listener, { torrents, now: () => 0 });
  const toA = dialer(A);
  const toB = dialer(B);
  const toC = dialer(C);
  for (const f of [toA, toB, toC]) listener.arrive(f.conn);
  await settle();
  deepEqual(a.peers.map((p) => p.address), ["10.0.0.7:5000"]);
  ok(a.peers[0]!.conn.infoHash.equals(A));
  equal(b.peers.length, 0);
  ok(!toA.isClosed && toB.isClosed && toC.isClosed, "not taking, unknown: closed");
  equal(acceptor.gate.size, 0);
  torrents.remove(A);
  equal(torrents.get(A), null);
  await acceptor.close();
  a.peers[0]!.conn.close();
});

Deno.test("startAcceptor() evicts the oldest silent sockets for newcomers and closes the rest on close()", async () => {
  const torrents = new TorrentRegistry<AcceptingTorrent>();
  const a = new Torrent(A);
  torrents.add(A, a);
  const listener = new FakeListener();
  const acceptor = startAcceptor(listener as unknown as Deno.Listener, { torrents, now: () => 0, maxHalfOpen: 3 });
  const silent = Array.from({ length: 5 }, () => new FakeConn("10.0.0.9", 1));
  for (const s of silent) listener.arrive(s.conn);
  await settle();
  equal(acceptor.gate.size, 3);
  deepEqual(silent.map((s) => s.isClosed), [true, true, false, false, false]);
  const honest = dialer(A);
  listener.arrive(honest.conn);
  await settle();
  equal(a.peers.length, 1);
  equal(silent[2]!.isClosed, true);
  await acceptor.close();
  ok(silent.every((s) => s.isClosed));
  a.peers[0]!.conn.close();
});
