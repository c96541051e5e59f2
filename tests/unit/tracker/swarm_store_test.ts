import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { assertThrowsCode } from "../../_helpers/assert.ts";
import { seededRandom } from "../../_helpers/random.ts";
import { TrackerError } from "../../../lib/errors.ts";
import type { AnnounceEvent, AnnounceRequest } from "../../../lib/tracker/announce.ts";
import { toHex } from "../../../lib/bytes.ts";
import {
  INDEX_MIN_PEERS,
  MemorySwarmStore,
  SWARM_RECORD_BYTES,
  SwarmRecordFlag,
} from "../../../lib/tracker/swarm_store.ts";

const HASH = new Uint8Array(20).fill(7);
const IP = new Uint8Array([127, 0, 0, 1]);
const T0 = 1_700_000_000_000;

function id(n: number): Uint8Array {
  const b = new TextEncoder().encode("-XX0001-000000000000");
  b[19] = n & 0xff;
  b[18] = (n >> 8) & 0xff;
  b[17] = (n >> 16) & 0xff;
  return b;
}

function req(
  n: number,
  options: { left?: number; event?: AnnounceEvent; numWant?: number; hash?: Uint8Array; key?: number } = {},
) {
  const r: AnnounceRequest = {
    infoHash: options.hash ?? HASH,
    peerId: id(n),
    port: 10_000 + n,
    uploaded: 0,
    downloaded: 0,
    left: options.left ?? 100,
    event: options.event ?? "none",
    numWant: options.numWant ?? 50,
    isCompact: true,
    isNoPeerId: false,
  };
  if (options.key !== undefined) r.key = options.key;
  return r;
}

function ports(peers4: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < peers4.length; i += 6) out.push((peers4[i + 4]! << 8) | peers4[i + 5]!);
  return out.sort((a, b) => a - b);
}

const opts = (nowMs = T0, ip = IP) => ({ ip, nowMs, random: seededRandom(3) });

Deno.test("MemorySwarmStore.announce() adds peers, counts them and never returns the asker", () => {
  const store = new MemorySwarmStore();
  const first = store.announce(req(1), opts());
  equal(first.isNewSwarm, true);
  equal(first.incomplete, 1);
  equal(first.peers4.length, 0);
  store.announce(req(2, { left: 0 }), opts());
  const third = store.announce(req(3), opts());
  equal(third.complete, 1);
  equal(third.incomplete, 2);
  deepEqual(ports(third.peers4), [10_001, 10_002]);
  const again = store.announce(req(1), opts());
  equal(again.isNewSwarm, false);
  deepEqual(ports(again.peers4), [10_002, 10_003]);
  deepEqual(store.totals(), { torrents: 1, peers: 3, seeders: 1, leechers: 2, completed: 0 });
});

const ELSEWHERE = new Uint8Array([127, 0, 0, 9]);

Deno.test("MemorySwarmStore.announce() from another address cannot stop, complete or move a peer (#19)", () => {
  const store = new MemorySwarmStore();
  store.announce(req(1), opts(T0, IP));
  // The attack: the same peer id from 127.0.0.9 with event=stopped used to remove the peer.
  const stop = store.announce(req(1, { event: "stopped" }), opts(T0, ELSEWHERE));
  equal(stop.incomplete, 1, "the peer is still counted");
  deepEqual(ports(store.announce(req(3), opts()).peers4), [10_001], "a third peer still gets it");
  for (const event of ["completed", "none", "started"] as const) {
    assertThrowsCode(
      () => store.announce(req(1, { event, left: 0 }), opts(T0, ELSEWHERE)),
      TrackerError,
      "peer_id_taken",
    );
  }
  const [peer] = store.peersOf(HASH).filter((p) => p.port === 10_001);
  deepEqual([...peer!.ip], [...IP], "not moved");
  equal(peer!.left, 100, "not made a seeder");
  deepEqual(store.totals(), { torrents: 1, peers: 2, seeders: 0, leechers: 2, completed: 0 });
  // From its own address the peer still does what it likes.
  equal(store.announce(req(1, { event: "completed", left: 0 }), opts(T0, IP)).isNewlyCompleted, true);
  equal(store.announce(req(1, { event: "stopped" }), opts(T0, IP)).complete, 0);
  equal(store.totals().peers, 1);
});

Deno.test("MemorySwarmStore.announce() with the peer's key follows it to a new address (#19)", () => {
  const store = new MemorySwarmStore();
  store.announce(req(1, { key: 0xabcd }), opts(T0, IP));
  store.announce(req(1, { key: 0xabcd }), opts(T0 + 1000, ELSEWHERE));
  const peers = store.peersOf(HASH);
  equal(peers.length, 1, "one entry, not two");
  deepEqual([...peers[0]!.ip], [...ELSEWHERE]);
  equal(peers[0]!.lastSeenMs, T0 + 1000);
  // Key 0 is a key like any other (UDP clients send it); an IPv6 move works the same.
  const v6 = new Uint8Array(16).fill(0x20);
  store.announce(req(2, { key: 0 }), opts(T0, IP));
  store.announce(req(2, { key: 0 }), opts(T0, v6));
  equal(store.announce(req(2, { key: 0, event: "stopped" }), opts(T0, ELSEWHERE)).incomplete, 1);
  equal(store.totals().peers, 1);
});

