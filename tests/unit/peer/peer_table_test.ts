import type { PeerConnection } from "../../../lib/peer/connection.ts";
import { PeerTable, type PeerTableOptions } from "../../../lib/peer/peer_table.ts";
import { deepEqual, equal, ok } from "../../_helpers/assert.ts";

/** The part of a PeerConnection the table touches: the remote id and close(). */
class FakePeer {
  isClosed = false;
  constructor(readonly remotePeerId: Uint8Array) {}
  close(): void {
    this.isClosed = true;
  }
  get conn(): PeerConnection {
    return this as unknown as PeerConnection;
  }
}

/** A 20-byte peer id of one repeated byte (hex "aaaa…" for 0xaa). */
function id(byte: number): Uint8Array {
  return new Uint8Array(20).fill(byte);
}

function table(options: Partial<PeerTableOptions> = {}): PeerTable {
  return new PeerTable({
    ourPeerId: id(0x55),
    maxPeers: 10,
    pieceCount: 12,
    now: () => 1234,
    isBanned: () => false,
    ...options,
  });
}

Deno.test("PeerTable.admit() files a new entry under p1, p2, ... with fresh counters", () => {
  const t = table();
  const a = new FakePeer(id(1));
  const e1 = t.admit(a.conn, "10.0.0.1:6881", true, false);
  const e2 = t.admit(new FakePeer(id(2)).conn, "10.0.0.2:6881", false, true);
  ok(e1 !== null && e2 !== null);
  deepEqual([e1.id, e2.id], ["p1", "p2"]);
  equal(e1.remoteIdHex, "01".repeat(20));
  equal(e1.address, "10.0.0.1:6881");
  deepEqual([e1.isIncoming, e1.isSeeding, e2.isIncoming, e2.isSeeding], [true, false, false, true]);
  equal(e1.connectedAtMs, 1234);
  equal(e1.pieces.pieceCount, 12);
  ok(e1.pieces.isEmpty);
  deepEqual([e1.downloaded, e1.uploaded, e1.downloadRate, e1.uploadRate, e1.serving], [0, 0, 0, 0, 0]);
  equal(e1.requested.size, 0);
  equal(t.get("p1"), e1);
  equal(t.byId.get("p2"), e2);
  equal(t.size, 2);
  equal(a.isClosed, false);
});

Deno.test("PeerTable.admit() closes and refuses a banned peer, asking by id hex and address", () => {
  const asked: string[] = [];
  const t = table({
    isBanned: (hex, address) => (asked.push(`${hex.slice(0, 4)} ${address}`), address === "10.0.0.9:1"),
  });
  const bad = new FakePeer(id(9));
  equal(t.admit(bad.conn, "10.0.0.9:1", true, false), null);
  ok(bad.isClosed);
  equal(t.size, 0);
  deepEqual(asked, ["0909 10.0.0.9:1"]);
});

Deno.test("PeerTable.admit() closes and refuses a connection past maxPeers; hasRoom() counts pending dials", () => {
  const t = table({ maxPeers: 2 });
  ok(t.admit(new FakePeer(id(1)).conn, "a:1", true, false) !== null);
  ok(t.hasRoom());
  equal(t.hasRoom(1), false);
  ok(t.admit(new FakePeer(id(2)).conn, "b:1", true, false) !== null);
  equal(t.hasRoom(), false);
  const third = new FakePeer(id(3));
  equal(t.admit(third.conn, "c:1", true, false), null);
  ok(third.isClosed);
  t.remove("p1");
  ok(t.hasRoom());
});

Deno.test("PeerTable.admit() keeps, of two crossed connections, the one the smaller peer id opened", () => {
  // We are 0x55. A remote 0x77 > us: keep our outgoing connection whichever arrives second.
  let t = table();
  const ours = new FakePeer(id(0x77));
  const theirs = new FakePeer(id(0x77));
  ok(t.admit(ours.conn, "r:1", false, false) !== null);
  equal(t.admit(theirs.conn, "r:2", true, false), null);
  ok(theirs.isClosed && !ours.isClosed);
  t = table();
  const theirsFirst = new FakePeer(id(0x77));
  const oursSecond = new FakePeer(id(0x77));
  ok(t.admit(theirsFirst.conn, "r:2", true, false) !== null);
  const kept = t.admit(oursSecond.conn, "r:1", false, false);
  ok(kept !== null && theirsFirst.isClosed && !oursSecond.isClosed);
  // A remote 0x33 < us: its incoming connection wins over our dial.
  t = table();
  const dial = new FakePeer(id(0x33));
  const incoming = new FakePeer(id(0x33));
  ok(t.admit(dial.conn, "s:1", false, false) !== null);
  ok(t.admit(incoming.conn, "s:2", true, false) !== null);
  ok(dial.isClosed && !incoming.isClosed);
});

Deno.test("PeerTable.admit() refuses a second connection from one peer id in the same direction", () => {
  const t = table();
  const first = new FakePeer(id(0x33));
  const second = new FakePeer(id(0x33));
  ok(t.admit(first.conn, "s:1", true, false) !== null);
  equal(t.admit(second.conn, "s:2", true, false), null);
  ok(second.isClosed && !first.isClosed);
});

Deno.test("PeerTable.isConnectedTo() and seedCount() look at the connected entries", () => {
  const t = table({ pieceCount: 2 });
  const e = t.admit(new FakePeer(id(1)).conn, "10.0.0.1:6881", false, false)!;
  t.admit(new FakePeer(id(2)).conn, "10.0.0.2:6881", false, false);
  ok(t.isConnectedTo("10.0.0.1:6881"));
  equal(t.isConnectedTo("10.0.0.3:6881"), false);
  equal(t.seedCount(), 0);
  e.pieces.set(0);
  e.pieces.set(1);
  equal(t.seedCount(), 1);
  t.remove(e.id);
  equal(t.isConnectedTo("10.0.0.1:6881"), false);
  equal(t.seedCount(), 0);
  deepEqual([...t.values()].map((p) => p.id), ["p2"]);
});
