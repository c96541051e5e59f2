// BanPolicy: strikes, bans by id and address, and smart ban of the block that differed once the piece passed.

import { BAN_STRIKES, BanPolicy, isSoleSource, MAX_SUSPECT_PIECES } from "../../../lib/peer/ban_policy.ts";
import { BLOCK_BYTES } from "../../../lib/pieces.ts";
import { deepEqual, equal, ok } from "../../_helpers/assert.ts";

const A = { id: "p1", remoteIdHex: "aa", address: "10.0.0.1:1" };
const B = { id: "p2", remoteIdHex: "bb", address: "10.0.0.2:2" };

Deno.test("isSoleSource() convicts only a piece from a single peer", () => {
  ok(isSoleSource(["p1"]));
  ok(isSoleSource(["p1", "p1"]));
  ok(!isSoleSource(["p1", "p2"]));
});

Deno.test("BanPolicy.strike() bans at BAN_STRIKES, once, by peer id and by address", () => {
  const bans = new BanPolicy();
  for (let i = 1; i < BAN_STRIKES; i++) equal(bans.strike(A), false);
  equal(bans.strike(A), true);
  equal(bans.strike(A), false, "a banned peer is not banned again");
  equal(bans.bannedCount, 1);
  ok(bans.isBanned("aa", "elsewhere:9"));
  ok(bans.isBanned("other", A.address));
  ok(bans.isAddressBanned(A.address));
  ok(!bans.isBanned(B.remoteIdHex, B.address));
});

Deno.test("BanPolicy.forget() drops a closed connection's strikes, not a ban", () => {
  const bans = new BanPolicy();
  bans.strike(B);
  bans.forget(B.id);
  for (let i = 1; i < BAN_STRIKES; i++) equal(bans.strike(B), false);
  equal(bans.strike(B), true);
});

Deno.test("BanPolicy convicts the single source at once, and the liar of a mixed piece once it passes", async () => {
  const bans = new BanPolicy();
  deepEqual(await bans.pieceFailed(0, ["p1", "p1"], ["p1", "p1"], () => Promise.reject(new Error("unused"))), ["p1"]);
  const good = new Uint8Array(2 * BLOCK_BYTES).fill(1);
  const bad = good.slice();
  bad[BLOCK_BYTES + 3] = 9; // p2's block was wrong
  deepEqual(await bans.pieceFailed(1, ["p1", "p2"], ["p1", "p2"], () => Promise.resolve(bad)), []);
  equal(bans.suspectPieces, 1);
  deepEqual(await bans.piecePassed(1, () => Promise.resolve(good)), ["p2"]);
  equal(bans.suspectPieces, 0);
  deepEqual(await bans.piecePassed(1, () => Promise.resolve(good)), [], "evidence is used once");
});

Deno.test("BanPolicy keeps at most MAX_SUSPECT_PIECES pieces of evidence and survives unreadable ones", async () => {
  const bans = new BanPolicy();
  const piece = () => Promise.resolve(new Uint8Array(2 * BLOCK_BYTES));
  for (let i = 0; i < MAX_SUSPECT_PIECES + 5; i++) await bans.pieceFailed(i, ["p1", "p2"], ["p1", "p2"], piece);
  equal(bans.suspectPieces, MAX_SUSPECT_PIECES);
  const fresh = new BanPolicy();
  await fresh.pieceFailed(0, ["p1", "p2"], ["p1", "p2"], () => Promise.reject(new Error("io")));
  equal(fresh.suspectPieces, 0);
});