Deno.test("MemorySwarmStore.announce() without the peer's key is refused, from any address (#19)", () => {
  const store = new MemorySwarmStore();
  store.announce(req(1, { key: 7 }), opts(T0, IP));
  for (const ip of [IP, ELSEWHERE]) {
    assertThrowsCode(
      () => store.announce(req(1, { key: 8, event: "completed", left: 0 }), opts(T0, ip)),
      TrackerError,
      "peer_id_taken",
    );
    assertThrowsCode(
      () => store.announce(req(1, { event: "completed", left: 0 }), opts(T0, ip)),
      TrackerError,
      "peer_id_taken",
    );
    equal(store.announce(req(1, { key: 8, event: "stopped" }), opts(T0, ip)).incomplete, 1);
    equal(store.announce(req(1, { event: "stopped" }), opts(T0, ip)).incomplete, 1);
  }
  deepEqual(store.totals(), { torrents: 1, peers: 1, seeders: 0, leechers: 1, completed: 0 });
  // A peer that first came without a key binds the key it sends later from its own address.
  store.announce(req(2), opts(T0, IP));
  store.announce(req(2, { key: 9 }), opts(T0, IP));
  assertThrowsCode(() => store.announce(req(2), opts(T0, IP)), TrackerError, "peer_id_taken");
  store.announce(req(2, { key: 9 }), opts(T0, ELSEWHERE));
  deepEqual([...store.peersOf(HASH).find((p) => p.port === 10_002)!.ip], [...ELSEWHERE]);
});

Deno.test("MemorySwarmStore keeps a peer's key through exportRecords() → importRecords() and peers() (#19)", () => {
  const store = new MemorySwarmStore();
  store.announce(req(1, { key: 0xfeedbeef }), opts(T0, IP));
  store.announce(req(2), opts(T0, IP));
  const out = new Uint8Array(1 << 16);
  const n = store.exportRecords(store.exportCursor(), out);
  const back = new MemorySwarmStore();
  equal(back.importRecords(out.subarray(0, n)), 2);
  const again = new MemorySwarmStore();
  for (const p of store.peers()) again.restorePeer(p);
  for (const s of [back, again]) {
    assertThrowsCode(() => s.announce(req(1, { key: 1 }), opts(T0, IP)), TrackerError, "peer_id_taken");
    assertThrowsCode(() => s.announce(req(2), opts(T0, ELSEWHERE)), TrackerError, "peer_id_taken");
    s.announce(req(1, { key: 0xfeedbeef }), opts(T0, ELSEWHERE));
    deepEqual([...s.peersOf(HASH).find((p) => p.port === 10_001)!.ip], [...ELSEWHERE]);
  }
});

Deno.test("MemorySwarmStore.announce() gives seeders no seeders", () => {
  const store = new MemorySwarmStore();
  for (let n = 1; n <= 5; n++) store.announce(req(n, { left: 0 }), opts());
  store.announce(req(6), opts());
  const seed = store.announce(req(7, { left: 0 }), opts());
  deepEqual(ports(seed.peers4), [10_006]);
  const leech = store.announce(req(6), opts());
  equal(ports(leech.peers4).length, 6);
});

Deno.test("MemorySwarmStore.announce() samples numWant distinct random peers from a large swarm", () => {
  const store = new MemorySwarmStore();
  for (let n = 0; n < 500; n++) store.announce(req(n, { numWant: 0 }), opts());
  const r = store.announce(req(0, { numWant: 50 }), opts());
  const got = ports(r.peers4);
  equal(got.length, 50);
  equal(new Set(got).size, 50);
  ok(!got.includes(10_000));
  const zero = store.announce(req(0, { numWant: 0 }), opts());
  equal(zero.peers4.length, 0);
  equal(zero.incomplete, 500);
});

Deno.test("MemorySwarmStore.announce() samples a large mixed IPv4/IPv6 swarm: each peer once, right family, right bytes", () => {
  const store = new MemorySwarmStore();
  const ip6 = (n: number) => Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...new Array(10).fill(0), n >> 8, n & 0xff]);
  const ip4 = (n: number) => Uint8Array.from([10, 0, n >> 8, n & 0xff]);
  // Every third peer on IPv6: whole sampled blocks mix both families.
  for (let n = 0; n < 300; n++) store.announce(req(n, { numWant: 0 }), opts(T0, n % 3 === 0 ? ip6(n) : ip4(n)));
  for (let round = 0; round < 20; round++) {
    const r = store.announce(req(0, { numWant: 60 }), { ip: ip6(0), nowMs: T0, random: seededRandom(round) });
    const seen = new Set<number>();
    for (let i = 0; i < r.peers4.length; i += 6) {
      const port = (r.peers4[i + 4]! << 8) | r.peers4[i + 5]!;
      const n = port - 10_000;
      ok(n % 3 !== 0, `IPv6 peer ${n} in peers4`);
      deepEqual([...r.peers4.subarray(i, i + 4)], [...ip4(n)]);
      seen.add(n);
    }
    for (let i = 0; i < r.peers6.length; i += 18) {
      const port = (r.peers6[i + 16]! << 8) | r.peers6[i + 17]!;
      const n = port - 10_000;
      ok(n % 3 === 0 && n !== 0, `peer ${n} in peers6`);
      deepEqual([...r.peers6.subarray(i, i + 16)], [...ip6(n)]);
      seen.add(n);
    }
    equal(r.peers4.length / 6 + r.peers6.length / 18, 60);
    equal(seen.size, 60);
  }
});

