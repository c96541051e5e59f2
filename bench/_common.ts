// Harness pieces shared by the benchmarks (bench/run.ts skips files starting with `_`).
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import type { AnnounceRequest } from "../lib/tracker/announce.ts";
import type { SwarmStore } from "../lib/tracker/swarm_store.ts";

/** The middle value (upper middle for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** What benchArgs() returns: each numeric flag as a number, and `values` of the other options as parseArgs gives them. */
export type BenchArgs<N extends string, O extends ParseArgsOptionsConfig> = { [K in N]: number } & {
  values: ReturnType<typeof parseArgs<{ args: string[]; options: O }>>["values"];
};

/**
 * A bench's command line: each key of `numbers` is a flag `--key N` defaulting to its value; `other` holds further
 * parseArgs options. A numeric flag that is not a number stops the bench with a clear error.
 */
export function benchArgs<N extends string, O extends ParseArgsOptionsConfig = Record<never, never>>(
  numbers: Record<N, number>,
  other: O = {} as O,
  args: string[] = Deno.args,
): BenchArgs<N, O> {
  const options: ParseArgsOptionsConfig = { ...other };
  for (const [name, value] of Object.entries<number>(numbers)) {
    options[name] = { type: "string", default: String(value) };
  }
  const { values } = parseArgs({ args, options });
  const out: Record<string, unknown> = { values };
  for (const name of Object.keys(numbers)) {
    const n = Number(values[name]);
    if (!Number.isFinite(n)) throw new Error(`--${name} takes a number, not "${values[name]}"`);
    out[name] = n;
  }
  return out as BenchArgs<N, O>;
}

/** The command-line options of the wrk benches (tracker_http.ts, tracker_private.ts), for node:util parseArgs. */
export const WRK_OPTIONS = {
  duration: { type: "string", default: "10" },
  runs: { type: "string", default: "3" },
  connections: { type: "string", default: "64" },
  threads: { type: "string", default: "2" },
  baseline: { type: "string" },
} as const;

/** The wrk settings and run count parsed by WRK_OPTIONS. */
export function wrkSettings(
  values: { duration: string; runs: string; connections: string; threads: string },
): { duration: number; connections: number; threads: number; runs: number } {
  return {
    duration: Number(values.duration),
    connections: Number(values.connections),
    threads: Number(values.threads),
    runs: Number(values.runs),
  };
}

const PEER_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/** 12 random alphanumerics (12 draws of `random`): the tail of a bench's peer id after its 8-byte client prefix. */
export function randomPeerIdTail(random: () => number): string {
  let id = "";
  for (let i = 0; i < 12; i++) id += PEER_ID_CHARS[(random() * PEER_ID_CHARS.length) | 0];
  return id;
}

/** Deterministic xorshift32 in [0, 1), so that runs are comparable. */
export function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

/** The 1-, 5- and 15-minute load averages from /proc/loadavg, "?" when unreadable. */
export function loadAverage(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
}

/** Most a process run by timedRun may take before it is killed. */
const TIMED_RUN_TIMEOUT_MS = 300_000;

/** What GNU time measured of one process: wall ms, user and system CPU seconds (all threads), peak RSS. */
export interface TimedRun {
  ms: number;
  userS: number;
  sysS: number;
  rssKiB: number;
}

/**
 * Run `cmd args` under /usr/bin/time (stdout discarded), killed after TIMED_RUN_TIMEOUT_MS.
 * @throws when the process fails or GNU time printed no figures
 */
