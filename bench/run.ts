// Runs the benchmarks in bench/: `deno task bench [name…]` (no name: list them). Each prints its own ratios.

const dir = new URL(".", import.meta.url).pathname;
const available = [...Deno.readDirSync(dir)]
  .filter((e) => e.isFile && e.name.endsWith(".ts") && e.name !== "run.ts" && !e.name.startsWith("_"))
  .map((e) => e.name.slice(0, -3))
  .sort();

const wanted = Deno.args.length > 0 ? Deno.args : [];
if (wanted.length === 0) {
  console.log(`Usage: deno task bench <name…>\n\nBenchmarks: ${available.join(", ")}`);
  Deno.exit(0);
}
let failed = 0;
for (const name of wanted) {
  const key = name.replace(/-/g, "_");
  if (!available.includes(key)) {
    console.error(`bench: unknown benchmark "${name}" (have: ${available.join(", ")})`);
    failed++;
    continue;
  }
  console.log(`\n== bench/${key}.ts ==`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${dir}${key}.ts`],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) failed++;
}
Deno.exit(failed === 0 ? 0 : 1);
