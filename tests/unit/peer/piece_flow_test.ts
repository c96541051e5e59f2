// PieceFlow over a real picker, memory storage and in-process PieceWriter: a good piece is verified and written, a
// bad one from a single peer strikes it, and the liar of a mixed bad piece is struck once the piece passes.

import { PiecePicker } from "../../../lib/peer/picker.ts";
import { BLOCK_BYTES } from "../../../lib/pieces.ts";
import { createMemoryStorage } from "../../../lib/storage/storage.ts";
import { deepEqual, equal } from "../../_helpers/assert.ts";
import { seededRandom } from "../../_helpers/random.ts";
import { memoryPieceFlow, PIECE_BYTES, smallTorrent } from "./_torrent.ts";

async function setup() {
  const { meta, data } = await smallTorrent(4);
  const picker = new PiecePicker(meta, { random: seededRandom(2) });
  const storage = createMemoryStorage(meta);
  const tasks: Promise<unknown>[] = [];
  const log: string[] = [];
  const flow = memoryPieceFlow(meta, picker, storage, {
    track: (t) => tasks.push(t),
    fatal: (err) => log.push(`fatal ${err}`),
    pieceVerified: (i) => log.push(`verified ${i}`),
    hashFailed: (i, ids) => log.push(`failed ${i} ${ids.join(",")}`),
    strike: (id) => log.push(`strike ${id}`),
  });
  for (const id of ["p1", "p2"]) {
    picker.addPeer(id);
    picker.peerHaveAll(id);
  }
  /** Deliver piece `index`: block b from `from[b]`, corrupted where `bad[b]`. */
  const deliver = async (index: number, from: string[], bad: boolean[] = []) => {
    for (let b = 0; b < from.length; b++) {
      const reqs = picker.nextRequests(from[b]!, 64).filter((r) =>
        r.pieceIndex === index && r.begin === b * BLOCK_BYTES
      );
      const start = index * PIECE_BYTES + b * BLOCK_BYTES;
      const block = data.slice(start, Math.min(start + BLOCK_BYTES, data.length));
      if (bad[b]) block[0]! ^= 0xff;
      const r = picker.blockReceived(from[b]!, { pieceIndex: index, begin: b * BLOCK_BYTES, length: block.length });
      if (r.type !== "accepted") throw new Error(`block ${index}:${b} ${r.type} (${reqs.length} requests)`);
      flow.block(from[b]!, index, b * BLOCK_BYTES, block, r.isPieceComplete);
    }
    while (tasks.length > 0) await tasks.shift();
  };
  return { meta, data, picker, storage, flow, log, deliver };
}

Deno.test("PieceFlow verifies and writes a good piece, and strikes the single source of a bad one", async () => {
  const { data, picker, storage, log, deliver, flow } = await setup();
  await deliver(0, ["p1", "p1"]);
  deepEqual(log, ["verified 0"]);
  equal(picker.hasPiece(0), true);
  deepEqual(await storage.readPiece(0), data.subarray(0, PIECE_BYTES));
  await deliver(1, ["p2", "p2"], [false, true]);
  deepEqual(log.slice(1), ["failed 1 p2", "strike p2"]);
  equal(picker.hasPiece(1), false);
  equal(flow.pendingWriteBytes, 0);
});

Deno.test("PieceFlow strikes the peer whose block differed once a mixed bad piece passes (smart ban)", async () => {
  const { log, deliver } = await setup();
  await deliver(2, ["p1", "p2"], [false, true]);
  deepEqual(log, ["failed 2 p1,p2"]);
  await deliver(2, ["p1", "p1"]);
  deepEqual(log.slice(1), ["verified 2", "strike p2"]);
});
