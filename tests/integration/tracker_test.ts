// The HTTP tracker over real sockets on 127.0.0.1 port 0: announce, scrape, stopped, completed, expiry with an
// injected clock, admin API, restart from the SQLite state, and kill -9 of a `btool tracker` child mid-load.

import { startTestTracker } from "../_helpers/tracker.ts";
import { deepEqual, equal, match, ok } from "../_helpers/assert.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { fromLatin1, percentEncode, toHex, toLatin1 } from "../../lib/bytes.ts";
import { type BencodeDict, type BencodeValue, decodeBencode } from "../../lib/bencode.ts";
import { TrackerDb, UNREGISTERED_TORRENT_IDLE_MS } from "../../lib/persist/db.ts";
import { createTracker, SNAPSHOT_CHUNK_BYTES, type Tracker, type TrackerOptions } from "../../lib/tracker/server.ts";
import { MemorySwarmStore, SWARM_RECORD_BYTES } from "../../lib/tracker/swarm_store.ts";

const TOKEN = "test-admin-token";
const T0 = 1_700_000_000_000;
const HASH_A = new Uint8Array(20).fill(0xaa);
const HASH_PLUS = new Uint8Array([0x2b, 0x20, 0, ...new Array(17).fill(0x41)]);

function peerId(n: number): Uint8Array {
  const b = new TextEncoder().encode("-BT0001-000000000000");
  b[19] = n;
  return b;
}

interface Running {
  tracker: Tracker;
  base: string;
  db: TrackerDb;
  close(): Promise<void>;
}

/** The HTTP path the tests of this file run on now: each test runs on both (ioTest). */
let currentIo: "libc" | "deno" = "libc";

/** Register `fn` as two tests, one over the libc HTTP server and one over Deno.serve. */
function ioTest(name: string, fn: () => Promise<void>): void {
  for (const io of ["libc", "deno"] as const) {
    Deno.test(`${name} [${io}]`, async () => {
      currentIo = io;
      await fn();
    });
  }
}

function start(options: Partial<TrackerOptions> & { dbPath?: string } = {}): Promise<Running> {
  const db = options.db ?? TrackerDb.open(options.dbPath ?? ":memory:");
  const io = currentIo === "libc" && Deno.build.os === "linux" ? "libc" : "deno";
  return Promise.resolve(startTestTracker({ adminToken: TOKEN, ...options, db }, io));
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Uint8Array }> {
  const res = await fetch(url, { headers });
  return { status: res.status, body: new Uint8Array(await res.arrayBuffer()) };
}

async function bdict(url: string, headers: Record<string, string> = {}): Promise<BencodeDict> {
  const { status, body } = await get(url, headers);
  equal(status, 200);
  const v = decodeBencode(body);
  ok(v instanceof Map);
  return v;
}

function announceUrl(base: string, hash: Uint8Array, n: number, params: Record<string, string | number> = {}) {
  const all = { port: 6000 + n, uploaded: 0, downloaded: 0, left: 1000, compact: 1, ...params };
  const rest = Object.entries(all).map(([k, v]) => `${k}=${v}`).join("&");
  return `${base}/announce?info_hash=${percentEncode(hash)}&peer_id=${percentEncode(peerId(n))}&${rest}`;
}

function scrapeUrl(base: string, ...hashes: Uint8Array[]) {
  return `${base}/scrape?${hashes.map((h) => `info_hash=${percentEncode(h)}`).join("&")}`;
}

function ports(v: BencodeValue | undefined): number[] {
  ok(v instanceof Uint8Array);
  const out: number[] = [];
  for (let i = 0; i < v.length; i += 6) out.push((v[i + 4]! << 8) | v[i + 5]!);
  return out.sort((a, b) => a - b);
}

function text(v: BencodeValue | undefined): string {
  ok(v instanceof Uint8Array);
  return new TextDecoder().decode(v);
}

function scrapeOf(d: BencodeDict, hash: Uint8Array) {
  const files = d.get("files");
  ok(files instanceof Map);
  const e = files.get(toLatin1(hash));
  ok(e instanceof Map);
  return { complete: e.get("complete"), downloaded: e.get("downloaded"), incomplete: e.get("incomplete") };
}

const AUTH = { authorization: `Bearer ${TOKEN}` };

