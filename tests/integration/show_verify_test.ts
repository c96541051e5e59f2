// `btool show` and `btool verify` end to end: torrents built in the test, data written to a temp dir.

import { parseMetainfo } from "../../lib/metainfo.ts";
import { formatPercent } from "../../cli/verify.ts";
import { checkData } from "../../lib/storage/check.ts";
import { deepEqual, equal, match, ok } from "../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";
import { fixturePath, withTempDir } from "../_helpers/tmp.ts";
import { runBtool } from "../_helpers/tools.ts";
import { terminalSafe } from "../../cli/_escape.ts";
import { buildTorrent, type TestFile } from "../_helpers/torrent.ts";

const random = seededRandom(42);
// 16 KiB pieces: piece 1 straddles a.bin/b.bin, piece 3 straddles b.bin/c.bin; piece 2 lies inside b.bin.
const FILES: TestFile[] = [
  { path: ["a.bin"], data: randomBytes(random, 20000) },
  { path: ["empty.txt"], data: new Uint8Array(0) },
  { path: ["sub", "b.bin"], data: randomBytes(random, 40000) },
  { path: ["c.bin"], data: randomBytes(random, 5000) },
];

async function writeData(dir: string, name: string, files: TestFile[]): Promise<void> {
  for (const f of files) {
    const path = [dir, name, ...f.path].join("/");
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(path, f.data);
  }
}

async function setUp(dir: string): Promise<string> {
  const { bytes } = buildTorrent({
    name: "multi",
    files: FILES,
    info: { private: 1 },
    top: { comment: "hello", "announce-list": [["http://127.0.0.1:1/announce"], ["udp://127.0.0.1:2"]] },
  });
  await Deno.writeFile(`${dir}/t.torrent`, bytes);
  await writeData(dir, "multi", FILES);
  return `${dir}/t.torrent`;
}

Deno.test("btool verify exits 0 for complete, correct multi-file data", () =>
  withTempDir(async (dir) => {
    const torrent = await setUp(dir);
    const r = await runBtool(["verify", torrent, dir]);
    equal(r.code, 0, r.stderr);
    match(r.stdout, /^ok\s+multi\/sub\/b\.bin$/m);
    match(r.stdout, /100\.0% complete: 4 of 4 pieces ok, all files ok/);
    equal(r.stderr, "");
  }));

Deno.test("btool verify detects one flipped byte and names the file", () =>
  withTempDir(async (dir) => {
    const torrent = await setUp(dir);
    const path = `${dir}/multi/sub/b.bin`;
    const data = await Deno.readFile(path);
    data[20000] = data[20000]! ^ 0x01; // torrent offset 40000: piece 2, entirely inside b.bin
    await Deno.writeFile(path, data);
    const r = await runBtool(["verify", torrent, dir]);
    equal(r.code, 1);
    match(r.stdout, /^1 bad piece\s+multi\/sub\/b\.bin$/m);
    match(r.stdout, /^ok\s+multi\/a\.bin$/m);
    match(r.stdout, /^ok\s+multi\/c\.bin$/m);
    match(r.stdout, /^74\.7% complete: 3 of 4 pieces ok, 1 of 4 files not ok$/m);
  }));

Deno.test("checkData() flags both files of a corrupt straddling piece", () =>
  withTempDir(async (dir) => {
    const torrent = await setUp(dir);
    const meta = await parseMetainfo(await Deno.readFile(torrent));
    const path = `${dir}/multi/a.bin`;
    const data = await Deno.readFile(path);
    data[19999] = data[19999]! ^ 0x80; // piece 1 = a.bin[16384..20000) + b.bin[0..12768)
    await Deno.writeFile(path, data);
    const seen: number[] = [];
    const report = await checkData(meta, dir, { onProgress: (n) => seen.push(n) });
    deepEqual(report.files.map((f) => [f.path, f.status, f.badPieces]), [
      ["multi/a.bin", "bad", 1],
      ["multi/empty.txt", "ok", 0],
      ["multi/sub/b.bin", "bad", 1],
      ["multi/c.bin", "ok", 0],
    ]);
    equal(report.goodPieces, 3);
    equal(report.isComplete, false);
    deepEqual(seen, [16384, 32768, 49152, meta.totalLength], "progress in piece order, with pieces in flight");
  }));