Deno.test("MemorySwarmStore.announce() with stopped removes the peer and empty swarms", () => {
  const store = new MemorySwarmStore();
  store.announce(req(1), opts());
  store.announce(req(2), opts());
  const r = store.announce(req(1, { event: "stopped" }), opts());
  equal(r.incomplete, 1);
  equal(r.peers4.length, 0);
  store.announce(req(2, { event: "stopped" }), opts());
  equal(store.totals().torrents, 0);
  equal(store.announce(req(9, { event: "stopped" }), opts()).incomplete, 0);
});

Deno.test("MemorySwarmStore.announce() counts completed once per peer; the count outlives the swarm where it is persisted", () => {
  // The persisted counts, kept as the tracker does: +1 for each isNewlyCompleted.
  const persisted = new Map<string, number>();
  const store = new MemorySwarmStore({ completedOf: (h) => persisted.get(toHex(h)) ?? 0 });
  const announce = (r: AnnounceRequest) => {
    const s = store.announce(r, opts());
    if (s.isNewlyCompleted) persisted.set(toHex(r.infoHash), (persisted.get(toHex(r.infoHash)) ?? 0) + 1);
    return s;
  };
  equal(announce(req(1, { left: 0, event: "completed" })).isNewlyCompleted, true);
  equal(announce(req(1, { left: 0, event: "completed" })).isNewlyCompleted, false);
  equal(announce(req(2, { left: 0, event: "completed" })).isNewlyCompleted, true);
  announce(req(1, { event: "stopped" }));
  announce(req(2, { event: "stopped" }));
  equal(store.totals().torrents, 0, "the swarm goes with its last peer (#19)");
  deepEqual(store.scrape(HASH), { complete: 0, downloaded: 2, incomplete: 0 });
  // A new swarm for the torrent starts from the persisted count.
  announce(req(3, { left: 0, event: "completed" }));
  deepEqual(store.scrape(HASH), { complete: 1, downloaded: 3, incomplete: 0 });
});

Deno.test("MemorySwarmStore: swarms of event=completed from strangers expire, and the torrent cap empties again (#19)", () => {
  const store = new MemorySwarmStore({ maxTorrents: 100, peerTimeoutS: 60 });
  const random = seededRandom(19);
  const randomHash = () => Uint8Array.from({ length: 20 }, () => Math.floor(random() * 256));
  for (let n = 0; n < 100; n++) {
    const s = store.announce(req(n, { hash: randomHash(), left: 0, event: "completed" }), opts(T0));
    equal(s.isNewlyCompleted, true);
  }
  assertThrowsCode(() => store.announce(req(0, { hash: randomHash() }), opts(T0)), TrackerError, "tracker_full");
  // Nobody announces again: an expiry after the peer timeout leaves no swarm, whatever its completed count.
  store.expire(T0 + 61_000);
  equal(store.totals().torrents, 0);
  equal(store.totals().peers, 0);
  for (let n = 0; n < 100; n++) store.announce(req(n, { hash: randomHash() }), opts(T0 + 62_000));
  equal(store.totals().torrents, 100, "new torrents are accepted again");
});

Deno.test("MemorySwarmStore.announce() moves a peer between leechers and seeders", () => {
  const store = new MemorySwarmStore();
  store.announce(req(1), opts());
  deepEqual(store.scrape(HASH), { complete: 0, downloaded: 0, incomplete: 1 });
  store.announce(req(1, { left: 0 }), opts());
  deepEqual(store.scrape(HASH), { complete: 1, downloaded: 1, incomplete: 0 });
  store.announce(req(1, { left: 5 }), opts());
  deepEqual(store.totals(), { torrents: 1, peers: 1, seeders: 0, leechers: 1, completed: 1 });
});

Deno.test("MemorySwarmStore puts IPv6 peers in peers6 and returns peer ids on request", () => {
  const store = new MemorySwarmStore();
  const v6 = new Uint8Array(16);
  v6[15] = 1;
  store.announce(req(1), opts(T0, v6));
  store.announce(req(2), opts());
  const r = store.announce(req(3), { ...opts(), withPeerIds: true });
  equal(r.peers4.length, 6);
  equal(r.peers6.length, 18);
  deepEqual(r.peers6.subarray(0, 16), v6);
  deepEqual(r.peerIds6, id(1));
  deepEqual(r.peerIds4, id(2));
});

