// WriteQueue (lib/peer/_write_queue.ts) over an in-memory connection: messages leave in order, those queued behind a
// write are coalesced into batches of at most MAX_WRITE_BATCH_BYTES, the byte cap refuses a peer that does not read,
// and a failed write or close() fails what waits. No sockets.

import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { concat } from "../../../lib/bytes.ts";
import { MAX_WRITE_BATCH_BYTES, MAX_WRITE_QUEUE_BYTES, WriteQueue } from "../../../lib/peer/_write_queue.ts";
import { FakeConn } from "./_fake_conn.ts";

const KIB = 1024;

function fill(length: number, value: number): Uint8Array {
  return new Uint8Array(length).fill(value);
}

Deno.test("WriteQueue writes the first message at once and coalesces those queued behind it, in order", async () => {
  const fake = new FakeConn();
  const q = new WriteQueue(fake.conn, () => {});
  const done = [
    q.push([Uint8Array.of(1)]),
    q.push([Uint8Array.of(2), Uint8Array.of(3)]), // one message in two parts (a header and its block)
    q.push([Uint8Array.of(4)]),
  ];
  ok(q.isWriting);
  equal(q.queuedBytes, 3, "the first message is already with the socket");
  await Promise.all(done);
  deepEqual(fake.written.map((w) => [...w]), [[1], [2, 3, 4]]);
  equal(q.queuedBytes, 0);
  equal(q.isWriting, false);
});

Deno.test("WriteQueue cuts coalesced writes at MAX_WRITE_BATCH_BYTES; a larger message is written whole", async () => {
  const fake = new FakeConn();
  const q = new WriteQueue(fake.conn, () => {});
  const sizes = [1, 100 * KIB, 100 * KIB, 100 * KIB, 300 * KIB, 10];
  const messages = sizes.map((n, i) => fill(n, i));
  await Promise.all(messages.map((m) => q.push([m])));
  deepEqual(fake.written.map((w) => w.length), [1, 200 * KIB, 100 * KIB, 300 * KIB, 10]);
  for (const w of fake.written) ok(w.length <= MAX_WRITE_BATCH_BYTES || w.length === 300 * KIB);
  deepEqual(concat(fake.written), concat(messages), "every byte, in order");
});

Deno.test("WriteQueue.push() refuses past MAX_WRITE_QUEUE_BYTES while messages wait; one huge message alone is taken", () => {
  const fake = new FakeConn();
  fake.isBlocked = true; // the peer does not read
  const q = new WriteQueue(fake.conn, () => {});
  const first = q.push([fill(10, 0)]); // with the socket, blocked
  ok(first !== null);
  const half = MAX_WRITE_QUEUE_BYTES / 2;
  const a = q.push([fill(half, 1)]);
  const b = q.push([fill(half, 2)]);
  ok(a !== null && b !== null);
  equal(q.queuedBytes, MAX_WRITE_QUEUE_BYTES);
  equal(q.push([Uint8Array.of(3)]), null, "one byte more is refused");
  equal(q.queuedBytes, MAX_WRITE_QUEUE_BYTES);
  const err = new Error("dropped");
  for (const p of [first, a, b]) p.catch(() => {});
  q.close(err);
  equal(q.queuedBytes, 0);
  // Nothing queued: a message bigger than the cap (a huge bitfield) is still taken.
  const idle = new WriteQueue(new FakeConn().conn, () => {});
  ok(idle.push([fill(MAX_WRITE_QUEUE_BYTES + 1, 4)]) !== null);
  fake.conn.close();
});

Deno.test("WriteQueue: a failed write fails its batch and tells onError; close() fails what still waits", async () => {
  const fake = new FakeConn();
  fake.isBlocked = true;
  const errors: unknown[] = [];
  const q = new WriteQueue(fake.conn, (err) => errors.push(err));
  const first = q.push([Uint8Array.of(1)])!;
  const second = q.push([Uint8Array.of(2)])!;
  const firstOutcome = first.then(() => "written", (e: unknown) => e);
  const secondOutcome = second.then(() => "written", (e: unknown) => e);
  fake.conn.close(); // the blocked write fails
  const failure = await firstOutcome;
  ok(failure instanceof Deno.errors.BadResource);
  deepEqual(errors, [failure]);
  const closing = new Error("peer dropped");
  q.close(closing);
  equal(await secondOutcome, closing);
  equal(fake.written.length, 0);
});
