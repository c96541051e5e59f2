import { PREWARM_MIN_BYTES, shouldPrewarmCreate } from "../../cli/_create_prewarm.ts";
import { parseSha1Option } from "../../cli/create.ts";
import {
  discardPrewarmedHashWorker,
  hasPrewarmedHashWorker,
  prewarmHashWorker,
  takePrewarmedHashWorker,
} from "../../lib/_hash_pool.ts";
import { decodeBencode, isDict, rawValue } from "../../lib/bencode.ts";
import { concat, toHex, utf8 } from "../../lib/bytes.ts";
import {
  autoPieceLength,
  checkPieceLength,
  CreateError,
  createTorrent,
  encodeTorrent,
  globToRegExp,
  hashPieces,
  isExcluded,
  listSourceFiles,
  planHashJobs,
  torrentName,
} from "../../lib/create.ts";
import { StorageError, UsageError } from "../../lib/errors.ts";
import { parseMetainfo } from "../../lib/metainfo.ts";
import { openLibcSha1, type SyncSha1 } from "../../lib/sha1.ts";
import { assertRejectsCode, assertThrowsCode, deepEqual, equal, ok } from "../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { oraclePieceHashes } from "../_helpers/torrent.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

// libcrypto.so.3 comes with Debian's libssl3, present wherever btool is tested: under CI=true a missing one fails the
// --sha1 libc test (openLibcSha1 throws there); elsewhere that test is skipped with the reason printed.
let libc: SyncSha1 | null = null;
try {
  libc = openLibcSha1();
} catch (err: unknown) {
  console.log(`create_test: ${err instanceof Error ? err.message : err}: the --sha1 libc test is skipped`);
}
const GiB = 1024 * MiB;

Deno.test("autoPieceLength() aims at 1001-2000 pieces, clamped to 16 KiB..16 MiB", () => {
  equal(autoPieceLength(1), 16 * KiB);
  equal(autoPieceLength(2000 * 16 * KiB), 16 * KiB);
  equal(autoPieceLength(2000 * 16 * KiB + 1), 32 * KiB);
  equal(autoPieceLength(GiB), MiB);
  equal(autoPieceLength(4 * GiB), 4 * MiB);
  equal(autoPieceLength(10 * 1024 * GiB), 16 * MiB);
  for (let size = 40 * MiB; size < 20 * GiB; size = Math.floor(size * 1.37)) {
    const pieces = Math.ceil(size / autoPieceLength(size));
    ok(pieces > 1000 && pieces <= 2000, `${size} bytes gave ${pieces} pieces`);
  }
});

Deno.test("checkPieceLength() accepts powers of two from 16 KiB to 256 MiB only", () => {
  for (const ok of [16 * KiB, 256 * KiB, MiB, 256 * MiB]) checkPieceLength(ok);
  for (const bad of [0, 8 * KiB, 300_000, 16 * KiB + 1, 512 * MiB, -16384, 1.5]) {
    assertThrowsCode(() => checkPieceLength(bad), CreateError, "invalid_piece_length");
  }
});

Deno.test("globToRegExp() without / matches a name at any depth", () => {
  const g = [globToRegExp("*.nfo")];
  ok(isExcluded("a.nfo", g));
  ok(isExcluded("dir/sub/b.nfo", g));
  ok(!isExcluded("a.nfo.txt", g));
  ok(!isExcluded("nfo", g));
  const dir = [globToRegExp(".git")];
  ok(isExcluded(".git", dir));
  ok(isExcluded("sub/.git", dir));
  ok(!isExcluded(".gitignore", dir));
  ok(isExcluded("x1", [globToRegExp("x?")]));
  ok(!isExcluded("x/1", [globToRegExp("x?1")]));
  ok(isExcluded("fa", [globToRegExp("[ef]a")]));
  ok(!isExcluded("fa", [globToRegExp("[!ef]a")]));
  ok(isExcluded("a+b (1).txt", [globToRegExp("a+b (1).txt")]));
});

Deno.test("globToRegExp() with / matches the path from the root; ** spans folders", () => {
  const g = [globToRegExp("sub/*.tmp")];
  ok(isExcluded("sub/x.tmp", g));
  ok(!isExcluded("other/sub/x.tmp", g));
  ok(!isExcluded("sub/deeper/x.tmp", g));
  const deep = [globToRegExp("sub/**/*.tmp")];
  ok(isExcluded("sub/x.tmp", deep));
  ok(isExcluded("sub/a/b/x.tmp", deep));
  ok(isExcluded("sub", [globToRegExp("/sub/")]));
  ok(isExcluded("a/b/c", [globToRegExp("**/c")]));
});

