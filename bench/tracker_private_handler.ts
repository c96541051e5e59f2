// In-process cost of private mode per announce (issue #6), no sockets: the tracker's handler open vs
// `--listed --private` on bench/tracker_private.lua's request mix (1,000 registered torrents, 100 members, passkey in
// every announce, a new random peer id each time), rounds interleaved, median of 3; then Accounting.record alone
// against a Map<string, object> of last counters (the previous design) on the same announces.
// Run: deno run -A bench/tracker_private_handler.ts [--requests 100000] [--prefill 100000]

import { percentEncode, toHex } from "../lib/bytes.ts";
import { TrackerDb } from "../lib/persist/db.ts";
import { key20 } from "../lib/tracker/access.ts";
import { createTracker, type Tracker } from "../lib/tracker/server.ts";
import { Accounting } from "../lib/tracker/member_accounting.ts";
import { Users } from "../lib/tracker/users.ts";
import { benchArgs, median, randomPeerIdTail, xorshift } from "./_common.ts";

const TORRENTS = 1_000;
const MEMBERS = 100;

function makeUrls(count: number, o: { hashes: string[]; passkeys: string[]; random: () => number }): string[] {
  const { hashes, passkeys, random } = o;
  const urls: string[] = [];
  for (let n = 0; n < count; n++) {
    const id = randomPeerIdTail(random);
    const left = random() < 0.25 ? "0" : "1048576";
    urls.push(
      `http://127.0.0.1:6969/announce?passkey=${passkeys[(random() * passkeys.length) | 0]}` +
        `&info_hash=${hashes[(random() * hashes.length) | 0]}&peer_id=-WR0001-${id}` +
        `&port=${1024 + ((random() * 64000) | 0)}&uploaded=${(random() * 1e6) | 0}&downloaded=0&left=${left}` +
        `&compact=1&numwant=50`,
    );
  }
  return urls;
}

const INFO = { remoteAddr: { hostname: "127.0.0.1", port: 40000 } };

async function timeHandler(tracker: Tracker, urls: string[]): Promise<number> {
  // Requests are built before the clock starts: Deno.serve hands the handler a ready Request.
  const reqs = urls.map((u) => new Request(u));
  const t0 = performance.now();
  let bytes = 0;
  for (const r of reqs) bytes += (await (await tracker.handler(r, INFO)).arrayBuffer()).byteLength;
  if (bytes === 0) throw new Error("no replies");
  return (performance.now() - t0) * 1000 / urls.length;
}

/** The previous accounting design: a Map keyed by key20 strings with one object per (user, torrent, peer). */
function mapRecorder(): (userId: number, ih: Uint8Array, pid: Uint8Array, up: number, nowMs: number) => void {
  const peers = new Map<string, { userId: number; lastUploaded: number; lastDownloaded: number; lastSeenMs: number }>();
  const dirty = new Set<string>();
  const pending = new Map<number, { uploaded: number; downloaded: number }>();
  return (userId, ih, pid, up, nowMs) => {
    const key = key20(ih) + key20(pid) + userId;
    const e = peers.get(key);
    let d = 0;
    if (e === undefined) {
      if (peers.size < 250_000) {
        peers.set(key, { userId, lastUploaded: up, lastDownloaded: 0, lastSeenMs: nowMs });
        dirty.add(key);
      }
    } else {
      d = up >= e.lastUploaded ? up - e.lastUploaded : up;
      e.lastUploaded = up;
      e.lastSeenMs = nowMs;
      dirty.add(key);
    }
    if (d === 0) return;
    const t = pending.get(userId);
    if (t === undefined) pending.set(userId, { uploaded: d, downloaded: 0 });
    else t.uploaded += d;
  };
}

