import { PREWARM_MIN_BYTES, shouldPrewarmCreate } from "../../cli/_create_prewarm.ts";
import { parseSha1Option } from "../../cli/create.ts";
import { decodeBencode, isDict, rawValue } from "../../lib/bencode.ts";
import { toHex } from "../../lib/bytes.ts";
import { autoPieceLength, checkPieceLength, CreateError, createTorrent, encodeTorrent } from "../../lib/create.ts";
import { UsageError } from "../../lib/errors.ts";
import { parseMetainfo } from "../../lib/metainfo.ts";
import { assertRejectsCode, assertThrowsCode, deepEqual, equal, ok } from "../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { oraclePieceHashes } from "../_helpers/torrent.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
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
