// bench/peer: download speed on 127.0.0.1 from one python3-libtorrent seed: `btool peer` leecher vs a libtorrent
// leecher, same torrent, same seed, same run, interleaved; median of 3 each. Prints MiB/s of each, the ratio
// (goal >= 1.0), and btool's peak RSS and CPU seconds. Both are timed as whole processes (start-up included).
// BTOOL_BENCH_BYTES sets the size (default 1 GiB); the data lives in a temp dir removed at the end.

import { readJsonLine, stopDriver } from "../tests/_helpers/libtorrent.ts";
import { loadAverage, MAIN_TS, median, type TimedRun, timedRun } from "./_common.ts";

const SIZE_BYTES = Number(Deno.env.get("BTOOL_BENCH_BYTES") ?? 1024 * 1024 * 1024);
const RUNS = 3;
const PIECE_BYTES = 1024 * 1024;
const PYTHON = "/usr/bin/python3";

const SCRIPT = `
import json, os, sys, time, libtorrent as lt
mode, d = sys.argv[1], sys.argv[2]
settings = {"enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
            "enable_incoming_utp": False, "enable_outgoing_utp": False, "allow_multiple_connections_per_ip": True,
            "listen_interfaces": "127.0.0.1:0", "alert_mask": 0}
if mode == "make":
    fs = lt.file_storage()
    lt.add_files(fs, os.path.join(d, "data.bin"))
    t = lt.create_torrent(fs, int(sys.argv[3]), flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(t, d)
    open(os.path.join(d, "t.torrent"), "wb").write(lt.bencode(t.generate()))
    sys.exit(0)
ses = lt.session(settings)
ti = lt.torrent_info(os.path.join(d, "t.torrent"))
if mode == "seed":
    h = ses.add_torrent({"ti": ti, "save_path": d})
    deadline = time.time() + 300
    while time.time() < deadline and not h.status().is_seeding:
        time.sleep(0.1)
    print(json.dumps({"port": ses.listen_port(), "seeding": h.status().is_seeding}), flush=True)
    sys.stdin.read()
else:
    out = sys.argv[4]
    h = ses.add_torrent({"ti": ti, "save_path": out})
    h.connect_peer(("127.0.0.1", int(sys.argv[3])))
    deadline = time.time() + 300
    while time.time() < deadline and not h.status().is_seeding:
        time.sleep(0.02)
    print(json.dumps({"seeding": h.status().is_seeding}), flush=True)
    sys.exit(0 if h.status().is_seeding else 1)
`;

function mibps(ms: number): number {
  return SIZE_BYTES / (1024 * 1024) / (ms / 1000);
}

async function writeTestFile(path: string): Promise<void> {
  const block = new Uint8Array(16 * 1024 * 1024);
  for (let at = 0; at < block.length; at += 65536) crypto.getRandomValues(block.subarray(at, at + 65536));
  using f = await Deno.open(path, { write: true, create: true, truncate: true });
  for (let written = 0, i = 0; written < SIZE_BYTES; i++) {
    const n = Math.min(block.length, SIZE_BYTES - written);
    block[0] = i & 0xff; // every 16 MiB differs
    block[1] = i >> 8;
    let at = 0;
    while (at < n) at += await f.write(block.subarray(at, n));
    written += n;
  }
}

async function main(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "btool-bench-peer-" });
  let seed: Deno.ChildProcess | null = null;
  try {
    console.log(`bench/peer: ${(SIZE_BYTES / 2 ** 20).toFixed(0)} MiB, ${PIECE_BYTES / 1024} KiB pieces, 127.0.0.1`);
    console.log(`load average at start: ${loadAverage()}`);
    await writeTestFile(`${dir}/data.bin`);
    const made = await new Deno.Command(PYTHON, { args: ["-c", SCRIPT, "make", dir, String(PIECE_BYTES)] }).output();
    if (!made.success) throw new Error(`libtorrent make failed: ${new TextDecoder().decode(made.stderr)}`);
    seed = new Deno.Command(PYTHON, {
      args: ["-c", SCRIPT, "seed", dir],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const ready = await readJsonLine(seed.stdout);
    if (!ready.seeding) throw new Error("libtorrent seed did not start");
    const port = String(ready.port);

    const btool: TimedRun[] = [];
    const lt: TimedRun[] = [];
    for (let r = 0; r < RUNS; r++) {
      const out = `${dir}/b${r}`;
      btool.push(
        await timedRun(Deno.execPath(), [
          "run",
          "--allow-all",
          MAIN_TS,
          "peer",
          `${dir}/t.torrent`,
          "--dir",
          out,
          "--port",
          "0",
          "--exit-when-done",
          "--quiet",
          "--peer",
          `127.0.0.1:${port}`,
        ]),
      );
      const a = btool.at(-1)!;
      console.log(
        `  run ${r + 1}: btool      ${mibps(a.ms).toFixed(0).padStart(5)} MiB/s  ${(a.ms / 1000).toFixed(2)} s  ` +
          `cpu ${(a.userS + a.sysS).toFixed(2)} s  rss ${(a.rssKiB / 1024).toFixed(0)} MiB`,
      );
      await Deno.remove(out, { recursive: true });
      const ltOut = `${dir}/l${r}`;
      lt.push(await timedRun(PYTHON, ["-c", SCRIPT, "leech", dir, port, ltOut]));
      const b = lt.at(-1)!;
      console.log(
        `  run ${r + 1}: libtorrent ${mibps(b.ms).toFixed(0).padStart(5)} MiB/s  ${(b.ms / 1000).toFixed(2)} s  ` +
          `cpu ${(b.userS + b.sysS).toFixed(2)} s  rss ${(b.rssKiB / 1024).toFixed(0)} MiB`,
      );
      await Deno.remove(ltOut, { recursive: true });
    }
    const bMs = median(btool.map((m) => m.ms));
    const lMs = median(lt.map((m) => m.ms));
    console.log(`btool peer  ${mibps(bMs).toFixed(0)} MiB/s (median of ${RUNS})`);
    console.log(`libtorrent  ${mibps(lMs).toFixed(0)} MiB/s (median of ${RUNS})`);
    console.log(`ratio btool/libtorrent: ${(lMs / bMs).toFixed(2)} (goal >= 1.0)`);
    console.log(
      `btool peak RSS ${(Math.max(...btool.map((m) => m.rssKiB)) / 1024).toFixed(0)} MiB (goal <= 200), ` +
        `CPU ${median(btool.map((m) => m.userS + m.sysS)).toFixed(2)} s (median); libtorrent CPU ${
          median(lt.map((m) => m.userS + m.sysS)).toFixed(2)
        } s`,
    );
    console.log("Note: the machine is shared; figures are noisy.");
  } finally {
    if (seed !== null) await stopDriver(seed);
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
