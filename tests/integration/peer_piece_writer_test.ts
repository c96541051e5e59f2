// PieceWriter: pieces verified and written on a Worker (whole pieces and --only ranges, bad pieces never written),
// in-process for memory storage, and robust when the Worker dies, hangs or cannot load: jobs it held settle as
// "lost", later ones are done in-process, nothing waits forever; a session with a dying Worker still completes.

import { equals } from "../../lib/bytes.ts";
import { parseMetainfo } from "../../lib/metainfo.ts";
import { createSession, type Session } from "../../lib/peer/session.ts";
import { pieceSize } from "../../lib/pieces.ts";
import { type PieceVerdict, PieceWriter } from "../../lib/storage/piece_writer.ts";
import { createFsStorage, createMemoryStorage } from "../../lib/storage/storage.ts";
import { deepEqual, equal, ok } from "../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { buildTorrent } from "../_helpers/torrent.ts";
import { memorySeed } from "../_helpers/session.ts";

const PIECE = 32768;
const DYING = new URL("./_peer_dying_worker.ts", import.meta.url).href;
const SILENT = new URL("./_peer_silent_worker.ts", import.meta.url).href;
/** Bound on a whole download in these tests. */
const DOWNLOAD_TIMEOUT_MS = 60_000;

async function fixture() {
  const random = seededRandom(11);
  const files = [
    { path: ["a.bin"], data: randomBytes(random, 50_000) },
    { path: ["sub", "b.bin"], data: randomBytes(random, 70_001) },
  ];
  const { bytes, data } = buildTorrent({ name: "pw", pieceLength: PIECE, files });
  return { meta: await parseMetainfo(bytes), data };
}

function piece(data: Uint8Array, meta: { pieceLength: number }, i: number, size: number): Uint8Array {
  return data.slice(i * meta.pieceLength, i * meta.pieceLength + size);
}

Deno.test("PieceWriter verifies and writes pieces on two Workers; a bad piece is not written", async () => {
  const { meta, data } = await fixture();
  await withTempDir(async (dir) => {
    const storage = createFsStorage(meta, dir);
    const warnings: string[] = [];
    const writer = new PieceWriter(storage, { workers: 2, onWarning: (m) => warnings.push(m) });
    try {
      ok(writer.isUsingWorker);
      const verdicts: Promise<PieceVerdict>[] = [];
      for (let i = 0; i < meta.pieceCount; i++) {
        verdicts.push(writer.verifyAndWrite(i, piece(data, meta, i, pieceSize(meta, i))));
      }
      for (const v of await Promise.all(verdicts)) equal(v.verdict, "written");
      const bad = piece(data, meta, 0, PIECE);
      bad[5] = bad[5]! ^ 1;
      const expected = bad.slice();
      const v = await writer.verifyAndWrite(0, bad);
      equal(v.verdict, "bad");
      ok(v.data !== null && equals(v.data, expected), "the bytes come back for smart banning");
      for (let i = 0; i < meta.pieceCount; i++) ok(await storage.verifyPiece(i), `piece ${i} on disk`);
      deepEqual(warnings, []);
    } finally {
      writer.close();
      await storage.close();
    }
  });
});

Deno.test("PieceWriter writes only the given ranges of a piece (--only)", async () => {
  const { meta, data } = await fixture();
  await withTempDir(async (dir) => {
    const storage = createFsStorage(meta, dir);
    const writer = new PieceWriter(storage);
    try {
      // Piece 1 spans a.bin (bytes 32768..50000) and sub/b.bin: write only the b.bin part.
      const v = await writer.verifyAndWrite(1, piece(data, meta, 1, PIECE), [{
        begin: 50_000 - PIECE,
        length: PIECE * 2 - 50_000,
      }]);
      equal(v.verdict, "written");
      const b = await Deno.readFile(`${dir}/pw/sub/b.bin`);
      ok(equals(b, data.subarray(50_000, PIECE * 2)));
      ok(await Deno.stat(`${dir}/pw/a.bin`).then(() => false, () => true), "a.bin untouched");
    } finally {
      writer.close();
      await storage.close();
    }
  });
});

