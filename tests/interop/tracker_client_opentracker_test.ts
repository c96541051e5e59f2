// Our tracker client against Debian's opentracker (INTEROP.md 22): two fake peers announce over HTTP and over UDP,
// each sees the other, and scrape counts are right. opentracker is started on a free 127.0.0.1 port with a config
// file whitelisting the test hashes, and killed (by its PID) in finally. Every wait is time-bounded.

import { deepEqual, equal, ok } from "../_helpers/assert.ts";
import { freePort, interopTool } from "../_helpers/tools.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { toHex, utf8 } from "../../lib/bytes.ts";
import { announce, scrape } from "../../lib/tracker/client.ts";
import type { TrackerPeer } from "../../lib/tracker/tracker_reply.ts";
import type { AnnounceParams } from "../../lib/tracker/tracker_url.ts";

const tool = interopTool("opentracker");

const HTTP_HASH = Uint8Array.from({ length: 20 }, (_, i) => (i * 13 + 0x20) & 0xff); // holds 0x20 and 0x2b bytes
const UDP_HASH = Uint8Array.from({ length: 20 }, (_, i) => (i * 29 + 7) & 0xff);
const STARTUP_ATTEMPTS = 100;
const STARTUP_POLL_MS = 100;

function peer(peerIdText: string, port: number, left: number): AnnounceParams {
  return { infoHash: HTTP_HASH, peerId: utf8(peerIdText), port, uploaded: 0, downloaded: 0, left, numWant: 50 };
}

function hasPeer(peers: TrackerPeer[], port: number): boolean {
  return peers.some((p) => p.ip === "127.0.0.1" && p.port === port);
}

async function waitForHttp(url: string): Promise<void> {
  for (let i = 0; i < STARTUP_ATTEMPTS; i++) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await r.body?.cancel();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, STARTUP_POLL_MS));
    }
  }
  throw new Error(`opentracker did not start: ${url}`);
}

Deno.test({
  name: "announce() and scrape() work with opentracker over HTTP and UDP",
  ignore: tool.ignore,
  fn: () =>
    withTempDir(async (dir) => {
      const port = freePort();
      // Run as root, opentracker drops to "nobody" before reading the whitelist: the 0700 temp dir must be readable.
      await Deno.chmod(dir, 0o755);
      await Deno.writeTextFile(`${dir}/whitelist.txt`, `${toHex(HTTP_HASH)}\n${toHex(UDP_HASH)}\n`);
      await Deno.writeTextFile(
        `${dir}/opentracker.conf`,
        `listen.tcp_udp 127.0.0.1:${port}\naccess.whitelist ${dir}/whitelist.txt\n`,
      );
      const child = new Deno.Command(tool.path, {
        args: ["-f", `${dir}/opentracker.conf`],
        cwd: dir,
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        await waitForHttp(`http://127.0.0.1:${port}/stats`);
        const http = `http://127.0.0.1:${port}/announce`;
        const udp = `udp://127.0.0.1:${port}/announce`;
        const opts = { timeoutMs: 10_000, udpOptions: { retryBaseMs: 1_000, maxRetryExponent: 2 } };

        // HTTP: a seeder, then a leecher; each sees the other.
        const seed = await announce(http, { ...peer("-BT0100-seed00000001", 7001, 0), event: "started" }, opts);
        ok(!hasPeer(seed.peers, 7002));
        const leech = await announce(http, { ...peer("-BT0100-leech0000002", 7002, 1000), event: "started" }, opts);
        ok(hasPeer(leech.peers, 7001), JSON.stringify(leech.peers));
        const again = await announce(http, peer("-BT0100-seed00000001", 7001, 0), opts);
        ok(hasPeer(again.peers, 7002), JSON.stringify(again.peers));
        equal(again.complete, 1);
        equal(again.incomplete, 1);
        ok(again.interval > 0);
        const httpScrape = await scrape(http, [HTTP_HASH], opts);
        deepEqual(httpScrape.get(toHex(HTTP_HASH)), { complete: 1, downloaded: 0, incomplete: 1 });

        // UDP: the same on another hash.
        const udpPeer = (id: string, p: number, left: number): AnnounceParams => ({
          ...peer(id, p, left),
          infoHash: UDP_HASH,
        });
        await announce(udp, { ...udpPeer("-BT0100-useed0000003", 7003, 0), event: "started" }, opts);
        const uleech = await announce(udp, { ...udpPeer("-BT0100-uleech000004", 7004, 500), event: "started" }, opts);
        ok(hasPeer(uleech.peers, 7003), JSON.stringify(uleech.peers));
        const useed = await announce(udp, udpPeer("-BT0100-useed0000003", 7003, 0), opts);
        ok(hasPeer(useed.peers, 7004), JSON.stringify(useed.peers));
        equal(useed.complete, 1);
        equal(useed.incomplete, 1);

        // The leecher completes over UDP: one more seeder, one download counted.
        await announce(udp, { ...udpPeer("-BT0100-uleech000004", 7004, 0), event: "completed" }, opts);
        const udpScrape = await scrape(udp, [UDP_HASH, HTTP_HASH], opts);
        deepEqual(udpScrape.get(toHex(UDP_HASH)), { complete: 2, downloaded: 1, incomplete: 0 });
        // HTTP and UDP share opentracker's swarms.
        deepEqual(udpScrape.get(toHex(HTTP_HASH)), { complete: 1, downloaded: 0, incomplete: 1 });

        // A stopped peer leaves the swarm.
        await announce(http, { ...peer("-BT0100-leech0000002", 7002, 1000), event: "stopped" }, opts);
        const after = await scrape(http, [HTTP_HASH], opts);
        deepEqual(after.get(toHex(HTTP_HASH)), { complete: 1, downloaded: 0, incomplete: 0 });
      } finally {
        try {
          child.kill("SIGTERM");
        } catch {
          // already gone
        }
        await child.status;
      }
    }),
});
