// UDP announce throughput of `btool tracker` against opentracker (Debian, whitelisting the load's hashes) and the bare
// Deno responder (bench/_udp_bare.ts: fixed valid connect/announce replies over the same socket machinery), in one
// run: the C load generator ../shared/tools/udpload.c (built with cc -O2 into a temp dir), 1,000 torrents, random
// peer ids, numwant 50, 10 s per run, runs interleaved, median of 3. Also btool with --udp-io deno and the bare
// responder over the batched libc path, for same-I/O ratios.
// Run: deno run -A bench/tracker_udp.ts [--duration 10] [--runs 3] [--sockets 16] [--inflight 8] [--udpload PATH.c]

import { toHex } from "../lib/bytes.ts";
import { benchArgs, freePort, median, spawnBtoolTracker, stopChildren, writeOpentrackerConfig } from "./_common.ts";

const TORRENTS = 1_000;
const READY_TIMEOUT_MS = 30_000;
const BARE = new URL("./_udp_bare.ts", import.meta.url).pathname;
const DEFAULT_UDPLOAD = new URL("../../shared/tools/udpload.c", import.meta.url).pathname;

interface Sample {
  rate: number;
  p99Ms: number;
  note: string;
}

interface Target {
  name: string;
  start(port: number, dir: string): Deno.ChildProcess;
}

/** `btool tracker` as benchmarked: no state kept, no periodic snapshot, no output. */
const BTOOL_ARGS = ["--db", ":memory:", "--admin-token", "bench", "--snapshot-interval", "0", "--quiet"];

const TARGETS: Target[] = [
  {
    name: "btool tracker",
    start: (port) => spawnBtoolTracker(port, BTOOL_ARGS),
  },
  {
    name: "opentracker",
    start: (port, dir) =>
      new Deno.Command("/usr/bin/opentracker", {
        args: ["-f", writeOpentrackerConfig(port, dir)],
        cwd: dir,
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn(),
  },
  {
    name: "btool --udp-io deno",
    start: (port) => spawnBtoolTracker(port, [...BTOOL_ARGS, "--udp-io", "deno"]),
  },
  {
    name: "bare Deno UDP",
    start: (port) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-net", "--unstable-net", BARE, String(port)],
        stdin: "null",
        stdout: "null",
        stderr: "inherit",
      }).spawn(),
  },
  {
    name: "bare libc UDP",
    start: (port) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", "--unstable-net", BARE, String(port), "--ffi"],
        stdin: "null",
        stdout: "null",
        stderr: "inherit",
      }).spawn(),
  },
];

/** Send BEP 15 connects until one is answered (bounded). */
async function waitReady(port: number, child: Deno.ChildProcess): Promise<void> {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let exited = false;
  child.status.then(() => exited = true);
  const connect = new Uint8Array([0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 0, 0, 0, 7]);
  const receiving = conn.receive();
  receiving.catch(() => {});
  try {
    while (Date.now() < deadline && !exited) {
      await conn.send(connect, { transport: "udp", hostname: "127.0.0.1", port }).catch(() => 0);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const got = await Promise.race([
        receiving.then(() => true, () => false),
        new Promise<boolean>((r) => timer = setTimeout(() => r(false), 200)),
      ]);
      clearTimeout(timer);
      if (got) return;
    }
    throw new Error(`UDP server on port ${port} did not start`);
  } finally {
    conn.close();
  }
}