ioTest("tracker: announce returns peers (never the asker), scrape counts, stopped removes", async () => {
  const t = await start();
  try {
    let d = await bdict(announceUrl(t.base, HASH_PLUS, 1, { event: "started" }));
    deepEqual(ports(d.get("peers")), []);
    equal(d.get("incomplete"), 1);
    equal(d.get("min interval"), 900);
    const interval = d.get("interval") as number;
    ok(interval >= 1710 && interval <= 1890);
    await bdict(announceUrl(t.base, HASH_PLUS, 2, { left: 0 }));
    d = await bdict(announceUrl(t.base, HASH_PLUS, 3));
    deepEqual(ports(d.get("peers")), [6001, 6002]);
    equal(d.get("complete"), 1);
    equal(d.get("incomplete"), 2);
    // A seeder gets no seeders.
    d = await bdict(announceUrl(t.base, HASH_PLUS, 2, { left: 0 }));
    deepEqual(ports(d.get("peers")), [6001, 6003]);
    deepEqual(scrapeOf(await bdict(scrapeUrl(t.base, HASH_PLUS, HASH_A)), HASH_PLUS), {
      complete: 1,
      downloaded: 0,
      incomplete: 2,
    });
    deepEqual(scrapeOf(await bdict(scrapeUrl(t.base, HASH_PLUS, HASH_A)), HASH_A), {
      complete: 0,
      downloaded: 0,
      incomplete: 0,
    });
    d = await bdict(announceUrl(t.base, HASH_PLUS, 1, { event: "stopped" }));
    deepEqual(ports(d.get("peers")), []);
    d = await bdict(announceUrl(t.base, HASH_PLUS, 3));
    deepEqual(ports(d.get("peers")), [6002]);
    // The same tracker answers at "/".
    d = await bdict(announceUrl(t.base, HASH_PLUS, 4).replace("/announce?", "/?"));
    deepEqual(ports(d.get("peers")), [6002, 6003]);
  } finally {
    await t.close();
  }
});

Deno.test("tracker handler: another address cannot stop or complete a peer; the peer's key moves it (#19)", async () => {
  const db = TrackerDb.open(":memory:");
  const tracker = createTracker({ db, adminToken: TOKEN, sweepIntervalMs: 0, snapshotIntervalS: 0 });
  const ask = async (url: string, hostname: string): Promise<BencodeDict> => {
    const res = await tracker.handler(new Request(url), { remoteAddr: { hostname } });
    const v = decodeBencode(new Uint8Array(await res.arrayBuffer()));
    ok(v instanceof Map);
    return v;
  };
  const base = "http://t";
  try {
    await ask(announceUrl(base, HASH_A, 1), "127.0.0.1");
    // The attack, with default flags: the same peer id from 127.0.0.9 with event=stopped.
    await ask(announceUrl(base, HASH_A, 1, { event: "stopped" }), "127.0.0.9");
    const refused = await ask(announceUrl(base, HASH_A, 1, { event: "completed", left: 0 }), "127.0.0.9");
    equal(text(refused.get("failure reason")), "Peer id is in use by another client");
    const third = await ask(announceUrl(base, HASH_A, 3), "127.0.0.1");
    deepEqual(ports(third.get("peers")), [6001], "the third peer still gets the first");
    equal(third.get("complete"), 0);
    // A client with a key (libtorrent sends one on every announce) keeps its entry across networks.
    await ask(announceUrl(base, HASH_A, 2, { key: "1a2b3c4d" }), "127.0.0.1");
    await ask(announceUrl(base, HASH_A, 2, { key: "1a2b3c4d" }), "127.0.0.9");
    await ask(announceUrl(base, HASH_A, 2, { key: "99", event: "stopped" }), "127.0.0.1");
    const peers = tracker.store.peersOf(HASH_A).filter((p) => p.port === 6002);
    deepEqual(peers.map((p) => [...p.ip]), [[127, 0, 0, 9]]);
  } finally {
    tracker.close();
    db.close();
  }
});

Deno.test("tracker handler: a swarm goes with its last peer; its completed count lives on in the db and scrapes (#19)", async () => {
  const db = TrackerDb.open(":memory:");
  let nowMs = T0;
  const tracker = createTracker({
    db,
    adminToken: TOKEN,
    sweepIntervalMs: 0,
    snapshotIntervalS: 0,
    peerTimeoutS: 60,
    now: () => nowMs,
  });
  const ask = async (url: string): Promise<BencodeDict> => {
    const res = await tracker.handler(new Request(url), { remoteAddr: { hostname: "127.0.0.1" } });
    const v = decodeBencode(new Uint8Array(await res.arrayBuffer()));
    ok(v instanceof Map);
    return v;
  };
  const base = "http://t";
  try {
    await ask(announceUrl(base, HASH_A, 1, { event: "completed", left: 0 }));
    await ask(announceUrl(base, HASH_A, 2, { event: "completed", left: 0 }));
    await ask(announceUrl(base, HASH_A, 1, { event: "stopped" }));
    nowMs += 61_000;
    tracker.sweep();
    equal(tracker.store.totals().torrents, 0, "no live peer, no swarm");
    deepEqual(scrapeOf(await ask(scrapeUrl(base, HASH_A)), HASH_A), { complete: 0, downloaded: 2, incomplete: 0 });
    // The swarm made again starts from the db's count.
    await ask(announceUrl(base, HASH_A, 3, { event: "completed", left: 0 }));
    deepEqual(scrapeOf(await ask(scrapeUrl(base, HASH_A)), HASH_A), { complete: 1, downloaded: 3, incomplete: 0 });
  } finally {
    tracker.close();
    db.close();
  }
});

