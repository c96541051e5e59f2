// bench/create: `btool create` (deno run -A main.ts create; the default SHA-1, and the opt-in `--sha1 libc`) against
// `mktorrent -t <cores>` on the same files (1 GiB and 4 GiB by default), 256 KiB pieces, warm page cache; runs
// interleaved, median of 5 each: wall ms, user and system CPU seconds, and the speed ratios (goal for the default:
// >= 0.9 at 1 GiB, >= 1.0 at 4 GiB). Two floors run in the same rotation: `deno run` of an empty file, and
// bench/_create_floor.ts, the least Deno program that hashes as btool does; their ceilings say what any Deno program
// could reach against mktorrent here. Then the SHA-1 stage alone, OpenSSL through
// FFI against node:crypto and WebCrypto over the same buffers (what decides create's hash job), and fixed costs.
// Environment: BTOOL_BENCH_SIZES (MiB list, default "1024,4096"), BTOOL_BENCH_PIECE (bytes, default 262144),
// BTOOL_BENCH_RUNS (default 5), BTOOL_BENCH_BASELINE (another checkout's main.ts, run interleaved as one more
// contender). Each file lives in a temp dir that is removed after its size.

import { createHash } from "node:crypto";
import { type BencodeDict, decodeBencode, isBytes, rawValue } from "../lib/bencode.ts";
import { equals } from "../lib/bytes.ts";
import { InfoHash } from "../lib/infohash.ts";
import { openLibcSha1, sha1 } from "../lib/sha1.ts";
import { loadAverage, MAIN_TS, median, type TimedRun, timedRun } from "./_common.ts";

const MIB = 1024 * 1024;
const SIZES_MIB = (Deno.env.get("BTOOL_BENCH_SIZES") ?? "1024,4096").split(",").filter((s) => s !== "").map(Number);
const PIECE_BYTES = Number(Deno.env.get("BTOOL_BENCH_PIECE") ?? 256 * 1024);
const RUNS = Number(Deno.env.get("BTOOL_BENCH_RUNS") ?? 5);
const BASELINE = Deno.env.get("BTOOL_BENCH_BASELINE") ?? null;
const THREADS = navigator.hardwareConcurrency;
const TRACKER = "http://127.0.0.1:6969/announce";
const FLOOR_TS = new URL("./_create_floor.ts", import.meta.url).pathname;
/** The SHA-1 stage's buffer (hashed in PIECE_BYTES pieces). */
const STAGE_BYTES = 256 * MIB;
const STAGE_IN_FLIGHT = [1, 8];

if (!Deno.statSync("/usr/bin/time").isFile) throw new Error("bench/create needs /usr/bin/time (apt-get install time)");

/** The `pieces` string of a .torrent's info dictionary. */
function piecesOf(path: string): Uint8Array {
  const info = decodeBencode(Deno.readFileSync(path)) as BencodeDict;
  const pieces = (info.get("info") as BencodeDict).get("pieces");
  if (!isBytes(pieces)) throw new Error(`${path} has no pieces`);
  return pieces;
}

async function infoHashOf(path: string): Promise<string> {
  return (await InfoHash.fromInfoBytes(rawValue(Deno.readFileSync(path), ["info"], { isStrict: false }))).hex;
}

async function writeTestFile(path: string, bytes: number): Promise<void> {
  const block = new Uint8Array(16 * MIB);
  for (let at = 0; at < block.length; at += 65536) crypto.getRandomValues(block.subarray(at, at + 65536));
  using f = await Deno.open(path, { write: true, create: true, truncate: true });
  for (let written = 0, i = 0; written < bytes; i++) {
    const n = Math.min(block.length, bytes - written);
    block[0] = i & 0xff; // pieces differ from block to block
    let done = 0;
    while (done < n) done += await f.write(block.subarray(done, n));
    written += n;
  }
}

async function warm(path: string): Promise<void> {
  using f = await Deno.open(path);
  const buf = new Uint8Array(8 * MIB);
  while ((await f.read(buf)) !== null) {
    // reading is the point: the page cache now holds the file
  }
}

