// HashList: one hash per swarm run of exported records, also when a swarm continues into the next chunk; the counting
// sort orders by the first two bytes; hexes are the hashes.

import { deepEqual, equal } from "../../_helpers/assert.ts";
import { toHex } from "../../../lib/bytes.ts";
import { HashList } from "../../../lib/tracker/hash_list.ts";
import { SWARM_RECORD_BYTES } from "../../../lib/tracker/swarm_store.ts";
import { filledStore, hashOf } from "./_swarms.ts";

const T0 = 1_700_000_000_000;

Deno.test("HashList.addFromRecords() takes one hash per swarm, across chunk boundaries", () => {
  const store = filledStore(40, 3, T0);
  const cursor = store.exportCursor();
  // Chunks of 5 records: most swarms (3 records each) straddle a boundary.
  const out = new Uint8Array(5 * SWARM_RECORD_BYTES);
  const list = new HashList();
  for (;;) {
    const n = store.exportRecords(cursor, out);
    if (n === 0) break;
    list.addFromRecords(out.subarray(0, n));
  }
  equal(list.count, 40);
  const order = list.sortedOrder();
  const hexes = list.hexes(order, 0, list.count);
  deepEqual(new Set(hexes), new Set(Array.from({ length: 40 }, (_, n) => toHex(hashOf(n)))));
});

Deno.test("HashList.sortedOrder() orders by the first two bytes and grows past its first buffer", () => {
  const list = new HashList();
  const records = new Uint8Array(3_000 * SWARM_RECORD_BYTES);
  for (let i = 0; i < 3_000; i++) {
    const at = i * SWARM_RECORD_BYTES;
    records[at] = (3_000 - i) >> 8;
    records[at + 1] = (3_000 - i) & 0xff;
    records[at + 19] = 1;
  }
  list.addFromRecords(records);
  equal(list.count, 3_000);
  const firstTwo = [...list.sortedOrder()].map((i) => 3_000 - i);
  deepEqual(firstTwo, [...firstTwo].sort((a, b) => a - b));
});
