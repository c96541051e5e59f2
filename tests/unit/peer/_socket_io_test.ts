// The socket side of a PeerConnection (lib/peer/_socket_io.ts) over scripted in-memory connections: readChunk's
// buffer reuse, readRing never overwriting bytes the decoder still holds (seeded property), whole writes over short
// ones, and quiet closes. No sockets.

import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { seededRandom } from "../../_helpers/random.ts";
import {
  closeQuietly,
  READ_CHUNK_BYTES,
  READ_RING_BYTES,
  readChunk,
  type ReadRing,
  readRing,
  writeAll,
} from "../../../lib/peer/_socket_io.ts";
import { FakeConn } from "./_fake_conn.ts";

Deno.test("readChunk() copies a small read out and keeps its buffer; a large read hands the buffer over", async () => {
  const fake = new FakeConn();
  const reader: { buf: Uint8Array | null } = { buf: null };
  fake.push(Uint8Array.of(1, 2, 3));
  const small = (await readChunk(fake.conn, reader))!;
  deepEqual([...small], [1, 2, 3]);
  ok(reader.buf !== null && reader.buf.length === READ_CHUNK_BYTES, "the buffer is kept for the next read");
  ok(small.buffer !== reader.buf.buffer, "a small read is a copy, so the next read cannot overwrite it");
  const kept = reader.buf;
  fake.push(new Uint8Array(READ_CHUNK_BYTES / 2 + 1).fill(7));
  const large = (await readChunk(fake.conn, reader))!;
  equal(large.length, READ_CHUNK_BYTES / 2 + 1);
  equal(large.buffer, kept.buffer, "a large read is the kept buffer itself, handed over without a copy");
  equal(reader.buf, null, "so the next read gets a fresh one");
  deepEqual([...small], [1, 2, 3]);
  fake.end();
  equal(await readChunk(fake.conn, reader), null);
});

/** Byte i is i mod 251: any window of it, started at the right offset, says where each of its bytes came from. */
const PATTERN = Uint8Array.from({ length: 96 * 1024 + 251 }, (_, i) => i % 251);

/**
 * A scripted stream read through readRing while a decoder model holds the last `buffered` bytes as views into what
 * was read: every view must keep its bytes until consumed, across laps and fallbacks to a buffer of its own.
 */
Deno.test("readRing() never overwrites the bytes the decoder has not consumed (seeded, 3 seeds)", async () => {
  for (const seed of [1, 2, 3]) {
    const random = seededRandom(seed);
    const fake = new FakeConn();
    const ring: ReadRing = { buf: null, at: 0, lapEnd: 0 };
    let sent = 0;
    let seen = 0;
    // Unconsumed views, oldest first, with the stream offset of their first byte.
    const held: { view: Uint8Array; from: number }[] = [];
    let buffered = 0;
    let isOwnBuffer = false;
    for (let step = 0; step < 150; step++) {
      // Chunks of up to 96 KiB, each byte its stream offset mod 251.
      const n = 1 + Math.floor(random() * 96 * 1024);
      fake.push(PATTERN.subarray(sent % 251, sent % 251 + n));
      sent += n;
      while (seen < sent) {
        const got = await readRing(fake.conn, ring, buffered);
        ok(got !== null && got.length > 0, `seed ${seed} step ${step}: a read`);
        if (got.buffer !== ring.buf!.buffer) isOwnBuffer = true;
        held.push({ view: got, from: seen });
        seen += got.length;
        buffered += got.length;
        for (const h of held) {
          for (let i = 0; i < h.view.length; i += 97) {
            if (h.view[i] !== (h.from + i) % 251) throw new Error(`seed ${seed} step ${step}: held byte overwritten`);
          }
        }
      }
      // The decoder consumes a random share; sometimes nothing (a huge message being assembled).
      let consume = random() < 0.2 ? 0 : Math.floor(random() * (buffered + 1));
      buffered -= consume;
      while (consume > 0) {
        const h = held[0]!;
        if (h.view.length <= consume) {
          consume -= h.view.length;
          held.shift();
        } else {
          held[0] = { view: h.view.subarray(consume), from: h.from + consume };
          consume = 0;
        }
      }
    }
    equal(ring.buf!.length, READ_RING_BYTES);
    ok(isOwnBuffer, `seed ${seed}: the ring filled up at least once, so a read took a buffer of its own`);
  }
});

Deno.test("readRing() returns null at the end of the stream", async () => {
  const fake = new FakeConn();
  fake.end();
  equal(await readRing(fake.conn, { buf: null, at: 0, lapEnd: 0 }, 0), null);
});

Deno.test("writeAll() keeps writing until a socket that takes a few bytes at a time has them all", async () => {
  const out: number[] = [];
  const conn = {
    write: (p: Uint8Array) => {
      const n = Math.min(3, p.length);
      out.push(...p.subarray(0, n));
      return Promise.resolve(n);
    },
  } as unknown as Deno.Conn;
  await writeAll(conn, Uint8Array.from({ length: 10 }, (_, i) => i));
  deepEqual(out, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

Deno.test("closeQuietly() closes once and ignores a connection that is already closed", () => {
  let closes = 0;
  const conn = {
    close: () => {
      if (++closes > 1) throw new Deno.errors.BadResource("closed");
    },
  } as unknown as Deno.Conn;
  closeQuietly(conn);
  closeQuietly(conn);
  equal(closes, 2);
});
