import {
  type ChokerState,
  createChokerState,
  decideChokes,
  OPTIMISTIC_INTERVAL_MS,
  type PeerStats,
} from "../../../lib/peer/choker.ts";
import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { seededRandom } from "../../_helpers/random.ts";

const OLD = -1_000_000;

function peer(id: string, downloadRate: number, options: Partial<PeerStats> = {}): PeerStats {
  return { id, isInterested: true, downloadRate, uploadRate: 0, connectedAtMs: OLD, ...options };
}

function sorted(set: Set<string>): string[] {
  return [...set].sort();
}

Deno.test("decideChokes() unchokes the 4 fastest interested peers plus one optimistic", () => {
  const peers = [
    peer("a", 100),
    peer("b", 500),
    peer("c", 300),
    peer("d", 50),
    peer("e", 400),
    peer("f", 1000, { isInterested: false }),
    peer("g", 10),
  ];
  const d = decideChokes(peers, createChokerState(), { now: 0, random: seededRandom(1), isSeeding: false });
  ok(d.optimistic === "d" || d.optimistic === "g", `optimistic ${d.optimistic} is a choked interested peer`);
  deepEqual(sorted(d.unchoke), sorted(new Set(["b", "e", "c", "a", d.optimistic!])));
  ok(!d.unchoke.has("f"), "not interested: stays choked");
});

Deno.test("decideChokes() ranks by upload rate while seeding", () => {
  const peers = [
    peer("a", 900, { uploadRate: 1 }),
    peer("b", 0, { uploadRate: 50 }),
    peer("c", 0, { uploadRate: 40 }),
  ];
  const d = decideChokes(peers, createChokerState(), { now: 0, random: seededRandom(1), isSeeding: true, slots: 2 });
  deepEqual(sorted(d.unchoke), ["a", "b", "c"]);
  equal(d.optimistic, "a", "the slowest uploader only gets the optimistic slot");
});

Deno.test("decideChokes() keeps the optimistic peer for 30 s, then rotates it", () => {
  const peers = ["a", "b", "c", "d", "e", "f", "g", "h"].map((id, i) => peer(id, 100 * (8 - i)));
  const random = seededRandom(9);
  let state: ChokerState = createChokerState();
  const first = decideChokes(peers, state, { now: 0, random, isSeeding: false });
  ok(first.optimistic !== null && ["e", "f", "g", "h"].includes(first.optimistic));
  state = first.state;
  for (let now = 10_000; now < OPTIMISTIC_INTERVAL_MS; now += 10_000) {
    const d = decideChokes(peers, state, { now, random, isSeeding: false });
    equal(d.optimistic, first.optimistic, `still optimistic at ${now} ms`);
    state = d.state;
  }
  const rotated = decideChokes(peers, state, { now: OPTIMISTIC_INTERVAL_MS, random, isSeeding: false });
  ok(rotated.optimistic !== null && rotated.optimistic !== first.optimistic);
  equal(rotated.state.optimisticSinceMs, OPTIMISTIC_INTERVAL_MS);
});

Deno.test("decideChokes() replaces an optimistic peer that left, lost interest or earned a regular slot", () => {
  const peers = ["a", "b", "c", "d", "e", "f"].map((id, i) => peer(id, 100 * (6 - i)));
  const first = decideChokes(peers, createChokerState(), { now: 0, random: seededRandom(2), isSeeding: false });
  const opt = first.optimistic!;
  ok(opt === "e" || opt === "f");
  const other = opt === "e" ? "f" : "e";
  const gone = decideChokes(peers.filter((p) => p.id !== opt), first.state, {
    now: 10_000,
    random: seededRandom(3),
    isSeeding: false,
  });
  equal(gone.optimistic, other);
  const bored = decideChokes(peers.map((p) => p.id === opt ? { ...p, isInterested: false } : p), first.state, {
    now: 10_000,
    random: seededRandom(3),
    isSeeding: false,
  });
  equal(bored.optimistic, other);
  ok(!bored.unchoke.has(opt));
  const promoted = decideChokes(peers.map((p) => p.id === opt ? { ...p, downloadRate: 10_000 } : p), first.state, {
    now: 10_000,
    random: seededRandom(3),
    isSeeding: false,
  });
  ok(promoted.unchoke.has(opt));
  ok(promoted.optimistic !== opt);
});

Deno.test("decideChokes() with few interested peers unchokes them all and may have no optimistic", () => {
  const d = decideChokes([peer("a", 1), peer("b", 0, { isInterested: false })], createChokerState(), {
    now: 0,
    random: seededRandom(1),
    isSeeding: false,
  });
  deepEqual(sorted(d.unchoke), ["a"]);
  equal(d.optimistic, null);
  const none = decideChokes([], createChokerState(), { now: 0, random: seededRandom(1), isSeeding: false });
  equal(none.unchoke.size, 0);
});

Deno.test("decideChokes() breaks rate ties at random", () => {
  const peers = ["a", "b", "c", "d", "e", "f"].map((id) => peer(id, 100));
  const seen = new Set<string>();
  for (let seed = 1; seed <= 20; seed++) {
    const d = decideChokes(peers, createChokerState(), { now: 0, random: seededRandom(seed), isSeeding: false });
    equal(d.unchoke.size, 5);
    seen.add(sorted(d.unchoke).join(""));
  }
  ok(seen.size > 1);
});

Deno.test("decideChokes() weights newly connected peers ×3 in the optimistic draw", () => {
  const regular = ["a", "b", "c", "d"].map((id) => peer(id, 1000));
  const peers = [...regular, peer("old", 0), peer("new", 0, { connectedAtMs: 0 })];
  let newCount = 0;
  const rounds = 400;
  const random = seededRandom(42);
  for (let i = 0; i < rounds; i++) {
    const d = decideChokes(peers, createChokerState(), { now: 5_000, random, isSeeding: false });
    if (d.optimistic === "new") newCount++;
  }
  // Expected share 3/4 = 300 of 400; the seeded draw lands well inside 250..350.
  ok(newCount > 250 && newCount < 350, `new peer chosen ${newCount} times of ${rounds}`);
});