Deno.test("MemorySwarmStore.expire() drops silent peers incrementally with an injected clock", () => {
  const store = new MemorySwarmStore({ peerTimeoutS: 100 });
  const other = new Uint8Array(20).fill(9);
  for (let n = 0; n < 10; n++) store.announce(req(n), opts(T0));
  for (let n = 0; n < 10; n++) store.announce(req(n, { hash: other }), opts(T0 + 50_000));
  equal(store.expire(T0 + 99_000), 0);
  let dropped = 0;
  // A small budget sweeps a swarm at a time; repeated calls finish the job.
  for (let i = 0; i < 4; i++) dropped += store.expire(T0 + 101_000, 5);
  equal(dropped, 10);
  deepEqual(store.totals(), { torrents: 1, peers: 10, seeders: 0, leechers: 10, completed: 0 });
  equal(store.expire(T0 + 151_000), 10);
  equal(store.totals().torrents, 0);
});

Deno.test("MemorySwarmStore keeps an index for large swarms and survives churn", () => {
  const store = new MemorySwarmStore();
  const random = seededRandom(11);
  const live = new Set<number>();
  for (let step = 0; step < 5000; step++) {
    const n = Math.floor(random() * (INDEX_MIN_PEERS * 3));
    if (random() < 0.3) {
      store.announce(req(n, { event: "stopped" }), opts());
      live.delete(n);
    } else {
      store.announce(req(n, { numWant: 5 }), opts());
      live.add(n);
    }
    if (step % 500 === 0) equal(store.totals().peers, live.size);
  }
  equal(store.totals().peers, live.size);
  deepEqual(store.peersOf(HASH).map((p) => p.port - 10_000).sort((a, b) => a - b), [...live].sort((a, b) => a - b));
});

Deno.test("MemorySwarmStore.peers() round-trips through restorePeer() with last-seen times", () => {
  const store = new MemorySwarmStore();
  store.announce(req(1, { left: 0, event: "completed" }), opts(T0));
  store.announce(req(2), opts(T0 + 5000));
  store.setCompleted(HASH, 7);
  const copy = new MemorySwarmStore();
  for (const p of store.peers()) copy.restorePeer(p);
  copy.setCompleted(HASH, 7);
  deepEqual([...copy.peers()], [...store.peers()]);
  deepEqual(copy.scrape(HASH), { complete: 1, downloaded: 7, incomplete: 1 });
  // The restored completion flag still counts once.
  equal(copy.announce(req(1, { left: 0, event: "completed" }), opts()).isNewlyCompleted, false);
});

Deno.test("MemorySwarmStore refuses new peers and torrents beyond its caps", () => {
  const store = new MemorySwarmStore({ maxPeers: 2, maxTorrents: 1 });
  store.announce(req(1), opts());
  store.announce(req(2), opts());
  store.announce(req(2), opts());
  assertThrowsCode(() => store.announce(req(3), opts()), TrackerError, "tracker_full");
  assertThrowsCode(
    () => store.announce(req(1, { hash: new Uint8Array(20) }), opts()),
    TrackerError,
    "tracker_full",
  );
});

Deno.test("MemorySwarmStore grows its slab past the initial capacity", () => {
  const store = new MemorySwarmStore();
  for (let n = 0; n < 3000; n++) {
    const hash = new Uint8Array(20);
    hash[0] = n % 100;
    store.announce(req(n, { hash, numWant: 3 }), opts());
  }
  equal(store.totals().peers, 3000);
  equal(store.totals().torrents, 100);
  const hash = new Uint8Array(20);
  equal(store.peersOf(hash).length, 30);
});

Deno.test("MemorySwarmStore counts a leecher that reaches left=0 without the completed event, once", () => {
  const store = new MemorySwarmStore();
  store.announce(req(1, { event: "started" }), opts());
  equal(store.announce(req(1, { left: 0 }), opts()).isNewlyCompleted, true);
  equal(store.announce(req(1, { left: 0, event: "completed" }), opts()).isNewlyCompleted, false);
  // aria2c with --seed-time=0: started as a leecher, then only "stopped" with left=0.
  store.announce(req(2, { event: "started" }), opts());
  equal(store.announce(req(2, { left: 0, event: "stopped" }), opts()).isNewlyCompleted, true);
  // A seeder from the start, or a leecher stopping early, is no download.
  store.announce(req(3, { left: 0 }), opts());
  equal(store.announce(req(3, { left: 0, event: "stopped" }), opts()).isNewlyCompleted, false);
  store.announce(req(4), opts());
  equal(store.announce(req(4, { left: 50, event: "stopped" }), opts()).isNewlyCompleted, false);
  equal(store.scrape(HASH).downloaded, 2);
});

