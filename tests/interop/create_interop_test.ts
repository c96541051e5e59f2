// `btool create` against real tools: the same info hash as mktorrent; transmission-show and libtorrent load our output.

import { PREWARM_MIN_BYTES } from "../../cli/_create_prewarm.ts";
import { rawValue } from "../../lib/bencode.ts";
import { equals, utf8 } from "../../lib/bytes.ts";
import { InfoHash } from "../../lib/infohash.ts";
import { parseMetainfo } from "../../lib/metainfo.ts";
import { equal, match, ok } from "../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { interopTool, runBtool, runTool } from "../_helpers/tools.ts";

const mktorrent = interopTool("mktorrent");
const transmissionShow = interopTool("transmission-show");
const libtorrent = interopTool("libtorrent");
const TRACKER = "http://127.0.0.1:6969/announce";
// mktorrent takes -l as log2 and accepts 15..28 (32 KiB..256 MiB); btool also allows 16 KiB.
const TIMEOUT_MS = 60_000;

async function infoHashOf(path: string): Promise<string> {
  return (await InfoHash.fromInfoBytes(rawValue(Deno.readFileSync(path), ["info"], { isStrict: false }))).hex;
}

async function btoolCreate(target: string, out: string, args: string[]): Promise<string> {
  const r = await runBtool(["create", target, "-o", out, ...args], { timeoutMs: TIMEOUT_MS });
  equal(r.code, 0, r.stderr);
  equal(r.stderr, "", "no progress bar when stderr is not a terminal");
  const hex = await infoHashOf(out);
  match(r.stdout, new RegExp(`info hash\\s+${hex}`));
  return hex;
}

async function mktorrentCreate(target: string, out: string, args: string[]): Promise<string> {
  const r = await runTool(mktorrent.path, [...args, "-o", out, target], { timeoutMs: TIMEOUT_MS });
  equal(r.code, 0, r.stderr + r.stdout);
  return infoHashOf(out);
}

