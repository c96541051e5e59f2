// lib/create_hashing.ts: jobs of whole pieces, the piece hashes in-process (WebCrypto or node:crypto by piece length)
// and with Workers (prewarmed or not) for both SHA-1 choices, and read errors from any hasher.

import {
  discardPrewarmedHashWorker,
  hasPrewarmedHashWorker,
  prewarmHashWorker,
  takePrewarmedHashWorker,
} from "../../lib/_hash_pool.ts";
import { concat, toHex } from "../../lib/bytes.ts";
import { hashPieces, inProcessHasher, planHashJobs, WEBCRYPTO_MAX_PIECE_BYTES } from "../../lib/create_hashing.ts";
import { StorageError } from "../../lib/errors.ts";
import { assertRejectsCode, deepEqual, equal, ok } from "../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { libcSha1OrNull, oraclePieceHashes } from "../_helpers/torrent.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

const libc = libcSha1OrNull("create_hashing_test");

Deno.test("planHashJobs() splits files into whole pieces, skipping empty files", () => {
  const files = [
    { fsPath: "/a", path: ["a"], length: 40 * KiB },
    { fsPath: "/e", path: ["e"], length: 0 },
    { fsPath: "/b", path: ["b"], length: 30 * KiB },
  ];
  const jobs = [...planHashJobs(files, 16 * KiB, 32 * KiB)];
  deepEqual(jobs.map((j) => [j.firstPiece, j.pieceCount, j.byteLength]), [[0, 2, 32 * KiB], [2, 2, 32 * KiB], [
    4,
    1,
    6 * KiB,
  ]]);
  deepEqual(jobs[1]!.segments, [{ path: "/a", offset: 32 * KiB, length: 8 * KiB }, {
    path: "/b",
    offset: 0,
    length: 24 * KiB,
  }]);
});

Deno.test("hashPieces() hashes pieces across file boundaries, in-process and with Workers", async () => {
  await withTempDir(async (tmp) => {
    const random = seededRandom(3);
    const sizes = [5 * MiB + 123, 0, 7, 12 * MiB + 4567, 1];
    const files = [];
    for (let i = 0; i < sizes.length; i++) {
      const bytes = randomBytes(random, 64 * KiB);
      const data = new Uint8Array(sizes[i]!);
      for (let at = 0; at < data.length; at += bytes.length) data.set(bytes.subarray(0, data.length - at), at);
      data[0] = i;
      await Deno.writeFile(`${tmp}/f${i}`, data);
      files.push({ fsPath: `${tmp}/f${i}`, path: [`f${i}`], length: data.length, data });
    }
    const all = concat(files.map((f) => f.data));
    for (const pl of [16 * KiB, 64 * KiB, 128 * KiB, 256 * KiB, 4 * MiB]) {
      const want = toHex(oraclePieceHashes(all, pl));
      const seen: number[] = [];
      const inline = await hashPieces(files, pl, { threads: 1, onProgress: (p) => seen.push(p.bytesHashed) });
      equal(toHex(inline), want);
      equal(seen.at(-1), all.length);
      equal(toHex(await hashPieces(files, pl, { threads: 3, inlineMaxBytes: 0 })), want);
    }
  });
});

Deno.test("inProcessHasher(): WebCrypto for pieces up to WEBCRYPTO_MAX_PIECE_BYTES, node:crypto above, libc when asked", () => {
  equal(inProcessHasher(16 * KiB, "deno"), "webcrypto");
  equal(inProcessHasher(WEBCRYPTO_MAX_PIECE_BYTES, "deno"), "webcrypto");
  equal(inProcessHasher(WEBCRYPTO_MAX_PIECE_BYTES * 2, "deno"), "node:crypto");
  equal(inProcessHasher(16 * KiB, "libc"), "libc");
});

