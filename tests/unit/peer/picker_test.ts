import { type BlockRequest, PiecePicker } from "../../../lib/peer/picker.ts";
import { BLOCK_BYTES } from "../../../lib/pieces.ts";
import { Bitfield } from "../../../lib/wire/bitfield.ts";
import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { seededRandom } from "../../_helpers/random.ts";

/** 10 pieces of 2 blocks; the last piece is 1.5 blocks. */
const GEOMETRY = { pieceLength: 2 * BLOCK_BYTES, pieceCount: 10, totalLength: 9 * 2 * BLOCK_BYTES + BLOCK_BYTES * 1.5 };

function bits(pieceCount: number, indexes: number[]): Bitfield {
  const f = new Bitfield(pieceCount);
  for (const i of indexes) f.set(i);
  return f;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

function picker(seed = 1, options: { randomFirstPieces?: number; wanted?: Bitfield; have?: Bitfield } = {}) {
  return new PiecePicker(GEOMETRY, { random: seededRandom(seed), randomFirstPieces: 0, ...options });
}

function receive(p: PiecePicker, peerId: string, reqs: BlockRequest[]) {
  return reqs.map((r) => p.blockReceived(peerId, r));
}

Deno.test("PiecePicker counts availability from bitfields, haves and departures", () => {
  const p = picker();
  p.addPeer("a");
  p.addPeer("b");
  p.peerBitfield("a", bits(10, [0, 1, 2]));
  equal(p.peerHave("b", 2), true);
  p.peerHaveAll("b");
  deepEqual(range(0, 10).map((i) => p.availability(i)), [2, 2, 2, 1, 1, 1, 1, 1, 1, 1]);
  p.removePeer("a");
  deepEqual(range(0, 10).map((i) => p.availability(i)), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
  equal(p.peerHave("b", 99), false);
});

Deno.test("PiecePicker.nextRequests() picks the rarest piece the peer has, ties at random", () => {
  const picks = new Set<number>();
  for (let seed = 1; seed <= 20; seed++) {
    const p = picker(seed);
    for (const id of ["a", "b", "c"]) p.addPeer(id);
    p.peerHaveAll("a");
    p.peerBitfield("b", bits(10, range(0, 6)));
    p.peerBitfield("c", bits(10, range(0, 3)));
    const [first] = p.nextRequests("a", 1);
    ok(first !== undefined);
    ok(first.pieceIndex >= 6, `seed ${seed}: piece ${first.pieceIndex} is not among the rarest`);
    picks.add(first.pieceIndex);
    // b has only pieces 0-5: its rarest are 3-5 (availability 2).
    const [fromB] = p.nextRequests("b", 1);
    ok(fromB !== undefined && fromB.pieceIndex >= 3 && fromB.pieceIndex <= 5);
  }
  ok(picks.size > 1, "ties are broken at random");
});

Deno.test("PiecePicker picks random pieces first, then rarest", () => {
  const firsts = new Set<number>();
  for (let seed = 1; seed <= 20; seed++) {
    const p = new PiecePicker(GEOMETRY, { random: seededRandom(seed) });
    p.addPeer("a");
    p.addPeer("b");
    p.peerHaveAll("a");
    p.peerBitfield("b", bits(10, range(0, 9))); // piece 9 is the rarest
    const [first] = p.nextRequests("a", 1);
    firsts.add(first!.pieceIndex);
  }
  ok([...firsts].some((i) => i !== 9), "random first pieces ignore rarity");
  // After 4 verified pieces, rarest first takes over.
  const p = new PiecePicker(GEOMETRY, { random: seededRandom(3), have: bits(10, [0, 1, 2, 3]) });
  p.addPeer("a");
  p.addPeer("b");
  p.peerHaveAll("a");
  p.peerBitfield("b", bits(10, range(0, 9)));
  equal(p.nextRequests("a", 1)[0]!.pieceIndex, 9);
});

Deno.test("PiecePicker finishes partial pieces before starting new ones (strict priority)", () => {
  const p = picker(5);
  p.addPeer("a");
  p.addPeer("b");
  p.peerHaveAll("a");
  p.peerHaveAll("b");
  const [first] = p.nextRequests("a", 1);
  ok(first !== undefined);
  // Make another piece rarer than the started one: b leaves, a is alone, everything has availability 1.
  p.removePeer("b");
  const [second] = p.nextRequests("a", 1);
  deepEqual(second, { pieceIndex: first.pieceIndex, begin: BLOCK_BYTES, length: BLOCK_BYTES });
  // A third request starts a new piece; a fourth continues that one.
  const [third, fourth] = p.nextRequests("a", 2);
  ok(third!.pieceIndex !== first.pieceIndex);
  equal(fourth!.pieceIndex, third!.pieceIndex);
});

Deno.test("PiecePicker requests only pieces the peer has, and nothing from a peer with nothing we want", () => {
  const p = picker();
  p.addPeer("a");
  p.peerBitfield("a", bits(10, [4]));
  deepEqual(p.nextRequests("a", 10), [
    { pieceIndex: 4, begin: 0, length: BLOCK_BYTES },
    { pieceIndex: 4, begin: BLOCK_BYTES, length: BLOCK_BYTES },
  ]);
  p.addPeer("none");
  equal(p.isInteresting("none"), false);
  deepEqual(p.nextRequests("none", 10), []);
});

Deno.test("PiecePicker gives the short last block of the last piece", () => {
  const p = picker();
  p.addPeer("a");
  p.peerBitfield("a", bits(10, [9]));
  deepEqual(p.nextRequests("a", 10), [
    { pieceIndex: 9, begin: 0, length: BLOCK_BYTES },
    { pieceIndex: 9, begin: BLOCK_BYTES, length: BLOCK_BYTES / 2 },
  ]);
});

Deno.test("PiecePicker.releasePeer() frees a choking peer's blocks for another peer", () => {
  const p = picker();
  p.addPeer("a");
  p.addPeer("b");
  p.peerBitfield("a", bits(10, [4]));
  p.peerBitfield("b", bits(10, [4]));
  const reqs = p.nextRequests("a", 10);
  equal(reqs.length, 2);
  deepEqual(p.nextRequests("b", 10).length, 2, "endgame duplicates once everything is requested");
  ok(p.isEndgame);
  const p2 = picker();
  p2.addPeer("a");
  p2.addPeer("b");
  p2.peerBitfield("a", bits(10, [4]));
  p2.peerBitfield("b", bits(10, [4, 5]));
  const fromA = p2.nextRequests("a", 10);
  deepEqual(p2.releasePeer("a"), fromA);
  equal(p2.inflightCount("a"), 0);
  const fromB = p2.nextRequests("b", 2);
  deepEqual(fromB, fromA, "the released partial piece is finished first");
});

Deno.test("PiecePicker.releaseRequest() frees one rejected block", () => {
  const p = picker();
  p.addPeer("a");
  p.peerBitfield("a", bits(10, [4, 5]));
  const [r0, r1] = p.nextRequests("a", 2);
  p.releaseRequest("a", r0!);
  equal(p.inflightCount("a"), 1);
  deepEqual(p.nextRequests("a", 1), [r0]);
  ok(r1);
});

Deno.test("PiecePicker endgame: duplicates the last blocks and reports whom to cancel", () => {
  const p = picker(2, { have: bits(10, range(0, 9)) });
  for (const id of ["a", "b", "c"]) {
    p.addPeer(id);
    p.peerHaveAll(id);
  }
  equal(p.isEndgame, false);
  const fromA = p.nextRequests("a", 1);
  equal(p.isEndgame, false);
  const fromB = p.nextRequests("b", 5);
  equal(fromB.length, 2, "b gets the free block then a duplicate of a's");
  ok(p.isEndgame);
  const fromC = p.nextRequests("c", 5);
  equal(fromC.length, 2);
  deepEqual(p.nextRequests("c", 5), [], "never the same block twice from one peer");
  const [r0] = fromA;
  const res = p.blockReceived("b", r0!);
  equal(res.type, "accepted");
  if (res.type !== "accepted") return;
  equal(res.isPieceComplete, false);
  deepEqual(res.cancel.map((c) => c.peerId).sort(), ["a", "c"]);
  deepEqual(res.cancel[0]!.request, r0);
  equal(p.inflightCount("a"), 0);
  equal(p.blockReceived("a", r0!).type, "ignored", "a late duplicate is ignored");
  const last = fromC.find((r) => r.begin !== r0!.begin)!;
  const done = p.blockReceived("c", last);
  ok(done.type === "accepted" && done.isPieceComplete);
  if (done.type === "accepted") deepEqual(done.cancel.map((c) => c.peerId), ["b"]);
  p.pieceVerified(9);
  ok(p.isComplete);
  equal(p.isEndgame, false);
  for (const id of ["a", "b", "c"]) equal(p.inflightCount(id), 0);
});

Deno.test("PiecePicker.pieceFailed() reports the senders and makes the piece downloadable again", () => {
  const p = picker();
  p.addPeer("a");
  p.addPeer("b");
  p.peerBitfield("a", bits(10, [4]));
  p.peerBitfield("b", bits(10, [4]));
  const [r0] = p.nextRequests("a", 1);
  const [r1] = p.nextRequests("b", 1);
  receive(p, "a", [r0!]);
  const res = p.blockReceived("b", r1!);
  ok(res.type === "accepted" && res.isPieceComplete);
  deepEqual(p.pieceFailed(4).sort(), ["a", "b"]);
  equal(p.hasPiece(4), false);
  equal(p.nextRequests("a", 10).length, 2);
});

Deno.test("PiecePicker.blockReceived() ignores duplicates, bad spans and pieces we have", () => {
  const p = picker(1, { have: bits(10, [0]) });
  p.addPeer("a");
  p.peerHaveAll("a");
  const [r] = p.nextRequests("a", 1);
  ok(r !== undefined);
  deepEqual(p.blockReceived("a", { pieceIndex: 0, begin: 0, length: BLOCK_BYTES }), {
    type: "ignored",
    reason: "have",
  });
  deepEqual(p.blockReceived("a", { ...r, begin: 1 }), { type: "ignored", reason: "bad_span" });
  deepEqual(p.blockReceived("a", { ...r, length: 1 }), { type: "ignored", reason: "bad_span" });
  const other = r.pieceIndex === 1 ? 2 : 1;
  deepEqual(p.blockReceived("a", { pieceIndex: other, begin: 0, length: BLOCK_BYTES }), {
    type: "ignored",
    reason: "not_started",
  });
  equal(p.blockReceived("a", r).type, "accepted");
  deepEqual(p.blockReceived("a", r), { type: "ignored", reason: "duplicate" });
});

Deno.test("PiecePicker with a wanted mask requests and completes only those pieces", () => {
  const p = picker(4, { wanted: bits(10, [2, 7]) });
  p.addPeer("a");
  p.peerHaveAll("a");
  ok(p.isInteresting("a"));
  const reqs = p.nextRequests("a", 100);
  deepEqual([...new Set(reqs.map((r) => r.pieceIndex))].sort(), [2, 7]);
  receive(p, "a", reqs);
  p.pieceVerified(2);
  equal(p.isComplete, false);
  p.pieceVerified(7);
  ok(p.isComplete);
  equal(p.isInteresting("a"), false);
  equal(p.isPieceWanted(3), false);
  p.setWanted(null);
  equal(p.isComplete, false);
  ok(p.isPieceWanted(3));
});

Deno.test("PiecePicker completes a random swarm with chokes and departures (seeded)", () => {
  for (let seed = 1; seed <= 30; seed++) {
    const random = seededRandom(seed * 7919);
    const geometry = { pieceLength: 4 * BLOCK_BYTES, pieceCount: 25, totalLength: 24 * 4 * BLOCK_BYTES + 100 };
    const p = new PiecePicker(geometry, { random: seededRandom(seed) });
    const ids = ["a", "b", "c", "d"];
    const inflight = new Map<string, BlockRequest[]>(ids.map((id) => [id, []]));
    for (const id of ids) {
      p.addPeer(id);
      const f = new Bitfield(25);
      for (let i = 0; i < 25; i++) if (random() < 0.6) f.set(i);
      p.peerBitfield(id, f);
    }
    p.peerHaveAll("a");
    let steps = 0;
    while (!p.isComplete) {
      ok(++steps < 10_000, `seed ${seed}: no progress`);
      const id = ids[Math.floor(random() * ids.length)]!;
      const queue = inflight.get(id)!;
      const roll = random();
      if (roll < 0.05) {
        // choke: everything outstanding is released
        const released = p.releasePeer(id);
        equal(released.length, queue.length, `seed ${seed}: released what was in flight`);
        queue.length = 0;
      } else if (roll < 0.08 && id !== "a") {
        p.removePeer(id);
        queue.length = 0;
        p.addPeer(id);
        p.peerBitfield(id, bits(25, range(0, 12)));
      } else if (roll < 0.5 || queue.length === 0) {
        const got = p.nextRequests(id, 1 + Math.floor(random() * 6));
        queue.push(...got);
        equal(p.inflightCount(id), queue.length, `seed ${seed}: inflight count`);
      } else {
        const r = queue.shift()!;
        const res = p.blockReceived(id, r);
        if (res.type !== "accepted") continue;
        for (const c of res.cancel) {
          const q = inflight.get(c.peerId)!;
          const at = q.findIndex((x) => x.pieceIndex === c.request.pieceIndex && x.begin === c.request.begin);
          ok(at >= 0, `seed ${seed}: cancel of a block ${c.peerId} was asked for`);
          q.splice(at, 1);
        }
        if (res.isPieceComplete) {
          if (random() < 0.1) p.pieceFailed(r.pieceIndex);
          else p.pieceVerified(r.pieceIndex);
        }
      }
    }
    equal(p.haveCount, 25);
  }
});

Deno.test("PiecePicker always starts a piece of the lowest availability the peer can give (seeded)", () => {
  for (let seed = 1; seed <= 10; seed++) {
    const random = seededRandom(seed * 31);
    const pieceCount = 200;
    const geometry = { pieceLength: BLOCK_BYTES, pieceCount, totalLength: pieceCount * BLOCK_BYTES };
    const p = new PiecePicker(geometry, { random: seededRandom(seed), randomFirstPieces: 0 });
    const ids = ["a", "b", "c", "d", "e", "f"];
    const has = new Map<string, Set<number>>();
    const join = (id: string) => {
      const set = new Set(range(0, pieceCount).filter(() => random() < 0.4));
      has.set(id, set);
      p.addPeer(id);
      p.peerBitfield(id, bits(pieceCount, [...set]));
    };
    ids.forEach(join);
    const started = new Set<number>();
    for (let step = 0; step < 2000 && !p.isComplete; step++) {
      const id = ids[Math.floor(random() * ids.length)]!;
      if (random() < 0.05) {
        p.removePeer(id);
        join(id);
        continue;
      }
      if (random() < 0.1) {
        const i = Math.floor(random() * pieceCount);
        has.get(id)!.add(i);
        p.peerHave(id, i);
      }
      const [r] = p.nextRequests(id, 1);
      if (r === undefined || started.has(r.pieceIndex)) continue;
      const availability = (i: number) => ids.filter((x) => has.get(x)!.has(i)).length;
      const candidates = [...has.get(id)!].filter((i) => !started.has(i));
      const min = Math.min(...candidates.map(availability));
      equal(availability(r.pieceIndex), min, `seed ${seed} step ${step}: piece ${r.pieceIndex} is not the rarest`);
      equal(p.availability(r.pieceIndex), min);
      started.add(r.pieceIndex);
      const res = p.blockReceived(id, r);
      ok(res.type === "accepted" && res.isPieceComplete);
      p.pieceVerified(r.pieceIndex);
    }
  }
});
