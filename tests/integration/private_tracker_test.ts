// Private tracker over real sockets on 127.0.0.1 port 0 (issue #6): passkeys on announce and scrape (query and path
// forms), revoke/rotate taking effect at once (API and another process's db handle), listed mode, the /api admin
// calls, per-user accounting in /stats, and the failed-passkey limiter.

import { startTestTracker } from "../_helpers/tracker.ts";
import { assertThrowsCode, deepEqual, equal, ok } from "../_helpers/assert.ts";
import { runBtool } from "../_helpers/tools.ts";
import { buildTorrent } from "../_helpers/torrent.ts";
import { TrackerError } from "../../lib/errors.ts";
import { parseMetainfo } from "../../lib/metainfo.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { percentEncode, toHex, toLatin1 } from "../../lib/bytes.ts";
import { type BencodeDict, decodeBencode } from "../../lib/bencode.ts";
import { TrackerDb } from "../../lib/persist/db.ts";
import { createTracker, type Tracker, type TrackerOptions } from "../../lib/tracker/server.ts";
import { ACCOUNTING_CHUNK_ENTRIES } from "../../lib/tracker/member_accounting.ts";
import { Users } from "../../lib/tracker/users.ts";
import { PASSKEY_INVALID_REASON, UNREGISTERED_REASON } from "../../lib/tracker/access.ts";

const TOKEN = "test-admin-token";
const AUTH = { authorization: `Bearer ${TOKEN}` };
const HASH_A = new Uint8Array(20).fill(0xaa);
const HASH_B = new Uint8Array(20).fill(0xbb);

interface Running {
  tracker: Tracker;
  base: string;
  db: TrackerDb;
  close(): Promise<void>;
}

function start(options: Partial<TrackerOptions> & { dbPath?: string } = {}): Running {
  const db = TrackerDb.open(options.dbPath ?? ":memory:");
  return startTestTracker({ adminToken: TOKEN, privatePollIntervalMs: 0, ...options, db });
}

function peerId(n: number): Uint8Array {
  const b = new TextEncoder().encode("-BT0001-000000000000");
  b[19] = n;
  return b;
}

function announceQuery(hash: Uint8Array, n: number, params: Record<string, string | number> = {}): string {
  const all = { port: 6000 + n, uploaded: 0, downloaded: 0, left: 1000, compact: 1, ...params };
  const rest = Object.entries(all).map(([k, v]) => `${k}=${v}`).join("&");
  return `info_hash=${percentEncode(hash)}&peer_id=${percentEncode(peerId(n))}&${rest}`;
}

async function bdict(url: string): Promise<BencodeDict> {
  const res = await fetch(url);
  equal(res.status, 200);
  const v = decodeBencode(new Uint8Array(await res.arrayBuffer()));
  ok(v instanceof Map);
  return v;
}

function failure(d: BencodeDict): string | undefined {
  const v = d.get("failure reason");
  return v instanceof Uint8Array ? new TextDecoder().decode(v) : undefined;
}

async function api(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...AUTH, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json() as Record<string, unknown> };
}

Deno.test("private tracker: passkey accepted on announce (query and path forms) and scrape, refused otherwise", async () => {
  const t = start({ isPrivate: true });
  try {
    const alice = (await api(t.base, "POST", "/api/users", { name: "alice" })).json;
    const pk = alice.passkey as string;
    equal(alice.announceUrl, `${t.base}/announce?passkey=${pk}`);
    const ok1 = await bdict(`${t.base}/announce?passkey=${pk}&${announceQuery(HASH_A, 1)}`);
    equal(failure(ok1), undefined);
    equal(ok1.get("incomplete"), 1);
    // Passkey last, as clients append their parameters after ours.
    const ok2 = await bdict(`${t.base}/announce?${announceQuery(HASH_A, 2)}&passkey=${pk}`);
    equal(ok2.get("incomplete"), 2);
    const ok3 = await bdict(`${t.base}/announce/${pk}?${announceQuery(HASH_A, 3)}`);
    equal(ok3.get("incomplete"), 3);
    // Wrong and missing passkeys: the failure reason and no peers.
    const bad = await bdict(`${t.base}/announce?passkey=${"0".repeat(32)}&${announceQuery(HASH_A, 4)}`);
    equal(failure(bad), PASSKEY_INVALID_REASON);
    equal(bad.has("peers"), false);
    ok(failure(await bdict(`${t.base}/announce?${announceQuery(HASH_A, 5)}`))?.startsWith("passkey required"));
    // Scrape: /scrape?passkey= (Transmission's derived URL), /scrape/<pk>, and refused without.
    const scrapeQ = `info_hash=${percentEncode(HASH_A)}`;
    for (const url of [`${t.base}/scrape?passkey=${pk}&${scrapeQ}`, `${t.base}/scrape/${pk}?${scrapeQ}`]) {
      const files = (await bdict(url)).get("files");
      ok(files instanceof Map);
      const entry = files.get(toLatin1(HASH_A));
      ok(entry instanceof Map);
      equal(entry.get("incomplete"), 3);
    }
    equal(failure(await bdict(`${t.base}/scrape?${scrapeQ}`))?.startsWith("passkey required"), true);
    equal(failure(await bdict(`${t.base}/scrape?passkey=${"1".repeat(32)}&${scrapeQ}`)), PASSKEY_INVALID_REASON);
  } finally {
    await t.close();
  }
});