Deno.test("hashPieces() in-process digests with WebCrypto exactly when inProcessHasher() says so", async () => {
  await withTempDir(async (tmp) => {
    const data = randomBytes(seededRandom(8), 3 * MiB + 9);
    await Deno.writeFile(`${tmp}/f`, data);
    const files = [{ fsPath: `${tmp}/f`, path: ["f"], length: data.length }];
    const subtle = crypto.subtle;
    const digest = subtle.digest;
    let calls = 0;
    subtle.digest = function (this: SubtleCrypto, ...args: Parameters<SubtleCrypto["digest"]>) {
      calls++;
      return digest.apply(this, args);
    };
    try {
      for (const pl of [16 * KiB, WEBCRYPTO_MAX_PIECE_BYTES, 2 * WEBCRYPTO_MAX_PIECE_BYTES, 1 * MiB]) {
        calls = 0;
        equal(toHex(await hashPieces(files, pl, { threads: 1 })), toHex(oraclePieceHashes(data, pl)), `${pl}`);
        equal(calls, inProcessHasher(pl, "deno") === "webcrypto" ? Math.ceil(data.length / pl) : 0, `digests, ${pl}`);
      }
    } finally {
      subtle.digest = digest;
    }
  });
});

Deno.test({
  name: 'hashPieces() with sha1 "libc" gives the default\'s pieces, in-process and with Workers (--sha1 libc)',
  ignore: libc === null && Deno.env.get("CI") !== "true",
  fn: () =>
    withTempDir(async (tmp) => {
      const random = seededRandom(21);
      const files = [];
      for (const [i, size] of [5 * MiB + 3, 1, 4 * MiB].entries()) {
        const data = randomBytes(random, size);
        await Deno.writeFile(`${tmp}/f${i}`, data);
        files.push({ fsPath: `${tmp}/f${i}`, path: [`f${i}`], length: size, data });
      }
      const want = toHex(oraclePieceHashes(concat(files.map((f) => f.data)), 256 * KiB));
      for (const threads of [1, 3]) {
        for (const sha1 of ["deno", "libc"] as const) {
          const got = await hashPieces(files, 256 * KiB, { threads, inlineMaxBytes: 0, sha1 });
          equal(toHex(got), want, `${sha1}, ${threads} threads`);
        }
      }
    }),
});

Deno.test("hashPieces() adopts a prewarmed Worker, even below the in-process size; unused ones are discarded", async () => {
  await withTempDir(async (tmp) => {
    // Three 8 MiB jobs (so that a Worker is worth starting), pieces that differ from MiB to MiB.
    const block = randomBytes(seededRandom(9), 64 * KiB);
    const data = new Uint8Array(17 * MiB + 5);
    for (let at = 0; at < data.length; at += block.length) data.set(block.subarray(0, data.length - at), at);
    for (let at = 0; at < data.length; at += MiB) data[at] = at / MiB;
    await Deno.writeFile(`${tmp}/f`, data);
    const files = [{ fsPath: `${tmp}/f`, path: [], length: data.length }];
    const want = toHex(oraclePieceHashes(data, 256 * KiB));
    prewarmHashWorker();
    prewarmHashWorker(); // idempotent: still one spare
    ok(hasPrewarmedHashWorker());
    // 17 MiB is below INLINE_MAX_BYTES, yet the spare is used.
    equal(toHex(await hashPieces(files, 256 * KiB, { threads: 2 })), want);
    equal(hasPrewarmedHashWorker(), false, "adopted (and terminated by hashPieces)");
    equal(takePrewarmedHashWorker(), null);
    // threads: 1 never uses a Worker: the spare stays until discarded.
    prewarmHashWorker();
    equal(toHex(await hashPieces(files, 256 * KiB, { threads: 1 })), want);
    ok(hasPrewarmedHashWorker());
    discardPrewarmedHashWorker();
    equal(hasPrewarmedHashWorker(), false);
  });
});

Deno.test("hashPieces() reports a file that shrank as a StorageError", async () => {
  await withTempDir(async (tmp) => {
    await Deno.writeFile(`${tmp}/f`, new Uint8Array(100));
    const files = [{ fsPath: `${tmp}/f`, path: ["f"], length: 200 }];
    await assertRejectsCode(() => hashPieces(files, 16 * KiB), StorageError, "file_changed");
    // Large enough for Workers: the error comes back from whichever hasher reads past the end.
    await Deno.writeFile(`${tmp}/big`, new Uint8Array(17 * MiB));
    const big = [{ fsPath: `${tmp}/big`, path: ["big"], length: 20 * MiB }];
    await assertRejectsCode(
      () => hashPieces(big, 16 * KiB, { threads: 2, inlineMaxBytes: 0 }),
      StorageError,
      "file_changed",
    );
    await assertRejectsCode(
      () => hashPieces([{ fsPath: `${tmp}/gone`, path: ["g"], length: 1 }], 16 * KiB),
      StorageError,
      "read_failed",
    );
  });
});