async function makeTree(dir: string, files: Record<string, string | Uint8Array>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const path = `${dir}/${rel}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(path, typeof content === "string" ? utf8(content) : content);
  }
}

Deno.test("listSourceFiles() sorts like mktorrent: bytewise on the whole path, hidden and empty files kept", async () => {
  await withTempDir(async (tmp) => {
    const root = `${tmp}/data`;
    await makeTree(root, {
      "B.txt": "x",
      "a.txt": "y",
      "a b/f": "z",
      "a/f": "q",
      "a-b": "r",
      "empty": "",
      ".hid": "h",
      "é.txt": "e",
      "e.txt": "e",
      "Sub/inner/k": "s",
      "sub/k": "t",
    });
    await Deno.symlink("B.txt", `${root}/link_to_B`);
    await Deno.mkdir(`${root}/emptydir`);
    const tree = await listSourceFiles(root);
    equal(tree.name, "data");
    equal(tree.isSingleFile, false);
    deepEqual(tree.files.map((f) => f.path.join("/")), [
      ".hid",
      "B.txt",
      "Sub/inner/k",
      "a b/f",
      "a-b",
      "a.txt",
      "a/f",
      "e.txt",
      "empty",
      "link_to_B",
      "sub/k",
      "é.txt",
    ]);
    equal(tree.totalLength, 11);
    const excluded = await listSourceFiles(root, { exclude: ["a", "*.txt", "Sub/**"] });
    deepEqual(excluded.files.map((f) => f.path.join("/")), [".hid", "a b/f", "a-b", "empty", "link_to_B", "sub/k"]);
  });
});

Deno.test("listSourceFiles() refuses a missing path, a broken link and a link loop", async () => {
  await withTempDir(async (tmp) => {
    await assertRejectsCode(() => listSourceFiles(`${tmp}/nope`), CreateError, "not_found");
    await Deno.mkdir(`${tmp}/d/x`, { recursive: true });
    await Deno.writeTextFile(`${tmp}/d/f`, "1");
    await Deno.symlink("nowhere", `${tmp}/d/broken`);
    await assertRejectsCode(() => listSourceFiles(`${tmp}/d`), CreateError, "broken_symlink");
    await Deno.remove(`${tmp}/d/broken`);
    await Deno.symlink("..", `${tmp}/d/x/up`);
    await assertRejectsCode(() => listSourceFiles(`${tmp}/d`), CreateError, "symlink_loop");
    await Deno.mkdir(`${tmp}/e`);
    await assertRejectsCode(() => listSourceFiles(`${tmp}/e`), CreateError, "no_files");
    await Deno.writeTextFile(`${tmp}/e/back\\slash`, "1");
    await assertRejectsCode(() => listSourceFiles(`${tmp}/e`), CreateError, "unsafe_name");
  });
});

Deno.test("torrentName() keeps the given last component, resolving only . and ..", async () => {
  await withTempDir(async (tmp) => {
    await Deno.mkdir(`${tmp}/real/inner`, { recursive: true });
    await Deno.symlink(`${tmp}/real`, `${tmp}/link`);
    equal(await torrentName(`${tmp}/link`), "link");
    equal(await torrentName(`${tmp}/real/`), "real");
    equal(await torrentName(`${tmp}/real/inner/..`), "real");
    equal(await torrentName(`${tmp}/real/inner/.`), "inner");
    await assertRejectsCode(() => torrentName(`${tmp}/nope/.`), CreateError, "not_found");
  });
});

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
    for (const pl of [16 * KiB, 256 * KiB, 4 * MiB]) {
      const want = toHex(oraclePieceHashes(all, pl));
      const seen: number[] = [];
      const inline = await hashPieces(files, pl, { threads: 1, onProgress: (p) => seen.push(p.bytesHashed) });
      equal(toHex(inline), want);
      equal(seen.at(-1), all.length);
      equal(toHex(await hashPieces(files, pl, { threads: 3, inlineMaxBytes: 0 })), want);
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

Deno.test("parseSha1Option() takes deno or libc; anything else is a usage error", () => {
  equal(parseSha1Option("deno"), "deno");
  if (Deno.build.os === "linux") equal(parseSha1Option("libc"), "libc");
  for (const bad of ["", "openssl", "LIBC", "node"]) {
    let err: unknown = null;
    try {
      parseSha1Option(bad);
    } catch (e: unknown) {
      err = e;
    }
    ok(err instanceof UsageError, bad);
  }
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

Deno.test("shouldPrewarmCreate() guesses from argv: only create, not --help, enough data", async () => {
  await withTempDir(async (tmp) => {
    await Deno.writeFile(`${tmp}/small`, new Uint8Array(10));
    await Deno.mkdir(`${tmp}/d/e`, { recursive: true });
    for (const name of ["d/a", "d/e/b"]) {
      using f = await Deno.open(`${tmp}/${name}`, { write: true, create: true });
      await f.truncate(PREWARM_MIN_BYTES / 2); // sparse: no real bytes written
    }
    equal(shouldPrewarmCreate(["create", `${tmp}/d/e`, "-a", "http://t/a"]), false, "a folder with too little data");
    equal(shouldPrewarmCreate(["create", `${tmp}/d`, "-a", "http://t/a"]), true, "enough data over two files");
    using big = await Deno.open(`${tmp}/big`, { write: true, create: true });
    await big.truncate(PREWARM_MIN_BYTES);
    equal(shouldPrewarmCreate([]), false);
    equal(shouldPrewarmCreate(["show", `${tmp}/big`]), false);
    equal(shouldPrewarmCreate(["create", `${tmp}/small`, "-a", "http://t/a"]), false);
    equal(shouldPrewarmCreate(["create", "-a", "http://t/a", `${tmp}/big`]), true);
    equal(shouldPrewarmCreate(["create", tmp, "-a", "http://t/a"]), true);
    equal(shouldPrewarmCreate(["create", tmp, "--help"]), false);
    equal(shouldPrewarmCreate(["create", "-h", `${tmp}/big`]), false);
    equal(shouldPrewarmCreate(["create", `${tmp}/missing`]), false);
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

Deno.test("encodeTorrent() writes mktorrent's keys: private and source only when set, one tier per URL", async () => {
  const pieceHashes = new Uint8Array(20);
  const single = encodeTorrent({
    name: "x",
    pieceLength: 16 * KiB,
    pieceHashes,
    content: { type: "single", length: 5 },
  }, {
    announceTiers: [["http://a/1"]],
  });
  const d = decodeBencode(single);
  ok(isDict(d));
  deepEqual([...d.keys()], ["announce", "info"]);
  const info = d.get("info");
  ok(isDict(info));
  deepEqual([...info.keys()], ["length", "name", "piece length", "pieces"]);

  const multi = encodeTorrent({
    name: "d",
    pieceLength: 16 * KiB,
    pieceHashes,
    content: { type: "multi", files: [{ path: ["a", "b"], length: 3 }, { path: ["z"], length: 0 }] },
  }, {
    announceTiers: [["http://a/1"], ["http://b/2", "http://c/3"]],
    isPrivate: true,
    source: "SRC",
    comment: "hi",
    createdBy: "btool test",
    creationDate: 1700000000,
    webSeeds: ["http://w/1"],
  });
  const m = await parseMetainfo(multi);
  equal(m.isPrivate, true);
  equal(m.source, "SRC");
  equal(m.announce, "http://a/1");
  deepEqual(m.announceList, [["http://a/1"], ["http://b/2", "http://c/3"]]);
  deepEqual(m.urlList, ["http://w/1"]);
  equal(m.creationDate, 1700000000);
  deepEqual(m.files.map((f) => [f.path.join("/"), f.length]), [["d/a/b", 3], ["d/z", 0]]);
  const rawInfo = decodeBencode(rawValue(multi, ["info"]));
  ok(isDict(rawInfo));
  deepEqual([...rawInfo.keys()], ["files", "name", "piece length", "pieces", "private", "source"]);
});

Deno.test("createTorrent() makes a single-file torrent whose pieces match the data", async () => {
  await withTempDir(async (tmp) => {
    const data = randomBytes(seededRandom(9), 100 * KiB + 5);
    await Deno.writeFile(`${tmp}/file.bin`, data);
    const t = await createTorrent(`${tmp}/file.bin`, { pieceLength: 32 * KiB, announceTiers: [["http://t/announce"]] });
    equal(t.metainfo.name, "file.bin");
    equal(t.metainfo.isMultiFile, false);
    equal(t.metainfo.pieceCount, 4);
    equal(toHex(t.metainfo.pieceHashes), toHex(oraclePieceHashes(data, 32 * KiB)));
    equal(t.infoHash.hex, (await parseMetainfo(t.bytes)).infoHash.hex);
    const auto = await createTorrent(`${tmp}/file.bin`, {});
    equal(auto.metainfo.pieceLength, 16 * KiB);
    await Deno.writeFile(`${tmp}/empty`, new Uint8Array(0));
    await assertRejectsCode(() => createTorrent(`${tmp}/empty`), CreateError, "empty_data");
  });
});

Deno.test("listSourceFiles() refuses names parsing would change, so verify and peer find every file (#19)", async () => {
  await withTempDir(async (tmp) => {
    for (const bad of ["a:b.txt", "CON.txt", "dot.", "esc\x1bx", "what?"]) {
      await Deno.mkdir(`${tmp}/${bad}-dir`);
      await Deno.writeTextFile(`${tmp}/${bad}-dir/${bad}`, "1");
      await assertRejectsCode(() => listSourceFiles(`${tmp}/${bad}-dir`), CreateError, "unsafe_name");
    }
    await Deno.mkdir(`${tmp}/case/Sub`, { recursive: true });
    await Deno.writeTextFile(`${tmp}/case/Read.txt`, "1");
    await Deno.writeTextFile(`${tmp}/case/Sub/x`, "1");
    equal((await listSourceFiles(`${tmp}/case`)).files.length, 2);
    await Deno.writeTextFile(`${tmp}/case/read.TXT`, "2");
    await assertRejectsCode(() => listSourceFiles(`${tmp}/case`), CreateError, "unsafe_name");
    await Deno.remove(`${tmp}/case/read.TXT`);
    await Deno.writeTextFile(`${tmp}/case/sub`, "3");
    await assertRejectsCode(() => listSourceFiles(`${tmp}/case`), CreateError, "unsafe_name");
  });
});
