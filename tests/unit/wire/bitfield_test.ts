import { fromHex, toHex } from "../../../lib/bytes.ts";
import { WireError } from "../../../lib/errors.ts";
import { Bitfield } from "../../../lib/wire/bitfield.ts";
import { assertThrowsCode, deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { seededRandom } from "../../_helpers/random.ts";
import { readFixture } from "../../_helpers/tmp.ts";

Deno.test("Bitfield.fromBytes() decodes the golden bitfield: high bit of byte 0 is piece 0", () => {
  const json = JSON.parse(new TextDecoder().decode(readFixture("wire/messages.json")));
  const msg = json.messages.find((m: { type: string }) => m.type === "bitfield");
  const field = Bitfield.fromBytes(fromHex(msg.bytesHex)!, json.pieceCount);
  deepEqual([...field.setIndexes()], [0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15, 16, 18]);
  equal(field.count, 14);
  equal(toHex(field.toBytes()), msg.bytesHex);
});

Deno.test("Bitfield set/has keep the count", () => {
  const f = new Bitfield(10);
  ok(f.isEmpty);
  equal(f.set(3), true);
  equal(f.set(3), false);
  equal(f.set(9), true);
  equal(f.count, 2);
  ok(f.has(3) && f.has(9) && !f.has(4));
  equal(f.has(10), false);
  equal(f.has(-1), false);
  equal(toHex(f.toBytes()), "1040");
});

Deno.test("Bitfield with isFull leaves spare bits zero", () => {
  const f = new Bitfield(10, { isFull: true });
  ok(f.isComplete);
  equal(toHex(f.toBytes()), "ffc0");
  deepEqual([...f.setIndexes()], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  ok(new Bitfield(0).isComplete);
  ok(new Bitfield(16, { isFull: true }).isComplete);
  equal(toHex(new Bitfield(16, { isFull: true }).toBytes()), "ffff");
});

Deno.test("Bitfield refuses indexes out of range", () => {
  const f = new Bitfield(10);
  assertThrowsCode(() => f.set(10), WireError, "bitfield_index");
  assertThrowsCode(() => f.set(-1), WireError, "bitfield_index");
  assertThrowsCode(() => f.set(1.5), WireError, "bitfield_index");
});

Deno.test("Bitfield.fromBytes() refuses wrong lengths and set spare bits", () => {
  assertThrowsCode(() => Bitfield.fromBytes(new Uint8Array(1), 10), WireError, "bitfield_length");
  assertThrowsCode(() => Bitfield.fromBytes(new Uint8Array(3), 10), WireError, "bitfield_length");
  assertThrowsCode(() => Bitfield.fromBytes(new Uint8Array([0, 0x20]), 10), WireError, "bitfield_spare_bits");
  assertThrowsCode(() => Bitfield.fromBytes(new Uint8Array([0, 0x01]), 10), WireError, "bitfield_spare_bits");
  equal(Bitfield.fromBytes(new Uint8Array([0, 0x40]), 10).count, 1);
  equal(Bitfield.fromBytes(new Uint8Array(0), 0).count, 0);
});

Deno.test("Bitfield.fromBytes() copies its input", () => {
  const bytes = new Uint8Array([0xfe]);
  const f = Bitfield.fromBytes(bytes, 8);
  bytes[0] = 0;
  equal(f.count, 7);
  const g = f.clone();
  f.set(7);
  ok(f.isComplete && !g.isComplete);
});

Deno.test("Bitfield round trips random sets (seeded)", () => {
  const seed = 11;
  const random = seededRandom(seed);
  for (let round = 0; round < 200; round++) {
    const n = Math.floor(random() * 100);
    const f = new Bitfield(n);
    const want = new Set<number>();
    for (let i = 0; i < n; i++) {
      if (random() < 0.5) {
        f.set(i);
        want.add(i);
      }
    }
    const g = Bitfield.fromBytes(f.toBytes(), n);
    deepEqual([...g.setIndexes()], [...want].sort((a, b) => a - b), `seed ${seed} round ${round}`);
    equal(g.count, want.size);
  }
});
