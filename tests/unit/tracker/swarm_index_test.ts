// SwarmIndex (info hash → swarm) and the peer-id tables (peer id → record position), without a store.

import { equal, ok } from "../../_helpers/assert.ts";
import { seededRandom } from "../../_helpers/random.ts";
import { ID_WORDS, REC_WORDS, RecordArena, Swarm, W_ID } from "../../../lib/tracker/swarm_arena.ts";
import {
  findPeer,
  INDEX_MIN_PEERS,
  longestPeerProbe,
  rebuildTable,
  SwarmIndex,
  tableDelete,
} from "../../../lib/tracker/swarm_index.ts";

function hashOf(n: number): Uint8Array {
  const h = new Uint8Array(20);
  new DataView(h.buffer).setUint32(16, n);
  h[0] = 0xee;
  return h;
}

Deno.test("SwarmIndex finds every swarm while thousands are added and deleted", () => {
  const index = new SwarmIndex();
  const swarms = new Map<number, Swarm>();
  for (let n = 0; n < 5000; n++) {
    const swarm = new Swarm(hashOf(n), 0);
    index.add(swarm);
    swarms.set(n, swarm);
  }
  for (let n = 0; n < 5000; n += 3) {
    index.delete(swarms.get(n)!);
    swarms.delete(n);
  }
  for (let n = 0; n < 5000; n++) equal(index.get(hashOf(n)), swarms.get(n), `hash ${n}`);
  equal(index.get(Uint8Array.from([1, 2, ...hashOf(7)]), 2), swarms.get(7), "at an offset");
  ok(index.longestProbe() < 40, `longest probe ${index.longestProbe()}`);
});

/** A swarm of `n` records in `arena` whose ids are 5 random words each; returns the ids. */
function swarmOf(arena: RecordArena, n: number, random: () => number): { swarm: Swarm; ids: Uint32Array[] } {
  const swarm = new Swarm(hashOf(1), 0);
  let cap = 2;
  while (cap < n) cap *= 2;
  arena.place(swarm, cap);
  const ids: Uint32Array[] = [];
  for (let i = 0; i < n; i++) {
    const id = Uint32Array.from({ length: ID_WORDS }, () => Math.floor(random() * 2 ** 32));
    swarm.rec.set(id, swarm.base + i * REC_WORDS + W_ID);
    ids.push(id);
  }
  swarm.n = n;
  return { swarm, ids };
}

Deno.test("findPeer() finds every peer by scan or table, and nobody else", () => {
  const random = seededRandom(5);
  const arena = new RecordArena(4096, 4);
  for (const n of [5, INDEX_MIN_PEERS + 1, 1000]) {
    const { swarm, ids } = swarmOf(arena, n, random);
    rebuildTable(swarm);
    equal(swarm.table === null, n <= INDEX_MIN_PEERS / 2);
    for (let i = 0; i < n; i++) equal(findPeer(swarm, ids[i]!), i);
    equal(findPeer(swarm, Uint32Array.from([1, 2, 3, 4, 5])), -1);
    if (swarm.table !== null) ok(longestPeerProbe(swarm) < 40, `${n} peers: probe ${longestPeerProbe(swarm)}`);
    arena.release(swarm);
  }
});

Deno.test("tableDelete() keeps every other peer findable (backward-shift deletion)", () => {
  const seed = 11;
  const random = seededRandom(seed);
  const arena = new RecordArena(4096, 4);
  const { swarm, ids } = swarmOf(arena, 600, random);
  rebuildTable(swarm);
  const table = swarm.table!;
  // Delete cells only (the records stay, so positions stay valid): a deleted id is gone, the rest are found.
  const gone = new Set<number>();
  for (let k = 0; k < 300; k++) {
    const pos = Math.floor(random() * 600);
    if (gone.has(pos)) continue;
    tableDelete(swarm, table, pos);
    gone.add(pos);
  }
  for (let i = 0; i < 600; i++) {
    const found = findPeer(swarm, ids[i]!);
    // With a table, a lookup answers from the table alone: a deleted cell's id is not found.
    equal(found, gone.has(i) ? -1 : i, `seed ${seed}, position ${i}`);
  }
});
