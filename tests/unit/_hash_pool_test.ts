// The spare hash Worker (lib/_hash_pool.ts): at most one is started, taken once, discarded when unused; and a Worker
// it starts speaks the hash protocol of lib/_hash_worker.ts (jobs claimed from the shared counter, digests, then
// finished; a missing file as an error reply with its code).

import {
  discardPrewarmedHashWorker,
  hasPrewarmedHashWorker,
  prewarmHashWorker,
  spawnHashWorker,
  takePrewarmedHashWorker,
} from "../../lib/_hash_pool.ts";
import type { HashJob } from "../../lib/_hash_job.ts";
import type { HashReply, HashStart } from "../../lib/_hash_worker.ts";
import { toHex } from "../../lib/bytes.ts";
import { deepEqual, equal, ok } from "../_helpers/assert.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { oraclePieceHashes } from "../_helpers/torrent.ts";

Deno.test("prewarmHashWorker() starts one spare; take gives it once; discard ends an unused one", () => {
  equal(hasPrewarmedHashWorker(), false);
  equal(takePrewarmedHashWorker(), null);
  prewarmHashWorker();
  ok(hasPrewarmedHashWorker());
  prewarmHashWorker(); // idempotent
  const w = takePrewarmedHashWorker();
  ok(w instanceof Worker);
  equal(hasPrewarmedHashWorker(), false);
  equal(takePrewarmedHashWorker(), null, "taken once");
  w.terminate();
  prewarmHashWorker();
  ok(hasPrewarmedHashWorker());
  discardPrewarmedHashWorker();
  equal(hasPrewarmedHashWorker(), false);
  equal(takePrewarmedHashWorker(), null);
});

/** Run `jobs` on one spawned Worker; its replies in order, up to "finished" or an error. */
async function runWorker(jobs: HashJob[]): Promise<HashReply[]> {
  const w = spawnHashWorker();
  const replies: HashReply[] = [];
  const { promise, resolve } = Promise.withResolvers<void>();
  w.onmessage = (e: MessageEvent<HashReply>) => {
    replies.push(e.data);
    if (e.data.type !== "done") resolve();
  };
  const start: HashStart = { jobs, next: new Int32Array(new SharedArrayBuffer(4)), sha1: "deno" };
  w.postMessage(start);
  try {
    await promise;
  } finally {
    w.terminate();
  }
  return replies;
}

Deno.test("spawnHashWorker(): the Worker hashes every job once, then says finished; a missing file is an error", async () => {
  await withTempDir(async (tmp) => {
    const data = Uint8Array.from({ length: 40_000 }, (_, i) => i % 253);
    await Deno.writeFile(`${tmp}/f`, data);
    const job = (id: number, firstPiece: number, path = `${tmp}/f`): HashJob => ({
      id,
      firstPiece,
      pieceCount: 1,
      pieceLength: 20_000,
      byteLength: 20_000,
      segments: [{ path, offset: firstPiece * 20_000, length: 20_000 }],
    });
    const replies = await runWorker([job(0, 0), job(1, 1)]);
    deepEqual(replies.map((r) => r.type === "done" ? `done ${r.id} ${toHex(r.digests)}` : r.type), [
      `done 0 ${toHex(oraclePieceHashes(data.subarray(0, 20_000), 20_000))}`,
      `done 1 ${toHex(oraclePieceHashes(data.subarray(20_000), 20_000))}`,
      "finished",
    ]);
    const failed = await runWorker([job(0, 0, `${tmp}/gone`)]);
    deepEqual(failed.map((r) => r.type === "error" ? `${r.id} ${r.code}` : r.type), ["0 read_failed"]);
  });
});
