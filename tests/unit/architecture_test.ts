// docs/ARCHITECTURE.md is the one module map: every source file under lib/ and cli/ must have its row there.
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