/** GET `target` (one byte per char, raw bytes >= 0x80 unescaped) on a fresh connection; the body, bencoded. */
async function rawGet(base: string, target: string): Promise<BencodeDict> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(base).port) });
  try {
    const head = `GET ${target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`;
    await conn.write(fromLatin1(head));
    const chunks: number[] = [];
    const buf = new Uint8Array(4096);
    for (let n; (n = await conn.read(buf)) !== null;) chunks.push(...buf.subarray(0, n));
    const all = Uint8Array.from(chunks);
    const at = new TextDecoder("latin1").decode(all).indexOf("\r\n\r\n");
    ok(at > 0, "a whole response head");
    const v = decodeBencode(all.subarray(at + 4));
    ok(v instanceof Map);
    return v;
  } finally {
    conn.close();
  }
}

Deno.test("tracker: raw bytes >= 0x80 in info_hash and peer_id mean the same bytes as their escapes [libc]", async () => {
  currentIo = "libc";
  const t = await start();
  try {
    const hash = Uint8Array.from({ length: 20 }, (_, i) => 0x80 + i * 6);
    const raw = (b: Uint8Array) => toLatin1(b);
    // Peer 1 announces with raw bytes (through the byte-level fast path), peer 2 with escapes.
    let d = await rawGet(t.base, `/announce?info_hash=${raw(hash)}&peer_id=${raw(peerId(0xe9))}&port=6001&left=5`);
    equal(d.get("failure reason"), undefined);
    equal(d.get("incomplete"), 1);
    d = await bdict(announceUrl(t.base, hash, 0xe2, { port: 6002 }));
    deepEqual(ports(d.get("peers")), [6001]);
    // Peer 1's escaped announce updates the same peer (a leecher turned seeder: one download); peer 2's raw
    // `stopped` removes peer 2.
    await bdict(announceUrl(t.base, hash, 0xe9, { port: 6001, left: 0 }));
    d = await rawGet(
      t.base,
      `/announce?info_hash=${raw(hash)}&peer_id=${raw(peerId(0xe2))}&port=6002&left=5&event=stopped`,
    );
    deepEqual(scrapeOf(await bdict(scrapeUrl(t.base, hash)), hash), { complete: 1, downloaded: 1, incomplete: 0 });
    // A raw 21-byte hash is refused like an escaped one.
    d = await rawGet(t.base, `/announce?info_hash=${raw(hash)}\xff&peer_id=${raw(peerId(0xe3))}&port=1&left=0`);
    match(text(d.get("failure reason")), /info_hash/);
  } finally {
    await t.close();
  }
});

ioTest(
  "tracker: --trust-proxy takes the proxy's own X-Forwarded-For entry, never a client-chosen one (#19)",
  async () => {
    const addressesOf = (t: Running) =>
      t.tracker.stats(true).torrents.flatMap((x) => (x.peers ?? []).map((p) => `${p.ip}:${p.port}`)).sort();
    const proxied = await start({ isTrustProxy: true });
    try {
      // The client sent "10.1.2.3"; the proxy appended the address it saw, 192.0.2.9.
      await bdict(announceUrl(proxied.base, HASH_A, 1), { "x-forwarded-for": "10.1.2.3, 192.0.2.9" });
      await bdict(announceUrl(proxied.base, HASH_A, 2, { ip: "10.9.9.9" }), { "x-forwarded-for": "10.1.2.4" });
      await bdict(announceUrl(proxied.base, HASH_A, 3), { "x-real-ip": "10.4.4.4" });
      await bdict(announceUrl(proxied.base, HASH_A, 4), { "x-forwarded-for": "not an address" });
      deepEqual(addressesOf(proxied), ["10.1.2.4:6002", "127.0.0.1:6003", "127.0.0.1:6004", "192.0.2.9:6001"]);
    } finally {
      await proxied.close();
    }
    const chain = await start({ trustedProxies: ["127.0.0.1", "192.0.2.9"] });
    try {
      await bdict(announceUrl(chain.base, HASH_A, 1), { "x-forwarded-for": "10.6.6.6, 10.1.2.3, 192.0.2.9" });
      deepEqual(addressesOf(chain), ["10.1.2.3:6001"]);
    } finally {
      await chain.close();
    }
    const direct = await start();
    try {
      await bdict(announceUrl(direct.base, HASH_A, 1, { ip: "10.9.9.9" }), { "x-forwarded-for": "10.1.2.3" });
      deepEqual(addressesOf(direct), ["127.0.0.1:6001"]);
    } finally {
      await direct.close();
    }
    const allowed = await start({ isIpParamAllowed: true });
    try {
      await bdict(announceUrl(allowed.base, HASH_A, 1, { ip: "10.9.9.9" }));
      deepEqual(addressesOf(allowed), ["10.9.9.9:6001"]);
    } finally {
      await allowed.close();
    }
  },
);

