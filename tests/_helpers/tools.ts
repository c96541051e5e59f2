// Interop tool discovery. On a laptop a missing tool skips its test with a printed reason;
// under CI (CI=true) nothing may silently skip, so the test runs and fails on the missing tool.

/** A port on 127.0.0.1 free for both TCP and UDP a moment ago: the bench harness's, one copy for both. */
export { freePort } from "../../bench/_common.ts";

const IS_CI = (Deno.env.get("CI") ?? "").toLowerCase() === "true" || Deno.env.get("CI") === "1";

function findOnPath(name: string): string | null {
  if (name.startsWith("/")) {
    try {
      return Deno.statSync(name).isFile ? name : null;
    } catch {
      return null;
    }
  }
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    try {
      const p = `${dir}/${name}`;
      if (Deno.statSync(p).isFile) return p;
    } catch {
      // not in this directory
    }
  }
  return null;
}

/** Python with Debian's python3-libtorrent: /usr/bin/python3 (a pyenv python3 on PATH lacks the module). */
function findLibtorrentPython(): string | null {
  for (const py of ["/usr/bin/python3", findOnPath("python3")]) {
    if (py === null) continue;
    try {
      const out = new Deno.Command(py, { args: ["-c", "import libtorrent"], stdout: "null", stderr: "null" })
        .outputSync();
      if (out.success) return py;
    } catch {
      // not runnable
    }
  }
  return null;
}

/** A tool for an interop test. `ignore` is for Deno.test; `path` is what to run. */
export interface InteropTool {
  ignore: boolean;
  path: string;
}

const cache = new Map<string, InteropTool>();

/**
 * Look up `name` (a command, or "libtorrent" for a Python that imports libtorrent).
 * Missing on a laptop: prints why and returns ignore=true. Missing under CI: ignore=false and `path`
 * points nowhere, so the test fails loudly when it runs the tool.
 */
export function interopTool(name: string): InteropTool {
  const hit = cache.get(name);
  if (hit) return hit;
  const path = name === "libtorrent" ? findLibtorrentPython() : findOnPath(name);
  let tool: InteropTool;
  if (path !== null) tool = { ignore: false, path };
  else if (IS_CI) {
    console.error(`interop: "${name}" is missing under CI=true: its tests will fail`);
    tool = { ignore: false, path: `/nonexistent/${name}-is-not-installed` };
  } else {
    console.error(`interop: skipping tests that need "${name}": not installed (CI installs it via .ci/run)`);
    tool = { ignore: true, path: "" };
  }
  cache.set(name, tool);
  return tool;
}

/** Run a command with a time bound; returns its exit code and output. Throws if it cannot start. */
export async function runTool(
  cmd: string,
  args: string[],
  options: { cwd?: string; timeoutMs?: number; stdin?: Uint8Array } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(cmd, {
    args,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(options.stdin);
    await w.close();
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, options.timeoutMs ?? 60_000);
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/** Run btool's main.ts (from the sources) with `args`. */
export function runBtool(
  args: string[],
  options: { cwd?: string; timeoutMs?: number; stdin?: Uint8Array } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const main = new URL("../../main.ts", import.meta.url).pathname;
  return runTool(Deno.execPath(), ["run", "--allow-all", main, ...args], options);
}

/** `btool peer` arguments: fetch `torrent` into `dir` from the one peer at 127.0.0.1:`peerPort`, then exit. */
export function leechArgs(torrent: string, dir: string, peerPort: number): string[] {
  return ["peer", torrent, "--dir", dir, "--port", "0", "--exit-when-done", "--peer", `127.0.0.1:${peerPort}`];
}
