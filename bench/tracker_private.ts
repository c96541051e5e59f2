// The cost of private mode on the announce hot path (issue #6): wrk + bench/tracker_private.lua (1,000 registered
// torrents, 100 members, passkey in every announce, random peer ids, compact=1, numwant=50) against `btool tracker`
// open and `btool tracker --listed --private` in one run, one connection per announce and keep-alive, median of 3.
// bench/tracker_http.ts's ratios hold with private mode on when private / open ≈ 1.
// Run: deno run -A bench/tracker_private.ts [--duration 10] [--runs 3] [--connections 64] [--threads 2]
//   [--baseline DIR] (also runs DIR/main.ts --listed --private, e.g. an older checkout from `git archive`)

import { parseArgs } from "node:util";
import { percentEncode, toHex } from "../lib/bytes.ts";
import { TrackerDb } from "../lib/persist/db.ts";
import { Users } from "../lib/tracker/users.ts";
import {
  freePort,
  MAIN_TS,
  median,
  runWrk,
  spawnBtoolTracker,
  stopChildren,
  waitTcpReady,
  WRK_OPTIONS,
  type WrkMode,
  wrkSettings,
} from "./_common.ts";

const TORRENTS = 1_000;
const MEMBERS = 100;
const LUA = new URL("./tracker_private.lua", import.meta.url).pathname;

async function main(): Promise<void> {
  const { values } = parseArgs({ args: Deno.args, options: WRK_OPTIONS });
  const { runs, ...o } = wrkSettings(values);
  const dir = await Deno.makeTempDir({ prefix: "btool-bench-private-" });
  const hashes = Array.from({ length: TORRENTS }, () => crypto.getRandomValues(new Uint8Array(20)));
  Deno.writeTextFileSync(`${dir}/hashes.txt`, hashes.map(percentEncode).join("\n") + "\n");
  // The private tracker's db: every hash registered, MEMBERS users.
  const db = TrackerDb.open(`${dir}/private.db`);
  db.registerTorrents(hashes.map((h) => ({ infoHashHex: toHex(h) })), Date.now());
  const users = new Users(db);
  const passkeys = Array.from({ length: MEMBERS }, (_, i) => users.add(`member${i}`, Date.now()).passkeyHex);
  db.close();
  Deno.writeTextFileSync(`${dir}/passkeys.txt`, passkeys.join("\n") + "\n");
  const env = { TRACKER_HASHES: `${dir}/hashes.txt`, TRACKER_PASSKEYS: `${dir}/passkeys.txt` };
  const targets = [
    { name: "open", main: MAIN_TS, args: ["--db", ":memory:"] },
    { name: "listed+private", main: MAIN_TS, args: ["--db", `${dir}/private.db`, "--listed", "--private"] },
  ];
  if (values.baseline !== undefined) {
    // Its own copy of the db: two trackers must not share one SQLite file.
    Deno.copyFileSync(`${dir}/private.db`, `${dir}/baseline.db`);
    targets.push({
      name: "baseline l+p",
      main: `${values.baseline}/main.ts`,
      args: ["--db", `${dir}/baseline.db`, "--listed", "--private"],
    });
  }
  console.log(
    `tracker-private: wrk -t${o.threads} -c${o.connections} -d${o.duration}s, ${TORRENTS} torrents, ${MEMBERS} members,` +
      ` median of ${runs} (machine shared with other work: figures are noisy)`,
  );
  const children: Deno.ChildProcess[] = [];
  const results = new Map<string, number[]>();
  try {
    const ports = new Map<string, number>();
    for (const t of targets) {
      const port = freePort();
      children.push(
        spawnBtoolTracker(port, ["--no-udp", "--admin-token", "bench", "--quiet", ...t.args], { main: t.main }),
      );
      await waitTcpReady(port);
      ports.set(t.name, port);
      await runWrk(port, "keepalive", { ...o, lua: LUA, duration: 2, env }); // warm-up (JIT)
    }
    // Private mode answers "invalid passkey" bodies with 200 too: check one reply is a real announce.
    const probe = await fetch(
      `http://127.0.0.1:${ports.get("listed+private")}/announce?passkey=${passkeys[0]}&info_hash=${
        percentEncode(hashes[0]!)
      }&peer_id=-PR0001-123456789012&port=1234&uploaded=0&downloaded=0&left=0&compact=1`,
    ).then((r) => r.text());
    if (probe.includes("failure reason")) throw new Error(`private tracker refused the bench's announce: ${probe}`);
    for (const mode of ["close", "keepalive"] as WrkMode[]) {
      for (let r = 0; r < runs; r++) {
        for (const t of targets) {
          const s = await runWrk(ports.get(t.name)!, mode, { ...o, lua: LUA, env });
          const key = `${mode}|${t.name}`;
          results.set(key, [...(results.get(key) ?? []), s.rate]);
          console.log(
            `  ${mode.padEnd(9)} run ${r + 1} ${t.name.padEnd(15)} ${s.rate.toFixed(0).padStart(7)}/s  p99 ${s.p99}` +
              (s.errors ? `  (${s.errors})` : ""),
          );
        }
      }
    }
  } finally {
    await stopChildren(children);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  console.log("\nmedians and ratios (goal: listed+private / open ≈ 1.0):");
  for (const mode of ["close", "keepalive"] as WrkMode[]) {
    const open = median(results.get(`${mode}|open`) ?? []);
    const priv = median(results.get(`${mode}|listed+private`) ?? []);
    console.log(
      `  ${mode.padEnd(9)} open ${open.toFixed(0)}/s, listed+private ${priv.toFixed(0)}/s: ratio ${
        (priv / open).toFixed(2)
      }` + (values.baseline === undefined
        ? ""
        : `; baseline l+p / open ${(median(results.get(`${mode}|baseline l+p`) ?? []) / open).toFixed(2)}`),
    );
  }
}

if (import.meta.main) await main();