ioTest("tracker: compact=0 answers in the dictionary model without peer ids, no_peer_id or not (#19)", async () => {
  const t = await start();
  try {
    await bdict(announceUrl(t.base, HASH_A, 1));
    for (const extra of [{ compact: 0 }, { compact: 0, no_peer_id: 1 }, { compact: 0, no_peer_id: 0 }]) {
      const d = await bdict(announceUrl(t.base, HASH_A, 2, extra));
      const peers = d.get("peers");
      ok(Array.isArray(peers));
      equal(peers.length, 1);
      const p = peers[0] as BencodeDict;
      equal(text(p.get("ip")), "127.0.0.1");
      equal(p.get("port"), 6001);
      equal(p.has("peer id"), false, JSON.stringify(extra));
    }
  } finally {
    await t.close();
  }
});

ioTest("tracker: completed counts once per peer and is written to the db", async () => {
  const t = await start();
  try {
    await bdict(announceUrl(t.base, HASH_A, 1, { event: "started" }));
    await bdict(announceUrl(t.base, HASH_A, 1, { event: "completed", left: 0 }));
    await bdict(announceUrl(t.base, HASH_A, 1, { event: "completed", left: 0 }));
    await bdict(announceUrl(t.base, HASH_A, 2, { event: "completed", left: 0 }));
    deepEqual(scrapeOf(await bdict(scrapeUrl(t.base, HASH_A)), HASH_A), {
      complete: 2,
      downloaded: 2,
      incomplete: 0,
    });
    equal(t.db.getTorrent(toHex(HASH_A))?.completed, 2);
  } finally {
    await t.close();
  }
});

ioTest("tracker: peers expire after --peer-timeout with an injected clock", async () => {
  let clock = T0;
  const t = await start({ now: () => clock, peerTimeoutS: 60 });
  try {
    await bdict(announceUrl(t.base, HASH_A, 1));
    clock += 30_000;
    await bdict(announceUrl(t.base, HASH_A, 2));
    clock += 31_000;
    equal(t.tracker.sweep(), 1);
    deepEqual(scrapeOf(await bdict(scrapeUrl(t.base, HASH_A)), HASH_A).incomplete, 1);
    clock += 60_000;
    equal(t.tracker.sweep(), 1);
    deepEqual(scrapeOf(await bdict(scrapeUrl(t.base, HASH_A)), HASH_A).incomplete, 0);
  } finally {
    await t.close();
  }
});

ioTest("tracker: every error is HTTP 200 with a bencoded failure reason", async () => {
  const t = await start();
  try {
    const cases = [
      `${t.base}/announce`,
      `${t.base}/announce?info_hash=abc&peer_id=x&port=1&left=0`,
      `${t.base}/announce?info_hash=${percentEncode(HASH_A)}&peer_id=${percentEncode(peerId(1))}&port=99999&left=0`,
      `${t.base}/announce?info_hash=%zz`,
      `${t.base}/scrape`,
      `${t.base}/scrape?info_hash=%41`,
    ];
    for (const url of cases) {
      const d = await bdict(url);
      ok(d.get("failure reason") instanceof Uint8Array, url);
      equal(d.get("interval"), 300);
      ok(!text(d.get("failure reason")).includes("    at "), "no stack trace");
    }
    const full = await bdict(`${t.base}/scrape`);
    match(text(full.get("failure reason")), /admin token/);
    const unknown = await get(`${t.base}/nope`);
    equal(unknown.status, 404);
  } finally {
    await t.close();
  }
});

