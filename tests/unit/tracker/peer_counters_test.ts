// PeerCounters, the typed-array table of last counters: against a naive Map, under forced collisions, growth and cap.

import { toHex } from "../../../lib/bytes.ts";
import { ACCOUNTING_RECORD_BYTES } from "../../../lib/tracker/member_accounting.ts";
import { PeerCounters } from "../../../lib/tracker/peer_counters.ts";
import { randomBytes, seededRandom } from "../../_helpers/random.ts";
import { deepEqual, equal, ok } from "../../_helpers/assert.ts";

/** `user:infoHashHex:peerIdHex` of entry `e`, read back through its accounting record. */
function entryKey(table: PeerCounters, e: number): string {
  const record = new Uint8Array(ACCOUNTING_RECORD_BYTES);
  table.writeRecord(e, new DataView(record.buffer), 0);
  return `${table.userIdAt(e)}:${toHex(record.subarray(8, 28))}:${toHex(record.subarray(28, 48))}`;
}

interface ModelEntry {
  e: number;
  uploaded: number;
  downloaded: number;
  lastSeenMs: number;
  isDirty: boolean;
}

/** Random operations on PeerCounters and on a naive Map; both must agree after every step. */
function compareWithModel(seed: number, options: { maxEntries: number; hashMask?: number; steps: number }) {
  const random = seededRandom(seed);
  // Keys are views at odd offsets into one buffer: the table must not assume aligned bytes.
  const buffer = randomBytes(random, 41 * 40 + 1);
  const hashes = Array.from({ length: 4 }, (_, i) => buffer.subarray(1 + i * 20, 21 + i * 20));
  const peers = Array.from({ length: 30 }, (_, i) => buffer.subarray(81 + i * 20, 101 + i * 20));
  hashes.push(new Uint8Array(20)); // all-zero key
  const userIds = [1, 2, 3, 2 ** 33 + 1];
  const table = new PeerCounters(
    options.maxEntries,
    options.hashMask === undefined ? {} : { hashMask: options.hashMask },
  );
  const model = new Map<string, ModelEntry>();
  const keyOf = (u: number, ih: Uint8Array, pid: Uint8Array) => `${u}:${toHex(ih)}:${toHex(pid)}`;
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
  for (let step = 0; step < options.steps; step++) {
    const r = random();
    const nowMs = step;
    if (r < 0.8) {
      const u = pick(userIds);
      const ih = pick(hashes);
      const pid = pick(peers);
      const key = keyOf(u, ih, pid);
      const m = model.get(key);
      const e = table.find(u, ih, pid);
      const up = Math.floor(random() * 2 ** 40);
      const down = Math.floor(random() * 1000);
      if (m === undefined) {
        equal(e, -1, `seed ${seed} step ${step}: found a key never inserted`);
        const isDirty = random() < 0.5;
        const added = table.insert(u, ih, pid, { uploaded: up, downloaded: down, lastSeenMs: nowMs, isDirty });
        if (model.size >= options.maxEntries) equal(added, -1, `seed ${seed} step ${step}: past the cap`);
        else {
          ok(added >= 0, `seed ${seed} step ${step}: insert refused below the cap`);
          model.set(key, { e: added, uploaded: up, downloaded: down, lastSeenMs: nowMs, isDirty });
        }
      } else {
        ok(e >= 0, `seed ${seed} step ${step}: lost a key`);
        equal(table.uploadedAt(e), m.uploaded, `seed ${seed} step ${step}`);
        equal(table.downloadedAt(e), m.downloaded, `seed ${seed} step ${step}`);
        equal(table.lastSeenMsAt(e), m.lastSeenMs, `seed ${seed} step ${step}`);
        equal(table.userIdAt(e), u, `seed ${seed} step ${step}`);
        table.update(e, up, down, nowMs);
        Object.assign(m, { uploaded: up, downloaded: down, lastSeenMs: nowMs, isDirty: true });
      }
    } else if (r < 0.9) {
      const before = nowMs - Math.floor(random() * 200);
      let n = 0;
      for (const [k, m] of model) {
        if (m.lastSeenMs < before && !m.isDirty) {
          model.delete(k);
          n++;
        }
      }
      equal(table.expire(before), n, `seed ${seed} step ${step}: expired count`);
    } else if (r < 0.95) {
      table.clearDirty();
      for (const m of model.values()) m.isDirty = false;
    } else {
      equal(table.size, model.size, `seed ${seed} step ${step}: size`);
      const dirty = [...table.dirtyEntries()].map((e) => entryKey(table, e)).sort();
      deepEqual(dirty, [...model].filter(([, m]) => m.isDirty).map(([k]) => k).sort(), `seed ${seed} step ${step}`);
    }
  }
  equal(table.size, model.size, `seed ${seed}: final size`);
  ok(table.size <= options.maxEntries);
}

Deno.test("PeerCounters agrees with a naive Map over seeded random inserts, updates, expiries and flushes", () => {
  for (let seed = 1; seed <= 8; seed++) {
    compareWithModel(seed, { maxEntries: seed % 2 === 0 ? 40 : 10_000, steps: 2_000 });
  }
});

Deno.test("PeerCounters stays correct when every key collides (probe runs, backward-shift deletion)", () => {
  for (let seed = 100; seed < 110; seed++) {
    compareWithModel(seed, { maxEntries: 200, hashMask: 3, steps: 2_000 });
  }
});

Deno.test("PeerCounters grows past its first size and never holds more than its cap", () => {
  const table = new PeerCounters(3_000);
  const ih = new Uint8Array(20).fill(9);
  const pid = new Uint8Array(20);
  for (let i = 0; i < 5_000; i++) {
    new DataView(pid.buffer).setUint32(0, i);
    equal(table.find(1, ih, pid), -1);
    const e = table.insert(1, ih, pid, { uploaded: i, downloaded: 0, lastSeenMs: i, isDirty: false });
    equal(e >= 0, i < 3_000);
  }
  equal(table.size, 3_000);
  for (let i = 0; i < 5_000; i++) {
    new DataView(pid.buffer).setUint32(0, i);
    const e = table.find(1, ih, pid);
    equal(e >= 0 ? table.uploadedAt(e) : -1, i < 3_000 ? i : -1);
  }
  equal(table.expire(1_000), 1_000);
  equal(table.size, 2_000);
});