/** A folder with mixed case, nested dirs, spaces, UTF-8, a hidden file and a zero-length file. */
async function makeFolder(root: string): Promise<void> {
  const random = seededRandom(42);
  const files: Record<string, number> = {
    "B.txt": 1000,
    "a.txt": 70_000,
    "a b/f.bin": 33_333,
    "a/f.bin": 16_384,
    "a-b": 5,
    "empty": 0,
    ".hidden": 300,
    "é/ünïcödé 名前.dat": 100_001,
    "Sub/inner/deep.bin": 250_000,
    "sub/k": 17,
  };
  for (const [rel, size] of Object.entries(files)) {
    const path = `${root}/${rel}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(path, randomBytes(random, size));
  }
}

Deno.test({
  name: "btool create gives mktorrent's info hash on data big enough for the prewarmed hash Worker",
  ignore: mktorrent.ignore,
  fn: () =>
    withTempDir(async (tmp) => {
      // Above PREWARM_MIN_BYTES (cli/_create_prewarm.ts): main.ts starts a Worker early and lib/create_hashing.ts
      // adopts it. A sparse file, so that the test writes little: random bytes at the start of every piece.
      const size = PREWARM_MIN_BYTES + 10 * 1024 * 1024 + 12_345;
      const head = randomBytes(seededRandom(5), 64);
      {
        using f = await Deno.open(`${tmp}/big.bin`, { write: true, create: true });
        await f.truncate(size);
        for (let at = 0; at < size; at += 256 * 1024) {
          head[0] = (at >> 18) & 0xff;
          await f.seek(at, Deno.SeekMode.Start);
          await f.write(head);
        }
      }
      const ours = await btoolCreate(`${tmp}/big.bin`, `${tmp}/b.torrent`, ["-a", TRACKER, "--piece-length", "256K"]);
      const theirs = await mktorrentCreate(`${tmp}/big.bin`, `${tmp}/m.torrent`, ["-a", TRACKER, "-l", "18"]);
      equal(ours, theirs);
    }),
});

// libcrypto.so.3 is part of Debian's libssl3, always installed where these tests run (mktorrent itself links it): the
// --sha1 libc run is not skipped when it is missing; it fails, saying why.
Deno.test({
  name:
    "btool create --sha1 libc writes the default's .torrent bytes and mktorrent's info hash, with and without Workers",
  ignore: mktorrent.ignore || Deno.build.os !== "linux",
  fn: () =>
    withTempDir(async (tmp) => {
      const data = randomBytes(seededRandom(6), 40 * 1024 * 1024 + 999);
      await Deno.writeFile(`${tmp}/big.bin`, data);
      await Deno.writeFile(`${tmp}/small.bin`, data.subarray(0, 3 * 1024 * 1024 + 5));
      for (const name of ["big.bin", "small.bin"]) {
        const args = ["-a", TRACKER, "--piece-length", "256K", "--no-date", "--force"];
        const ours = await btoolCreate(`${tmp}/${name}`, `${tmp}/d.torrent`, args);
        const libc = await btoolCreate(`${tmp}/${name}`, `${tmp}/l.torrent`, [...args, "--sha1", "libc"]);
        const theirs = await mktorrentCreate(`${tmp}/${name}`, `${tmp}/m-${name}.torrent`, ["-a", TRACKER, "-l", "18"]);
        equal(libc, theirs, name);
        equal(ours, theirs, name);
        ok(equals(Deno.readFileSync(`${tmp}/l.torrent`), Deno.readFileSync(`${tmp}/d.torrent`)), `${name}: same bytes`);
      }
    }),
});

Deno.test("btool create --sha1 libc without --allow-ffi fails saying so, writing nothing; --sha1 other is a usage error", () =>
  withTempDir(async (tmp) => {
    await Deno.writeFile(`${tmp}/f.bin`, new Uint8Array(1000));
    const main = new URL("../../main.ts", import.meta.url).pathname;
    const args = ["create", `${tmp}/f.bin`, "-a", TRACKER, "-o", `${tmp}/f.torrent`, "--sha1"];
    const noFfi = await runTool(Deno.execPath(), ["run", "--allow-read", "--allow-write", main, ...args, "libc"], {
      timeoutMs: TIMEOUT_MS,
    });
    equal(noFfi.code, 1, noFfi.stderr);
    match(noFfi.stderr, /--sha1 libc\).*--allow-ffi/);
    equal(await Deno.lstat(`${tmp}/f.torrent`).then(() => true, () => false), false);
    const bad = await runBtool([...args, "openssl"], { timeoutMs: TIMEOUT_MS });
    equal(bad.code, 2, bad.stderr);
    match(bad.stderr, /Invalid --sha1: "openssl"/);
  }));

Deno.test({
  name: "btool create gives mktorrent's info hash: single file, several piece lengths",
  ignore: mktorrent.ignore,
  fn: () =>
    withTempDir(async (tmp) => {
      await Deno.writeFile(`${tmp}/single file.bin`, randomBytes(seededRandom(1), 300_000));
      for (const log2 of [15, 16, 18, 20]) {
        const ours = await btoolCreate(`${tmp}/single file.bin`, `${tmp}/b${log2}.torrent`, [
          "-a",
          TRACKER,
          "--piece-length",
          String(2 ** log2),
        ]);
        const theirs = await mktorrentCreate(`${tmp}/single file.bin`, `${tmp}/m${log2}.torrent`, [
          "-a",
          TRACKER,
          "-l",
          String(log2),
        ]);
        equal(ours, theirs, `piece length 2^${log2}`);
      }
    }),
});

Deno.test({
  name: "btool create gives mktorrent's info hash: nested folder with mixed case, UTF-8 and empty files",
  ignore: mktorrent.ignore,
  fn: () =>
    withTempDir(async (tmp) => {
      await makeFolder(`${tmp}/My Data`);
      for (const log2 of [15, 17, 19]) {
        const ours = await btoolCreate(`${tmp}/My Data`, `${tmp}/b${log2}.torrent`, [
          "-a",
          TRACKER,
          "--piece-length",
          `${2 ** (log2 - 10)}K`,
        ]);
        const theirs = await mktorrentCreate(`${tmp}/My Data`, `${tmp}/m${log2}.torrent`, [
          "-a",
          TRACKER,
          "-l",
          String(log2),
        ]);
        equal(ours, theirs, `piece length 2^${log2}`);
      }
      // A symbolic link as PATH keeps its own name, as in mktorrent.
      await Deno.symlink(`${tmp}/My Data`, `${tmp}/linked`);
      const args = ["-a", TRACKER];
      equal(
        await btoolCreate(`${tmp}/linked`, `${tmp}/bl.torrent`, [...args, "--piece-length", "32K"]),
        await mktorrentCreate(`${tmp}/linked`, `${tmp}/ml.torrent`, [...args, "-l", "15"]),
      );
      equal((await parseMetainfo(Deno.readFileSync(`${tmp}/bl.torrent`))).name, "linked");
      const m = await parseMetainfo(Deno.readFileSync(`${tmp}/b15.torrent`));
      equal(m.files.length, 10);
      ok(m.files.some((f) => f.length === 0 && f.path.at(-1) === "empty"));
    }),
});

Deno.test({
  name: "btool create gives mktorrent's info hash: 18 MiB over several files, odd sizes",
  ignore: mktorrent.ignore,
  fn: () =>
    withTempDir(async (tmp) => {
      const block = randomBytes(seededRandom(7), 64 * 1024);
      const sizes = [7 * 1024 * 1024 + 1, 0, 3, 11 * 1024 * 1024 + 12_345];
      await Deno.mkdir(`${tmp}/big`);
      for (let i = 0; i < sizes.length; i++) {
        const data = new Uint8Array(sizes[i]!);
        for (let at = 0; at < data.length; at += block.length) {
          data.set(block.subarray(0, Math.min(block.length, data.length - at)), at);
          data[at] = (at / block.length + i) & 0xff;
        }
        await Deno.writeFile(`${tmp}/big/part${i}`, data);
      }
      for (const log2 of [15, 21]) {
        const args = ["-a", TRACKER];
        const ours = await btoolCreate(`${tmp}/big`, `${tmp}/b${log2}.torrent`, [
          ...args,
          "--piece-length",
          String(2 ** log2),
        ]);
        const theirs = await mktorrentCreate(`${tmp}/big`, `${tmp}/m${log2}.torrent`, [...args, "-l", String(log2)]);
        equal(ours, theirs, `piece length 2^${log2}`);
      }
    }),
});

Deno.test({
  name: "btool create gives mktorrent's info hash: private, source and several trackers",
  ignore: mktorrent.ignore,
  fn: () =>
    withTempDir(async (tmp) => {
      await makeFolder(`${tmp}/priv`);
      const ours = await btoolCreate(`${tmp}/priv`, `${tmp}/b.torrent`, [
        "-a",
        TRACKER,
        "-a",
        "http://127.0.0.2:6969/announce,udp://127.0.0.3:6969/announce",
        "--private",
        "--source",
        "BTOOL",
        "--piece-length",
        "32K",
      ]);
      const theirs = await mktorrentCreate(`${tmp}/priv`, `${tmp}/m.torrent`, [
        "-a",
        TRACKER,
        "-a",
        "http://127.0.0.2:6969/announce,udp://127.0.0.3:6969/announce",
        "-p",
        "-s",
        "BTOOL",
        "-l",
        "15",
      ]);
      equal(ours, theirs);
      const b = await parseMetainfo(Deno.readFileSync(`${tmp}/b.torrent`));
      const m = await parseMetainfo(Deno.readFileSync(`${tmp}/m.torrent`));
      equal(b.isPrivate, true);
      equal(JSON.stringify(b.announceList), JSON.stringify(m.announceList));
      equal(b.announce, m.announce);
      // Without --private the hash differs.
      const open = await btoolCreate(`${tmp}/priv`, `${tmp}/open.torrent`, [
        "-a",
        TRACKER,
        "-s",
        "BTOOL",
        "--piece-length",
        "32K",
      ]);
      ok(open !== ours);
    }),
});

Deno.test({
  name: "transmission-show loads btool's torrent and prints the same info hash",
  ignore: transmissionShow.ignore,
  fn: () =>
    withTempDir(async (tmp) => {
      await makeFolder(`${tmp}/data`);
      const hex = await btoolCreate(`${tmp}/data`, `${tmp}/t.torrent`, ["-a", TRACKER, "-p", "-c", "a comment"]);
      const r = await runTool(transmissionShow.path, [`${tmp}/t.torrent`], { timeoutMs: TIMEOUT_MS });
      equal(r.code, 0, r.stderr);
      match(r.stdout, new RegExp(`Hash(?: v1)?: ${hex}`, "i"));
      match(r.stdout, /Privacy: Private torrent/);
      ok(r.stdout.includes("ünïcödé 名前.dat"));
    }),
});

Deno.test({
  name: "libtorrent loads btool's torrent and computes the same info hash",
  ignore: libtorrent.ignore,
  fn: () =>
    withTempDir(async (tmp) => {
      await makeFolder(`${tmp}/data`);
      await Deno.writeFile(`${tmp}/one.bin`, randomBytes(seededRandom(5), 40_000));
      const script = [
        "import sys, libtorrent as lt",
        "ti = lt.torrent_info(sys.argv[1])",
        "print(str(ti.info_hash()), ti.num_files(), ti.num_pieces(), ti.priv())",
      ].join("\n");
      for (const [target, args] of [[`${tmp}/data`, ["--private"]], [`${tmp}/one.bin`, []]] as const) {
        const out = `${tmp}/${target.endsWith("data") ? "d" : "s"}.torrent`;
        const hex = await btoolCreate(target, out, ["-a", TRACKER, ...args]);
        const m = await parseMetainfo(Deno.readFileSync(out));
        const r = await runTool(libtorrent.path, ["-c", script, out], { timeoutMs: TIMEOUT_MS });
        equal(r.code, 0, r.stderr);
        equal(r.stdout.trim(), `${hex} ${m.files.length} ${m.pieceCount} ${m.isPrivate ? "True" : "False"}`);
      }
    }),
});

Deno.test({
  name: "btool create refuses to overwrite without --force and names a missing path",
  fn: () =>
    withTempDir(async (tmp) => {
      await Deno.writeFile(`${tmp}/f`, utf8("hello"));
      await Deno.writeFile(`${tmp}/out.torrent`, utf8("keep me"));
      const refused = await runBtool(["create", `${tmp}/f`, "-a", TRACKER, "-o", `${tmp}/out.torrent`]);
      equal(refused.code, 1);
      match(refused.stderr, /already exists.*--force/);
      equal(Deno.readTextFileSync(`${tmp}/out.torrent`), "keep me");
      const forced = await runBtool(["create", `${tmp}/f`, "-a", TRACKER, "-o", `${tmp}/out.torrent`, "--force"]);
      equal(forced.code, 0, forced.stderr);
      equal((await parseMetainfo(Deno.readFileSync(`${tmp}/out.torrent`))).name, "f");
      const byDefault = await runBtool(["create", "f", "-a", TRACKER], { cwd: tmp });
      equal(byDefault.code, 0, byDefault.stderr);
      ok(Deno.statSync(`${tmp}/f.torrent`).isFile);
      equal([...Deno.readDirSync(tmp)].filter((e) => e.name.endsWith(".tmp")).length, 0);
      const missing = await runBtool(["create", `${tmp}/nope`, "-a", TRACKER]);
      equal(missing.code, 1);
      equal(missing.stderr.trim().split("\n").length, 1);
      match(missing.stderr, /^btool: .*nope.* does not exist/);
      const bad = await runBtool(["create", `${tmp}/f`, "-a", TRACKER, "--piece-length", "300000"]);
      equal(bad.code, 2);
      match(bad.stderr, /power of two/);
    }),
});