ioTest("tracker: admin API needs the token; /stats shows addresses only to the admin", async () => {
  const t = await start();
  try {
    const meta = { info_hash: toHex(HASH_A), name: "Photos 2024", size: 12345, piece_length: 16384, source: "x" };
    const body = JSON.stringify(meta);
    let res = await fetch(`${t.base}/add_torrent_info`, { method: "POST", body });
    equal(res.status, 401);
    await res.body?.cancel();
    res = await fetch(`${t.base}/add_torrent_info`, { method: "POST", body, headers: AUTH });
    equal(res.status, 200);
    equal((await res.json()).status, "added");
    equal(t.db.getTorrent(toHex(HASH_A))?.name, "Photos 2024");
    deepEqual(t.db.getTorrent(toHex(HASH_A))?.extra, { source: "x" });
    res = await fetch(`${t.base}/add_torrent_info`, { method: "POST", body: "{", headers: AUTH });
    equal(res.status, 400);
    await res.body?.cancel();

    await bdict(announceUrl(t.base, HASH_A, 1));
    const anon = await (await fetch(`${t.base}/stats`)).json();
    equal(anon.totals.peers, 1);
    equal(anon.torrents[0].name, "Photos 2024");
    equal(anon.torrents[0].leechers, 1);
    equal(anon.torrents[0].peers, undefined);
    ok(!JSON.stringify(anon).includes("127.0.0.1"));
    ok(Array.isArray(anon.history) && anon.history.length >= 1);
    const admin = await (await fetch(`${t.base}/stats`, { headers: AUTH })).json();
    deepEqual(admin.torrents[0].peers, [{ ip: "127.0.0.1", port: 6001, left: 1000 }]);

    const full = await bdict(`${t.base}/scrape`, AUTH);
    deepEqual(scrapeOf(full, HASH_A), { complete: 0, downloaded: 0, incomplete: 1 });
    res = await fetch(`${t.base}/save_state`);
    equal(res.status, 401);
    await res.body?.cancel();
    res = await fetch(`${t.base}/save_state`, { headers: AUTH });
    deepEqual(await res.json(), { ok: true, peers: 1 });
    equal(t.db.loadSwarmSnapshot()?.peers, 1);
    const html = await (await fetch(`${t.base}/`)).text();
    match(html, /<html/i);
  } finally {
    await t.close();
  }
});

ioTest("tracker: a near miss of a registered hash gets a warning message", async () => {
  const warnings: string[] = [];
  const t = await start({ onWarning: (m) => warnings.push(m) });
  try {
    t.tracker.registry.register({ infoHashHex: toHex(HASH_PLUS), name: "Plus" }, T0);
    // The `+` (0x2b) decoded as a space by a broken tool: same first 10 and last 5 hex digits.
    const mangled = HASH_PLUS.slice();
    mangled[9] = 0x42;
    const d = await bdict(announceUrl(t.base, mangled, 1));
    match(text(d.get("warning message")), new RegExp(toHex(HASH_PLUS)));
    match(text(d.get("warning message")), /Plus/);
    const s = await bdict(scrapeUrl(t.base, mangled));
    match(text(s.get("warning message")), /Plus/);
    const exact = await bdict(announceUrl(t.base, HASH_PLUS, 1));
    equal(exact.has("warning message"), false);
    equal(warnings.length, 1);
  } finally {
    await t.close();
  }
});

ioTest("tracker: a restart keeps registry, completed counters and peers", async () => {
  await withTempDir(async (dir) => {
    const dbPath = `${dir}/state.db`;
    const first = await start({ dbPath });
    try {
      first.tracker.registry.register({ infoHashHex: toHex(HASH_A), name: "Kept" }, T0);
      await bdict(announceUrl(first.base, HASH_A, 1, { event: "completed", left: 0 }));
      await bdict(announceUrl(first.base, HASH_A, 2));
      equal(first.tracker.snapshot(), 2);
    } finally {
      await first.close();
    }
    const second = await start({ dbPath });
    try {
      equal(second.tracker.restoredPeers, 2);
      deepEqual(scrapeOf(await bdict(scrapeUrl(second.base, HASH_A)), HASH_A), {
        complete: 1,
        downloaded: 1,
        incomplete: 1,
      });
      const d = await bdict(announceUrl(second.base, HASH_A, 3));
      deepEqual(ports(d.get("peers")), [6001, 6002]);
      equal(second.tracker.registry.get(toHex(HASH_A))?.name, "Kept");
      // The restored peer's completion does not count twice (the snapshot keeps its completion flag)...
      await bdict(announceUrl(second.base, HASH_A, 1, { event: "completed", left: 0 }));
      equal(scrapeOf(await bdict(scrapeUrl(second.base, HASH_A)), HASH_A).downloaded, 1);
      // ...while the restored leecher's does count.
      await bdict(announceUrl(second.base, HASH_A, 2, { event: "completed", left: 0 }));
      equal(scrapeOf(await bdict(scrapeUrl(second.base, HASH_A)), HASH_A).downloaded, 2);
    } finally {
      await second.close();
    }
  });
});

/** Peers put straight into the store for the snapshot tests (announcing 200k over HTTP would take long). */
const MANY_PEERS = 200_000;

function fillStore(store: MemorySwarmStore, peers: number, nowMs: number): void {
  const infoHash = new Uint8Array(20);
  const id = new Uint8Array(20);
  const ip = new Uint8Array([10, 0, 0, 0]);
  const random = () => 0.5;
  for (let i = 0; i < peers; i++) {
    infoHash[0] = i % 251;
    infoHash[1] = (i >> 8) % 97;
    id[0] = i & 0xff;
    id[1] = (i >> 8) & 0xff;
    id[2] = (i >> 16) & 0xff;
    ip[2] = (i >> 8) & 0xff;
    ip[3] = i & 0xff;
    store.announce({
      infoHash,
      peerId: id,
      port: 1024 + (i % 60_000),
      uploaded: 0,
      downloaded: 0,
      left: i % 3 === 0 ? 0 : 1000,
      event: "started",
      numWant: 0,
      isCompact: true,
      isNoPeerId: false,
    }, { ip, nowMs, random });
  }
}

