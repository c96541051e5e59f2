// TrackerStats (issue #19): public /stats and the full scrape walk the store at most once per cache period of an
// injected clock, list at most their caps (the largest swarms first, registered torrents after), and only the admin
// answer names addresses.

import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { toHex } from "../../../lib/bytes.ts";
import { decodeBencode } from "../../../lib/bencode.ts";
import { TrackerDb } from "../../../lib/persist/db.ts";
import { Registry } from "../../../lib/tracker/registry.ts";
import { startedAnnounce } from "./_swarms.ts";
import { MemorySwarmStore, type SwarmStore } from "../../../lib/tracker/swarm_store.ts";
import {
  FULL_SCRAPE_CACHE_MS,
  MAX_PUBLIC_STATS_TORRENTS,
  STATS_CACHE_MS,
  topSwarms,
  TrackerStats,
} from "../../../lib/tracker/stats.ts";

const T0 = 1_700_000_000_000;

function hash(n: number): Uint8Array {
  const h = new Uint8Array(20);
  new DataView(h.buffer).setUint32(0, n + 1);
  return h;
}

/** A store with swarm n holding `peersOf(n)` leechers, counting the walks over every swarm. */
function setup(swarmCount: number, peersOf: (n: number) => number) {
  const clock = { t: T0 };
  const store = new MemorySwarmStore({ maxPeers: 100_000 });
  for (let n = 0; n < swarmCount; n++) {
    for (let p = 0; p < peersOf(n); p++) {
      const peerId = new Uint8Array(20).fill(p + 1);
      store.announce(
        startedAnnounce(hash(n), peerId, 1000 + p, 1),
        { ip: new Uint8Array([10, 0, 0, 1]), nowMs: T0, random: Math.random },
      );
    }
  }
  const walks = { n: 0 };
  const swarms = store.swarms.bind(store);
  const counted: SwarmStore = store;
  counted.swarms = () => {
    walks.n++;
    return swarms();
  };
  const db = TrackerDb.open(":memory:");
  const registry = new Registry(db);
  const stats = new TrackerStats({ store: counted, registry, now: () => clock.t, version: "v" });
  return { clock, store, stats, walks, db, registry };
}

Deno.test("TrackerStats: a public /stats walks the store at most once per STATS_CACHE_MS (#19)", () => {
  const s = setup(50, (n) => 1 + (n % 3));
  try {
    for (let i = 0; i < 1_000; i++) s.stats.publicJson();
    for (let i = 0; i < 1_000; i++) s.stats.stats(false);
    equal(s.walks.n, 1);
    s.clock.t = T0 + STATS_CACHE_MS - 1;
    s.stats.publicJson();
    equal(s.walks.n, 1);
    s.clock.t = T0 + STATS_CACHE_MS;
    s.stats.publicJson();
    equal(s.walks.n, 2);
    // A clock set back (wall time) does not keep the old answer for the hours it jumped.
    s.clock.t = T0 - 3_600_000;
    s.stats.publicJson();
    equal(s.walks.n, 3);
    s.stats.publicJson();
    equal(s.walks.n, 3);
    // The admin answer is fresh every time (the admin token is rate-limited instead).
    s.stats.stats(true);
    s.stats.stats(true);
    equal(s.walks.n, 5);
  } finally {
    s.db.close();
  }
});

Deno.test("TrackerStats: a public /stats lists the largest swarms up to its cap, without addresses (#19)", () => {
  const count = MAX_PUBLIC_STATS_TORRENTS + 20;
  const s = setup(count, (n) => (n === 7 ? 9 : 1 + (n % 2)));
  try {
    const pub = JSON.parse(new TextDecoder().decode(s.stats.publicJson()));
    equal(pub.torrents.length, MAX_PUBLIC_STATS_TORRENTS);
    equal(pub.isTruncated, true);
    equal(pub.totals.torrents, count);
    equal(pub.torrents[0].infoHash, toHex(hash(7)));
    equal(pub.torrents[0].leechers, 9);
    // Every swarm of 2 peers (half of them) comes before any swarm of 1.
    const twos = pub.torrents.filter((t: { leechers: number }) => t.leechers === 2).length;
    equal(twos, count / 2 - 1);
    ok(!new TextDecoder().decode(s.stats.publicJson()).includes("10.0.0.1"));
    const admin = s.stats.stats(true);
    equal(admin.torrents.length, count);
    equal(admin.isTruncated, false);
    deepEqual(admin.torrents[0]!.peers?.[0], { ip: "10.0.0.1", port: 1000, left: 1 });
  } finally {
    s.db.close();
  }
});

Deno.test("TrackerStats: registered torrents without peers fill the list after live swarms, counted once", () => {
  const s = setup(2, () => 1);
  try {
    s.registry.register({ infoHashHex: toHex(hash(0)), name: "zero" }, T0);
    s.registry.register({ infoHashHex: "ff".repeat(20), name: "idle" }, T0);
    const st = s.stats.stats(false);
    equal(st.totals.torrents, 3);
    deepEqual(st.torrents.map((t) => [t.name, t.leechers]), [["zero", 1], [null, 1], ["idle", 0]]);
    equal(st.isTruncated, false);
  } finally {
    s.db.close();
  }
});

Deno.test("TrackerStats.fullScrape() walks at most once per FULL_SCRAPE_CACHE_MS and lists every swarm", () => {
  const s = setup(30, () => 1);
  try {
    const a = s.stats.fullScrape();
    for (let i = 0; i < 100; i++) equal(s.stats.fullScrape(), a);
    equal(s.walks.n, 1);
    const files = (decodeBencode(a) as Map<string, unknown>).get("files") as Map<string, unknown>;
    equal(files.size, 30);
    s.clock.t = T0 + FULL_SCRAPE_CACHE_MS;
    s.stats.fullScrape();
    equal(s.walks.n, 2);
  } finally {
    s.db.close();
  }
});

Deno.test("topSwarms() keeps the k largest, most peers first, in one pass", () => {
  const swarms = Array.from({ length: 1_000 }, (_, i) => ({
    infoHashHex: String(i).padStart(40, "0"),
    seeders: (i * 7919) % 1_000,
    leechers: 0,
    completed: 0,
  }));
  const { top } = topSwarms(swarms, 10);
  deepEqual(top.map((t) => t.seeders), [999, 998, 997, 996, 995, 994, 993, 992, 991, 990]);
  equal(topSwarms(swarms, 0).top.length, 0);
  equal(topSwarms(swarms.slice(0, 3), 10).top.length, 3);
});