Deno.test("private tracker: revoke and rotate through the API take effect at once", async () => {
  const t = start({ isPrivate: true });
  try {
    const pk = (await api(t.base, "POST", "/api/users", { name: "bob" })).json.passkey as string;
    equal(failure(await bdict(`${t.base}/announce?passkey=${pk}&${announceQuery(HASH_A, 1)}`)), undefined);
    const rotated = (await api(t.base, "POST", "/api/users/bob/rotate")).json.passkey as string;
    ok(rotated !== pk);
    equal(failure(await bdict(`${t.base}/announce?passkey=${pk}&${announceQuery(HASH_A, 1)}`)), PASSKEY_INVALID_REASON);
    equal(failure(await bdict(`${t.base}/announce?passkey=${rotated}&${announceQuery(HASH_A, 1)}`)), undefined);
    equal((await api(t.base, "DELETE", "/api/users/bob")).json.wasActive, true);
    equal(
      failure(await bdict(`${t.base}/announce?passkey=${rotated}&${announceQuery(HASH_A, 1)}`)),
      PASSKEY_INVALID_REASON,
    );
    const list = (await api(t.base, "GET", "/api/users")).json.users as { name: string; isRevoked: boolean }[];
    deepEqual(list.map((u) => [u.name, u.isRevoked]), [["bob", true]]);
    equal((await api(t.base, "DELETE", "/api/users/nobody")).status, 404);
    equal(await fetch(`${t.base}/api/users`).then(async (r) => (await r.body?.cancel(), r.status)), 401);
  } finally {
    await t.close();
  }
});