Deno.test("btool verify reports missing and wrong-size files", () =>
  withTempDir(async (dir) => {
    const torrent = await setUp(dir);
    await Deno.remove(`${dir}/multi/c.bin`);
    await Deno.remove(`${dir}/multi/empty.txt`);
    await Deno.writeFile(`${dir}/multi/a.bin`, new Uint8Array(7), { append: true });
    const r = await runBtool(["verify", torrent, dir]);
    equal(r.code, 1);
    match(r.stdout, /^missing\s+multi\/c\.bin$/m);
    match(r.stdout, /^missing\s+multi\/empty\.txt$/m);
    match(r.stdout, /^wrong size \(20007 bytes, expected 20000\)\s+multi\/a\.bin$/m);
    match(r.stdout, /3 of 4 pieces ok/);
    const j = await runBtool(["verify", torrent, dir, "--json"]);
    equal(j.code, 1);
    const report = JSON.parse(j.stdout);
    equal(report.isComplete, false);
    equal(report.goodPieces, 3);
    deepEqual(report.files.map((f: { status: string }) => f.status), ["wrong_size", "missing", "bad", "missing"]);
  }));

Deno.test("btool verify finds single-file data at DIR/<name> and reports nothing there", () =>
  withTempDir(async (dir) => {
    const data = FILES[2]!.data;
    await Deno.writeFile(`${dir}/one.torrent`, buildTorrent({ name: "one.bin", data }).bytes);
    let r = await runBtool(["verify", `${dir}/one.torrent`, dir]);
    equal(r.code, 1);
    match(r.stdout, /^missing\s+one\.bin$/m);
    match(r.stdout, /^0\.0% complete/m);
    await Deno.writeFile(`${dir}/one.bin`, data);
    r = await runBtool(["verify", `${dir}/one.torrent`, dir]);
    equal(r.code, 0, r.stdout);
  }));

Deno.test("btool verify refuses bad usage, a broken torrent and a missing DIR", () =>
  withTempDir(async (dir) => {
    let r = await runBtool(["verify", "only-one-arg"]);
    equal(r.code, 2);
    r = await runBtool(["verify", fixturePath("torrents/hostile_pieces_mismatch.torrent"), dir]);
    equal(r.code, 1);
    match(r.stderr, /^btool: .*hostile_pieces_mismatch\.torrent: .*"info\.pieces"/);
    // A hostile path is made safe (#19), not refused: verify looks below DIR only.
    r = await runBtool(["verify", fixturePath("torrents/hostile_dotdot.torrent"), dir]);
    equal(r.code, 1);
    match(r.stdout, /^missing +evil\/evil\n/);
    r = await runBtool(["verify", fixturePath("torrents/mktorrent_single.torrent"), `${dir}/nope`]);
    equal(r.code, 1);
    match(r.stderr, /no such directory/);
  }));

Deno.test("btool show prints the torrent's fields and file tree", () =>
  withTempDir(async (dir) => {
    const torrent = await setUp(dir);
    const meta = await parseMetainfo(await Deno.readFile(torrent));
    const r = await runBtool(["show", torrent]);
    equal(r.code, 0, r.stderr);
    match(r.stdout, /^Name:\s+multi$/m);
    match(r.stdout, new RegExp(`^Info hash:\\s+${meta.infoHash.hex}$`, "m"));
    match(r.stdout, new RegExp(`^Magnet:\\s+magnet:\\?xt=urn:btih:${meta.infoHash.hex}&dn=multi&tr=`, "m"));
    match(r.stdout, /^Total size:\s+63\.5 KiB \(65000 bytes\)$/m);
    match(r.stdout, /^Pieces:\s+4 of 16\.0 KiB \(16384 bytes\)$/m);
    match(r.stdout, /^Private:\s+yes$/m);
    match(r.stdout, /^Comment:\s+hello$/m);
    match(r.stdout, /^ {2}tier 1: +http:\/\/127\.0\.0\.1:1\/announce$/m);
    match(r.stdout, /^ {2}tier 2: +udp:\/\/127\.0\.0\.1:2$/m);
    match(r.stdout, /^ {4}sub\/ {2}39\.1 KiB$/m);
    match(r.stdout, /^ {6}b\.bin {2}39\.1 KiB$/m);
  }));

