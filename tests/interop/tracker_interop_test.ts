// Real clients that know only our tracker: a libtorrent seeder (Debian's python3-libtorrent) and an aria2c leecher
// complete a transfer through `createTracker` on 127.0.0.1, then scrape shows the right counts. Every wait is
// time-bounded and every process is killed in `finally`.

import { deepEqual, equal, ok } from "../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { interopTool, runTool } from "../_helpers/tools.ts";
import { percentEncode, toLatin1 } from "../../lib/bytes.ts";
import { decodeBencode, rawValue } from "../../lib/bencode.ts";
import { sha1 } from "../../lib/sha1.ts";
import { startTestTracker } from "../_helpers/tracker.ts";

const libtorrent = interopTool("libtorrent");
const aria2c = interopTool("aria2c");
const mktorrent = interopTool("mktorrent");

const SEEDER_PY = `
import sys, time
import libtorrent as lt
torrent, save_path, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = lt.session({
    "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
    "allow_multiple_connections_per_ip": True, "listen_interfaces": "127.0.0.1:0",
    "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.tracker_notification
        | lt.alert.category_t.status_notification,
})
h = s.add_torrent({"ti": lt.torrent_info(torrent), "save_path": save_path})
deadline = time.time() + seconds
while time.time() < deadline:
    for a in s.pop_alerts():
        print("alert:", type(a).__name__, a.message(), flush=True)
    st = h.status()
    print("status: seeding=%s peers=%d uploaded=%d" % (st.is_seeding, st.num_peers, st.total_payload_upload), flush=True)
    time.sleep(0.5)
`;

const WAIT_SEEDER_MS = 30_000;
const TRANSFER_TIMEOUT_MS = 90_000;

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
}

Deno.test({
  name: "tracker interop: a libtorrent seeder and an aria2c leecher complete a transfer; scrape counts it",
  ignore: libtorrent.ignore || aria2c.ignore || mktorrent.ignore,
  sanitizeResources: false, // child stdout pipes are drained by background readers that end with the children
  fn: async () => {
    await withTempDir(async (dir) => {
      const { base, close } = startTestTracker({ adminToken: "interop" });
      const children: Deno.ChildProcess[] = [];
      let seederLog = "";
      try {
        await Deno.mkdir(`${dir}/seed`);
        await Deno.mkdir(`${dir}/leech`);
        const data = randomBytes(seededRandom(4), 300_000);
        await Deno.writeFile(`${dir}/seed/payload.bin`, data);
        const made = await runTool(mktorrent.path, [
          "-a",
          `${base}/announce`,
          "-l",
          "15",
          "-o",
          `${dir}/payload.torrent`,
          `${dir}/seed/payload.bin`,
        ], { timeoutMs: 30_000 });
        equal(made.code, 0, made.stderr);
        const torrentBytes = await Deno.readFile(`${dir}/payload.torrent`);
        ok(decodeBencode(torrentBytes) instanceof Map);
        const infoHash = await sha1(rawValue(torrentBytes, ["info"]));
        const scrape = async () => {
          const res = await fetch(`${base}/scrape?info_hash=${percentEncode(infoHash)}`);
          const d = decodeBencode(new Uint8Array(await res.arrayBuffer())) as Map<string, unknown>;
          const e = (d.get("files") as Map<string, Map<string, number>>).get(toLatin1(infoHash));
          return { complete: e?.get("complete"), downloaded: e?.get("downloaded"), incomplete: e?.get("incomplete") };
        };

        await Deno.writeTextFile(`${dir}/seeder.py`, SEEDER_PY);
        const seeder = new Deno.Command(libtorrent.path, {
          args: [`${dir}/seeder.py`, `${dir}/payload.torrent`, `${dir}/seed`, "120"],
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        children.push(seeder);
        (async () => {
          for await (const chunk of seeder.stdout.pipeThrough(new TextDecoderStream())) seederLog += chunk;
        })().catch(() => {});
        (async () => {
          for await (const chunk of seeder.stderr.pipeThrough(new TextDecoderStream())) seederLog += chunk;
        })().catch(() => {});
        await until("the libtorrent seeder to announce", WAIT_SEEDER_MS, async () => (await scrape()).complete === 1);

        const leech = await runTool(aria2c.path, [
          `--dir=${dir}/leech`,
          "--enable-dht=false",
          "--enable-dht6=false",
          "--bt-enable-lpd=false",
          "--enable-peer-exchange=false",
          "--seed-time=0",
          "--bt-tracker-interval=1",
          "--bt-stop-timeout=60",
          "--listen-port=51413-51500",
          "--summary-interval=0",
          "--console-log-level=warn",
          "--follow-torrent=false",
          `${dir}/payload.torrent`,
        ], { timeoutMs: TRANSFER_TIMEOUT_MS });
        equal(leech.code, 0, `aria2c failed: ${leech.stdout}\n${leech.stderr}\nseeder: ${seederLog.slice(-2000)}`);
        deepEqual(await Deno.readFile(`${dir}/leech/payload.bin`), data);
        // aria2c (--seed-time=0) sends no `completed`, only `stopped` with left=0: still one download counted.
        await until("aria2c's stopped announce", 10_000, async () => (await scrape()).incomplete === 0);
        deepEqual(await scrape(), { complete: 1, downloaded: 1, incomplete: 0 });
      } finally {
        for (const c of children) {
          try {
            c.kill("SIGKILL");
          } catch {
            // already gone
          }
          await c.status;
        }
        await close();
      }
    });
  },
});