Deno.test("private tracker: a user revoked by another process (the CLI) is refused after the next poll", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/t.db`;
    const t = start({ isPrivate: true, dbPath: path });
    const other = TrackerDb.open(path);
    try {
      const users = new Users(other);
      const pk = users.add("carol", Date.now()).passkeyHex;
      t.tracker.privateMode.poll();
      equal(failure(await bdict(`${t.base}/announce?passkey=${pk}&${announceQuery(HASH_A, 1)}`)), undefined);
      users.revoke("carol", Date.now());
      equal(t.tracker.privateMode.poll(), true);
      equal(
        failure(await bdict(`${t.base}/announce?passkey=${pk}&${announceQuery(HASH_A, 1)}`)),
        PASSKEY_INVALID_REASON,
      );
      // An unregister by another process reaches a listed tracker the same way.
      other.registerTorrent({ infoHashHex: toHex(HASH_B) }, 1);
      equal(t.tracker.privateMode.poll(), true);
      equal(t.tracker.registry.has(toHex(HASH_B)), true);
    } finally {
      other.close();
      await t.close();
    }
  });
});

Deno.test("listed tracker: unknown hashes get 'unregistered torrent' (+ similar hint); bulk register and unregister", async () => {
  const t = start({ isListed: true });
  try {
    const unknown = await bdict(`${t.base}/announce?${announceQuery(HASH_A, 1)}`);
    equal(failure(unknown), UNREGISTERED_REASON);
    const reg = await api(t.base, "POST", "/api/torrents", {
      torrents: [{ infoHash: toHex(HASH_A), name: "A", size: 5, fileCount: 1 }, { infoHash: toHex(HASH_B) }],
    });
    deepEqual(reg.json.counts, { added: 2, updated: 0, unchanged: 0 });
    const again = await api(t.base, "POST", "/api/torrents", [{
      infoHash: toHex(HASH_A),
      name: "A",
      size: 5,
      fileCount: 1,
    }]);
    deepEqual(again.json.counts, { added: 0, updated: 0, unchanged: 1 });
    equal(failure(await bdict(`${t.base}/announce?${announceQuery(HASH_A, 1)}`)), undefined);
    // A hash that differs in the middle: refused, with the hint naming "A".
    const near = HASH_A.slice();
    near[9] = 0x20;
    const hinted = failure(await bdict(`${t.base}/announce?${announceQuery(near, 2)}`));
    ok(hinted?.startsWith(`${UNREGISTERED_REASON}; close to registered torrent ${toHex(HASH_A)} ("A")`), hinted);
    // Scrape leaves unregistered hashes out, and refuses a scrape of none of ours.
    const sc = await bdict(`${t.base}/scrape?info_hash=${percentEncode(HASH_A)}&info_hash=${percentEncode(near)}`);
    deepEqual([...(sc.get("files") as Map<string, unknown>).keys()], [toLatin1(HASH_A)]);
    ok(failure(await bdict(`${t.base}/scrape?info_hash=${percentEncode(near)}`))?.startsWith(UNREGISTERED_REASON));
    const del = await api(t.base, "DELETE", `/api/torrents/${toHex(HASH_A)}`);
    equal(del.json.wasRegistered, true);
    equal(failure(await bdict(`${t.base}/announce?${announceQuery(HASH_A, 1)}`)), UNREGISTERED_REASON);
    equal(
      (await api(t.base, "POST", "/api/torrents/unregister", { infoHashes: [toHex(HASH_B)] })).json.unregistered,
      1,
    );
    deepEqual((await api(t.base, "GET", "/api/torrents")).json.torrents, []);
    deepEqual((await api(t.base, "GET", "/api/info")).json, {
      isPrivate: false,
      isListed: true,
      torrents: 0,
      users: 0,
    });
  } finally {
    await t.close();
  }
});

Deno.test("private tracker: per-user accounting in admin /stats, with restart-safe deltas", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/acc.db`;
    let t = start({ isPrivate: true, dbPath: path });
    const pk = (await api(t.base, "POST", "/api/users", { name: "dave" })).json.passkey as string;
    const ann = (up: number, down: number) =>
      bdict(`${t.base}/announce?passkey=${pk}&${announceQuery(HASH_A, 7, { uploaded: up, downloaded: down })}`);
    try {
      await ann(0, 0);
      await ann(1000, 300);
      await ann(1500, 300);
      const stats = await (await fetch(`${t.base}/stats`, { headers: AUTH })).json();
      deepEqual(
        stats.users.map((
          u: { name: string; uploaded: number; downloaded: number },
        ) => [u.name, u.uploaded, u.downloaded]),
        [
          ["dave", 1500, 300],
        ],
      );
      const anon = await (await fetch(`${t.base}/stats`)).json();
      equal(anon.users, undefined);
    } finally {
      await t.close();
    }
    t = start({ isPrivate: true, dbPath: path });
    try {
      await ann(1700, 300); // same session: +200
      await ann(100, 0); // the client restarted: +100
      const stats = await (await fetch(`${t.base}/stats`, { headers: AUTH })).json();
      equal(stats.users[0].uploaded, 1800);
      equal(stats.users[0].downloaded, 300);
    } finally {
      await t.close();
    }
  });
});

Deno.test("private tracker: an IP sending many wrong passkeys is refused, even with a right one", async () => {
  const t = start({ isPrivate: true });
  try {
    const pk = (await api(t.base, "POST", "/api/users", { name: "erin" })).json.passkey as string;
    for (let i = 0; i < 10; i++) {
      await bdict(`${t.base}/announce?passkey=${i.toString(16).repeat(32)}&${announceQuery(HASH_A, 1)}`);
    }
    const limited = failure(await bdict(`${t.base}/announce?passkey=${pk}&${announceQuery(HASH_A, 1)}`));
    ok(limited?.startsWith("too many invalid passkeys"), limited);
  } finally {
    await t.close();
  }
});

Deno.test("PrivateMode.checkUdp(): passkey from BEP 41 URL data (query or path form), listed check on announces", () => {
  const db = TrackerDb.open(":memory:");
  const t = createTracker({
    db,
    adminToken: TOKEN,
    sweepIntervalMs: 0,
    snapshotIntervalS: 0,
    privatePollIntervalMs: 0,
    isPrivate: true,
    isListed: true,
  });
  try {
    const pm = t.privateMode;
    const pk = pm.users.add("udp", 1).passkeyHex;
    pm.access.setUsers(pm.users.activeAccessUsers());
    t.registry.register({ infoHashHex: toHex(HASH_A) }, 1);
    const ip = new Uint8Array([127, 0, 0, 1]);
    const bytes = (s: string) => new TextEncoder().encode(s);
    const req = (urlData: string, hash = HASH_A, type: "announce" | "scrape" = "announce") => () =>
      pm.checkUdp({ type, infoHashes: [hash], urlData: bytes(urlData), ip });
    req(`/announce?passkey=${pk}`)();
    req(`/announce/${pk}`)();
    req(`/scrape?passkey=${pk}`, HASH_B, "scrape")(); // scrapes of unregistered hashes just count zeros
    assertThrowsCode(req(`/announce?passkey=${pk}`, HASH_B), TrackerError, "unregistered");
    assertThrowsCode(req(""), TrackerError, "passkey_missing");
    assertThrowsCode(req(`/announce?passkey=${"0".repeat(32)}`), TrackerError, "passkey_invalid");
    // Accounting over UDP: started counts, then positive deltas; a refused announce counts nothing.
    const user = pm.users.get("udp")!;
    const peerId = new Uint8Array(20).fill(7);
    const counted = (uploaded: number, downloaded: number, isStarted: boolean, urlData = `/announce?passkey=${pk}`) =>
      pm.checkUdp({
        type: "announce",
        infoHashes: [HASH_A],
        urlData: bytes(urlData),
        ip,
        announce: { peerId, uploaded, downloaded, isStarted },
      });
    counted(10, 5, true);
    counted(110, 5, false);
    assertThrowsCode(() => counted(5_000, 5_000, false, ""), TrackerError, "passkey_missing");
    deepEqual(pm.accounting.pending(user.id), { uploaded: 110, downloaded: 5 });
  } finally {
    t.close();
    db.close();
  }
});