function findMktorrent(): string {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/mktorrent`).isFile) return `${dir}/mktorrent`;
    } catch {
      // not here
    }
  }
  throw new Error("bench/create: mktorrent is not installed (apt-get install mktorrent)");
}

/** One program timed in the rotation, and the file it writes (checked against the others'). */
interface Contender {
  name: string;
  out: string;
  run: () => Promise<TimedRun>;
  runs: TimedRun[];
}

function summary(name: string, runs: TimedRun[], mib: number): string {
  const ms = median(runs.map((r) => r.ms));
  return `${name.padEnd(22)} ${(mib / (ms / 1000)).toFixed(0).padStart(6)} MiB/s  median ${ms.toFixed(0)} ms, ` +
    `user ${median(runs.map((r) => r.userS)).toFixed(2)} s, sys ${median(runs.map((r) => r.sysS)).toFixed(2)} s`;
}

async function benchSize(mktorrent: string, mib: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "btool-bench-create-" });
  try {
    const data = `${dir}/bench.bin`;
    await writeTestFile(data, mib * MIB);
    await warm(data);
    await warm(data);
    const btoolArgs = (main: string, out: string, extra: string[] = []) => [
      "run",
      "-A",
      main,
      "create",
      data,
      "-a",
      TRACKER,
      "--piece-length",
      String(PIECE_BYTES),
      "--no-date",
      "--force",
      "-o",
      out,
      ...extra,
    ];
    const contender = (name: string, out: string, run: () => Promise<TimedRun>): Contender => ({
      name,
      out,
      run,
      runs: [],
    });
    const btool = contender(
      "btool create",
      `${dir}/b.torrent`,
      () => timedRun(Deno.execPath(), btoolArgs(MAIN_TS, `${dir}/b.torrent`)),
    );
    const mk = contender(`mktorrent -t ${THREADS}`, `${dir}/m.torrent`, async () => {
      await Deno.remove(`${dir}/m.torrent`).catch(() => {});
      const log2 = String(Math.log2(PIECE_BYTES));
      return await timedRun(mktorrent, [
        "-t",
        String(THREADS),
        "-l",
        log2,
        "-d",
        "-a",
        TRACKER,
        "-o",
        `${dir}/m.torrent`,
        data,
      ]);
    });
    const libc = contender(
      "btool --sha1 libc",
      `${dir}/l.torrent`,
      () => timedRun(Deno.execPath(), btoolArgs(MAIN_TS, `${dir}/l.torrent`, ["--sha1", "libc"])),
    );
    // The floors: a `deno run` of nothing, and of the least program that hashes as btool does (bench/_create_floor.ts).
    await Deno.writeTextFile(`${dir}/empty.ts`, "");
    const empty = contender(
      "deno run, empty file",
      "",
      () => timedRun(Deno.execPath(), ["run", "-A", `${dir}/empty.ts`]),
    );
    const floor = contender(
      "Deno floor (no btool)",
      `${dir}/floor.bin`,
      () => timedRun(Deno.execPath(), ["run", "-A", FLOOR_TS, data, String(PIECE_BYTES), `${dir}/floor.bin`]),
    );
    const baseline = BASELINE === null
      ? null
      : contender("baseline btool", `${dir}/base.torrent`, () =>
        timedRun(Deno.execPath(), btoolArgs(BASELINE, `${dir}/base.torrent`)));
    const contenders = [btool, mk, libc, empty, floor, ...(baseline === null ? [] : [baseline])];
    console.log(`\n${mib} MiB file, ${PIECE_BYTES / 1024} KiB pieces, ${RUNS} runs each, interleaved`);
    for (let i = 0; i < RUNS; i++) {
      // Rotate who goes first so that a neighbour's load spike does not always hit the same tool.
      const order = contenders.map((_, k) => contenders[(k + i) % contenders.length]!);
      for (const c of order) c.runs.push(await c.run());
      const torrents = contenders.filter((c) => c.out.endsWith(".torrent"));
      const hashes = new Set(await Promise.all(torrents.map((c) => infoHashOf(c.out))));
      if (hashes.size !== 1) throw new Error("btool and mktorrent disagree on the info hash");
      if (!equals(piecesOf(btool.out), Deno.readFileSync(floor.out))) {
        throw new Error("the floor's piece hashes differ from btool's");
      }
      console.log(
        `  run ${i + 1}: ` +
          contenders.map((c) => `${c.name} ${c.runs[i]!.ms.toFixed(0)} ms (${c.runs[i]!.userS}+${c.runs[i]!.sysS} s)`)
            .join(", "),
      );
    }
    for (const c of contenders) console.log(summary(c.name, c.runs, mib));
    const ms = (c: Contender) => median(c.runs.map((r) => r.ms));
    const best = (c: Contender) => Math.min(...c.runs.map((r) => r.ms));
    const [ours, theirs] = [ms(btool), ms(mk)];
    console.log(
      `ratio at ${mib} MiB (mktorrent ms / btool ms, > 1 = btool faster): median ${(theirs / ours).toFixed(2)}, ` +
        `best ${(best(mk) / best(btool)).toFixed(2)}; same info hash: yes`,
    );
    // CPU (user + sys) moves less than wall time when other work shares the cores.
    const cpu = (c: Contender) => median(c.runs.map((r) => r.userS + r.sysS));
    console.log(
      `CPU at ${mib} MiB (user + sys, medians): mktorrent ${cpu(mk).toFixed(2)} s, btool ${cpu(btool).toFixed(2)} s, ` +
        `--sha1 libc ${cpu(libc).toFixed(2)} s; ratio mktorrent/btool ${(cpu(mk) / cpu(btool)).toFixed(2)}`,
    );
    console.log(
      `ratio at ${mib} MiB, --sha1 libc: mktorrent ms / libc ms ${(theirs / ms(libc)).toFixed(2)}, ` +
        `default ms / libc ms ${(ours / ms(libc)).toFixed(2)} (> 1 = libc faster)`,
    );
    // What any `deno run` program could reach: even hashing as fast as mktorrent's whole run, it starts the runtime.
    console.log(
      `ceilings at ${mib} MiB (mktorrent ms / ...): Deno floor ${(theirs / ms(floor)).toFixed(2)} (btool ms / floor ` +
        `ms ${(ours / ms(floor)).toFixed(2)}); any deno run program, mktorrent ms + empty run ms, ` +
        `${(theirs / (theirs + ms(empty))).toFixed(2)}`,
    );
    if (baseline !== null) console.log(`ratio baseline ms / btool ms: ${(ms(baseline) / ours).toFixed(2)}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** How the SHA-1 stage hashes: node:crypto, OpenSSL through FFI, or WebCrypto with this many digests in flight. */
type Stage = "node" | "openssl" | number;

/** CPU time of this process, all threads, in ms (10 ms ticks from /proc/self/stat). */
function cpuMs(): number {
  const fields = Deno.readTextFileSync("/proc/self/stat").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * SHA-1 of STAGE_BYTES in PIECE_BYTES pieces, in memory: WebCrypto with n digests in flight, or node:crypto. Returns
 * wall and CPU ms: create keeps every core busy, so CPU per byte is what decides, and WebCrypto's digests run on
 * other threads (its wall time alone would flatter it).
 */
async function hashStage(buf: Uint8Array, how: Stage): Promise<{ ms: number; cpu: number }> {
  const t0 = performance.now();
  const c0 = cpuMs();
  const out = new Uint8Array((buf.length / PIECE_BYTES) * 20);
  if (how === "node") {
    for (let at = 0, i = 0; at < buf.length; at += PIECE_BYTES, i++) {
      out.set(createHash("sha1").update(buf.subarray(at, at + PIECE_BYTES)).digest(), 20 * i);
    }
  } else if (how === "openssl") {
    const native = openLibcSha1();
    for (let at = 0, i = 0; at < buf.length; at += PIECE_BYTES, i++) {
      native(buf.subarray(at, at + PIECE_BYTES), out, 20 * i);
    }
  } else {
    const inFlight: Promise<void>[] = [];
    for (let at = 0, i = 0; at < buf.length; at += PIECE_BYTES, i++) {
      const to = 20 * i;
      inFlight.push(sha1(buf.subarray(at, at + PIECE_BYTES)).then((d) => out.set(d, to)));
      if (inFlight.length >= how) await inFlight.shift();
    }
    await Promise.all(inFlight);
  }
  return { ms: performance.now() - t0, cpu: cpuMs() - c0 };
}

async function benchHashStage(): Promise<void> {
  const buf = new Uint8Array(STAGE_BYTES);
  for (let at = 0; at < buf.length; at += 65536) crypto.getRandomValues(buf.subarray(at, at + 65536));
  const hows: Stage[] = ["node", "openssl", ...STAGE_IN_FLIGHT];
  const times = new Map<Stage, { ms: number; cpu: number }[]>(hows.map((h) => [h, []]));
  for (let i = 0; i < RUNS; i++) for (const h of hows) times.get(h)!.push(await hashStage(buf, h));
  const med = (h: Stage) => ({
    ms: median(times.get(h)!.map((t) => t.ms)),
    cpu: median(times.get(h)!.map((t) => t.cpu)),
  });
  const node = med("node");
  console.log(
    `\nSHA-1 stage: ${STAGE_BYTES / MIB} MiB in ${PIECE_BYTES / 1024} KiB pieces, median of ${RUNS}, interleaved`,
  );
  const ssl = med("openssl");
  console.log(`  OpenSSL SHA1() through FFI   wall ${ssl.ms.toFixed(0)} ms, CPU ${ssl.cpu.toFixed(0)} ms`);
  console.log(
    `  node:crypto createHash       wall ${node.ms.toFixed(0)} ms, CPU ${node.cpu.toFixed(0)} ms ` +
      `(CPU ${((node.cpu / ssl.cpu - 1) * 100).toFixed(0)}% more than OpenSSL)`,
  );
  for (const n of STAGE_IN_FLIGHT) {
    const t = med(n);
    console.log(
      `  WebCrypto, ${n} in flight`.padEnd(30) + `wall ${t.ms.toFixed(0)} ms, CPU ${t.cpu.toFixed(0)} ms ` +
        `(CPU ${((t.cpu / ssl.cpu - 1) * 100).toFixed(0)}% more than OpenSSL)`,
    );
  }
}

async function benchFixedCosts(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "btool-bench-create-" });
  try {
    const empty = `${dir}/empty.ts`;
    const small = `${dir}/small.bin`;
    await Deno.writeTextFile(empty, "");
    await Deno.writeFile(small, new Uint8Array(MIB));
    const startup: TimedRun[] = [];
    const runtime: TimedRun[] = [];
    const smallCreate: TimedRun[] = [];
    for (let i = 0; i < RUNS; i++) {
      startup.push(await timedRun(Deno.execPath(), ["run", "-A", MAIN_TS, "--version"]));
      runtime.push(await timedRun(Deno.execPath(), ["run", "-A", empty]));
      const args = [
        "run",
        "-A",
        MAIN_TS,
        "create",
        small,
        "-a",
        TRACKER,
        "--no-date",
        "--force",
        "-o",
        `${dir}/s.torrent`,
      ];
      smallCreate.push(await timedRun(Deno.execPath(), args));
    }
    const m = (rs: TimedRun[]) => median(rs.map((r) => r.ms)).toFixed(0);
    console.log(
      `\nfixed costs (median): deno run of an empty file ${m(runtime)} ms, main.ts --version ${m(startup)} ms, ` +
        `btool create of a 1 MiB file ${m(smallCreate)} ms`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const mktorrent = findMktorrent();
console.log(`bench/create: cores ${THREADS}, load average before: ${loadAverage()}`);
for (const mib of SIZES_MIB) await benchSize(mktorrent, mib);
await benchHashStage();
await benchFixedCosts();
console.log(`load average after: ${loadAverage()} (the machine is shared: figures are noisy)`);