export async function timedRun(cmd: string, args: string[]): Promise<TimedRun> {
  const child = new Deno.Command("/usr/bin/time", {
    args: ["-f", "cpu %U %S rss %M", cmd, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const t0 = performance.now();
  const timer = setTimeout(() => child.kill("SIGKILL"), TIMED_RUN_TIMEOUT_MS);
  const out = await child.output();
  const ms = performance.now() - t0;
  clearTimeout(timer);
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed: ${stderr}`);
  const m = /cpu ([\d.]+) ([\d.]+) rss (\d+)\s*$/.exec(stderr);
  if (m === null) throw new Error(`no figures from /usr/bin/time: ${stderr}`);
  return { ms, userS: Number(m[1]), sysS: Number(m[2]), rssKiB: Number(m[3]) };
}

/** A port on 127.0.0.1 free for both TCP and UDP a moment ago (btool serves HTTP and UDP on one number). */
export function freePort(): number {
  for (let attempt = 0; attempt < 20; attempt++) {
    const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (tcp.addr as Deno.NetAddr).port;
    tcp.close();
    try {
      Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port }).close();
      return port;
    } catch (err: unknown) {
      if (!(err instanceof Deno.errors.AddrInUse)) throw err; // e.g. no --unstable-net: say so, not "no port free"
    }
  }
  throw new Error("no port free for both TCP and UDP in 20 tries");
}

/**
 * Connect to 127.0.0.1:port every 100 ms until it accepts, for at most `timeoutMs`; gives up early when `child`
 * (if given) exits. Throws `${what} on port N did not start`.
 */
export async function waitTcpReady(
  port: number,
  o: { child?: Deno.ChildProcess; what?: string; timeoutMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (o.timeoutMs ?? 30_000);
  let exited = false;
  o.child?.status.then(() => exited = true);
  while (Date.now() < deadline && !exited) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${o.what ?? "server"} on port ${port} did not start`);
}

/** SIGTERM each child (ignoring ones already gone) and wait for it to exit. */
export async function stopChildren(children: Deno.ChildProcess[]): Promise<void> {
  for (const c of children) {
    try {
      c.kill("SIGTERM");
    } catch {
      // already gone
    }
    await c.status;
  }
}

/** Write `${dir}/opentracker.conf` (listening on TCP+UDP `port`, whitelist `${dir}/whitelist.txt`); its path. */
export function writeOpentrackerConfig(port: number, dir: string): string {
  const path = `${dir}/opentracker.conf`;
  Deno.writeTextFileSync(path, `listen.tcp_udp 127.0.0.1:${port}\naccess.whitelist ${dir}/whitelist.txt\n`);
  return path;
}

/** One connection per request (`Connection: close`) or keep-alive. */
export type WrkMode = "close" | "keepalive";

/** What one wrk run printed: requests/s, total requests, the 99th percentile latency as printed ("?" if absent),
 * error lines. */
export interface WrkResult {
  rate: number;
  requests: number;
  p99: string;
  errors: string;
}

/** CPU time (user + system) a process has used so far, in ms, from /proc (NaN where unreadable). */
export function processCpuMs(pid: number): number {
  try {
    const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]!.split(" ");
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name; clock ticks of 10 ms.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/** Run wrk with a Lua script against http://127.0.0.1:port/announce; throws when wrk printed no rate. */
export async function runWrk(
  port: number,
  mode: WrkMode,
  o: { lua: string; duration: number; connections: number; threads: number; env: Record<string, string> },
): Promise<WrkResult> {
  const args = ["-t", String(o.threads), "-c", String(o.connections), "-d", `${o.duration}s`, "--latency", "-s", o.lua];
  if (mode === "close") args.push("-H", "Connection: close");
  args.push(`http://127.0.0.1:${port}/announce`);
  const out = await new Deno.Command("wrk", { args, env: o.env, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const rate = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  if (!Number.isFinite(rate)) throw new Error(`wrk failed: ${text}`);
  const errors = [/Non-2xx or 3xx responses: \d+/.exec(text)?.[0], /Socket errors: [^\n]+/.exec(text)?.[0]]
    .filter((x) => x !== undefined).join("; ");
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? NaN);
  return { rate, requests, p99: /\s99%\s+(\S+)/.exec(text)?.[1] ?? "?", errors };
}

/** A wrk latency ("812.00us", "1.20ms", "2.00s", "1.00m") in ms; NaN when unparsable. */
export function parseWrkMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (m === null) return NaN;
  const v = Number(m[1]);
  return m[2] === "us" ? v / 1000 : m[2] === "ms" ? v : m[2] === "s" ? v * 1000 : v * 60_000;
}

/** The repository's main.ts, the default entry point for spawned btool processes. */
export const MAIN_TS: string = new URL("../main.ts", import.meta.url).pathname;

/** The V8 flags of deno.json's `tracker` task (and of the compiled executable): a 4 MB young generation bounds RSS
 * (V8's default lets it grow to 16 MB semi-spaces that are freed lazily). Benchmarks run the tracker as users do. */
export const TRACKER_V8_FLAGS = "--max-semi-space-size=4";

/**
 * Spawn `deno run --allow-all --v8-flags=FLAGS MAIN tracker --host 127.0.0.1 --port PORT ...args` (stdin and stdout
 * null, stderr inherited; FLAGS default to TRACKER_V8_FLAGS, "" for none). `main` defaults to this checkout's main.ts (another one, e.g. a baseline checkout's).
 */
export function spawnBtoolTracker(
  port: number,
  args: string[],
  o: { main?: string; v8Flags?: string } = {},
): Deno.ChildProcess {
  const flags = o.v8Flags ?? TRACKER_V8_FLAGS;
  const v8 = flags === "" ? [] : [`--v8-flags=${flags}`];
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", ...v8, o.main ?? MAIN_TS, "tracker", "--host", "127.0.0.1", "--port", String(port)]
      .concat(args),
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
}

/**
 * Fill `store` with `peers` synthetic peers spread over `torrents` info hashes: random peer ids, 10.x.y.z addresses,
 * a third of them seeders. `isVaried` adds what a snapshot must carry: every 50th peer on IPv6, distinct `left`
 * values and every 7th a `completed` event.
 */
export function fillStore(
  store: SwarmStore,
  o: { peers: number; torrents: number; nowMs: number; isVaried?: boolean },
): void {
  const random = xorshift(42);
  const infoHash = new Uint8Array(20);
  const peerId = new Uint8Array(20);
  const ip = new Uint8Array(4);
  const ip6 = new Uint8Array(16);
  ip6[0] = 0x20;
  ip6[1] = 0x01;
  const req: AnnounceRequest = {
    infoHash,
    peerId,
    port: 6881,
    uploaded: 0,
    downloaded: 0,
    left: 0,
    event: "started",
    numWant: 0,
    isCompact: true,
    isNoPeerId: false,
  };
  const isVaried = o.isVaried === true;
  for (let i = 0; i < o.peers; i++) {
    const t = i % o.torrents;
    infoHash[0] = t & 0xff;
    infoHash[1] = (t >> 8) & 0xff;
    infoHash[2] = (t >> 16) & 0xff;
    for (let k = 0; k < 20; k++) peerId[k] = (random() * 256) | 0;
    req.port = 1024 + (i % 60000);
    req.left = i % 3 === 0 ? 0 : 1_000_000 + (isVaried ? i : 0);
    req.event = isVaried && i % 7 === 0 ? "completed" : "started";
    if (isVaried && i % 50 === 0) {
      ip6[15] = i & 0xff;
      ip6[14] = (i >> 8) & 0xff;
      store.announce(req, { ip: ip6, nowMs: o.nowMs, random });
    } else {
      ip[0] = 10;
      ip[1] = (i >> 16) & 0xff;
      ip[2] = (i >> 8) & 0xff;
      ip[3] = i & 0xff;
      store.announce(req, { ip, nowMs: o.nowMs, random });
    }
  }
}
