// PieceWriter in-process (memory storage, no Worker): verify-then-write of whole pieces, bad pieces never reach
// the storage, --only ranges write only their spans, and the bytes come back for reuse. Workers, dying and stalled
// ones are exercised with real files in tests/integration/peer_piece_writer_test.ts.

import { parseMetainfo } from "../../../lib/metainfo.ts";
import { PieceWriter } from "../../../lib/storage/piece_writer.ts";
import { createMemoryStorage } from "../../../lib/storage/storage.ts";
import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../../_helpers/random.ts";
import { buildTorrent } from "../../_helpers/torrent.ts";

const PIECE = 32768;

async function setup() {
  const data = randomBytes(seededRandom(8), 3 * PIECE);
  const meta = await parseMetainfo(buildTorrent({ name: "w", pieceLength: PIECE, data }).bytes);
  const storage = createMemoryStorage(meta);
  return { data, meta, storage, writer: new PieceWriter(storage, { isWorkerEnabled: false }) };
}

Deno.test("PieceWriter.verifyAndWrite() writes a piece that matches its hash and returns its bytes", async () => {
  const { data, storage, writer } = await setup();
  const piece = data.slice(PIECE, 2 * PIECE);
  const { verdict, data: back } = await writer.verifyAndWrite(1, piece);
  equal(verdict, "written");
  deepEqual(back, data.subarray(PIECE, 2 * PIECE));
  deepEqual(await storage.readPiece(1), data.subarray(PIECE, 2 * PIECE));
  ok(await storage.verifyPiece(1));
  writer.close();
});

Deno.test("PieceWriter.verifyAndWrite() never writes a bad piece", async () => {
  const { data, storage, writer } = await setup();
  const piece = data.slice(0, PIECE);
  piece[100]! ^= 1;
  const { verdict } = await writer.verifyAndWrite(0, piece);
  equal(verdict, "bad");
  deepEqual(await storage.readPiece(0), new Uint8Array(PIECE));
  writer.close();
});

Deno.test("PieceWriter.verifyAndWrite() with ranges writes only those spans (--only)", async () => {
  const { data, storage, writer } = await setup();
  const { verdict } = await writer.verifyAndWrite(2, data.slice(2 * PIECE), [{ begin: 1000, length: 500 }]);
  equal(verdict, "written");
  const onDisk = await storage.readPiece(2);
  deepEqual(onDisk.subarray(1000, 1500), data.subarray(2 * PIECE + 1000, 2 * PIECE + 1500));
  equal(onDisk.subarray(0, 1000).some((b) => b !== 0), false);
  equal(onDisk.subarray(1500).some((b) => b !== 0), false);
  writer.close();
});
