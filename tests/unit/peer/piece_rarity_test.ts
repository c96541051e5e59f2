import { PieceRarity } from "../../../lib/peer/piece_rarity.ts";
import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { seededRandom } from "../../_helpers/random.ts";

/** A PieceRarity whose counted and verified sets the test changes (bracketed by leave/enter, as the picker does). */
function rarity(pieceCount: number, seed = 1) {
  const counted = new Set(Array.from({ length: pieceCount }, (_, i) => i));
  const verified = new Set<number>();
  const r = new PieceRarity(pieceCount, {
    random: seededRandom(seed),
    isCounted: (i) => counted.has(i),
    isVerified: (i) => verified.has(i),
  });
  r.recount();
  return { r, counted, verified };
}

const any = () => true;

Deno.test("PieceRarity.availability() follows add() up and down; out of range is 0", () => {
  const { r } = rarity(4);
  r.add(2, 1);
  r.add(2, 1);
  r.add(3, 1);
  r.add(2, -1);
  deepEqual([0, 1, 2, 3].map((i) => r.availability(i)), [0, 0, 1, 1]);
  equal(r.availability(99), 0);
});

Deno.test("PieceRarity.rarestPiece() picks the candidate fewest peers have, and -1 when no peer has any piece", () => {
  const { r } = rarity(6);
  equal(r.rarestPiece(any), -1);
  for (const [i, peers] of [[0, 3], [1, 2], [2, 5], [4, 2], [5, 1]] as const) r.add(i, peers);
  // Candidates are pieces the asking peer has (so some peer has them), as the picker passes them.
  const has = (i: number) => r.availability(i) > 0;
  equal(r.rarestPiece(has), 5);
  // Piece 5 is no candidate (the peer lacks it): the next rarest level wins.
  const got = r.rarestPiece((i) => has(i) && i !== 5);
  ok(got === 1 || got === 4, `rarest of 1 and 4, got ${got}`);
  equal(r.rarestPiece((i) => i === 2), 2);
});

Deno.test("PieceRarity breaks ties in a random order that the seed decides", () => {
  const picks = new Set<number>();
  for (let seed = 1; seed <= 20; seed++) {
    const { r } = rarity(8, seed);
    for (let i = 0; i < 8; i++) r.add(i, 1);
    const first = r.rarestPiece(any);
    picks.add(first);
    // Same seed, same order: the choice is reproducible.
    const again = rarity(8, seed).r;
    for (let i = 0; i < 8; i++) again.add(i, 1);
    equal(again.rarestPiece(any), first);
  }
  ok(picks.size > 3, `ties went to ${[...picks]}`);
});

Deno.test("PieceRarity never scans a verified piece again, whatever the candidate test says", () => {
  const { r, counted, verified } = rarity(3);
  for (let i = 0; i < 3; i++) r.add(i, i + 1);
  equal(r.rarestPiece(any), 0);
  r.leave(0);
  counted.delete(0);
  verified.add(0);
  equal(r.rarestPiece(any), 1);
  equal(r.rarestPiece((i) => i === 0), -1);
});

Deno.test("PieceRarity.hasAvailable() counts only counted pieces some peer has", () => {
  const { r, counted } = rarity(3);
  equal(r.hasAvailable(), false);
  r.add(1, 1);
  equal(r.hasAvailable(), true);
  r.leave(1);
  counted.delete(1); // e.g. the piece was started: it leaves the buckets
  equal(r.hasAvailable(), false);
  r.add(1, 1); // availability still moves for uncounted pieces
  equal(r.availability(1), 2);
  counted.add(1);
  r.enter(1);
  equal(r.hasAvailable(), true);
  counted.clear();
  r.recount();
  equal(r.hasAvailable(), false);
});

Deno.test("PieceRarity.randomPiece() returns some candidate, -1 when there is none or no piece at all", () => {
  const { r } = rarity(10, 3);
  const got = r.randomPiece((i) => i === 4 || i === 7);
  ok(got === 4 || got === 7);
  equal(r.randomPiece(() => false), -1);
  let draws = 0;
  const empty = new PieceRarity(0, { random: () => (draws++, 0.5), isCounted: any, isVerified: () => false });
  empty.recount();
  equal(empty.randomPiece(any), -1);
  equal(empty.rarestPiece(any), -1);
  equal(draws, 0);
});