Deno.test("btool show --json gives the same values as await parseMetainfo()", async () => {
  const path = fixturePath("torrents/mktorrent_multi_private.torrent");
  const meta = await parseMetainfo(await Deno.readFile(path));
  const r = await runBtool(["show", "--json", path]);
  equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  equal(json.infoHashHex, meta.infoHash.hex);
  equal(json.pieceCount, meta.pieceCount);
  equal(json.totalLength, meta.totalLength);
  equal(json.isPrivate, true);
  equal(json.source, "SRC");
  deepEqual(json.announceList, meta.announceList);
  deepEqual(json.files.map((f: { path: string }) => f.path), meta.files.map((f) => f.path.join("/")));
  ok(json.magnet.startsWith("magnet:?xt=urn:btih:"));
});

Deno.test("btool show on a broken torrent prints one line and exits 1", async () => {
  for (const name of ["hostile_truncated", "hostile_bad_piece_length", "does_not_exist"]) {
    const r = await runBtool(["show", fixturePath(`torrents/${name}.torrent`)]);
    equal(r.code, 1, name);
    equal(r.stdout, "");
    match(r.stderr, new RegExp(`^btool: [^\\n]*${name}\\.torrent: [^\\n]+\\n$`));
  }
  const r = await runBtool(["show"]);
  equal(r.code, 2);
});

Deno.test("formatPercent() only reaches 100.0% when everything is good", () => {
  equal(formatPercent(999_999, 1_000_000), "99.9%");
  equal(formatPercent(1, 1), "100.0%");
  equal(formatPercent(0, 5), "0.0%");
});

Deno.test("btool show and verify print names, comments and paths escaped; --json escapes C1 and bidi too (#19)", () =>
  withTempDir(async (dir) => {
    const { bytes } = buildTorrent({
      name: "evil\x1b[2Jname",
      files: [{ path: ["f\x1b]0;title\x07.bin"], data: new Uint8Array(100) }],
      top: { comment: "c\x1b[2J\u202etxt.exe", "created by": "x\x9b2J" },
    });
    await Deno.writeFile(`${dir}/t.torrent`, bytes);
    // No raw control or direction character: every line is already as terminalSafe would print it.
    const raw = { test: (text: string) => text.split("\n").some((line) => terminalSafe(line) !== line) };
    const show = await runBtool(["show", `${dir}/t.torrent`]);
    equal(show.code, 0, show.stderr);
    ok(!raw.test(show.stdout), JSON.stringify(show.stdout));
    match(show.stdout, /Name: +evil\\x1b\[2Jname\n/);
    match(show.stdout, /Comment: +c\\x1b\[2J\\u202etxt\.exe\n/);
    match(show.stdout, /Created by: +x\\x9b2J\n/);
    const json = await runBtool(["show", `${dir}/t.torrent`, "--json"]);
    ok(!raw.test(json.stdout), JSON.stringify(json.stdout));
    const value = JSON.parse(json.stdout);
    deepEqual([value.name, value.comment, value.createdBy], ["evil\x1b[2Jname", "c\x1b[2J\u202etxt.exe", "x\x9b2J"]);
    const verify = await runBtool(["verify", `${dir}/t.torrent`, dir]);
    equal(verify.code, 1);
    ok(!raw.test(verify.stdout + verify.stderr), JSON.stringify(verify.stdout));
    // The path on disk is the safe one (#19): controls became "_".
    match(verify.stdout, /missing +evil_\[2Jname\/f_\]0;title_\.bin\n/);
  }));