Deno.test("btool tracker user add|list|revoke|rotate, torrent-for and unregister on the db", async () => {
  await withTempDir(async (dir) => {
    const db = ["--db", `${dir}/t.db`];
    const add = await runBtool(["tracker", "user", "add", "frank", ...db, "--url", "http://tracker.example:6969"]);
    equal(add.code, 0, add.stderr);
    const url = add.stdout.trim().split("\n").at(-1)!;
    ok(/^http:\/\/tracker\.example:6969\/announce\?passkey=[0-9a-f]{32}$/.test(url), url);
    equal((await runBtool(["tracker", "user", "add", "frank", ...db])).code, 1);
    const { bytes } = buildTorrent({
      data: new Uint8Array(1000),
      top: { announce: "http://tracker.example:6969/announce" },
    });
    await Deno.writeFile(`${dir}/in.torrent`, bytes);
    const tf = await runBtool([
      "tracker",
      "torrent-for",
      "frank",
      `${dir}/in.torrent`,
      "-o",
      `${dir}/out.torrent`,
      ...db,
    ]);
    equal(tf.code, 0, tf.stderr);
    const out = await parseMetainfo(await Deno.readFile(`${dir}/out.torrent`));
    equal(out.announce, url);
    equal(out.infoHash.hex, (await parseMetainfo(bytes)).infoHash.hex);
    const rotated = await runBtool(["tracker", "user", "rotate", "frank", ...db]);
    ok(!rotated.stdout.includes(url.slice(-32)));
    equal((await runBtool(["tracker", "user", "revoke", "frank", ...db])).code, 0);
    const list = JSON.parse((await runBtool(["tracker", "user", "list", "--json", ...db])).stdout);
    deepEqual(list.map((u: { name: string; isRevoked: boolean }) => [u.name, u.isRevoked]), [["frank", true]]);
    ok(!JSON.stringify(list).includes("passkey"));
    const handle = TrackerDb.open(`${dir}/t.db`);
    handle.registerTorrent({ infoHashHex: toHex(HASH_A) }, 1);
    handle.close();
    const un = await runBtool(["tracker", "unregister", toHex(HASH_A), ...db]);
    ok(un.stdout.startsWith("unregistered"), un.stdout);
    equal((await runBtool(["tracker", "user", "frob", ...db])).code, 2);
  });
});

Deno.test("private tracker: a background snapshot hands accounting to a background save, which then commits", async () => {
  const t = start({ isPrivate: true, accountingFlushIntervalMs: 0 });
  try {
    await api(t.base, "POST", "/api/users", { name: "fay" });
    const id = t.db.getUser("fay")!.id;
    // More counters than one chunk holds, so that the save needs several event-loop turns.
    const peers = ACCOUNTING_CHUNK_ENTRIES + 10;
    for (let i = 0; i < peers; i++) {
      const pid = new Uint8Array(20);
      new DataView(pid.buffer).setUint32(0, i);
      t.tracker.privateMode.accounting.record(id, HASH_A, pid, {
        uploaded: 2,
        downloaded: 0,
        isStarted: true,
        nowMs: 1,
      });
    }
    await t.tracker.snapshotInBackground();
    // Not written inside the snapshot's last turn: the save runs on turns of its own.
    ok(t.tracker.privateMode.isFlushing, "a background save runs");
    equal(t.db.getUser("fay")!.uploaded, 0);
    for (let turns = 0; turns < 1_000 && t.tracker.privateMode.isFlushing; turns++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    equal(t.db.getUser("fay")!.uploaded, 2 * peers);
  } finally {
    await t.close();
  }
});