Deno.test("tracker: a background snapshot of 200k peers yields to the event loop; a restart restores them", async () => {
  await withTempDir(async (dir) => {
    const dbPath = `${dir}/state.db`;
    const now = Date.now();
    const store = new MemorySwarmStore();
    fillStore(store, MANY_PEERS, now);
    const first = await start({ dbPath, store });
    let savedPeers: number | null = null;
    try {
      await bdict(announceUrl(first.base, HASH_A, 1));
      let isDone = false;
      const saving = first.tracker.snapshotInBackground().then((n) => {
        isDone = true;
        return n;
      });
      equal(first.tracker.snapshotInBackground(), first.tracker.snapshotInBackground(), "one at a time");
      // A chain of zero-delay timers counts the event-loop turns that run while it saves.
      let turns = 0;
      let tick: ReturnType<typeof setTimeout> | undefined;
      const count = () => {
        if (isDone) return;
        turns++;
        tick = setTimeout(count, 0);
      };
      tick = setTimeout(count, 0);
      try {
        await new Promise((r) => setTimeout(r, 0));
        equal(isDone, false, "a timer ran before the snapshot completed");
        // An announce handled in a turn between two steps of the snapshot.
        const res = await first.tracker.handler(new Request(announceUrl(first.base, HASH_A, 2)), {
          remoteAddr: { hostname: "127.0.0.1" },
        });
        const d = decodeBencode(new Uint8Array(await res.arrayBuffer()));
        ok(d instanceof Map);
        deepEqual(ports(d.get("peers")), [6001]);
        equal(isDone, false, "an announce was answered before the snapshot completed");
        equal(first.db.loadSwarmSnapshot(), null, "nothing is current until the snapshot is complete");
        savedPeers = await saving;
      } finally {
        clearTimeout(tick);
      }
      ok(turns > 1, `${turns} timer turns ran during the snapshot`);
      // The announce of peer 2 may or may not have made it into the snapshot (its swarm may have been exported).
      ok(savedPeers === MANY_PEERS + 1 || savedPeers === MANY_PEERS + 2, `saved ${savedPeers}`);
      equal(first.db.loadSwarmSnapshot()?.peers, savedPeers);
      equal(first.db.pruneSwarmChunks(), 0, "nothing left to prune");
    } finally {
      await first.close();
    }
    const second = await start({ dbPath });
    try {
      equal(second.tracker.restoredPeers, savedPeers);
      equal(second.tracker.store.totals().peers, savedPeers);
    } finally {
      await second.close();
    }
  });
});

Deno.test("tracker: snapshot() supersedes a running background snapshot; close() stops one", async () => {
  await withTempDir(async (dir) => {
    const dbPath = `${dir}/state.db`;
    const store = new MemorySwarmStore();
    fillStore(store, MANY_PEERS / 4, Date.now());
    const t = await start({ dbPath, store });
    try {
      const background = t.tracker.snapshotInBackground();
      await new Promise((r) => setTimeout(r, 0));
      equal(t.tracker.snapshot(), MANY_PEERS / 4);
      equal(await background, MANY_PEERS / 4, "the background run resolves with the synchronous one's count");
      equal(t.db.loadSwarmSnapshot()?.peers, MANY_PEERS / 4);
      // A new background run, stopped by close() before it completes.
      const stopped = t.tracker.snapshotInBackground();
      t.tracker.close();
      equal(await stopped, null);
      equal(await t.tracker.snapshotInBackground(), null, "none starts after close()");
      equal(t.db.loadSwarmSnapshot()?.peers, MANY_PEERS / 4, "the complete snapshot stays current");
    } finally {
      await t.close();
    }
    // Its leftovers are pruned by the next snapshot; a restart restores the complete one.
    const again = await start({ dbPath });
    try {
      equal(again.tracker.restoredPeers, MANY_PEERS / 4);
      equal(await again.tracker.snapshotInBackground(), MANY_PEERS / 4);
      equal(again.db.pruneSwarmChunks(), 0);
    } finally {
      await again.close();
    }
  });
});

