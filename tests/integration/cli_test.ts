import { equal, match } from "../_helpers/assert.ts";
import { runBtool } from "../_helpers/tools.ts";

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