Deno.test("PieceWriter hashes in-process for memory storage", async () => {
  const { meta, data } = await fixture();
  const storage = createMemoryStorage(meta);
  const writer = new PieceWriter(storage);
  try {
    ok(!writer.isUsingWorker);
    const p = piece(data, meta, 2, pieceSize(meta, 2));
    equal((await writer.verifyAndWrite(2, p)).verdict, "written");
    ok(await storage.verifyPiece(2));
    p[0] = p[0]! ^ 1;
    equal((await writer.verifyAndWrite(2, p)).verdict, "bad");
  } finally {
    writer.close();
  }
});

for (
  const [what, workerUrl] of [
    ["dies", DYING],
    ["hangs", SILENT],
    ["cannot load", new URL("./_no_such_worker.ts", import.meta.url).href],
  ] as const
) {
  Deno.test(`PieceWriter: a Worker that ${what} loses only the jobs it held; later ones run in-process`, async () => {
    const { meta, data } = await fixture();
    await withTempDir(async (dir) => {
      const storage = createFsStorage(meta, dir);
      const warnings: string[] = [];
      const writer = new PieceWriter(storage, { workerUrl, stallMs: 100, onWarning: (m) => warnings.push(m) });
      try {
        const first = await Promise.all([0, 1].map((i) => writer.verifyAndWrite(i, piece(data, meta, i, PIECE))));
        for (const v of first) {
          equal(v.verdict, "lost");
          equal(v.data, null);
        }
        ok(!writer.isUsingWorker);
        ok(warnings.length >= 1 && warnings.length <= 2, warnings.join("\n")); // one per Worker
        for (let i = 0; i < meta.pieceCount; i++) {
          equal((await writer.verifyAndWrite(i, piece(data, meta, i, pieceSize(meta, i)))).verdict, "written");
        }
        for (let i = 0; i < meta.pieceCount; i++) ok(await storage.verifyPiece(i));
        equal(writer.pendingJobs, 0);
      } finally {
        writer.close();
        await storage.close();
      }
    });
  });
}

Deno.test("createSession() completes to disk when its piece Worker dies (lost pieces are fetched again)", async () => {
  const { meta, data } = await fixture();
  await withTempDir(async (dir) => {
    const sessions: Session[] = [];
    const storage = createFsStorage(meta, dir);
    const warnings: string[] = [];
    try {
      const seed = memorySeed(meta, data);
      sessions.push(seed);
      const done = Promise.withResolvers<void>();
      const leecher = createSession(meta, {
        storage,
        hostname: "127.0.0.1",
        isAnnouncing: false,
        peers: [{ hostname: "127.0.0.1", port: seed.port }],
        pieceWriter: { workerUrl: DYING },
        onWarning: (m) => warnings.push(m),
        onComplete: () => done.resolve(),
      });
      sessions.push(leecher);
      const timer = setTimeout(() => done.reject(new Error("download did not complete")), DOWNLOAD_TIMEOUT_MS);
      try {
        await done.promise;
      } finally {
        clearTimeout(timer);
      }
      ok(warnings.some((w) => w.includes("piece worker failed")), warnings.join("\n"));
      equal(leecher.status().banned, 0);
    } finally {
      await Promise.all(sessions.map((s) => s.stop()));
      await storage.close();
    }
    for (let i = 0; i < meta.pieceCount; i++) {
      const check = createFsStorage(meta, dir, { isReadOnly: true });
      try {
        ok(await check.verifyPiece(i), `piece ${i}`);
      } finally {
        await check.close();
      }
    }
    ok(equals(await Deno.readFile(`${dir}/pw/a.bin`), data.subarray(0, 50_000)));
  });
});
