// `btool peer` against aria2c and transmission-cli (Debian) on 127.0.0.1: btool downloads from each as a seed, and
// each downloads from a btool seed. aria2 learns peers only from a tracker (ours, in-process); Transmission drops
// loopback tracker peers (INTEROP.md 20), so the btool seed dials it with --peer. Every wait is bounded; every child
// is killed by PID in `finally`.

import { startTestTracker } from "../_helpers/tracker.ts";
import { equal, ok } from "../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { freePort, interopTool, leechArgs, runBtool } from "../_helpers/tools.ts";
import { assertTree, buildTorrent, type TestFile, writeTree } from "../_helpers/torrent.ts";

const aria2 = interopTool("aria2c");
const transmission = interopTool("transmission-cli");
const TIMEOUT_MS = 90_000;
const MAIN = new URL("../../main.ts", import.meta.url).pathname;

function testFiles(seed: number): TestFile[] {
  const random = seededRandom(seed);
  return [
    { path: ["a.bin"], data: randomBytes(random, 600_001) },
    { path: ["empty"], data: new Uint8Array(0) },
    { path: ["sub", "b.bin"], data: randomBytes(random, 1_100_000) },
  ];
}

/** Writes `${dir}/t.torrent` (announcing `announce`, if any) and its files under `${dir}/seed/t`; returns the files. */
async function writeSwarm(dir: string, seed: number, announce?: string): Promise<TestFile[]> {
  const files = testFiles(seed);
  const { bytes } = buildTorrent({ name: "t", pieceLength: 32768, files, top: { announce } });
  await Deno.writeFile(`${dir}/t.torrent`, bytes);
  await writeTree(`${dir}/seed/t`, files);
  return files;
}

/** transmission-cli options: config in `${dir}/tr-config`, data in `data`, port `port`, plain peers ok, no portmap. */
function transmissionArgs(dir: string, data: string, port: number): string[] {
  return ["-g", `${dir}/tr-config`, "-w", data, "-p", String(port), "-et", "-M"];
}

/** btool leeches `${dir}/t.torrent` from the one peer at 127.0.0.1:`port` into `${dir}/out`; the files must match. */
async function leechFrom(dir: string, port: number, files: TestFile[]): Promise<void> {
  const out = await runBtool(
    [...leechArgs(`${dir}/t.torrent`, `${dir}/out`, port), "--quiet"],
    { timeoutMs: TIMEOUT_MS },
  );
  equal(out.code, 0, out.stderr);
  await assertTree(`${dir}/out/t`, files);
}

interface Spawned {
  child: Deno.ChildProcess;
  stop(): Promise<void>;
}

function spawn(cmd: string, args: string[], options: { cwd?: string } = {}): Spawned {
  const child = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "null",
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  }).spawn();
  const killer = setTimeout(() => kill(child), TIMEOUT_MS * 2);
  return {
    child,
    async stop() {
      clearTimeout(killer);
      kill(child);
      await child.status;
    },
  };
}

function kill(child: Deno.ChildProcess, signal: Deno.Signal = "SIGKILL"): void {
  try {
    child.kill(signal);
  } catch {
    // already gone
  }
}

/** A btool seed child; resolves once it listens. */
async function btoolSeed(args: string[]): Promise<{ child: Deno.ChildProcess; stop(): Promise<number> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, "peer", ...args, "--seed", "--port", "0"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const killer = setTimeout(() => kill(child), TIMEOUT_MS * 2);
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/listening on port \d+/.test(text)) {
    const r = await reader.read();
    if (r.done) break;
    text += r.value;
  }
  // Keep draining stderr so the child never blocks on a full pipe.
  const drain = (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })().catch(() => {});
  ok(/listening on port \d+/.test(text), text);
  return {
    child,
    async stop() {
      clearTimeout(killer);
      kill(child, "SIGTERM");
      const status = await child.status;
      await drain;
      return status.code;
    },
  };
}

