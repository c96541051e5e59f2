// Announce throughput of `btool tracker` (by default on Deno.serve, and with --http-io libc on its libc HTTP server)
// against opentracker (Debian) and four bare handlers returning a fixed bencoded body (Deno.serve with no parameters;
// Deno.serve reading the target and address; the same behind Deno.listen and Deno.serve's per-connection entry, the
// floor of btool's connection front; btool's libc server), in one run: wrk + bench/tracker_http.lua (1,000
// torrents, random peer ids, compact=1, numwant=50, 64 connections, 2 threads), one connection per announce
// (Connection: close) and keep-alive, median of 3.
// Run: deno run -A bench/tracker_http.ts [--duration 10] [--runs 3] [--connections 64] [--threads 2]
//   [--baseline DIR] (also runs DIR/main.ts, e.g. an older checkout from `git archive`, as "btool baseline")
//   [--v8-flags FLAGS] (passed to the btool tracker instead of deno.json's, TRACKER_V8_FLAGS; "" for none)
// btool runs with --db :memory: and no periodic snapshot: a snapshot of the ~1M peers the random peer ids pile up
// would stall the event loop mid-measurement (SQLite writes are synchronous).

import { parseArgs } from "node:util";
import { startHttpServer } from "../lib/tracker/http_server.ts";
import { serveOnConnection } from "../lib/tracker/http_front.ts";
import { targetText } from "../lib/tracker/http1.ts";
import { fromLatin1, percentEncode, toHex } from "../lib/bytes.ts";
import {
  freePort,
  MAIN_TS,
  median,
  parseWrkMs,
  processCpuMs,
  runWrk as runCommonWrk,
  spawnBtoolTracker,
  stopChildren,
  TRACKER_V8_FLAGS,
  waitTcpReady,
  writeOpentrackerConfig,
  WRK_OPTIONS,
  type WrkMode,
  wrkSettings,
} from "./_common.ts";

const TORRENTS = 1_000;
/** The two btool targets: the default HTTP path, and the libc one. */
const DEFAULT = "btool default";
const LIBC = "btool libc";
/** Bare Deno.serve with a handler that reads the request (what any tracker must). */
const READS = "bare Deno.serve+req";
/** Bare Deno.listen + Deno.serve's per-connection entry: what a front that sees connections costs by itself. */
const FRONT = "bare front floor";
const LUA = new URL("./tracker_http.lua", import.meta.url).pathname;

interface Sample {
  rate: number;
  p99Ms: number;
  /** The server's CPU time per request (µs): steadier than the rate on a shared machine, and the cost itself. */
  cpuUs: number;
  errors: string;
}

/** A fixed reply shaped like a real one: counts, intervals and 50 compact peers. */
function bareBody(): Uint8Array {
  const head = "d8:completei10e10:incompletei40e8:intervali1800e12:min intervali900e5:peers300:";
  const out = new Uint8Array(head.length + 300 + 1);
  out.set(fromLatin1(head));
  for (let i = 0; i < 300; i++) out[head.length + i] = (i * 37) & 0xff;
  out[out.length - 1] = 0x65;
  return out;
}

/**
 * `--bare-server PORT`: the reference handler, run in its own process like the others. With `--bare-libc` it answers
 * the same fixed body through btool's libc HTTP server (lib/tracker/_http_ffi.ts) instead of Deno.serve: the floor
 * of any tracker on that I/O path.
 */
function serveBare(port: number, kind: "deno" | "deno-reads" | "deno-front" | "libc"): void {
  const body = bareBody();
  const headers = { "content-type": "text/plain" };
  if (kind === "deno") {
    // A handler of no parameters takes Deno.serve's native fast path (no Request, no info): no tracker can.
    Deno.serve(
      { hostname: "127.0.0.1", port, onListen: () => {} },
      () => new Response(body as Uint8Array<ArrayBuffer>, { headers }),
    );
    return;
  }
  // The floor of a tracker on Deno.serve: it reads the target and the client's address, as the libc one below does.
  let sink = 0;
  const reads = (req: Request, info: { remoteAddr: Deno.NetAddr }) => {
    sink += req.url.length + info.remoteAddr.hostname.length;
    return new Response(sink >= 0 ? body as Uint8Array<ArrayBuffer> : null, { headers });
  };
  if (kind === "deno-reads") {
    Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, reads);
    return;
  }
  if (kind === "deno-front") {
    // The floor of any front that sees connections (as btool's default must, to cap and time them out): Deno.listen
    // accepts, and Deno.serve's own per-connection entry serves each, with no caps, no deadlines, no bookkeeping.
    const serve = serveOnConnection();
    if (serve === null) throw new Error("this Deno has no serveHttpOnConnection");
    const listener = Deno.listen({ hostname: "127.0.0.1", port });
    const signal = { addEventListener: () => {} };
    const onError = () => new Response(null, { status: 500 });
    const onListen = () => {};
    const ignore = () => {};
    (async () => {
      // A reset connection rejects its `finished`: the one thing any front must handle.
      for await (const conn of listener) serve(conn, signal, reads, onError, onListen).finished.catch(ignore);
    })();
    return;
  }
  // The same fixed body through btool's own HTTP server: the request is parsed and its target read as text, as
  // btool's fast path does before the tracker's work starts.
  startHttpServer({
    hostname: "127.0.0.1",
    port,
    io: "libc",
    handler: () => new Response("not an announce", { status: 404 }),
    rawRequest: (b, start, end, host) => {
      sink += targetText(b, start, end).length + host.length;
      return sink >= 0 ? body : null;
    },
  });
}

