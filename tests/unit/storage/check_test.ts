// checkPieces (which pieces of a Storage are there, skipping reads of absent or short files) and checkData (per-file
// verdicts of `btool verify`), on memory storage and temp dirs.

import { parseMetainfo } from "../../../lib/metainfo.ts";
import { checkData, checkPieces } from "../../../lib/storage/check.ts";
import { createFsStorage, createMemoryStorage } from "../../../lib/storage/storage.ts";
import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../../_helpers/random.ts";
import { withTempDir } from "../../_helpers/tmp.ts";
import { buildTorrent } from "../../_helpers/torrent.ts";

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

Deno.test("checkData() reports ok, bad, missing and wrong_size files and the good pieces", () =>
  withTempDir(async (dir) => {
    const random = seededRandom(4);
    const files = [
      { path: ["ok.bin"], data: randomBytes(random, 32768) },
      { path: ["bad.bin"], data: randomBytes(random, 32768) },
      { path: ["gone.bin"], data: randomBytes(random, 16384) },
      { path: ["short.bin"], data: randomBytes(random, 16384) },
    ];
    const meta = await parseMetainfo(buildTorrent({ name: "v", files, pieceLength: 16384 }).bytes);
    await Deno.mkdir(`${dir}/v`);
    await Deno.writeFile(`${dir}/v/ok.bin`, files[0]!.data);
    const damaged = files[1]!.data.slice();
    damaged[20000]! ^= 1;
    await Deno.writeFile(`${dir}/v/bad.bin`, damaged);
    await Deno.writeFile(`${dir}/v/short.bin`, files[3]!.data.subarray(0, 100));
    const seen: number[] = [];
    const report = await checkData(meta, dir, { onProgress: (n) => seen.push(n) });
    deepEqual(report.files.map((f) => [f.path, f.status, f.badPieces]), [
      ["v/ok.bin", "ok", 0],
      ["v/bad.bin", "bad", 1],
      ["v/gone.bin", "missing", 1],
      ["v/short.bin", "wrong_size", 1],
    ]);
    equal(report.goodPieces, 3);
    equal(report.isComplete, false);
    ok(seen.every((n, i) => i === 0 || n > seen[i - 1]!), "progress only grows");
    equal(seen.at(-1), meta.totalLength);
  }));
