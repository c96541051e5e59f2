// createTracker's handler called as a function (no sockets; SQLite in memory), with an injected clock: the admin
// token limiter as the routes apply it (#19), and start-up with more stored rows than the store's caps (#19).

import { equal, match } from "../../_helpers/assert.ts";
import { decodeBencode } from "../../../lib/bencode.ts";
import { TrackerDb } from "../../../lib/persist/db.ts";
import { DEFAULT_ADMIN_FAILURE_WINDOW_MS, DEFAULT_MAX_ADMIN_FAILURES_PER_IP } from "../../../lib/tracker/admin_auth.ts";
import { createTracker, type TrackerOptions } from "../../../lib/tracker/server.ts";
import { MemorySwarmStore } from "../../../lib/tracker/swarm_store.ts";
import { startedAnnounce } from "./_swarms.ts";

const T0 = 1_700_000_000_000;
const TOKEN = "right-token";

function setup(options: Partial<TrackerOptions> = {}) {
  const clock = { t: T0 };
  const db = options.db ?? TrackerDb.open(":memory:");
  const warnings: string[] = [];
  const tracker = createTracker({
    adminToken: TOKEN,
    sweepIntervalMs: 0,
    snapshotIntervalS: 0,
    privatePollIntervalMs: 0,
    accountingFlushIntervalMs: 0,
    now: () => clock.t,
    onWarning: (m) => warnings.push(m),
    ...options,
    db,
  });
  const call = async (path: string, from: string, headers: Record<string, string> = {}) => {
    const res = await tracker.handler(new Request(`http://tracker${path}`, { headers }), {
      remoteAddr: { hostname: from },
    });
    return { status: res.status, body: new Uint8Array(await res.arrayBuffer()) };
  };
  return {
    clock,
    db,
    tracker,
    warnings,
    call,
    close() {
      tracker.close();
      db.close();
    },
  };
}

const RIGHT = { authorization: `Bearer ${TOKEN}` };
const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("tracker handler: after N wrong admin tokens an address is refused even with the right one (#19)", async () => {
  const s = setup();
  try {
    for (let i = 0; i < DEFAULT_MAX_ADMIN_FAILURES_PER_IP; i++) {
      equal((await s.call("/stats", "10.0.0.1", { authorization: `Bearer guess${i}` })).status, 401);
    }
    equal((await s.call("/stats", "10.0.0.1", RIGHT)).status, 429);
    equal((await s.call("/save_state", "10.0.0.1", RIGHT)).status, 429);
    equal((await s.call("/api/info", "10.0.0.1", RIGHT)).status, 429);
    const scrape = decodeBencode((await s.call("/scrape", "10.0.0.1", RIGHT)).body) as Map<string, Uint8Array>;
    match(text(scrape.get("failure reason")!), /Too many wrong admin tokens/);
    // The public /stats is still served to it, and another address is not affected.
    equal((await s.call("/stats", "10.0.0.1")).status, 200);
    equal((await s.call("/stats", "10.0.0.2", RIGHT)).status, 200);
    s.clock.t = T0 + DEFAULT_ADMIN_FAILURE_WINDOW_MS;
    equal((await s.call("/stats", "10.0.0.1", RIGHT)).status, 200);
  } finally {
    s.close();
  }
});

Deno.test("tracker handler: behind a trusted proxy the admin limiter counts per forwarded client (#19)", async () => {
  const s = setup({ isTrustProxy: true });
  try {
    const via = (client: string, auth: string) => ({ authorization: auth, "x-forwarded-for": client });
    for (let i = 0; i < DEFAULT_MAX_ADMIN_FAILURES_PER_IP; i++) {
      await s.call("/stats", "127.0.0.1", via("10.0.0.7", "Bearer guess"));
    }
    equal((await s.call("/stats", "127.0.0.1", via("10.0.0.7", RIGHT.authorization))).status, 429);
    equal((await s.call("/stats", "127.0.0.1", via("10.0.0.8", RIGHT.authorization))).status, 200);
  } finally {
    s.close();
  }
});

Deno.test("tracker handler: a public /stats is computed once per cache period however often it is asked", async () => {
  const s = setup();
  try {
    let walks = 0;
    const swarms = s.tracker.store.swarms.bind(s.tracker.store);
    s.tracker.store.swarms = () => {
      walks++;
      return swarms();
    };
    const bodies = new Set<string>();
    for (let i = 0; i < 200; i++) bodies.add(text((await s.call("/stats", "10.0.0.1")).body));
    equal(walks, 1);
    // Every answer is the whole cached body (a shared buffer must not be consumed by the first response).
    equal(bodies.size, 1);
    equal(JSON.parse([...bodies][0]!).totals.torrents, 0);
  } finally {
    s.close();
  }
});

/** A db with `n` completed counts, torrent i last seen at T0 + i. */
function dbWithCounts(n: number): TrackerDb {
  const db = TrackerDb.open(":memory:");
  for (let i = 0; i < n; i++) db.addCompleted(hexOf(i), 3, T0 + i);
  return db;
}

function hexOf(i: number): string {
  return i.toString(16).padStart(40, "0");
}

Deno.test("createTracker() starts with more completed rows than the store holds torrents (#19)", () => {
  const db = dbWithCounts(25);
  const s = setup({ db, store: new MemorySwarmStore({ maxTorrents: 10 }) });
  try {
    equal(s.tracker.store.totals().torrents, 0);
    // New torrents still find room.
    for (let i = 0; i < 10; i++) {
      const r = s.tracker.store.announce(
        startedAnnounce(
          Uint8Array.from({ length: 20 }, (_, b) => (b === 19 ? i : 0xee)),
          new Uint8Array(20).fill(1),
          6881,
          1,
        ),
        { ip: new Uint8Array([10, 0, 0, 1]), nowMs: T0, random: Math.random },
      );
      equal(r.incomplete, 1);
    }
  } finally {
    s.close();
  }
});
