// Private tracker against Debian's python3-libtorrent (issue #6): a libtorrent seeder and a libtorrent leecher, each
// with its member's copy of a private torrent (`/announce?passkey=` from personalizeTorrent, as `btool tracker
// torrent-for` writes it), complete a transfer through our --private --listed tracker; a third session with a wrong
// passkey gets the failure reason and no peers. 127.0.0.1 only, DHT/LSD/UPnP/NAT-PMP off; every wait is bounded.

import { toHex } from "../../lib/bytes.ts";
import { parseMetainfo } from "../../lib/metainfo.ts";
import { PASSKEY_INVALID_REASON } from "../../lib/tracker/access.ts";
import { startTestTracker } from "../_helpers/tracker.ts";
import { memberAnnounceUrl, personalizeTorrent } from "../../lib/tracker/users.ts";
import { equal, ok } from "../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { interopTool, runTool } from "../_helpers/tools.ts";

const tool = interopTool("libtorrent");
const PIECE_LENGTH = 32 * 1024;
const DATA_BYTES = 6 * PIECE_LENGTH + 777;
const TIMEOUT_S = 60;

const SCRIPT = `
import json, os, sys, time, libtorrent as lt
mode, d = sys.argv[1], sys.argv[2]
if mode == "make":
    fs = lt.file_storage()
    lt.add_files(fs, os.path.join(d, "seed", "data.bin"))
    t = lt.create_torrent(fs, int(sys.argv[3]), flags=lt.create_torrent.v1_only)
    t.set_priv(True)
    t.add_tracker(sys.argv[4])
    lt.set_piece_hashes(t, os.path.join(d, "seed"))
    open(os.path.join(d, "base.torrent"), "wb").write(lt.bencode(t.generate()))
    sys.exit(0)
settings = {"enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
            "enable_incoming_utp": False, "enable_outgoing_utp": False, "allow_multiple_connections_per_ip": True,
            "listen_interfaces": "127.0.0.1:0", "alert_mask": lt.alert.category_t.all_categories}
deadline = time.time() + float(sys.argv[3])
def session():
    return lt.session(settings)
def add(ses, name, save):
    os.makedirs(os.path.join(d, save), exist_ok=True)
    return ses.add_torrent({"ti": lt.torrent_info(os.path.join(d, name + ".torrent")), "save_path": os.path.join(d, save)})
def pump(ses, log):
    ses.wait_for_alert(100)
    for a in ses.pop_alerts():
        if isinstance(a, lt.tracker_error_alert):
            log["errors"].append(a.message())
        elif isinstance(a, lt.tracker_reply_alert):
            log["replies"].append(a.num_peers)
logs = {k: {"errors": [], "replies": []} for k in ("seed", "leech", "bad")}
s_seed, s_leech, s_bad = session(), session(), session()
seed = add(s_seed, "alice", "seed")
while time.time() < deadline and not (seed.status().is_seeding and logs["seed"]["replies"]):
    pump(s_seed, logs["seed"])
bad = add(s_bad, "mallory", "bad")
leech = add(s_leech, "bob", "leech")
while time.time() < deadline and not (leech.status().is_seeding and (logs["bad"]["errors"] or logs["bad"]["replies"])):
    pump(s_seed, logs["seed"]); pump(s_leech, logs["leech"]); pump(s_bad, logs["bad"])
print(json.dumps({"leech_done": leech.status().is_seeding, "bad_peers": bad.status().num_peers,
                  "bad_progress": bad.status().progress, "logs": logs}), flush=True)
`;

Deno.test({
  name:
    "private tracker: libtorrent seeder and leecher with /announce?passkey= URLs complete a transfer; a wrong passkey gets the reason and no peers",
  ignore: tool.ignore,
  fn: () =>
    withTempDir(async (dir) => {
      const { tracker, base, close } = startTestTracker({
        adminToken: "t",
        isPrivate: true,
        isListed: true,
        privatePollIntervalMs: 0,
      });
      try {
        await Deno.mkdir(`${dir}/seed`);
        await Deno.writeFile(`${dir}/seed/data.bin`, randomBytes(seededRandom(6), DATA_BYTES));
        const made = await runTool(tool.path, ["-c", SCRIPT, "make", dir, String(PIECE_LENGTH), `${base}/announce`], {
          timeoutMs: 30_000,
        });
        equal(made.code, 0, made.stderr);
        const baseTorrent = await Deno.readFile(`${dir}/base.torrent`);
        const meta = await parseMetainfo(baseTorrent);
        ok(meta.isPrivate);
        tracker.registry.register({ infoHashHex: meta.infoHash.hex, name: meta.name }, Date.now());
        const users = tracker.privateMode.users;
        for (const name of ["alice", "bob"]) {
          const user = users.add(name, Date.now());
          await Deno.writeFile(
            `${dir}/${name}.torrent`,
            personalizeTorrent(baseTorrent, memberAnnounceUrl(base, user.passkeyHex)),
          );
        }
        tracker.privateMode.access.setUsers(users.activeAccessUsers());
        const wrong = toHex(crypto.getRandomValues(new Uint8Array(16)));
        await Deno.writeFile(`${dir}/mallory.torrent`, personalizeTorrent(baseTorrent, memberAnnounceUrl(base, wrong)));
        equal((await parseMetainfo(await Deno.readFile(`${dir}/bob.torrent`))).infoHash.hex, meta.infoHash.hex);

        const run = await runTool(tool.path, ["-c", SCRIPT, "run", dir, String(TIMEOUT_S)], {
          timeoutMs: (TIMEOUT_S + 30) * 1000,
        });
        equal(run.code, 0, run.stderr);
        const out = JSON.parse(run.stdout);
        ok(out.leech_done, `leecher finished: ${run.stdout}`);
        equal(
          await Deno.readFile(`${dir}/leech/data.bin`).then((b) => b.length),
          DATA_BYTES,
        );
        ok(
          out.logs.bad.errors.some((m: string) => m.includes(PASSKEY_INVALID_REASON)),
          `wrong passkey reason: ${JSON.stringify(out.logs.bad)}`,
        );
        equal(out.logs.bad.replies.length, 0);
        equal(out.logs.seed.errors.length, 0, JSON.stringify(out.logs.seed));
        equal(out.logs.leech.errors.length, 0, JSON.stringify(out.logs.leech));
        equal(out.bad_peers, 0);
        equal(out.bad_progress, 0);
        const stats = tracker.stats(true);
        equal(stats.users?.map((u) => u.name).join(","), "alice,bob");
        ok(tracker.privateMode.access.leaks.state(1, Date.now()).distinctIps >= 1);
      } finally {
        await close();
      }
    }),
});
