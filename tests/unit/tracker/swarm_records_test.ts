// Snapshot records written from a swarm's block and read back, and the export cursor, without a store.

import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { assertThrowsCode } from "../../_helpers/assert.ts";
import { TrackerError } from "../../../lib/errors.ts";
import { RecordArena, Swarm } from "../../../lib/tracker/swarm_arena.ts";
import { PeerRecords } from "../../../lib/tracker/swarm_peers.ts";
import {
  ExportCursor,
  exportSwarmRecords,
  isSameInfoHash,
  readRecordIp,
  SWARM_RECORD_BYTES,
  SwarmRecordFlag,
  writeSwarmRecords,
} from "../../../lib/tracker/swarm_records.ts";

const HASH = Uint8Array.from({ length: 20 }, (_, i) => 0x80 + i);

function swarmWith(ips: Uint8Array[]) {
  const arena = new RecordArena(64, 4);
  const records = new PeerRecords(arena, 64);
  const swarm = new Swarm(HASH, 0);
  arena.place(swarm, 2);
  ips.forEach((ip, k) => {
    records.loadWantId(new Uint8Array(20).fill(k + 1));
    const i = records.upsertAt(swarm, -1, ip, 6881 + k, k === 0 ? 0 : 2 ** 40 + k, 1_700_000_000 + k);
    if (k === 1) records.bindKey(swarm, i, 0xdeadbeef);
    if (k === 0) records.markCounted(swarm, i);
  });
  return { swarm, records };
}

Deno.test("writeSwarmRecords() writes each field where SWARM_RECORD_BYTES's layout says", () => {
  const v6 = Uint8Array.from({ length: 16 }, (_, i) => 0x20 + i);
  const { swarm, records } = swarmWith([new Uint8Array([192, 0, 2, 1]), v6]);
  const out = new Uint8Array(2 * SWARM_RECORD_BYTES);
  const view = new DataView(out.buffer);
  writeSwarmRecords(swarm, records.v6, view, 0);
  const seeder = out.subarray(0, SWARM_RECORD_BYTES);
  const keyed = out.subarray(SWARM_RECORD_BYTES);
  deepEqual(seeder.subarray(0, 20), HASH);
  deepEqual(seeder.subarray(20, 40), new Uint8Array(20).fill(1));
  deepEqual([...seeder.subarray(40, 56)], [192, 0, 2, 1, ...new Array(12).fill(0)]);
  equal(view.getUint16(56, true), 6881);
  deepEqual([seeder[58], seeder[59]], [SwarmRecordFlag.CompletionCounted, 0]);
  equal(view.getUint32(60, true), 1_700_000_000);
  equal(view.getUint32(72, true), 0, "no key");
  deepEqual(keyed.subarray(40, 56), v6);
  equal(keyed[58], SwarmRecordFlag.Ipv6 | SwarmRecordFlag.Keyed);
  equal(
    view.getUint32(SWARM_RECORD_BYTES + 64, true) + view.getUint32(SWARM_RECORD_BYTES + 68, true) * 2 ** 32,
    2 ** 40 + 1,
  );
  equal(view.getUint32(SWARM_RECORD_BYTES + 72, true), 0xdeadbeef);
  // Read back.
  ok(isSameInfoHash(view, 0, SWARM_RECORD_BYTES));
  const ip4 = new Uint8Array(4), ip6 = new Uint8Array(16);
  deepEqual(readRecordIp(out, 0, ip4, ip6), new Uint8Array([192, 0, 2, 1]));
  deepEqual(readRecordIp(out, SWARM_RECORD_BYTES, ip4, ip6), v6);
  out[SWARM_RECORD_BYTES + 19]! ^= 1;
  ok(!isSameInfoHash(view, 0, SWARM_RECORD_BYTES));
});

Deno.test("exportSwarmRecords() hands a swarm larger than the buffer out over several calls, then is done", () => {
  const { swarm, records } = swarmWith([1, 2, 3].map((k) => new Uint8Array([10, 0, 0, k])));
  const cursor = new ExportCursor({}, [swarm][Symbol.iterator]());
  const parts: number[] = [];
  const out = new Uint8Array(2 * SWARM_RECORD_BYTES + 5);
  for (let n; (n = exportSwarmRecords(cursor, out, records.v6)) > 0;) parts.push(n);
  deepEqual(parts, [2 * SWARM_RECORD_BYTES, SWARM_RECORD_BYTES]);
  equal(cursor.records, 3);
  ok(cursor.isDone);
  assertThrowsCode(
    () => exportSwarmRecords(cursor, new Uint8Array(SWARM_RECORD_BYTES - 1), records.v6),
    TrackerError,
    "bad_buffer",
  );
});