Deno.test("MemorySwarmStore matches a naive model under seeded random churn (swap-remove, index, expiry)", () => {
  const seed = 20261122;
  const random = seededRandom(seed);
  const store = new MemorySwarmStore({ peerTimeoutS: 100 });
  const hashes = [1, 2, 3].map((k) => new Uint8Array(20).fill(k));
  type ModelPeer = { port: number; left: number; seenS: number; ip: Uint8Array };
  const model = hashes.map(() => new Map<number, ModelPeer>());
  let nowMs = T0;
  const ip6 = new Uint8Array(16).fill(0x20);
  for (let step = 0; step < 6000; step++) {
    const h = Math.floor(random() * hashes.length);
    const n = Math.floor(random() * INDEX_MIN_PEERS * 4);
    const swarm = model[h]!;
    const r = random();
    const msg = `seed ${seed}, step ${step}`;
    if (r < 0.02) {
      nowMs += 30_000;
      store.expire(nowMs);
      const cutoffS = Math.floor(nowMs / 1000) - 100;
      for (const m of model) for (const [k, p] of m) if (p.seenS < cutoffS) m.delete(k);
    } else if (r < 0.25) {
      store.announce(req(n, { hash: hashes[h]!, event: "stopped", key: n }), opts(nowMs));
      swarm.delete(n);
    } else {
      const left = random() < 0.4 ? 0 : 1 + Math.floor(random() * 1e12);
      const ip = random() < 0.1 ? ip6 : IP;
      const numWant = Math.floor(random() * 60);
      // Peers move between families, as a keyed client may (#19).
      const s = store.announce(req(n, { hash: hashes[h]!, left, numWant, key: n }), opts(nowMs, ip));
      swarm.set(n, { port: 10_000 + n, left, seenS: Math.floor(nowMs / 1000), ip });
      const seeders = [...swarm.values()].filter((p) => p.left === 0).length;
      equal(s.complete, seeders, msg);
      equal(s.incomplete, swarm.size - seeders, msg);
      const got = [...ports(s.peers4), ...ports6(s.peers6)].map((p) => p - 10_000);
      const eligible = [...swarm].filter(([k, p]) => k !== n && !(left === 0 && p.left === 0)).map(([k]) => k);
      equal(got.length, Math.min(numWant, eligible.length), msg);
      equal(new Set(got).size, got.length, msg);
      for (const k of got) ok(eligible.includes(k), `${msg}: peer ${k} is not eligible`);
    }
    if (step % 97 === 0) {
      for (let k = 0; k < hashes.length; k++) {
        const expected = [...model[k]!].map(([id, p]) => [id, p.left, p.ip.length]).sort((a, b) => a[0]! - b[0]!);
        const actual = store.peersOf(hashes[k]!).map((p) => [p.port - 10_000, p.left, p.ip.length])
          .sort((a, b) => a[0]! - b[0]!);
        deepEqual(actual, expected, msg);
      }
    }
  }
  const total = model.reduce((a, m) => a + m.size, 0);
  equal(store.totals().peers, total);
});

function ports6(peers6: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < peers6.length; i += 18) out.push((peers6[i + 16]! << 8) | peers6[i + 17]!);
  return out;
}

Deno.test("MemorySwarmStore moves a swarm past the arena's largest block to its own array and back", () => {
  const store = new MemorySwarmStore({ peerTimeoutS: 100 });
  const count = 70_000;
  for (let n = 0; n < count; n++) {
    const r = req(n, { numWant: 0 });
    r.port = 1 + (n % 65_535);
    store.announce(r, opts(n < 100 ? T0 + 200_000 : T0));
  }
  equal(store.totals().peers, count);
  const s = store.announce(req(5, { numWant: 50 }), opts(T0 + 200_000));
  equal(ports(s.peers4).length, 50);
  equal(s.peers6.length, 0);
  equal(store.expire(T0 + 200_000), count - 100);
  deepEqual(ports(store.announce(req(5, { numWant: 200 }), opts(T0 + 200_000)).peers4).length, 99);
  equal(store.peersOf(HASH).length, 100);
});

Deno.test("MemorySwarmStore.announce() samples every eligible peer about equally often", () => {
  const store = new MemorySwarmStore();
  for (let n = 0; n < 200; n++) store.announce(req(n, { numWant: 0 }), opts());
  const hits = new Array<number>(200).fill(0);
  const random = seededRandom(99);
  for (let round = 0; round < 2000; round++) {
    const s = store.announce(req(0, { numWant: 20 }), { ip: IP, nowMs: T0, random });
    for (const p of ports(s.peers4)) hits[p - 10_000]!++;
  }
  equal(hits[0], 0);
  // Expected 2000 * 20 / 199 ≈ 201 per peer.
  const others = hits.slice(1);
  ok(Math.min(...others) > 120 && Math.max(...others) < 300, `hits ${Math.min(...others)}..${Math.max(...others)}`);
});

