// PeerSampler over a swarm built by hand: never the asker, no seeders for a seeder, distinct peers, right bytes.

import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { seededRandom } from "../../_helpers/random.ts";
import { RecordArena, Swarm } from "../../../lib/tracker/swarm_arena.ts";
import { PeerRecords } from "../../../lib/tracker/swarm_peers.ts";
import { EMPTY_BYTES, PeerSampler, type SampledPeers } from "../../../lib/tracker/swarm_sample.ts";

/** A swarm of `seeders` seeders then `leechers` leechers; peer k has port 1000 + k and address 10.0.k>>8.k&255, or an
 * IPv6 address when `isV6(k)`. */
function build(seeders: number, leechers: number, isV6: (k: number) => boolean = () => false) {
  const arena = new RecordArena(4096, 4);
  const records = new PeerRecords(arena, 4096);
  const swarm = new Swarm(new Uint8Array(20), 0);
  arena.place(swarm, 2);
  for (let k = 0; k < seeders + leechers; k++) {
    const id = new Uint8Array(20);
    new DataView(id.buffer).setUint32(0, k + 1);
    records.loadWantId(id);
    const ip = isV6(k) ? Uint8Array.from({ length: 16 }, (_, b) => (b === 15 ? k & 0xff : 0x20)) : new Uint8Array([
      10,
      0,
      k >> 8,
      k & 0xff,
    ]);
    records.upsertAt(swarm, -1, ip, 1000 + k, k < seeders ? 0 : 7, 0);
  }
  return { swarm, sampler: new PeerSampler(200, records.v6) };
}

function ports4(peers: Uint8Array): number[] {
  const out: number[] = [];
  for (let at = 0; at < peers.length; at += 6) out.push((peers[at + 4]! << 8) | peers[at + 5]!);
  return out;
}

const fresh = (): SampledPeers => ({ peers4: EMPTY_BYTES, peers6: EMPTY_BYTES });

Deno.test("PeerSampler.sample() takes numWant distinct peers, never the asker, no seeders for a seeder", () => {
  const { swarm, sampler } = build(300, 700);
  const random = seededRandom(21);
  for (let round = 0; round < 200; round++) {
    const self = Math.floor(random() * swarm.n);
    const isSeeder = self < swarm.nSeed;
    const out = fresh();
    sampler.sample(swarm, self, isSeeder, 50, { random }, out);
    const got = ports4(out.peers4).map((p) => p - 1000);
    equal(got.length, 50);
    equal(new Set(got).size, 50, "distinct");
    ok(!got.includes(self), "not the asker");
    if (isSeeder) ok(got.every((k) => k >= 300), "no seeder for a seeder");
  }
});

Deno.test("PeerSampler.sample() of a small swarm gives everyone eligible, with the right bytes and ids", () => {
  const { swarm, sampler } = build(2, 3, (k) => k === 4);
  const out = fresh();
  sampler.sample(swarm, 2, false, 50, { random: seededRandom(1), withPeerIds: true }, out);
  deepEqual(ports4(out.peers4).sort(), [1000, 1001, 1003]);
  deepEqual([...out.peers4.subarray(0, 4)], [10, 0, 0, 0]);
  equal(out.peers6.length, 18);
  equal(out.peers6[15], 4);
  equal((out.peers6[16]! << 8) | out.peers6[17]!, 1004);
  equal(out.peerIds4!.length, 60);
  equal(new DataView(out.peerIds6!.buffer).getUint32(0), 5);
  // A seeder asking gets the leechers only.
  const seed = fresh();
  sampler.sample(swarm, 0, true, 50, { random: seededRandom(1) }, seed);
  deepEqual(ports4(seed.peers4).sort(), [1002, 1003]);
});
