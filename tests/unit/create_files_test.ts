// lib/create_files.ts: exclude globs, the walk of a file or folder in mktorrent's order, names refused, the torrent's
// name.

import { utf8 } from "../../lib/bytes.ts";
import { globToRegExp, isExcluded, listSourceFiles, torrentName } from "../../lib/create_files.ts";
import { CreateError } from "../../lib/errors.ts";
import { assertRejectsCode, deepEqual, equal, ok } from "../_helpers/assert.ts";
import { withTempDir } from "../_helpers/tmp.ts";

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