Deno.test("MemorySwarmStore.announce() samples leechers for a seeder about equally often, seeders never", () => {
  // 13 seeders (not a whole 8-peer block) and 190 leechers, mixed in arrival order, with some churn between them.
  const store = new MemorySwarmStore();
  for (let n = 0; n < 203; n++) store.announce(req(n, { numWant: 0, left: n % 15 === 0 ? 0 : 100 }), opts());
  for (let n = 1; n < 203; n += 40) {
    store.announce(req(n, { numWant: 0, left: 0 }), opts()); // leecher → seeder
    store.announce(req(n, { numWant: 0 }), opts()); // and back
  }
  const seeders = new Set(Array.from({ length: 203 }, (_, n) => n).filter((n) => n % 15 === 0));
  equal(seeders.size, 14);
  const hits = new Array<number>(203).fill(0);
  const random = seededRandom(7);
  for (let round = 0; round < 2000; round++) {
    const s = store.announce(req(0, { numWant: 20, left: 0 }), { ip: IP, nowMs: T0, random });
    equal(s.complete, 14);
    equal(s.incomplete, 189);
    for (const p of ports(s.peers4)) hits[p - 10_000]!++;
  }
  for (const n of seeders) equal(hits[n], 0, `seeder ${n} was handed to a seeder`);
  // Expected 2000 * 20 / 189 ≈ 212 per leecher.
  const leechers = hits.filter((_, n) => !seeders.has(n));
  ok(
    Math.min(...leechers) > 120 && Math.max(...leechers) < 320,
    `hits ${Math.min(...leechers)}..${Math.max(...leechers)}`,
  );
});

Deno.test("MemorySwarmStore finds every swarm by hash while thousands come and go (index growth and deletion)", () => {
  const store = new MemorySwarmStore();
  const random = seededRandom(11);
  const hashes = Array.from({ length: 5000 }, () => Uint8Array.from({ length: 20 }, () => (random() * 256) | 0));
  // Hashes that differ in one byte only, at either end.
  for (let k = 0; k < 64; k++) {
    const h = new Uint8Array(20).fill(0x5a);
    h[k & 1 ? 0 : 19] = k;
    hashes.push(h);
  }
  const hash = (n: number) => hashes[n]!;
  const live = new Map<number, number>();
  for (let round = 0; round < 4; round++) {
    for (let n = 0; n < hashes.length; n++) {
      const peers = live.get(n) ?? 0;
      if ((n + round) % 3 === 0 && peers > 0) {
        for (let p = 0; p < peers; p++) store.announce(req(p, { hash: hash(n), event: "stopped" }), opts());
        live.delete(n);
      } else if ((n * 7 + round) % 5 !== 0) {
        store.announce(req(peers, { hash: hash(n), numWant: 0 }), opts());
        live.set(n, peers + 1);
      }
    }
    for (let n = 0; n < hashes.length; n++) {
      equal(store.scrape(hash(n)).incomplete, live.get(n) ?? 0, `round ${round}, swarm ${n}`);
    }
    equal(store.totals().torrents, live.size);
    equal(store.totals().peers, [...live.values()].reduce((a, b) => a + b, 0));
  }
});

Deno.test("MemorySwarmStore gives info hashes back byte-exactly, high bits included (swarms, peers, records)", () => {
  const store = new MemorySwarmStore();
  const hashes = [new Uint8Array(20).fill(0xff), new Uint8Array(20).fill(0x80), new Uint8Array(20)];
  hashes[2]!.set([0x7f, 0xff, 0xff, 0xff, 0x80, 0, 0, 0], 12);
  for (const [n, hash] of hashes.entries()) store.announce(req(n, { hash, numWant: 0 }), opts());
  const hex = hashes.map((h) => toHex(h)).sort();
  deepEqual([...store.swarms()].map((s) => s.infoHashHex).sort(), hex);
  deepEqual([...store.peers()].map((p) => toHex(p.infoHash)).sort(), hex);
  for (const [n, hash] of hashes.entries()) deepEqual(store.peersOf(hash).map((p) => p.port), [10_000 + n]);
  const copy = new MemorySwarmStore();
  for (const chunk of exportAll(store, 1 << 16).chunks) copy.importRecords(chunk);
  deepEqual([...copy.swarms()].map((s) => s.infoHashHex).sort(), hex);
  for (const hash of hashes) equal(copy.scrape(hash).incomplete, 1);
});

Deno.test("MemorySwarmStore spreads peer ids that differ only in their first bytes (no one long probe chain)", () => {
  // Before the fix the peer-id hash read only the last 12 bytes: these 20,000 ids all shared one chain, and every
  // announce probed the whole swarm (~80 µs an announce at 40,000 peers, against ~0.7 for random ids).
  const store = new MemorySwarmStore();
  const peerId = new Uint8Array(20).fill(0x41);
  for (let n = 0; n < 20_000; n++) {
    peerId.set([n & 0xff, (n >> 8) & 0xff, 0x2d, 0x2d], 0);
    store.announce({ ...req(n, { numWant: 0 }), peerId }, opts());
  }
  equal(store.totals().peers, 20_000);
  const probes = store.longestProbes(HASH);
  // A table at most half full: runs of a few dozen cells at most (random ids give about 10-20 here).
  ok(probes.peers > 0 && probes.peers < 200, `longest peer-id probe run ${probes.peers}`);
  // Info hashes that differ in one byte only spread over the swarm index too.
  for (let n = 0; n < 5_000; n++) {
    const hash = new Uint8Array(20).fill(0x33);
    hash[19] = n & 0xff;
    hash[10] = n >> 8;
    store.announce(req(1, { hash, numWant: 0 }), opts());
  }
  const index = store.longestProbes(HASH).swarms;
  ok(index > 0 && index < 200, `longest swarm index probe run ${index}`);
});

