import { parseMetainfo } from "../../../lib/metainfo.ts";
import {
  checkPieces,
  createPeerId,
  isSoleSource,
  MAX_QUEUE_BLOCKS,
  MIN_QUEUE_BLOCKS,
  queueBlocksFor,
  RateLimiter,
  wantedPieces,
} from "../../../lib/peer/session.ts";
import { createFsStorage, createMemoryStorage } from "../../../lib/storage/storage.ts";
import { deepEqual, equal, match, ok } from "../../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../../_helpers/random.ts";
import { withTempDir } from "../../_helpers/tmp.ts";
import { buildTorrent } from "../../_helpers/torrent.ts";

Deno.test("queueBlocksFor() grows with the rate between its bounds", () => {
  equal(queueBlocksFor(0), MIN_QUEUE_BLOCKS);
  equal(queueBlocksFor(1e12), MAX_QUEUE_BLOCKS);
  ok(queueBlocksFor(10 * 1024 * 1024) > MIN_QUEUE_BLOCKS);
  ok(queueBlocksFor(20 * 1024 * 1024) >= queueBlocksFor(10 * 1024 * 1024));
});

Deno.test("createPeerId() is 20 bytes with the -BT0100- prefix, deterministic for a seed", () => {
  const a = createPeerId(seededRandom(1));
  equal(a.length, 20);
  match(new TextDecoder().decode(a), /^-BT0100-[0-9A-Za-z]{12}$/);
  deepEqual(a, createPeerId(seededRandom(1)));
});

Deno.test("isSoleSource() convicts only a piece from a single peer", () => {
  ok(isSoleSource(["p1"]));
  ok(isSoleSource(["p1", "p1"]));
  ok(!isSoleSource(["p1", "p2"]));
});

Deno.test("checkPieces() finds the pieces that hash correctly", async () => {
  const data = new Uint8Array(5 * 16384 + 100).map((_, i) => (i * 13) & 0xff);
  const meta = await parseMetainfo(buildTorrent({ data, pieceLength: 16384 }).bytes);
  const damaged = data.slice();
  damaged[16384 * 2 + 5]! ^= 1;
  damaged[data.length - 1]! ^= 1;
  const storage = createMemoryStorage(meta, { data: damaged });
  const seen: number[] = [];
  const have = await checkPieces(storage, { onProgress: (n) => seen.push(n) });
  deepEqual([...have.setIndexes()], [0, 1, 3, 4]);
  equal(seen.at(-1), data.length);
});

Deno.test("checkPieces() on files gives what verifying every piece gives: absent and short files skip the reads", () =>
  withTempDir(async (dir) => {
    const random = seededRandom(9);
    const files = [
      { path: ["a.bin"], data: randomBytes(random, 40000) },
      { path: ["empty"], data: new Uint8Array(0) },
      { path: ["sub", "b.bin"], data: randomBytes(random, 50000) },
      { path: ["c.bin"], data: randomBytes(random, 30000) },
    ];
    const meta = await parseMetainfo(buildTorrent({ name: "m", files, pieceLength: 16384 }).bytes);
    await Deno.mkdir(`${dir}/m/sub`, { recursive: true });
    await Deno.writeFile(`${dir}/m/a.bin`, files[0]!.data); // complete
    await Deno.writeFile(`${dir}/m/sub/b.bin`, files[2]!.data.subarray(0, 30000)); // short; c.bin absent
    const storage = createFsStorage(meta, dir, { isReadOnly: true });
    try {
      const seen: number[] = [];
      const have = await checkPieces(storage, { onProgress: (n) => seen.push(n) });
      const expected: number[] = [];
      for (let i = 0; i < meta.pieceCount; i++) if (await storage.verifyPiece(i)) expected.push(i);
      deepEqual([...have.setIndexes()], expected);
      deepEqual(expected, [0, 1, 2, 3]); // piece 2 straddles a.bin and b.bin's present part; 4 runs past it
      equal(seen.length, meta.pieceCount);
      equal(seen.at(-1), meta.totalLength);
    } finally {
      await storage.close();
    }
  }));

Deno.test("RateLimiter.reserve() allows a one-second burst, then charges the debt in time", () => {
  let t = 1000;
  const limiter = new RateLimiter(1000, { now: () => t });
  equal(limiter.reserve(600), 0);
  equal(limiter.reserve(400), 0);
  equal(limiter.reserve(500), 500);
  equal(limiter.reserve(500), 1000);
  t += 1000; // 1000 bytes refilled: debt 1000 → 0
  equal(limiter.reserve(0), 0);
  t += 10_000; // refill never exceeds one second's worth
  equal(limiter.reserve(1000), 0);
  equal(limiter.reserve(1), 1);
});

Deno.test("wantedPieces() covers every piece touching the chosen files, none for an empty file", async () => {
  const meta = await parseMetainfo(
    buildTorrent({
      pieceLength: 16384,
      files: [
        { path: ["a"], data: new Uint8Array(20000) },
        { path: ["e"], data: new Uint8Array(0) },
        { path: ["b"], data: new Uint8Array(20000) },
        { path: ["c"], data: new Uint8Array(30000) },
      ],
    }).bytes,
  );
  deepEqual([...wantedPieces(meta, new Set([2])).setIndexes()], [1, 2]);
  deepEqual([...wantedPieces(meta, new Set([1])).setIndexes()], []);
  deepEqual([...wantedPieces(meta, new Set([0, 3])).setIndexes()], [0, 1, 2, 3, 4]);
});
