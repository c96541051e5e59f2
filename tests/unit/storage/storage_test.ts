import { StorageError } from "../../../lib/errors.ts";
import { parseMetainfo } from "../../../lib/metainfo.ts";
import {
  createEmptyFiles,
  createFsStorage,
  createMemoryStorage,
  dataPath,
  type Storage,
} from "../../../lib/storage/storage.ts";
import { assertRejectsCode, deepEqual, equal } from "../../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../../_helpers/random.ts";
import { withTempDir } from "../../_helpers/tmp.ts";
import { blockSpans, buildTorrent } from "../../_helpers/torrent.ts";

const random = seededRandom(5);
// Files sized so pieces of 16 KiB straddle boundaries, with a zero-length file in between.
const FILES = [
  { path: ["a.bin"], data: randomBytes(random, 20000) },
  { path: ["empty"], data: new Uint8Array(0) },
  { path: ["sub", "b.bin"], data: randomBytes(random, 30000) },
  { path: ["c.bin"], data: randomBytes(random, 100) },
];
const TORRENT = buildTorrent({ name: "multi", files: FILES });
const META = await parseMetainfo(TORRENT.bytes);

type Factory = (fn: (storage: Storage) => Promise<void>) => Promise<void>;

const IMPLEMENTATIONS: [string, Factory][] = [
  ["memory", async (fn) => {
    const s = createMemoryStorage(META);
    try {
      await fn(s);
    } finally {
      await s.close();
    }
  }],
  ["fs", (fn) =>
    withTempDir(async (dir) => {
      const s = createFsStorage(META, dir);
      try {
        await fn(s);
      } finally {
        await s.close();
      }
    })],
];

async function writeAll(s: Storage): Promise<void> {
  for (let i = 0; i < META.pieceCount; i++) {
    for (const span of blockSpans(META, i)) {
      const at = i * META.pieceLength + span.begin;
      await s.writeBlock(i, span.begin, TORRENT.data.subarray(at, at + span.length));
    }
  }
}

for (const [kind, withStorage] of IMPLEMENTATIONS) {
  Deno.test(`Storage (${kind}) writes blocks across file boundaries and reads them back`, () =>
    withStorage(async (s) => {
      await writeAll(s);
      for (let i = 0; i < META.pieceCount; i++) {
        equal(await s.verifyPiece(i), true, `piece ${i}`);
        deepEqual(await s.readPiece(i), TORRENT.data.slice(i * META.pieceLength, (i + 1) * META.pieceLength));
      }
      deepEqual(await s.readBlock(1, 3000, 1000), TORRENT.data.slice(16384 + 3000, 16384 + 4000));
    }));

  Deno.test(`Storage (${kind}) verifyPiece() calls in flight at once each judge their own piece`, () =>
    withStorage(async (s) => {
      await writeAll(s);
      await s.writeBlock(1, 5, new Uint8Array([TORRENT.data[META.pieceLength + 5]! ^ 1]));
      const verdicts = await Promise.all(Array.from({ length: META.pieceCount }, (_, i) => s.verifyPiece(i)));
      deepEqual(verdicts, Array.from({ length: META.pieceCount }, (_, i) => i !== 1));
    }));

  Deno.test(`Storage (${kind}) verifyPiece() is false for a corrupt piece`, () =>
    withStorage(async (s) => {
      await writeAll(s);
      await s.writeBlock(1, 100, new Uint8Array([TORRENT.data[16484]! ^ 1]));
      equal(await s.verifyPiece(0), true);
      equal(await s.verifyPiece(1), false);
      equal(await s.verifyPiece(2), true);
    }));

  Deno.test(`Storage (${kind}) refuses ranges outside a piece`, () =>
    withStorage(async (s) => {
      await assertRejectsCode(() => s.readBlock(META.pieceCount, 0, 1), StorageError, "range");
      await assertRejectsCode(() => s.readBlock(0, 16000, 1000), StorageError, "range");
      await assertRejectsCode(() => s.writeBlock(-1, 0, new Uint8Array(1)), StorageError, "range");
      await assertRejectsCode(() => s.verifyPiece(99), StorageError, "range");
    }));
}