async function runWrk(
  port: number,
  mode: WrkMode,
  o: { duration: number; connections: number; threads: number; hashesFile: string },
  pid = 0,
): Promise<Sample> {
  const cpu0 = processCpuMs(pid);
  const r = await runCommonWrk(port, mode, { ...o, lua: LUA, env: { TRACKER_HASHES: o.hashesFile } });
  const cpuUs = (processCpuMs(pid) - cpu0) * 1000 / r.requests;
  return { rate: r.rate, p99Ms: parseWrkMs(r.p99 === "?" ? "" : r.p99), cpuUs, errors: r.errors };
}

interface Target {
  name: string;
  start(port: number, dir: string): Deno.ChildProcess;
}

function btoolTarget(name: string, main: string, v8Flags: string, extra: string[] = []): Target {
  return {
    name,
    start: (port) =>
      spawnBtoolTracker(
        port,
        // Random peer ids never re-announce: ~6M peers pile up over a full run. A cap above that keeps every
        // announce a stored one (past the default 5M, new peers would get a cheap "Tracker is full" instead).
        [
          "--db",
          ":memory:",
          "--admin-token",
          "bench",
          "--snapshot-interval",
          "0",
          "--max-peers",
          "20000000",
          "--quiet",
          ...extra,
        ],
        { main, v8Flags },
      ),
  };
}

/** This script as `--bare-server PORT ...flags`, in its own process. */
function bareTarget(name: string, flags: string[]): Target {
  return {
    name,
    start: (port) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", new URL(import.meta.url).pathname, "--bare-server", String(port), ...flags],
        stdout: "null",
        stderr: "inherit",
      }).spawn(),
  };
}

