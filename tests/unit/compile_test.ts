// `deno compile` only bundles what main.ts imports statically; a Worker's entry file is loaded by URL at run time, so
// it must be named with --include in deno.json's compile task or the executable fails when it starts that Worker.
// (The executable itself cannot be built here: deno compile downloads its runtime.)
import { ok } from "../_helpers/assert.ts";

const ROOT = new URL("../../", import.meta.url);

function* sourceFiles(dir: URL): Generator<URL> {
  for (const e of Deno.readDirSync(dir)) {
    if (e.isDirectory) yield* sourceFiles(new URL(`${e.name}/`, dir));
    else if (e.name.endsWith(".ts")) yield new URL(e.name, dir);
  }
}

Deno.test("deno.json's compile task includes every module loaded by URL at run time (Worker entries)", () => {
  const task: string = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT))).tasks.compile;
  const included = [...task.matchAll(/--include\s+(\S+)/g)].map((m) => new URL(m[1]!, ROOT).href);
  const loaded: string[] = [];
  for (const dir of ["lib/", "cli/"]) {
    for (const file of sourceFiles(new URL(dir, ROOT))) {
      const text = Deno.readTextFileSync(file);
      for (const m of text.matchAll(/new URL\("(\.{1,2}\/[^"]+\.ts)", import\.meta\.url\)/g)) {
        loaded.push(new URL(m[1]!, file).href);
      }
    }
  }
  ok(loaded.length >= 2, `found the Worker entries: ${loaded.join(", ")}`);
  for (const url of loaded) ok(included.includes(url), `${url} is loaded at run time but not in the compile task`);
});

Deno.test("deno.json's tracker task, the compiled executable and the benchmarks run with the same V8 flags", async () => {
  const { TRACKER_V8_FLAGS } = await import("../../bench/_common.ts");
  const tasks = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT))).tasks;
  const flagsOf = (task: string) => /--v8-flags=(\S+)/.exec(task)?.[1];
  ok(TRACKER_V8_FLAGS.includes("--max-semi-space-size="), TRACKER_V8_FLAGS);
  ok(flagsOf(tasks.tracker) === TRACKER_V8_FLAGS, `tracker task: ${tasks.tracker}`);
  ok(flagsOf(tasks.compile) === TRACKER_V8_FLAGS, `compile task: ${tasks.compile}`);
});