if (import.meta.main) {
  const { requests, prefill } = benchArgs({ requests: 100_000, prefill: 100_000 });
  const random = xorshift(7);
  const rawHashes = Array.from({ length: TORRENTS }, () => {
    const h = new Uint8Array(20);
    for (let i = 0; i < 20; i++) h[i] = (random() * 256) | 0;
    return h;
  });
  const hashes = rawHashes.map(percentEncode);
  const privateDb = TrackerDb.open(":memory:");
  privateDb.registerTorrents(rawHashes.map((h) => ({ infoHashHex: toHex(h) })), 0);
  const users = new Users(privateDb);
  const members = Array.from({ length: MEMBERS }, (_, i) => users.add(`member${i}`, 0));
  const passkeys = members.map((m) => m.passkeyHex);
  const openDb = TrackerDb.open(":memory:");
  const common = { adminToken: "bench", snapshotIntervalS: 0, sweepIntervalMs: 0, random, privatePollIntervalMs: 0 };
  const open = createTracker({ db: openDb, ...common });
  const priv = createTracker({ db: privateDb, ...common, isListed: true, isPrivate: true });
  const mix = { hashes, passkeys, random };
  try {
    const prefillUrls = makeUrls(prefill, mix);
    for (const t of [open, priv]) await timeHandler(t, prefillUrls);
    const times = { open: [] as number[], priv: [] as number[] };
    for (let round = 0; round < 3; round++) {
      const urls = makeUrls(requests, mix);
      times.open.push(await timeHandler(open, urls));
      times.priv.push(await timeHandler(priv, urls));
    }
    const o = median(times.open);
    const p = median(times.priv);
    console.log(
      `tracker-private-handler: ${requests} announces/round, ${priv.privateMode.accounting.size} accounted peers` +
        ` (machine shared: noisy)\n  open ${o.toFixed(2)} µs, listed+private ${p.toFixed(2)} µs per announce:` +
        ` +${(p - o).toFixed(2)} µs, rate ratio ${(o / p).toFixed(2)}` +
        ` (rounds open ${times.open.map((t) => t.toFixed(2)).join(", ")};` +
        ` private ${times.priv.map((t) => t.toFixed(2)).join(", ")})`,
    );
  } finally {
    open.close();
    priv.close();
    openDb.close();
  }

  // Accounting.record alone: up to 200k new peers per round (every announce a new peer id), then the same again.
  const n = 200_000;
  const ids = Array.from({ length: n }, () => {
    const p = new Uint8Array(20);
    for (let i = 0; i < 20; i++) p[i] = (random() * 256) | 0;
    return p;
  });
  const who = Array.from({ length: n }, () => members[(random() * MEMBERS) | 0]!.id);
  const what = Array.from({ length: n }, () => rawHashes[(random() * TORRENTS) | 0]!);
  const acc = { table: [] as number[], map: [] as number[], tableAgain: [] as number[], mapAgain: [] as number[] };
  for (let round = 0; round < 3; round++) {
    const a = new Accounting(privateDb, { sinceMs: Number.MAX_SAFE_INTEGER });
    const m = mapRecorder();
    for (
      const [fresh, again, record] of [
        [
          acc.table,
          acc.tableAgain,
          (i: number, up: number) => a.record(who[i]!, what[i]!, ids[i]!, { uploaded: up, downloaded: 0, nowMs: i }),
        ],
        [acc.map, acc.mapAgain, (i: number, up: number) => m(who[i]!, what[i]!, ids[i]!, up, i)],
      ] as const
    ) {
      let t0 = performance.now();
      for (let i = 0; i < n; i++) record(i, i);
      fresh.push((performance.now() - t0) * 1000 / n);
      t0 = performance.now();
      for (let i = 0; i < n; i++) record(i, i + 1000);
      again.push((performance.now() - t0) * 1000 / n);
    }
  }
  console.log(
    `accounting.record, ${n} peers: new peers ${median(acc.table).toFixed(3)} µs (Map of objects ` +
      `${median(acc.map).toFixed(3)} µs); known peers ${median(acc.tableAgain).toFixed(3)} µs (Map ` +
      `${median(acc.mapAgain).toFixed(3)} µs)`,
  );
  privateDb.close();
}