async function runLoad(
  udpload: string,
  port: number,
  o: { duration: number; sockets: number; inflight: number; hashesFile: string },
): Promise<Sample> {
  const out = await new Deno.Command(udpload, {
    args: ["127.0.0.1", String(port), String(o.duration), o.hashesFile, String(o.sockets), String(o.inflight)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const rate = Number(/([\d.]+) responses\/s/.exec(text)?.[1] ?? NaN);
  const p99Ms = Number(/p99=([\d.]+)ms/.exec(text)?.[1] ?? NaN);
  if (!Number.isFinite(rate)) throw new Error(`udpload failed: ${text}`);
  const m = /errors (\d+), lost (\d+)/.exec(text);
  const note = m !== null && (m[1] !== "0" || m[2] !== "0") ? `errors ${m[1]}, lost ${m[2]}` : "";
  return { rate, p99Ms, note };
}

async function main(): Promise<void> {
  const { duration, runs, sockets, inflight, values } = benchArgs({ duration: 10, runs: 3, sockets: 16, inflight: 8 }, {
    udpload: { type: "string", default: DEFAULT_UDPLOAD },
    only: { type: "string" },
  });
  const o = { duration, sockets, inflight, hashesFile: "" };
  const dir = await Deno.makeTempDir({ prefix: "btool-bench-udp-" });
  // Run as root, opentracker drops to "nobody" before reading the whitelist: the temp dir must be readable.
  await Deno.chmod(dir, 0o755);
  const udpload = `${dir}/udpload`;
  const cc = await new Deno.Command("cc", { args: ["-O2", "-o", udpload, values.udpload], stderr: "piped" }).output();
  if (!cc.success) throw new Error(`cc failed: ${new TextDecoder().decode(cc.stderr)}`);
  const hashes = Array.from({ length: TORRENTS }, () => toHex(crypto.getRandomValues(new Uint8Array(20))));
  Deno.writeTextFileSync(`${dir}/whitelist.txt`, hashes.join("\n") + "\n");
  o.hashesFile = `${dir}/whitelist.txt`;
  const isOpentracker = await Deno.stat("/usr/bin/opentracker").then(() => true, () => false);
  const only = values.only?.split(",");
  const targets = TARGETS.filter((t) =>
    (t.name !== "opentracker" || isOpentracker) && (only === undefined || only.some((x) => t.name.includes(x)))
  );
  const results = new Map<string, Sample[]>();
  console.log(
    `tracker-udp: udpload ${o.sockets} sockets x ${o.inflight} in flight, ${o.duration}s, ${TORRENTS} torrents, ` +
      `median of ${runs} (machine shared with other work: figures are noisy)`,
  );
  const children: Deno.ChildProcess[] = [];
  try {
    const ports = new Map<string, number>();
    for (const t of targets) {
      const port = freePort();
      const child = t.start(port, dir);
      children.push(child);
      await waitReady(port, child);
      ports.set(t.name, port);
      await runLoad(udpload, port, { ...o, duration: 2 }); // warm-up (JIT)
    }
    for (let r = 0; r < runs; r++) {
      for (const t of targets) {
        const s = await runLoad(udpload, ports.get(t.name)!, o);
        results.set(t.name, [...(results.get(t.name) ?? []), s]);
        console.log(
          `  run ${r + 1} ${t.name.padEnd(20)} ${s.rate.toFixed(0).padStart(7)}/s  p99 ${s.p99Ms.toFixed(2)} ms` +
            (s.note ? `  (${s.note})` : ""),
        );
      }
    }
  } finally {
    await stopChildren(children);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  console.log("\nmedians:");
  const med = (name: string) => median((results.get(name) ?? []).map((x) => x.rate));
  for (const t of targets) {
    const xs = results.get(t.name) ?? [];
    console.log(
      `  ${t.name.padEnd(20)} ${med(t.name).toFixed(0).padStart(7)}/s  p99 ${
        median(xs.map((x) => x.p99Ms)).toFixed(2)
      } ms`,
    );
  }
  const ratio = (a: string, b: string) => results.has(a) && results.has(b) ? (med(a) / med(b)).toFixed(2) : "n/a";
  console.log("\nratios (goal):");
  // The goal's reference is the bare Deno.listenDatagram responder; the same-I/O ratios say what the tracker's own
  // logic costs on each path (btool batches through libc by default, --udp-io deno is the Deno.listenDatagram path).
  console.log(`  btool / bare Deno UDP = ${ratio("btool tracker", "bare Deno UDP")} (≥ 0.9)`);
  console.log(`  btool / bare libc UDP = ${ratio("btool tracker", "bare libc UDP")} (same I/O: the tracker's logic)`);
  console.log(
    `  btool --udp-io deno / bare Deno UDP = ${ratio("btool --udp-io deno", "bare Deno UDP")} (same I/O, Deno path)`,
  );
  if (isOpentracker) {
    console.log(`  btool / opentracker   = ${ratio("btool tracker", "opentracker")} (≥ 0.5 multi-core)`);
  }
}

if (import.meta.main) await main();