Deno.test("MemorySwarmStore returns every arena block when swarms grow and go (no leak over many rounds)", () => {
  const store = new MemorySwarmStore({ maxPeers: 1000, maxTorrents: 1000 });
  const random = seededRandom(5);
  for (let round = 0; round < 120; round++) {
    const joined: [number, Uint8Array][] = [];
    for (let k = 0; k < 1000; k++) {
      const hash = new Uint8Array(20);
      hash[0] = Math.floor(random() * 40);
      store.announce(req(k, { hash, numWant: 3 }), opts());
      joined.push([k, hash]);
    }
    equal(store.totals().peers, 1000);
    for (const [k, hash] of joined) store.announce(req(k, { hash, event: "stopped" }), opts());
    equal(store.totals().torrents, 0, `round ${round}`);
  }
});

// --- snapshot records (exportRecords / importRecords) ---------------------------------------------------------------

function hashOf(n: number): Uint8Array {
  const h = new Uint8Array(20).fill(0x30);
  h[0] = n & 0xff;
  h[1] = (n >> 8) & 0xff;
  return h;
}

/** Every peer of `store`, with hex ids, in a stable order (positions inside a swarm may differ after a restore). */
function peerSet(store: MemorySwarmStore): string[] {
  return [...store.peers()].map((p) =>
    JSON.stringify([toHex(p.infoHash), toHex(p.peerId), [...p.ip], p.port, p.left, p.lastSeenMs, p.isCompletedCounted])
  ).sort();
}

/** Export all of `store` through a buffer of `bufferBytes`; returns the chunks (copies) and the cursor. */
function exportAll(store: MemorySwarmStore, bufferBytes: number): { chunks: Uint8Array[]; records: number } {
  const out = new Uint8Array(bufferBytes);
  const cursor = store.exportCursor();
  const chunks: Uint8Array[] = [];
  for (;;) {
    const n = store.exportRecords(cursor, out);
    if (n === 0) break;
    equal(n % SWARM_RECORD_BYTES, 0, "whole records only");
    chunks.push(out.slice(0, n));
  }
  ok(cursor.isDone);
  return { chunks, records: cursor.records };
}

/** A store with IPv4 and IPv6 peers, seeders and leechers, counted completions and a huge `left`, over 3 swarms. */
function mixedStore(): MemorySwarmStore {
  const store = new MemorySwarmStore();
  const ip6 = new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef]);
  for (let n = 1; n <= 40; n++) { // swarm 1: > INDEX_MIN_PEERS, so it has a peer id table
    const isSeeder = n % 4 === 0;
    store.announce(
      req(n, { hash: hashOf(1), left: isSeeder ? 0 : n * 1000, event: n % 8 === 0 ? "completed" : "started" }),
      opts(T0 + n * 1000, n % 5 === 0 ? ip6 : new Uint8Array([10, 0, 0, n])),
    );
  }
  store.announce(req(100, { hash: hashOf(2), left: 5 * 2 ** 40 + 3 }), opts(T0, ip6)); // left > 2^32, IPv6
  store.announce(req(101, { hash: hashOf(2), left: 2 ** 32 }), opts(T0 + 1000));
  store.announce(req(102, { hash: hashOf(3), left: 0, event: "completed" }), opts(T0));
  store.setCompleted(hashOf(3), 9);
  return store;
}

Deno.test("MemorySwarmStore.exportRecords() → importRecords() round-trips every peer and flag", () => {
  const store = mixedStore();
  // A 5-record buffer: swarm 1 (40 peers) is larger, so it is handed out from the cursor's copy over several calls.
  for (const bufferBytes of [5 * SWARM_RECORD_BYTES, 5 * SWARM_RECORD_BYTES + 7, 1 << 20]) {
    const { chunks, records } = exportAll(store, bufferBytes);
    equal(records, 43);
    const copy = new MemorySwarmStore();
    let restored = 0;
    for (const chunk of chunks) restored += copy.importRecords(chunk);
    equal(restored, 43);
    deepEqual(peerSet(copy), peerSet(store));
    // Completed counts are not part of the records (they are persisted as counters and set with setCompleted).
    deepEqual(copy.totals(), { ...store.totals(), completed: 0 });
    for (const n of [1, 2, 3]) {
      deepEqual({ ...copy.scrape(hashOf(n)), downloaded: 0 }, { ...store.scrape(hashOf(n)), downloaded: 0 });
    }
  }
});

Deno.test("MemorySwarmStore.importRecords() keeps completion flags: a restored peer's completion counts once", () => {
  const store = new MemorySwarmStore();
  store.announce(req(1, { left: 0, event: "completed" }), opts());
  store.announce(req(2, { left: 50 }), opts());
  const { chunks } = exportAll(store, 1024);
  const copy = new MemorySwarmStore();
  for (const chunk of chunks) copy.importRecords(chunk);
  copy.setCompleted(HASH, 1);
  equal(copy.announce(req(1, { left: 0, event: "completed" }), opts()).isNewlyCompleted, false);
  equal(copy.announce(req(2, { left: 0, event: "completed" }), opts()).isNewlyCompleted, true);
  equal(copy.scrape(HASH).downloaded, 2);
});

