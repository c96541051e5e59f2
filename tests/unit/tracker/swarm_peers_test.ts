// PeerRecords: a swarm's block keeps seeders first, stays dense, keeps its peer-id table and the counts in step.

import { deepEqual, equal } from "../../_helpers/assert.ts";
import { assertThrowsCode } from "../../_helpers/assert.ts";
import { seededRandom } from "../../_helpers/random.ts";
import { TrackerError } from "../../../lib/errors.ts";
import { H_PORT, HOT_WORDS, RecordArena, Swarm } from "../../../lib/tracker/swarm_arena.ts";
import { findPeer } from "../../../lib/tracker/swarm_index.ts";
import { PeerRecords } from "../../../lib/tracker/swarm_peers.ts";

const IP = new Uint8Array([10, 0, 0, 1]);

function id(n: number): Uint8Array {
  const b = new Uint8Array(20).fill(0x41);
  new DataView(b.buffer).setUint32(16, n);
  return b;
}

function portAt(swarm: Swarm, i: number): number {
  return swarm.rec[swarm.hbase + i * HOT_WORDS + H_PORT]! & 0xffff;
}

Deno.test("PeerRecords.upsertAt()/removeAt() keep seeders first and match a model under seeded churn", () => {
  const seed = 77;
  const random = seededRandom(seed);
  const arena = new RecordArena(10_000, 4);
  const peers = new PeerRecords(arena, 10_000);
  const swarm = new Swarm(new Uint8Array(20), 0);
  arena.place(swarm, 2);
  const model = new Map<number, number>(); // peer → left
  for (let step = 0; step < 5000; step++) {
    const n = Math.floor(random() * 150);
    peers.loadWantId(id(n));
    const at = findPeer(swarm, peers.wantId);
    if (random() < 0.3) {
      if (at >= 0) peers.removeAt(swarm, at);
      model.delete(n);
    } else {
      const left = random() < 0.4 ? 0 : 1 + Math.floor(random() * 1e6);
      const i = peers.upsertAt(swarm, at, IP, n + 1, left, 1000);
      equal(portAt(swarm, i), n + 1, `seed ${seed}, step ${step}: position returned`);
      model.set(n, left);
    }
    if (step % 50 === 0 || step === 4999) {
      const seeders = [...model.values()].filter((l) => l === 0).length;
      equal(swarm.n, model.size, `seed ${seed}, step ${step}`);
      equal(swarm.nSeed, seeders, `seed ${seed}, step ${step}`);
      equal(peers.peerCount, model.size);
      equal(peers.seederCount, seeders);
      for (const [k, left] of model) {
        peers.loadWantId(id(k));
        const i = findPeer(swarm, peers.wantId);
        equal(portAt(swarm, i), k + 1, `seed ${seed}, step ${step}: peer ${k} found`);
        equal(i < swarm.nSeed, left === 0, `seed ${seed}, step ${step}: peer ${k} on its side`);
      }
    }
  }
});

Deno.test("PeerRecords.upsertAt() refuses a new peer past the store's cap, and updates known ones", () => {
  const arena = new RecordArena(2, 1);
  const peers = new PeerRecords(arena, 2);
  const swarm = new Swarm(new Uint8Array(20), 0);
  arena.place(swarm, 2);
  for (const n of [1, 2]) {
    peers.loadWantId(id(n));
    peers.upsertAt(swarm, -1, IP, n, 5, 0);
  }
  peers.loadWantId(id(3));
  assertThrowsCode(() => peers.upsertAt(swarm, -1, IP, 3, 5, 0), TrackerError, "tracker_full");
  peers.loadWantId(id(2));
  const i = peers.upsertAt(swarm, findPeer(swarm, peers.wantId), IP, 2, 0, 0);
  deepEqual([i, swarm.nSeed, peers.wasLeecher], [0, 1, true]);
});
