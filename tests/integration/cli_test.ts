import { deepEqual, equal, match, ok } from "../_helpers/assert.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { leechArgs, runBtool } from "../_helpers/tools.ts";
import { terminalSafe } from "../../cli/_escape.ts";
import { buildTorrent } from "../_helpers/torrent.ts";
import { encodeBencode } from "../../lib/bencode.ts";
import { parseMetainfo } from "../../lib/metainfo.ts";
import { memorySeed } from "../_helpers/session.ts";

Deno.test("btool --version prints the version", async () => {
  const r = await runBtool(["--version"]);
  equal(r.code, 0);
  match(r.stdout, /^btool \d+\.\d+\.\d+/);
});

Deno.test("btool --help lists every subcommand", async () => {
  const r = await runBtool(["--help"]);
  equal(r.code, 0);
  for (const c of ["tracker", "peer", "create", "register", "show", "verify"]) {
    match(r.stdout, new RegExp(`\\b${c}\\b`));
  }
});

Deno.test("btool with an unknown command exits 2", async () => {
  const r = await runBtool(["frobnicate"]);
  equal(r.code, 2);
  match(r.stderr, /unknown command/);
});

Deno.test("btool tracker --trusted-proxies refuses a value that is not IP addresses, with usage (#19)", async () => {
  for (const bad of ["proxy.example", "10.0.0.1,,nope", ","]) {
    const r = await runBtool(["tracker", "--db", ":memory:", "--port", "0", "--trusted-proxies", bad]);
    equal(r.code, 2, bad);
    match(r.stderr, /--trusted-proxies/);
  }
});

// Issue #19: text from a torrent or a tracker reaches the terminal escaped, never as control sequences.
const HOSTILE_NAME = "evil\x1b[2Jname\u202e";
// No raw control or direction character: every line is already as terminalSafe would print it.
const RAW_CONTROLS = { test: (text: string) => text.split("\n").some((line) => terminalSafe(line) !== line) };

Deno.test("btool peer prints a torrent name and a tracker's failure reason escaped (#19)", () =>
  withTempDir(async (dir) => {
    const tracker = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () => new Response(encodeBencode({ "failure reason": "go away\x1b[2J\x1b]0;pwned\x07" }).slice().buffer),
    );
    try {
      const data = new Uint8Array(40_000).fill(7);
      const { bytes } = buildTorrent({
        name: HOSTILE_NAME,
        data,
        top: { announce: `http://127.0.0.1:${tracker.addr.port}/announce`, comment: "c\x1b[2J" },
      });
      await Deno.writeFile(`${dir}/t.torrent`, bytes);
      await Deno.writeFile(`${dir}/${(await parseMetainfo(bytes)).files[0]!.path.join("/")}`, data);
      const r = await runBtool(
        ["peer", `${dir}/t.torrent`, "--dir", dir, "--seed", "--seed-ratio", "0", "--port", "0"],
        { timeoutMs: 30_000 },
      );
      equal(r.code, 0, r.stderr);
      ok(!RAW_CONTROLS.test(r.stdout + r.stderr), JSON.stringify(r.stdout + r.stderr));
      ok(r.stderr.includes("evil\\x1b[2Jname\\u202e"), r.stderr);
      ok(r.stderr.includes("stopped"), r.stderr);
    } finally {
      await tracker.shutdown();
    }
  }));

Deno.test("btool peer downloads and btool verify checks a torrent with hostile names at their safe paths (#19)", () =>
  withTempDir(async (dir) => {
    const bytesOf = (n: number, seed: number) => new Uint8Array(n).map((_, i) => (i * seed + 7) & 0xff);
    // Each file as the torrent lists it -> where it must land (lib/safe_path.ts), below DIR.
    const layout: [string[], string, Uint8Array][] = [
      [["..", "..", "escape.bin"], "evil/escape.bin", bytesOf(20_000, 3)],
      [["CON.txt"], "evil/_CON.txt", bytesOf(5_000, 5)],
      [["a:b"], "evil/a_b", bytesOf(7_000, 11)],
      [["Read.txt"], "evil/Read.txt", bytesOf(9_000, 13)],
      [["read.TXT"], "evil/read.1.TXT", bytesOf(3_000, 17)],
      [["dir.", "x\x1b[2J"], "evil/dir/x_[2J", bytesOf(12_000, 19)],
    ];
    const { bytes, data } = buildTorrent({
      name: "evil",
      files: layout.map(([path, , bytes]) => ({ path, data: bytes })),
      top: { announce: undefined },
    });
    const meta = await parseMetainfo(bytes);
    deepEqual(meta.files.map((f) => f.path.join("/")), layout.map(([, safe]) => safe));
    await Deno.writeFile(`${dir}/t.torrent`, bytes);
    await Deno.mkdir(`${dir}/a/b/dl`, { recursive: true });
    const seed = memorySeed(meta, data);
    try {
      const dl = `${dir}/a/b/dl`;
      const r = await runBtool(
        leechArgs(`${dir}/t.torrent`, dl, seed.port),
        { timeoutMs: 60_000 },
      );
      equal(r.code, 0, r.stderr);
      for (const [, safe, content] of layout) deepEqual(await Deno.readFile(`${dl}/${safe}`), content, safe);
      // Nothing landed outside the download folder.
      deepEqual([...Deno.readDirSync(`${dir}/a`)].map((e) => e.name), ["b"]);
      deepEqual([...Deno.readDirSync(`${dir}/a/b`)].map((e) => e.name), ["dl"]);
      const v = await runBtool(["verify", `${dir}/t.torrent`, dl]);
      equal(v.code, 0, v.stdout + v.stderr);
      ok(v.stdout.includes("ok            evil/read.1.TXT"), v.stdout);
    } finally {
      await seed.stop();
    }
  }));