Deno.test("MemorySwarmStore snapshot records have the documented layout", () => {
  const store = new MemorySwarmStore();
  const peerId = id(7);
  store.announce(
    { ...req(7, { left: 2 ** 33 + 5, event: "completed", key: 0xc0ffee11 }), port: 0x1ae1 },
    opts(T0 + 999, new Uint8Array([192, 0, 2, 1])),
  );
  const { chunks } = exportAll(store, 1024);
  equal(chunks.length, 1);
  const r = chunks[0]!;
  equal(r.length, SWARM_RECORD_BYTES);
  const view = new DataView(r.buffer);
  deepEqual(r.subarray(0, 20), HASH);
  deepEqual(r.subarray(20, 40), peerId);
  deepEqual(r.subarray(40, 56), new Uint8Array([192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
  equal(view.getUint16(56, true), 0x1ae1);
  equal(r[58], SwarmRecordFlag.CompletionCounted | SwarmRecordFlag.Keyed);
  equal(r[59], 0);
  equal(view.getUint32(60, true), Math.floor((T0 + 999) / 1000));
  equal(view.getUint32(64, true) + view.getUint32(68, true) * 2 ** 32, 2 ** 33 + 5);
  equal(view.getUint32(72, true), 0xc0ffee11);
});

Deno.test("MemorySwarmStore.importRecords() skips stale and malformed records and ignores a partial tail", () => {
  const store = new MemorySwarmStore();
  store.announce(req(1), opts(T0));
  store.announce(req(2), opts(T0 + 60_000));
  store.announce(req(3, { hash: hashOf(9) }), opts(T0));
  const { chunks } = exportAll(store, 1024);
  const bytes = new Uint8Array(chunks[0]!.length + SWARM_RECORD_BYTES + 10);
  bytes.set(chunks[0]!);
  bytes.set(chunks[0]!.subarray(0, SWARM_RECORD_BYTES), chunks[0]!.length); // a copy of a record with port 0:
  bytes[chunks[0]!.length + 56] = 0;
  bytes[chunks[0]!.length + 57] = 0;
  const copy = new MemorySwarmStore();
  equal(copy.importRecords(bytes, { minLastSeenMs: T0 + 30_000 }), 1);
  deepEqual(copy.peersOf(HASH).map((p) => p.port), [10_002]);
  equal(copy.totals().torrents, 1, "no empty swarm is created for skipped records");
  // Restoring the same records again updates the peers in place (no duplicates).
  equal(copy.importRecords(chunks[0]!), 3);
  equal(copy.totals().peers, 3);
});

Deno.test("MemorySwarmStore.exportRecords() resumes while the store changes, each swarm copied whole", () => {
  const store = new MemorySwarmStore();
  for (let s = 1; s <= 4; s++) {
    for (let n = 1; n <= 3; n++) store.announce(req(s * 10 + n, { hash: hashOf(s) }), opts());
  }
  const out = new Uint8Array(4 * SWARM_RECORD_BYTES); // one 3-peer swarm per call
  const cursor = store.exportCursor();
  const seen: string[] = [];
  const take = () => {
    const n = store.exportRecords(cursor, out);
    for (let at = 0; at < n; at += SWARM_RECORD_BYTES) {
      seen.push(`${out[at]}:${new DataView(out.buffer).getUint16(at + 56, true)}`);
    }
    return n;
  };
  equal(take(), 3 * SWARM_RECORD_BYTES);
  // Between calls: swarm 2 gains a peer (4 no longer fits with nothing else), swarm 3 empties and is dropped,
  // a new swarm 5 appears.
  store.announce(req(24, { hash: hashOf(2) }), opts());
  for (let n = 1; n <= 3; n++) store.announce(req(30 + n, { hash: hashOf(3), event: "stopped" }), opts());
  store.announce(req(51, { hash: hashOf(5) }), opts());
  while (take() > 0);
  deepEqual(
    seen.sort(),
    [
      ...[11, 12, 13, 21, 22, 23, 24, 41, 42, 43, 51].map((n) => `${Math.floor(n / 10)}:${10_000 + n}`),
    ].sort(),
  );
  equal(cursor.records, 11);
  ok(cursor.isDone);
  equal(store.exportRecords(cursor, out), 0);
});

Deno.test("MemorySwarmStore.exportRecords() refuses another store's cursor and a buffer smaller than a record", () => {
  const store = new MemorySwarmStore();
  store.announce(req(1), opts());
  assertThrowsCode(
    () => store.exportRecords(new MemorySwarmStore().exportCursor(), new Uint8Array(1024)),
    TrackerError,
    "bad_cursor",
  );
  assertThrowsCode(
    () => store.exportRecords(store.exportCursor(), new Uint8Array(SWARM_RECORD_BYTES - 1)),
    TrackerError,
    "bad_buffer",
  );
});