Deno.test("tracker: a swarm larger than a snapshot chunk is saved whole and its torrent touched once", async () => {
  await withTempDir(async (dir) => {
    const dbPath = `${dir}/state.db`;
    const big = 2 * Math.ceil(SNAPSHOT_CHUNK_BYTES / SWARM_RECORD_BYTES / 2) + 1_000; // even: half seeders
    const store = new MemorySwarmStore();
    fillStore(store, 3, Date.now()); // three small swarms
    const bigHash = new Uint8Array(20).fill(0xbb);
    const id = new Uint8Array(20);
    for (let i = 0; i < big; i++) {
      id[0] = i & 0xff;
      id[1] = i >> 8;
      store.announce({
        infoHash: bigHash,
        peerId: id,
        port: 7000,
        uploaded: 0,
        downloaded: 0,
        left: i % 2,
        event: "started",
        numWant: 0,
        isCompact: true,
        isNoPeerId: false,
      }, { ip: new Uint8Array([10, 1, i >> 8, i & 0xff]), nowMs: Date.now(), random: () => 0.5 });
    }
    const t = await start({ dbPath, store });
    const seen: string[] = [];
    const stop = t.db.observeCounters((c) => {
      if (c.type === "seen") seen.push(...c.infoHashHexes);
    });
    try {
      for (const save of [() => Promise.resolve(t.tracker.snapshot()), () => t.tracker.snapshotInBackground()]) {
        seen.length = 0;
        equal(await save(), big + 3);
        equal(seen.length, 4, "each live torrent touched once");
        equal(new Set(seen).size, 4);
        ok(seen.includes(toHex(bigHash)));
        ok((t.db.loadSwarmSnapshot()?.chunkCount ?? 0) >= 2);
      }
    } finally {
      stop();
      await t.close();
    }
    const again = await start({ dbPath });
    try {
      equal(again.tracker.restoredPeers, big + 3);
      deepEqual(again.tracker.store.scrape(bigHash), { complete: big / 2, downloaded: 0, incomplete: big / 2 });
    } finally {
      await again.close();
    }
  });
});

Deno.test("tracker: the periodic timer saves the snapshot in the background", async () => {
  await withTempDir(async (dir) => {
    const t = await start({ dbPath: `${dir}/state.db`, snapshotIntervalS: 1 });
    try {
      await bdict(announceUrl(t.base, HASH_A, 1));
      const deadline = Date.now() + 20_000;
      while (t.db.loadSwarmSnapshot() === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      equal(t.db.loadSwarmSnapshot()?.peers, 1);
    } finally {
      await t.close();
    }
  });
});

Deno.test("tracker: sweep() prunes stored rows of long-idle unregistered torrents (#19)", () => {
  const db = TrackerDb.open(":memory:");
  let nowMs = 1_000_000;
  const tracker = createTracker({ db, adminToken: TOKEN, sweepIntervalMs: 0, snapshotIntervalS: 0, now: () => nowMs });
  try {
    const registered = toHex(HASH_A);
    const seen = toHex(HASH_PLUS);
    db.registerTorrent({ infoHashHex: registered }, nowMs);
    db.touchTorrents([seen], nowMs);
    tracker.sweep();
    equal(db.listTorrents().length, 2);
    nowMs += UNREGISTERED_TORRENT_IDLE_MS + 1;
    tracker.sweep();
    deepEqual(db.listTorrents().map((t) => t.infoHashHex), [registered]);
  } finally {
    tracker.close();
    db.close();
  }
});

Deno.test("tracker: starts on a db holding more torrent rows with counts than its store's torrent cap (#19)", () => {
  const db = TrackerDb.open(":memory:");
  const hexes = Array.from({ length: 5_000 }, (_, i) => i.toString(16).padStart(40, "0"));
  db.touchTorrents(hexes, 1);
  for (const hex of hexes.slice(0, 50)) db.addCompleted(hex, 2, 2);
  const store = new MemorySwarmStore({ maxTorrents: 10, completedOf: (h) => db.getTorrent(toHex(h))?.completed ?? 0 });
  const tracker = createTracker({ db, store, adminToken: TOKEN, sweepIntervalMs: 0, snapshotIntervalS: 0 });
  try {
    equal(store.totals().torrents, 0, "no swarm is made for stored rows");
    equal(store.scrape(new Uint8Array(20)).downloaded, 2, "a count is read when asked for");
  } finally {
    tracker.close();
    db.close();
  }
});

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Spawn `btool tracker` and wait (bounded) for its announce URL. */
async function spawnTracker(args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, "tracker", "--host", "127.0.0.1", "--port", "0", ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const deadline = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    while (!/announce:\s+(http:\/\/\S+)\/announce/.test(out)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`btool tracker exited early: ${out}`);
      out += value;
    }
  } finally {
    clearTimeout(deadline);
  }
  const base = /announce:\s+(http:\/\/\S+)\/announce/.exec(out)![1]!;
  const rest = (async () => {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return out;
      out += value;
    }
  })();
  const stderr = new Response(child.stderr).text();
  return { child, base, output: () => rest, stderr, firstOutput: out };
}

