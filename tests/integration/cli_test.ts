import { equal, match, ok } from "../_helpers/assert.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { runBtool } from "../_helpers/tools.ts";
import { buildTorrent } from "../_helpers/torrent.ts";
import { encodeBencode } from "../../lib/bencode.ts";
import { parseMetainfo } from "../../lib/metainfo.ts";

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

// Issue #19: text from a torrent or a tracker reaches the terminal escaped, never as control sequences.
const HOSTILE_NAME = "evil\x1b[2Jname\u202e";
const RAW_CONTROLS = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

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