async function waitForFile(path: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await Deno.stat(path).then(() => true, () => false)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

const ARIA2_ARGS = [
  "--enable-dht=false",
  "--enable-dht6=false",
  "--bt-enable-lpd=false",
  "--enable-peer-exchange=false",
  "--console-log-level=warn",
  "--summary-interval=0",
  "--bt-stop-timeout=0",
];

// btool leeches from each client as a seed on `port`; aria2 needs a moment to check the data and listen, so btool
// retries the connect with backoff.
const SEEDS = [
  {
    name: "btool peer downloads from an aria2c seed",
    tool: aria2,
    random: 21,
    args: (dir: string, port: number) => [
      ...ARIA2_ARGS,
      `--dir=${dir}/seed`,
      "--seed-ratio=0.0",
      "--check-integrity=true",
      `--listen-port=${port}`,
      `${dir}/t.torrent`,
    ],
  },
  {
    name: "btool peer downloads from a transmission-cli seed",
    tool: transmission,
    random: 23,
    args: (dir: string, port: number) => [...transmissionArgs(dir, `${dir}/seed`, port), `${dir}/t.torrent`],
  },
];

for (const c of SEEDS) {
  Deno.test({
    name: c.name,
    ignore: c.tool.ignore,
    fn: () =>
      withTempDir(async (dir) => {
        const files = await writeSwarm(dir, c.random);
        const port = freePort();
        const seed = spawn(c.tool.path, c.args(dir, port));
        try {
          await leechFrom(dir, port, files);
        } finally {
          await seed.stop();
        }
      }),
  });
}

Deno.test({
  name: "aria2c downloads from a btool seed found through our tracker",
  ignore: aria2.ignore,
  fn: () =>
    withTempDir(async (dir) => {
      const { base, close } = startTestTracker({ intervalS: 5, minIntervalS: 1 });
      let seed: { stop(): Promise<number> } | null = null;
      try {
        const files = await writeSwarm(dir, 22, `${base}/announce`);
        seed = await btoolSeed([`${dir}/t.torrent`, "--dir", `${dir}/seed`]);
        const leech = spawn(aria2.path, [
          ...ARIA2_ARGS,
          `--dir=${dir}/out`,
          "--seed-time=0",
          `--listen-port=${freePort()}`,
          `${dir}/t.torrent`,
        ]);
        let code: number;
        const timer = setTimeout(() => kill(leech.child), TIMEOUT_MS);
        try {
          code = (await leech.child.status).code;
        } finally {
          clearTimeout(timer);
          await leech.stop();
        }
        equal(code, 0);
        await assertTree(`${dir}/out/t`, files);
        equal(await seed.stop(), 0);
        seed = null;
      } finally {
        await seed?.stop();
        await close();
      }
    }),
});

Deno.test({
  name: "transmission-cli downloads from a btool seed that dials it",
  ignore: transmission.ignore,
  fn: () =>
    withTempDir(async (dir) => {
      const files = await writeSwarm(dir, 24);
      await Deno.writeTextFile(`${dir}/done.sh`, `#!/bin/sh\ntouch "${dir}/done.flag"\n`);
      await Deno.chmod(`${dir}/done.sh`, 0o755);
      const port = freePort();
      const leech = spawn(transmission.path, [
        ...transmissionArgs(dir, `${dir}/out`, port),
        "-f",
        `${dir}/done.sh`,
        `${dir}/t.torrent`,
      ]);
      let seed: { stop(): Promise<number> } | null = null;
      try {
        seed = await btoolSeed([`${dir}/t.torrent`, "--dir", `${dir}/seed`, "--peer", `127.0.0.1:${port}`]);
        // Transmission decides interest on its own ~10 s timer, so this takes a few seconds.
        ok(await waitForFile(`${dir}/done.flag`, TIMEOUT_MS), "transmission finished");
        // Transmission never creates zero-length files; compare the others.
        await assertTree(`${dir}/out/t`, files.filter((f) => f.data.length > 0));
        equal(await seed.stop(), 0);
        seed = null;
      } finally {
        await seed?.stop();
        await leech.stop();
      }
    }),
});
