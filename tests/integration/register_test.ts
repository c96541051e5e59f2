// `btool register` against a real tracker on 127.0.0.1 port 0 (issue #6): a folder of 1,000 generated torrents
// (some broken) gives the right counts, twice idempotently; --prune, --dry-run and --json through the CLI.

import { deepEqual, equal, ok } from "../_helpers/assert.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { runBtool } from "../_helpers/tools.ts";
import { buildTorrent } from "../_helpers/torrent.ts";
import { TrackerDb } from "../../lib/persist/db.ts";
import { registerTorrents } from "../../lib/register.ts";
import { createTracker, type Tracker } from "../../lib/tracker/server.ts";
import { startHttpServer } from "../../lib/tracker/http_server.ts";

const TOKEN = "register-test-token";
const TORRENTS = 1_000;
const BROKEN_EVERY = 50; // 20 broken files

function startTracker(options: { isPrivate?: boolean } = {}) {
  const db = TrackerDb.open(":memory:");
  const tracker: Tracker = createTracker({
    db,
    adminToken: TOKEN,
    sweepIntervalMs: 0,
    snapshotIntervalS: 0,
    privatePollIntervalMs: 0,
    isListed: true,
    ...options,
  });
  const server = startHttpServer({ hostname: "127.0.0.1", port: 0, handler: tracker.handler, fast: tracker.fast });
  const base = `http://127.0.0.1:${server.addr.port}`;
  return {
    tracker,
    base,
    async close() {
      tracker.close();
      await server.shutdown();
      db.close();
    },
  };
}

/** Writes TORRENTS files over 10 sub-folders; every BROKEN_EVERY-th one is broken in one of several ways. */
async function generate(dir: string, announce: string): Promise<{ good: string[]; broken: number }> {
  const good: string[] = [];
  let broken = 0;
  for (let i = 0; i < TORRENTS; i++) {
    const sub = `${dir}/set${i % 10}/${i % 3 === 0 ? "deep/er" : ""}`;
    await Deno.mkdir(sub, { recursive: true });
    const path = `${sub}/t${i}.torrent`;
    const data = new Uint8Array(100 + i).fill(i & 0xff);
    const { bytes } = buildTorrent({ name: `torrent-${i}`, data, info: { private: 1 }, top: { announce } });
    if (i % BROKEN_EVERY === 7) {
      const kind = (i / BROKEN_EVERY) % 3;
      const bad = kind < 1
        ? new TextEncoder().encode("not a torrent")
        : kind < 2
        ? bytes.slice(0, 40)
        : bytes.slice(0, -1);
      await Deno.writeFile(path, bad);
      broken++;
    } else {
      await Deno.writeFile(path, bytes);
      good.push(path);
    }
  }
  await Deno.writeTextFile(`${dir}/README.txt`, "not a torrent file, ignored");
  return { good, broken };
}

Deno.test("registerTorrents(): 1,000 torrents (some broken) give the right counts, and a second run changes nothing", async () => {
  await withTempDir(async (dir) => {
    const t = startTracker();
    try {
      const { good, broken } = await generate(dir, `${t.base}/announce`);
      equal(broken, TORRENTS / BROKEN_EVERY);
      const invalid: string[] = [];
      const first = await registerTorrents([dir], {
        trackerUrl: t.base,
        adminToken: TOKEN,
        onInvalid: (path) => invalid.push(path),
      });
      equal(first.found, TORRENTS);
      equal(first.registered, good.length);
      equal(first.added, good.length);
      equal(first.unchanged, 0);
      equal(first.failed, broken);
      equal(invalid.length, broken);
      equal(first.warnings.length, 0);
      equal(t.tracker.registry.size, good.length);
      equal(t.tracker.registry.all().filter((r) => r.name?.startsWith("torrent-")).length, good.length);
      const second = await registerTorrents([dir], { trackerUrl: `${t.base}/announce`, adminToken: TOKEN });
      deepEqual([second.registered, second.unchanged, second.failed], [0, good.length, broken]);
      equal(t.tracker.registry.size, good.length);
    } finally {
      await t.close();
    }
  });
});

Deno.test("btool register --dry-run, --prune and --json through the CLI", async () => {
  await withTempDir(async (dir) => {
    const t = startTracker({ isPrivate: true });
    try {
      await Deno.mkdir(`${dir}/in`);
      const paths: string[] = [];
      for (let i = 0; i < 6; i++) {
        const { bytes } = buildTorrent({
          name: `n${i}`,
          data: new Uint8Array(10 + i),
          info: i === 0 ? {} : { private: 1 },
          top: { announce: i === 1 ? "http://elsewhere.example/announce" : `${t.base}/announce` },
        });
        paths.push(`${dir}/in/n${i}.torrent`);
        await Deno.writeFile(paths.at(-1)!, bytes);
      }
      const args = ["register", `${dir}/in`, "--tracker", t.base, "--admin-token", TOKEN];
      const dry = await runBtool([...args, "--dry-run"]);
      equal(dry.code, 0, dry.stderr);
      ok(dry.stdout.includes("6 to register"), dry.stdout);
      equal(t.tracker.registry.size, 0);
      // Warnings: n0 private flag off, n1 elsewhere; every one of ours lacks a passkey (private tracker).
      ok(dry.stderr.includes("n0.torrent: private flag is off"), dry.stderr);
      ok(dry.stderr.includes("n1.torrent: announce URL points elsewhere"), dry.stderr);

      const real = await runBtool([...args, "--json"]);
      equal(real.code, 0, real.stderr);
      const summary = JSON.parse(real.stdout);
      deepEqual([summary.registered, summary.unchanged, summary.failed], [6, 0, 0]);
      equal(summary.tracker.isPrivate, true);
      equal(t.tracker.registry.size, 6);

      await Deno.remove(paths[4]!);
      await Deno.remove(paths[5]!);
      const pruneDry = JSON.parse((await runBtool([...args, "--json", "--prune", "--dry-run"])).stdout);
      equal(pruneDry.pruned, 2);
      equal(t.tracker.registry.size, 6);
      const pruned = JSON.parse((await runBtool([...args, "--json", "--prune"])).stdout);
      deepEqual([pruned.registered, pruned.unchanged, pruned.pruned], [0, 4, 2]);
      equal(t.tracker.registry.size, 4);

      await Deno.writeTextFile(`${dir}/in/bad.torrent`, "d4:infoe");
      const withBad = await runBtool(args);
      equal(withBad.code, 1);
      ok(withBad.stderr.includes("invalid: "), withBad.stderr);
      ok(withBad.stdout.includes("0 registered (0 new, 0 updated), 4 unchanged, 1 failed"), withBad.stdout);
      const noToken = await runBtool(["register", `${dir}/in`, "--tracker", t.base]);
      equal(noToken.code, 1);
      ok(noToken.stderr.includes("admin token"), noToken.stderr);
      equal((await runBtool(["register", `${dir}/in`])).code, 2);
    } finally {
      await t.close();
    }
  });
});