const TARGETS: Target[] = [
  {
    name: "opentracker",
    start: (port, dir) =>
      new Deno.Command("/usr/bin/opentracker", {
        args: ["-f", writeOpentrackerConfig(port, dir)],
        stdout: "null",
        stderr: "null",
      }).spawn(),
  },
  bareTarget("bare Deno.serve", []),
  bareTarget(READS, ["--bare-reads"]),
  bareTarget(FRONT, ["--bare-front"]),
  bareTarget("bare libc HTTP", ["--bare-libc"]),
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      ...WRK_OPTIONS,
      "bare-server": { type: "string" },
      "bare-libc": { type: "boolean", default: false },
      "bare-reads": { type: "boolean", default: false },
      "bare-front": { type: "boolean", default: false },
      "v8-flags": { type: "string", default: TRACKER_V8_FLAGS },
    },
  });
  if (values["bare-server"] !== undefined) {
    const kind = values["bare-libc"]
      ? "libc"
      : values["bare-reads"]
      ? "deno-reads"
      : values["bare-front"]
      ? "deno-front"
      : "deno";
    return serveBare(Number(values["bare-server"]), kind);
  }
  const { runs, ...wrk } = wrkSettings(values);
  const o = { ...wrk, hashesFile: "" };
  const dir = await Deno.makeTempDir({ prefix: "btool-bench-" });
  const hashes = Array.from({ length: TORRENTS }, () => crypto.getRandomValues(new Uint8Array(20)));
  Deno.writeTextFileSync(`${dir}/whitelist.txt`, hashes.map(toHex).join("\n") + "\n");
  o.hashesFile = `${dir}/hashes.txt`;
  Deno.writeTextFileSync(o.hashesFile, hashes.map(percentEncode).join("\n") + "\n");
  const isOpentracker = await Deno.stat("/usr/bin/opentracker").then(() => true, () => false);
  const v8Flags = values["v8-flags"];
  const targets = [
    btoolTarget(DEFAULT, MAIN_TS, v8Flags),
    btoolTarget(LIBC, MAIN_TS, v8Flags, ["--http-io", "libc"]),
    ...(values.baseline === undefined ? [] : [btoolTarget("btool baseline", `${values.baseline}/main.ts`, v8Flags)]),
    ...TARGETS.filter((t) => t.name !== "opentracker" || isOpentracker),
  ];
  const results = new Map<string, Sample[]>();
  console.log(
    `tracker-http: wrk -t${o.threads} -c${o.connections} -d${o.duration}s, ${TORRENTS} torrents, median of ${runs}` +
      ` (machine shared with other work: figures are noisy)`,
  );
  const children: Deno.ChildProcess[] = [];
  try {
    const ports = new Map<string, number>();
    const pids = new Map<string, number>();
    for (const t of targets) {
      const port = freePort();
      const child = t.start(port, dir);
      children.push(child);
      await waitTcpReady(port, { child });
      ports.set(t.name, port);
      pids.set(t.name, child.pid);
      await runWrk(port, "keepalive", { ...o, duration: 2 }); // warm-up (JIT)
    }
    for (const mode of ["close", "keepalive"] as WrkMode[]) {
      for (let r = 0; r < runs; r++) {
        for (const t of targets) {
          const s = await runWrk(ports.get(t.name)!, mode, o, pids.get(t.name)!);
          const key = `${mode}|${t.name}`;
          results.set(key, [...(results.get(key) ?? []), s]);
          console.log(
            `  ${mode.padEnd(9)} run ${r + 1} ${t.name.padEnd(16)} ${s.rate.toFixed(0).padStart(7)}/s  p99 ` +
              `${s.p99Ms.toFixed(2)} ms  cpu ${s.cpuUs.toFixed(1)} µs/req${s.errors ? `  (${s.errors})` : ""}`,
          );
        }
      }
    }
  } finally {
    await stopChildren(children);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  console.log("\nmedians:");
  const med = (mode: WrkMode, name: string) => {
    const xs = results.get(`${mode}|${name}`) ?? [];
    return {
      rate: median(xs.map((x) => x.rate)),
      p99: median(xs.map((x) => x.p99Ms)),
      cpuUs: median(xs.map((x) => x.cpuUs)),
    };
  };
  for (const mode of ["close", "keepalive"] as WrkMode[]) {
    for (const t of targets) {
      const m = med(mode, t.name);
      console.log(
        `  ${mode.padEnd(9)} ${t.name.padEnd(16)} ${m.rate.toFixed(0).padStart(7)}/s  p99 ${m.p99.toFixed(2)} ms  ` +
          `cpu ${m.cpuUs.toFixed(1)} µs/req`,
      );
    }
  }
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  const rate = (mode: WrkMode, name: string) => med(mode, name).rate;
  console.log("\nratios (goal):");
  for (const mode of ["keepalive", "close"] as WrkMode[]) {
    console.log(
      `  ${(mode + ":").padEnd(10)} btool default (Deno.serve) / bare Deno.serve = ` +
        `${ratio(rate(mode, DEFAULT), rate(mode, "bare Deno.serve"))} (≥ 0.9); / bare Deno.serve reading the ` +
        `request = ${ratio(rate(mode, DEFAULT), rate(mode, READS))}; that bare / bare Deno.serve = ` +
        `${ratio(rate(mode, READS), rate(mode, "bare Deno.serve"))}`,
    );
  }
  // btool's default must see each connection (caps, deadlines): the floor of that, against bare Deno.serve, bounds
  // what the default can reach with one connection per announce, and the default against it is btool's own share.
  console.log(
    `  close:     front floor / bare Deno.serve = ${ratio(rate("close", FRONT), rate("close", "bare Deno.serve"))}` +
      ` (the most any front that sees connections reaches); btool default / front floor = ` +
      `${ratio(rate("close", DEFAULT), rate("close", FRONT))}; keepalive: front floor / bare Deno.serve = ` +
      `${ratio(rate("keepalive", FRONT), rate("keepalive", "bare Deno.serve"))}`,
  );
  if (isOpentracker) {
    console.log(
      `  close:     btool --http-io libc / opentracker = ${ratio(rate("close", LIBC), rate("close", "opentracker"))}` +
        " (≥ 1.0)",
    );
  }
  // What the tracker's own work costs on each I/O path, and the two paths' ceilings.
  for (const mode of ["close", "keepalive"] as WrkMode[]) {
    console.log(
      `  ${(mode + ":").padEnd(10)} libc / default = ${ratio(rate(mode, LIBC), rate(mode, DEFAULT))}` +
        `; libc / bare libc HTTP = ${ratio(rate(mode, LIBC), rate(mode, "bare libc HTTP"))}` +
        (isOpentracker
          ? `; default / opentracker = ${ratio(rate(mode, DEFAULT), rate(mode, "opentracker"))}` +
            `; libc / opentracker = ${ratio(rate(mode, LIBC), rate(mode, "opentracker"))}`
          : ""),
    );
  }
  if (values.baseline !== undefined) {
    for (const mode of ["close", "keepalive"] as WrkMode[]) {
      console.log(
        `  ${(mode + ":").padEnd(10)} default / baseline = ${ratio(rate(mode, DEFAULT), rate(mode, "btool baseline"))}`,
      );
    }
  }
}

if (import.meta.main) await main();
