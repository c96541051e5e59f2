// JobReader (lib/_hash_job.ts): a job's pieces hashed alike by every SHA-1 it may be given, across file boundaries and
// from an offset into a file, and a file that shrank or vanished reported as a StorageError with its code.

import { DIGEST_BYTES_IN_FLIGHT, DIGESTS_IN_FLIGHT, type HashJob, JobReader } from "../../lib/_hash_job.ts";
import { nodeSha1 } from "../../lib/_sha1_node.ts";
import { concat, toHex } from "../../lib/bytes.ts";
import { planHashJobs } from "../../lib/create_hashing.ts";
import { StorageError } from "../../lib/errors.ts";
import { sha1, type SyncSha1 } from "../../lib/sha1.ts";
import { assert, assertRejectsCode, assertThrowsCode, equal, ok } from "../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { libcSha1OrNull, oraclePieceHashes } from "../_helpers/torrent.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

const libc = libcSha1OrNull("_hash_job_test");

Deno.test("JobReader hashes jobs alike with node:crypto, OpenSSL and WebCrypto (runAsync), pieces across files, small and large", async () => {
  await withTempDir(async (tmp) => {
    const random = seededRandom(4);
    const files = [];
    for (const [i, size] of [3 * MiB + 5, 0, 2 * MiB + 77].entries()) {
      const data = randomBytes(random, size);
      await Deno.writeFile(`${tmp}/f${i}`, data);
      files.push({ fsPath: `${tmp}/f${i}`, path: [`f${i}`], length: size, data });
    }
    const all = concat(files.map((f) => f.data));
    const hashers: [string, SyncSha1][] = [["node:crypto", nodeSha1]];
    if (libc !== null) hashers.push(["OpenSSL", libc]);
    for (const [name, native] of hashers) {
      for (const pl of [16 * KiB, 256 * KiB, 2 * MiB]) {
        const reader = new JobReader(native);
        const out = new Uint8Array(Math.ceil(all.length / pl) * 20);
        try {
          for (const job of planHashJobs(files, pl, 1 * MiB)) out.set(reader.run(job), job.firstPiece * 20);
        } finally {
          reader.close();
        }
        equal(toHex(out), toHex(oraclePieceHashes(all, pl)), `${name}, ${pl}`);
      }
    }
    for (const pl of [16 * KiB, 256 * KiB, 2 * MiB, 16 * MiB]) {
      const reader = new JobReader();
      const out = new Uint8Array(Math.ceil(all.length / pl) * 20);
      try {
        for (const job of planHashJobs(files, pl, 1 * MiB)) out.set(await reader.runAsync(job), job.firstPiece * 20);
      } finally {
        reader.close();
      }
      equal(toHex(out), toHex(oraclePieceHashes(all, pl)), `WebCrypto (runAsync), ${pl}`);
    }
  });
});

Deno.test("JobReader.runAsync() keeps at most DIGESTS_IN_FLIGHT digests and DIGEST_BYTES_IN_FLIGHT bytes at once", async () => {
  await withTempDir(async (tmp) => {
    const data = randomBytes(seededRandom(6), 6 * MiB + 3);
    await Deno.writeFile(`${tmp}/f`, data);
    const files = [{ fsPath: `${tmp}/f`, path: ["f"], length: data.length }];
    for (const pl of [16 * KiB, 2 * MiB]) {
      let now = 0, most = 0, mostBytes = 0, bytes = 0;
      const slow = async (piece: Uint8Array): Promise<Uint8Array> => {
        const copy = piece.slice(); // copied when called, as sha1() does
        now++;
        bytes += copy.length;
        most = Math.max(most, now);
        mostBytes = Math.max(mostBytes, bytes);
        await new Promise((r) => setTimeout(r, 0));
        now--;
        bytes -= copy.length;
        return await sha1(copy);
      };
      const reader = new JobReader();
      const out = new Uint8Array(Math.ceil(data.length / pl) * 20);
      try {
        for (const job of planHashJobs(files, pl)) out.set(await reader.runAsync(job, slow), job.firstPiece * 20);
      } finally {
        reader.close();
      }
      equal(toHex(out), toHex(oraclePieceHashes(data, pl)), `pieces of ${pl}`);
      const cap = Math.max(1, Math.min(DIGESTS_IN_FLIGHT, Math.floor(DIGEST_BYTES_IN_FLIGHT / pl)));
      equal(most, cap, `digests at once, pieces of ${pl}`);
      ok(mostBytes <= Math.max(pl, DIGEST_BYTES_IN_FLIGHT), `bytes at once, pieces of ${pl}: ${mostBytes}`);
    }
  });
});

Deno.test("JobReader.run() of a reader made without a synchronous SHA-1 says so", () => {
  const job: HashJob = { id: 0, firstPiece: 0, pieceCount: 0, pieceLength: 16 * KiB, byteLength: 0, segments: [] };
  assert.throws(() => new JobReader().run(job), { name: "TypeError", message: /synchronous SHA-1/ });
});

Deno.test("JobReader.run() hashes a job that starts inside a file and spans two, with pieces smaller than a read", async () => {
  await withTempDir(async (tmp) => {
    const random = seededRandom(5);
    const a = randomBytes(random, 100 * KiB);
    const b = randomBytes(random, 50 * KiB);
    await Deno.writeFile(`${tmp}/a`, a);
    await Deno.writeFile(`${tmp}/b`, b);
    // Pieces 3..9 of 16 KiB: from 48 KiB into a, through the rest of a and 45 KiB of b (the last piece is short).
    const data = concat([a.subarray(48 * KiB), b.subarray(0, 45 * KiB)]);
    const job: HashJob = {
      id: 7,
      firstPiece: 3,
      pieceCount: 7,
      pieceLength: 16 * KiB,
      byteLength: data.length,
      segments: [{ path: `${tmp}/a`, offset: 48 * KiB, length: 52 * KiB }, {
        path: `${tmp}/b`,
        offset: 0,
        length: 45 * KiB,
      }],
    };
    const reader = new JobReader(nodeSha1);
    try {
      equal(toHex(reader.run(job)), toHex(oraclePieceHashes(data, 16 * KiB)));
      equal(toHex(reader.run(job)), toHex(oraclePieceHashes(data, 16 * KiB)), "again, seeking back");
    } finally {
      reader.close();
    }
  });
});

Deno.test("JobReader.run() and runAsync() report a file that shrank as file_changed and a missing one as read_failed", async () => {
  await withTempDir(async (tmp) => {
    await Deno.writeFile(`${tmp}/short`, new Uint8Array(100));
    const job = (path: string): HashJob => ({
      id: 0,
      firstPiece: 0,
      pieceCount: 1,
      pieceLength: 16 * KiB,
      byteLength: 200,
      segments: [{ path, offset: 0, length: 200 }],
    });
    const reader = new JobReader(nodeSha1);
    try {
      assertThrowsCode(() => reader.run(job(`${tmp}/short`)), StorageError, "file_changed");
      assertThrowsCode(() => reader.run(job(`${tmp}/gone`)), StorageError, "read_failed");
      await assertRejectsCode(() => reader.runAsync(job(`${tmp}/short`)), StorageError, "file_changed");
      await assertRejectsCode(() => reader.runAsync(job(`${tmp}/gone`)), StorageError, "read_failed");
      // The reader is still usable after an error.
      await Deno.writeFile(`${tmp}/whole`, new Uint8Array(200).fill(1));
      equal(toHex(reader.run(job(`${tmp}/whole`))), toHex(oraclePieceHashes(new Uint8Array(200).fill(1), 200)));
    } finally {
      reader.close();
    }
  });
});
