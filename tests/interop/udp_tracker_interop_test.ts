// The UDP tracker (lib/tracker/udp_server.ts) with real clients: a python3-libtorrent seeder and leecher whose only
// tracker is `udp://127.0.0.1:PORT/announce?passkey=…` find each other through it and complete a transfer; the
// BEP 41 URL data reaches the access hook. DHT, LSD, UPnP and NAT-PMP are off, so the tracker is the only way to
// meet. Every wait is time-bounded; the Python child is killed by PID in `finally`.
// Found here: libtorrent shares one UDP connection id cache among all sessions of a process, so the leecher announced
// with the seeder's id from another source port; ids are therefore bound to the address only (as opentracker does).
// transmission-cli drops tracker-supplied peers in 127.0.0.0/8 (INTEROP.md 20): its test shows that it announces
// over UDP (BEP 15, no URL data) so that the libtorrent seeder, re-announcing, learns of it and connects to it.

import { deepEqual, equal, ok } from "../_helpers/assert.ts";
import { freePort, interopTool } from "../_helpers/tools.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";
import { equals, fromUtf8 } from "../../lib/bytes.ts";
import { TrackerError } from "../../lib/errors.ts";
import { MemorySwarmStore } from "../../lib/tracker/swarm_store.ts";
import { startUdpTracker } from "../../lib/tracker/udp_server.ts";

const tool = interopTool("libtorrent");
const transmission = interopTool("transmission-cli");
const TIMEOUT_MS = 90_000;
const DATA_BYTES = 3 * 65536 + 1234;
const PASSKEY = "0123456789abcdef0123456789abcdef";

/**
 * The start of both Python drivers (argv: DIR, tracker URL): libtorrent on 127.0.0.1 without DHT, LSD, UPnP or
 * NAT-PMP, and `t`, a torrent of DIR/data.bin announcing to the tracker, hashed; `flags` are create_torrent's.
 */
function driverPreamble(flags: string): string {
  return `
import json, os, sys, time, libtorrent as lt
d, tracker = sys.argv[1], sys.argv[2]
settings = {"enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
            "allow_multiple_connections_per_ip": True, "listen_interfaces": "127.0.0.1:0",
            "alert_mask": lt.alert.category_t.all_categories}
fs = lt.file_storage()
lt.add_files(fs, os.path.join(d, "data.bin"))
t = lt.create_torrent(fs, 65536${flags})
t.add_tracker(tracker)
lt.set_piece_hashes(t, d)
`;
}

const SCRIPT = `${driverPreamble("")}ti = lt.torrent_info(lt.bencode(t.generate()))
deadline = time.time() + 60
result = {"replies": [], "errors": []}
def pump(ses, who):
    ses.wait_for_alert(100)
    for a in ses.pop_alerts():
        if isinstance(a, lt.tracker_reply_alert):
            result["replies"].append([who, a.num_peers])
        elif isinstance(a, lt.tracker_error_alert):
            result["errors"].append(who + ": " + a.message())
seeder = lt.session(settings)
s = seeder.add_torrent({"ti": ti, "save_path": d})
# The seeder announces first, so the leecher's first announce already returns it.
while time.time() < deadline and not any(w == "seeder" for w, _ in result["replies"]):
    pump(seeder, "seeder")
out = os.path.join(d, "out")
os.makedirs(out, exist_ok=True)
leecher = lt.session(settings)
l = leecher.add_torrent({"ti": ti, "save_path": out})
while time.time() < deadline and not l.status().is_seeding:
    pump(leecher, "leecher")
    pump(seeder, "seeder")
result["leecher_seeding"] = l.status().is_seeding
result["downloaded"] = l.status().total_wanted_done
l.scrape_tracker()
end = time.time() + 10
result["scrape"] = None
while time.time() < end and result["scrape"] is None:
    leecher.wait_for_alert(100)
    for a in leecher.pop_alerts():
        if isinstance(a, lt.scrape_reply_alert):
            result["scrape"] = {"complete": a.complete, "incomplete": a.incomplete}
print(json.dumps(result), flush=True)
`;