Deno.test("createFsStorage() lays files out as DIR/<name>/<path…> and DIR/<name>", () =>
  withTempDir(async (dir) => {
    const s = createFsStorage(META, dir);
    try {
      await writeAll(s);
    } finally {
      await s.close();
    }
    deepEqual(await Deno.readFile(`${dir}/multi/sub/b.bin`), FILES[2]!.data);
    deepEqual(await Deno.readFile(`${dir}/multi/a.bin`), FILES[0]!.data);
    equal(dataPath(dir + "/", META.files[3]!), `${dir}/multi/c.bin`);

    const single = await parseMetainfo(buildTorrent({ name: "one.bin", data: FILES[2]!.data }).bytes);
    await Deno.writeFile(`${dir}/one.bin`, FILES[2]!.data);
    const r = createFsStorage(single, dir, { isReadOnly: true });
    try {
      equal(await r.verifyPiece(0), true);
      equal(await r.verifyPiece(1), true);
      await assertRejectsCode(() => r.writeBlock(0, 0, new Uint8Array(1)), StorageError, "read_only");
    } finally {
      await r.close();
    }
  }));

Deno.test("createFsStorage() reports missing and short files", () =>
  withTempDir(async (dir) => {
    const s = createFsStorage(META, dir, { isReadOnly: true });
    try {
      await assertRejectsCode(() => s.readPiece(0), StorageError, "missing");
      equal(await s.verifyPiece(0), false);
      await Deno.mkdir(`${dir}/multi`);
      await Deno.writeFile(`${dir}/multi/a.bin`, FILES[0]!.data.subarray(0, 10000));
      await assertRejectsCode(() => s.readBlock(0, 0, 16384), StorageError, "short_read");
      equal(await s.verifyPiece(0), false);
    } finally {
      await s.close();
    }
    await assertRejectsCode(() => s.readPiece(0), StorageError, "closed");
  }));

Deno.test("createFsStorage() never touches BEP 47 padding files and reads them as zeros", () =>
  withTempDir(async (dir) => {
    const data = randomBytes(random, 100);
    const { bytes } = buildTorrent({
      name: "h",
      data: new Uint8Array([...data, ...new Uint8Array(16284), ...data]),
      info: {
        length: undefined,
        files: [{ length: 100, path: ["a"] }, { attr: "p", length: 16284, path: [".pad", "16284"] }, {
          length: 100,
          path: ["b"],
        }],
      },
    });
    const meta = await parseMetainfo(bytes);
    const s = createFsStorage(meta, dir);
    try {
      await s.writeBlock(0, 0, new Uint8Array([...data, ...new Uint8Array(16284)]));
      await s.writeBlock(1, 0, data);
      equal(await s.verifyPiece(0), true);
      equal(await s.verifyPiece(1), true);
      deepEqual(await s.readBlock(0, 90, 20), new Uint8Array([...data.subarray(90), ...new Uint8Array(10)]));
    } finally {
      await s.close();
    }
    deepEqual((await Array.fromAsync(Deno.readDir(`${dir}/h`))).map((e) => e.name).sort(), ["a", "b"]);
  }));

Deno.test("createEmptyFiles() creates zero-length files and their folders", () =>
  withTempDir(async (dir) => {
    await createEmptyFiles(META, dir);
    equal((await Deno.stat(`${dir}/multi/empty`)).size, 0);
    const s = createFsStorage(META, dir);
    try {
      await writeAll(s);
    } finally {
      await s.close();
    }
    await createEmptyFiles(META, dir);
    deepEqual(await Deno.readFile(`${dir}/multi/a.bin`), FILES[0]!.data);
  }));

Deno.test("createFsStorage().fileSizes() gives each file's size on disk, null when absent", () =>
  withTempDir(async (dir) => {
    const s = createFsStorage(META, dir, { isReadOnly: true });
    try {
      deepEqual(await s.fileSizes!(), [null, null, null, null]);
      await Deno.mkdir(`${dir}/multi/sub`, { recursive: true });
      await Deno.writeFile(`${dir}/multi/a.bin`, FILES[0]!.data.subarray(0, 10000));
      await Deno.writeFile(`${dir}/multi/sub/b.bin`, FILES[2]!.data);
      deepEqual(await s.fileSizes!(), [10000, null, 30000, null]);
      equal(createMemoryStorage(META).fileSizes, undefined);
    } finally {
      await s.close();
    }
  }));
