// JobReader (lib/_hash_job.ts): a job's pieces hashed alike by every SHA-1 it may be given, across file boundaries and
// from an offset into a file, and a file that shrank or vanished reported as a StorageError with its code.

import { type HashJob, JobReader } from "../../lib/_hash_job.ts";
import { nodeSha1 } from "../../lib/_sha1_node.ts";
import { concat, toHex } from "../../lib/bytes.ts";
import { planHashJobs } from "../../lib/create_hashing.ts";
import { StorageError } from "../../lib/errors.ts";
import type { SyncSha1 } from "../../lib/sha1.ts";
import { assertThrowsCode, equal } from "../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { libcSha1OrNull, oraclePieceHashes } from "../_helpers/torrent.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

const libc = libcSha1OrNull("_hash_job_test");

Deno.test("JobReader hashes jobs alike with node:crypto and OpenSSL, pieces across files, small and large", async () => {
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
  });
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

Deno.test("JobReader.run() reports a file that shrank as file_changed and a missing one as read_failed", async () => {
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
      // The reader is still usable after an error.
      await Deno.writeFile(`${tmp}/whole`, new Uint8Array(200).fill(1));
      equal(toHex(reader.run(job(`${tmp}/whole`))), toHex(oraclePieceHashes(new Uint8Array(200).fill(1), 200)));
    } finally {
      reader.close();
    }
  });
});