Deno.test({
  name: "libtorrent seeder and leecher complete a transfer through the UDP tracker (BEP 41 passkey URL data)",
  ignore: tool.ignore,
  fn: () =>
    withTempDir(async (dir) => {
      const data = randomBytes(seededRandom(11), DATA_BYTES);
      await Deno.writeFile(`${dir}/data.bin`, data);
      const urlData: string[] = [];
      const store = new MemorySwarmStore({ maxPeers: 1000 });
      const udp = startUdpTracker({
        store,
        hostname: "127.0.0.1",
        port: 0,
        access: (req) => {
          if (req.type === "scrape") return; // BEP 15 scrapes carry no URL data
          const text = fromUtf8(req.urlData);
          urlData.push(text);
          if (text !== `/announce?passkey=${PASSKEY}`) throw new TrackerError("passkey_invalid", "Invalid passkey");
        },
      });
      const child = new Deno.Command(tool.path, {
        args: ["-c", SCRIPT, dir, `udp://127.0.0.1:${udp.port}/announce?passkey=${PASSKEY}`],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // already exited
        }
      }, TIMEOUT_MS);
      try {
        const out = await child.output();
        const stdout = new TextDecoder().decode(out.stdout);
        equal(out.code, 0, new TextDecoder().decode(out.stderr));
        const result = JSON.parse(stdout.trim().split("\n").at(-1)!);
        equal(result.leecher_seeding, true, stdout);
        equal(result.downloaded, DATA_BYTES);
        deepEqual(result.errors, []);
        ok(
          (result.replies as [string, number][]).some(([who, n]) => who === "leecher" && n >= 1),
          `the leecher got the seeder from the tracker: ${stdout}`,
        );
        deepEqual(result.scrape, { complete: 2, incomplete: 0 });
        ok(urlData.length >= 2 && urlData.every((u) => u === `/announce?passkey=${PASSKEY}`), urlData.join(","));
        equal(await Deno.readFile(`${dir}/out/data.bin`).then((b) => b.length), DATA_BYTES);
        ok(udp.stats.announces >= 3 && udp.stats.errors === 0 && udp.stats.dropped === 0, JSON.stringify(udp.stats));
      } finally {
        clearTimeout(timer);
        try {
          child.kill("SIGKILL");
        } catch {
          // already exited
        }
        await child.status;
        await udp.close();
      }
    }),
});

const SEED_SCRIPT = `${
  driverPreamble(", flags=lt.create_torrent.v1_only")
}open(os.path.join(d, "t.torrent"), "wb").write(lt.bencode(t.generate()))
ses = lt.session(settings)
h = ses.add_torrent({"ti": lt.torrent_info(os.path.join(d, "t.torrent")), "save_path": d})
print("ready", flush=True)
# Re-announce every second so the seeder learns of the Transmission leecher from the tracker and connects to it.
deadline = time.time() + 60
while time.time() < deadline:
    ses.wait_for_alert(1000)
    ses.pop_alerts()
    h.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
`;

async function waitForFile(path: string, want: Uint8Array, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const got = await Deno.readFile(path).catch(() => null);
    if (got !== null && equals(got, want)) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

Deno.test({
  name: "transmission-cli announces to the UDP tracker and gets the file from a libtorrent seeder it finds there",
  ignore: tool.ignore || transmission.ignore,
  fn: () =>
    withTempDir(async (dir) => {
      const data = randomBytes(seededRandom(12), DATA_BYTES);
      await Deno.writeFile(`${dir}/data.bin`, data);
      await Deno.mkdir(`${dir}/tr-config`);
      await Deno.mkdir(`${dir}/tr-out`);
      await Deno.writeTextFile(
        `${dir}/tr-config/settings.json`,
        JSON.stringify({ "dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false }),
      );
      const store = new MemorySwarmStore({ maxPeers: 1000 });
      const udp = startUdpTracker({ store, hostname: "127.0.0.1", port: 0 });
      const children: Deno.ChildProcess[] = [];
      let seederStderr: ReadableStream<Uint8Array> | undefined;
      const timer = setTimeout(() => {
        for (const c of children) {
          try {
            c.kill("SIGKILL");
          } catch {
            // already exited
          }
        }
      }, TIMEOUT_MS);
      try {
        const seeder = new Deno.Command(tool.path, {
          args: ["-c", SEED_SCRIPT, dir, `udp://127.0.0.1:${udp.port}/announce`],
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        children.push(seeder);
        seederStderr = seeder.stderr;
        const lines = seeder.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let out = "";
        while (!out.includes("ready")) {
          const { value, done } = await lines.read();
          if (done) throw new Error(`seeder exited: ${out}`);
          out += value;
        }
        const leecher = new Deno.Command(transmission.path, {
          args: [
            "-g",
            `${dir}/tr-config`,
            "-w",
            `${dir}/tr-out`,
            "-p",
            String(freePort()),
            "-M",
            `${dir}/t.torrent`,
          ],
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).spawn();
        children.push(leecher);
        const isDone = await waitForFile(`${dir}/tr-out/data.bin`, data, 60_000);
        ok(isDone, `transmission did not get the file; tracker stats ${JSON.stringify(udp.stats)}`);
        ok(udp.stats.announces >= 2 && udp.stats.dropped === 0, JSON.stringify(udp.stats));
        await lines.cancel();
      } finally {
        clearTimeout(timer);
        for (const c of children) {
          try {
            c.kill("SIGKILL");
          } catch {
            // already exited
          }
          await c.status;
        }
        await seederStderr?.cancel().catch(() => {});
        await udp.close();
      }
    }),
});
