// docs/ARCHITECTURE.md is the one module map: every source file under lib/ and cli/ must have its row there. And
// tests/unit mirrors lib/: every lib module has its unit test file, but for the few listed with a reason.
import { ok } from "../_helpers/assert.ts";

const ROOT = new URL("../../", import.meta.url);

function* sourceFiles(dir: URL, rel: string): Generator<string> {
  for (const e of Deno.readDirSync(dir)) {
    if (e.isDirectory) yield* sourceFiles(new URL(`${e.name}/`, dir), `${rel}${e.name}/`);
    else if (e.name.endsWith(".ts")) yield `${rel}${e.name}`;
  }
}

Deno.test("docs/ARCHITECTURE.md names every file under lib/ and cli/, and no file that is gone", () => {
  const doc = Deno.readTextFileSync(new URL("docs/ARCHITECTURE.md", ROOT));
  const files = [...sourceFiles(new URL("lib/", ROOT), "lib/"), ...sourceFiles(new URL("cli/", ROOT), "cli/")];
  ok(files.length > 40, `found the source files (${files.length})`);
  for (const f of files) ok(doc.includes("`" + f + "`"), `docs/ARCHITECTURE.md does not list ${f}`);
  for (const m of doc.matchAll(/`((?:lib|cli)\/[\w/]+\.ts)`/g)) {
    ok(files.includes(m[1]!), `docs/ARCHITECTURE.md lists ${m[1]}, which does not exist`);
  }
});

/**
 * lib modules with no unit test file of their own, and why. Only Worker entries, which run only inside a Worker: each
 * is tested through the module that starts it, in the test file named.
 */
const UNTESTED_ALONE: Record<string, { why: string; testedIn: string }> = {
  "lib/_hash_worker.ts": { why: "create's hash Worker entry", testedIn: "tests/unit/_hash_pool_test.ts" },
  "lib/_udp_recv_worker.ts": {
    why: "the libc UDP receive Worker entry",
    testedIn: "tests/unit/tracker/udp_server_test.ts",
  },
  "lib/storage/_piece_hash_worker.ts": {
    why: "PieceWriter's Worker entry (real files)",
    testedIn: "tests/integration/peer_piece_writer_test.ts",
  },
  "lib/tracker/_http_wait_worker.ts": {
    why: "the libc HTTP server's epoll_wait Worker entry",
    testedIn: "tests/unit/tracker/_http_epoll_test.ts",
  },
};

function exists(rel: string): boolean {
  try {
    Deno.statSync(new URL(rel, ROOT));
    return true;
  } catch {
    return false;
  }
}

Deno.test("every lib module has its unit test file: lib/<path>.ts is tested in tests/unit/<path>_test.ts", () => {
  const missing: string[] = [];
  for (const f of sourceFiles(new URL("lib/", ROOT), "lib/")) {
    const test = `tests/unit/${f.slice("lib/".length, -".ts".length)}_test.ts`;
    if (!exists(test) && UNTESTED_ALONE[f] === undefined) missing.push(`${f} (expected ${test})`);
  }
  ok(missing.length === 0, `lib modules without a unit test file:\n  ${missing.join("\n  ")}`);
});

Deno.test("each exception to one test file per module is a Worker entry that exists and is tested where it says", () => {
  const compileTask = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT))).tasks.compile as string;
  for (const [f, { testedIn }] of Object.entries(UNTESTED_ALONE)) {
    ok(exists(f), `${f} is gone: drop it from UNTESTED_ALONE`);
    ok(compileTask.includes(`--include ${f}`), `${f} is not a Worker entry (deno.json's compile --include)`);
    ok(exists(testedIn), `${f}: ${testedIn} does not exist`);
    const test = `tests/unit/${f.slice("lib/".length, -".ts".length)}_test.ts`;
    ok(!exists(test), `${f} has ${test} now: drop it from UNTESTED_ALONE`);
  }
});