Deno.test("btool tracker --max-peers: past the cap new peers get a failure reason, known ones are answered", async () => {
  const t = await spawnTracker(["--db", ":memory:", "--max-peers", "2"]);
  try {
    await bdict(announceUrl(t.base, HASH_A, 1));
    await bdict(announceUrl(t.base, HASH_PLUS, 2));
    for (let n = 3; n < 6; n++) {
      match(text((await bdict(announceUrl(t.base, HASH_A, n))).get("failure reason")), /Tracker is full/);
    }
    match(text((await bdict(announceUrl(t.base, HASH_PLUS, 7))).get("failure reason")), /Tracker is full/);
    deepEqual(ports((await bdict(announceUrl(t.base, HASH_A, 1))).get("peers")), []);
    // A stopped peer makes room.
    await bdict(announceUrl(t.base, HASH_PLUS, 2, { event: "stopped" }));
    equal((await bdict(announceUrl(t.base, HASH_A, 3))).get("incomplete"), 2);
  } finally {
    t.child.kill("SIGKILL");
    await t.child.status;
    await t.output();
    await t.stderr;
  }
});

Deno.test("btool tracker: SIGTERM snapshots and a restarted tracker answers with the peers at once", async () => {
  await withTempDir(async (dir) => {
    const db = `${dir}/t.db`;
    const a = await spawnTracker(["--db", db]);
    let token = "";
    try {
      token = /admin token .*: ([0-9a-f]{48})/.exec(a.firstOutput)?.[1] ?? "";
      equal(token.length, 48);
      await bdict(announceUrl(a.base, HASH_A, 1, { event: "completed", left: 0 }));
      await bdict(announceUrl(a.base, HASH_A, 2));
    } finally {
      a.child.kill("SIGTERM");
    }
    equal((await a.child.status).code, 0);
    match(await a.output(), /saved 2 peers/);
    await a.stderr;
    const b = await spawnTracker(["--db", db]);
    try {
      equal(b.firstOutput.includes("admin token"), false, "the stored token is not printed again");
      const d = await bdict(announceUrl(b.base, HASH_A, 3));
      deepEqual(ports(d.get("peers")), [6001, 6002]);
      equal(d.get("complete"), 1);
      deepEqual(scrapeOf(await bdict(scrapeUrl(b.base, HASH_A)), HASH_A).downloaded, 1);
      // Graceful shutdown over the admin API (token from the first run, kept in the db).
      const res = await fetch(`${b.base}/shutdown`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
      equal(res.status, 200);
      await res.body?.cancel();
      equal((await b.child.status).code, 0);
    } finally {
      try {
        b.child.kill("SIGKILL");
      } catch {
        // already exited
      }
      await b.child.status;
      await b.output();
      await b.stderr;
    }
  });
});

Deno.test("btool tracker: kill -9 mid-load loses no registered torrent", async () => {
  await withTempDir(async (dir) => {
    const db = `${dir}/k.db`;
    const t = await spawnTracker(["--db", db, "--admin-token", TOKEN]);
    const acknowledged: string[] = [];
    let isKilled = false;
    const MAX_REQUESTS = 5_000;
    try {
      // Four concurrent writers register torrents and announce until the child dies under them.
      const writer = async (w: number) => {
        for (let i = 0; i < MAX_REQUESTS && !isKilled; i++) {
          const hash = new Uint8Array(20);
          hash[0] = w;
          hash[1] = i >> 8;
          hash[2] = i & 0xff;
          const hex = toHex(hash);
          try {
            const res = await fetch(`${t.base}/add_torrent_info`, {
              method: "POST",
              headers: AUTH,
              body: JSON.stringify({ info_hash: hex, name: `t${w}-${i}` }),
            });
            const ok200 = res.status === 200;
            await res.body?.cancel();
            if (ok200) acknowledged.push(hex);
            await (await fetch(announceUrl(t.base, hash, w + 1))).body?.cancel();
          } catch {
            return; // the child is gone
          }
        }
      };
      const writers = [0, 1, 2, 3].map(writer);
      const killAt = Date.now() + 60_000;
      while (acknowledged.length < 300 && Date.now() < killAt) await new Promise((r) => setTimeout(r, 20));
      t.child.kill("SIGKILL");
      isKilled = true;
      await Promise.all(writers);
    } finally {
      try {
        t.child.kill("SIGKILL");
      } catch {
        // already dead
      }
      await t.child.status;
      await t.output();
      await t.stderr;
    }
    ok(acknowledged.length >= 300, `only ${acknowledged.length} registrations before the deadline`);
    const state = TrackerDb.open(db);
    try {
      const registered = new Set(state.listTorrents({ registeredOnly: true }).map((r) => r.infoHashHex));
      const lost = acknowledged.filter((h) => !registered.has(h));
      deepEqual(lost, []);
    } finally {
      state.close();
    }
  });
});
