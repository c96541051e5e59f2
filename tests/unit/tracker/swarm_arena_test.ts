// RecordArena (buddy allocator of record blocks) and Ipv6Slab, without a store.

import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { assertThrowsCode } from "../../_helpers/assert.ts";
import { seededRandom } from "../../_helpers/random.ts";
import { TrackerError } from "../../../lib/errors.ts";
import {
  capFor,
  Ipv6Slab,
  MAX_ORDER,
  MIN_CAP,
  REC_WORDS,
  RecordArena,
  Swarm,
} from "../../../lib/tracker/swarm_arena.ts";

const HASH = new Uint8Array(20).fill(0xf3);

Deno.test("RecordArena.place() hands out blocks aligned to their size that never overlap; free() merges them back", () => {
  const seed = 20261205;
  const random = seededRandom(seed);
  const arena = new RecordArena(1 << 17, 1000);
  const live: Swarm[] = [];
  for (let step = 0; step < 4000; step++) {
    if (live.length > 0 && random() < 0.45) {
      const k = Math.floor(random() * live.length);
      arena.release(live[k]!);
      live.splice(k, 1);
      continue;
    }
    const swarm = new Swarm(HASH, 0);
    arena.place(swarm, capFor(1 + Math.floor(random() ** 3 * 2000)));
    live.push(swarm);
    const off = swarm.base / REC_WORDS;
    equal(off % swarm.cap, 0, `seed ${seed}, step ${step}: aligned`);
    equal(swarm.hbase, arena.cap * REC_WORDS + off * 2, "hot words at the same record offset");
  }
  const spans = live.map((s) => [s.base / REC_WORDS, s.base / REC_WORDS + s.cap] as const).sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) ok(spans[i - 1]![1] <= spans[i]![0], `seed ${seed}: blocks overlap`);
  for (const swarm of live) arena.release(swarm);
  // Everything merged back: a whole arena's worth of largest blocks fits again, from offset 0.
  const tops: Swarm[] = [];
  for (let k = 0; k < arena.cap >>> MAX_ORDER; k++) {
    const swarm = new Swarm(HASH, 0);
    arena.place(swarm, 1 << MAX_ORDER);
    tops.push(swarm);
  }
  deepEqual(tops.map((s) => s.base / REC_WORDS).sort((a, b) => a - b).slice(0, 2), [0, 1 << MAX_ORDER]);
  assertThrowsCode(() => arena.place(new Swarm(HASH, 0), MIN_CAP), TrackerError, "tracker_full");
});

Deno.test("RecordArena.place() gives a block larger than the largest order an array of its own", () => {
  const arena = new RecordArena(16, 4);
  const swarm = new Swarm(HASH, 0);
  arena.place(swarm, 1 << (MAX_ORDER + 1));
  equal(swarm.order, -1);
  equal(swarm.base, 0);
  ok(swarm.rec !== arena.words);
  arena.release(swarm);
  equal(swarm.rec.length, 0);
});

Deno.test("Ipv6Slab stores, compares and gives back addresses, and reuses a freed slot", () => {
  const slab = new Ipv6Slab();
  const a = Uint8Array.from({ length: 16 }, (_, i) => 0xf0 + i);
  const b = new Uint8Array(16).fill(0x20);
  const ka = slab.alloc(a);
  const kb = slab.alloc(b);
  deepEqual(slab.bytes(ka), a);
  deepEqual(slab.bytes(kb), b);
  ok(slab.isAt(ka, a) && !slab.isAt(ka, b));
  slab.free(ka);
  equal(slab.alloc(b), ka);
  for (let n = 0; n < 200; n++) slab.alloc(a); // grows past its first 64 slots
  deepEqual(slab.bytes(kb), b);
});

Deno.test("Swarm keeps its info hash as words and gives it back byte-exactly", () => {
  const hash = Uint8Array.from({ length: 20 }, (_, i) => 0xff - i * 7);
  const swarm = new Swarm(Uint8Array.from([9, 9, ...hash]), 2);
  deepEqual(swarm.infoHash(), hash);
  equal(capFor(1), MIN_CAP);
  equal(capFor(33), 64);
});
