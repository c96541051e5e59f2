// PeerConnection with `isLendingMessages`: reads go into one reused ring buffer. A long random stream (blocks,
// haves, keep-alives, extended payloads, a bitfield larger than the ring) is read in random-sized pieces from an
// in-memory connection; every message must come out intact at the moment it is yielded, in order.

import { concat } from "../../../lib/bytes.ts";
import { InfoHash } from "../../../lib/infohash.ts";
import { PeerConnection, READ_RING_BYTES } from "../../../lib/peer/connection.ts";
import { createReserved, encodeHandshake } from "../../../lib/wire/handshake.ts";
import { encodeMessage, type WireMessage } from "../../../lib/wire/messages.ts";
import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../../_helpers/random.ts";

const PIECE_LENGTH = 65536;
/** Enough pieces that the bitfield is larger than the ring (it must take the fresh-buffer path). */
const PIECE_COUNT = (READ_RING_BYTES + 4096) * 8;

/** An in-memory Deno.Conn that serves `stream` in reads of random size and swallows writes. */
function fakeConn(stream: Uint8Array, random: () => number): Deno.Conn {
  let at = 0;
  const addr: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 1 };
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (at >= stream.length) return Promise.resolve(null);
      const want = random() < 0.3 ? 1 + Math.floor(random() * 40) : 1 + Math.floor(random() * 100_000);
      const n = Math.min(p.length, want, stream.length - at);
      p.set(stream.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
    write: (p: Uint8Array) => Promise.resolve(p.length),
    close() {},
    localAddr: addr,
    remoteAddr: addr,
  } as unknown as Deno.Conn;
}

function comparable(m: WireMessage): unknown {
  const out: Record<string, unknown> = { ...m };
  for (const k of ["block", "bytes", "payload"]) if (k in out) out[k] = Array.from(out[k] as Uint8Array);
  return out;
}

Deno.test("PeerConnection lending its read buffer yields every message intact (random reads, huge bitfield)", async () => {
  for (const seed of [1, 2, 3]) {
    const random = seededRandom(seed);
    const infoHash = new InfoHash(randomBytes(random, 20));
    const theirs = encodeHandshake({
      reserved: createReserved({ isFastExtension: true }),
      infoHash,
      peerId: new TextEncoder().encode("-XX0001-abcdefghijkl"),
    });
    const bitfield = new Uint8Array(PIECE_COUNT / 8).fill(0xa5);
    const msgs: WireMessage[] = [{ type: "bitfield", bytes: bitfield }, { type: "unchoke" }];
    for (let i = 0; i < 400; i++) {
      const r = random();
      if (r < 0.7) {
        const length = random() < 0.9 ? 16384 : 1 + Math.floor(random() * 16384);
        msgs.push({ type: "piece", pieceIndex: i, begin: 16384, block: randomBytes(random, length) });
      } else if (r < 0.8) msgs.push({ type: "have", pieceIndex: Math.floor(random() * PIECE_COUNT) });
      else if (r < 0.9) msgs.push({ type: "keepAlive" });
      else msgs.push({ type: "extended", extendedId: 3, payload: randomBytes(random, Math.floor(random() * 3000)) });
      if (i === 200) msgs.push({ type: "bitfield", bytes: randomBytes(random, PIECE_COUNT / 8).fill(0, -1) });
    }
    const stream = concat([theirs, ...msgs.map((m) => encodeMessage(m))]);
    const conn = await PeerConnection.open(fakeConn(stream, random), {
      infoHash,
      peerId: new TextEncoder().encode("-BT0100-abcdefghijkl"),
      geometry: { pieceLength: PIECE_LENGTH, pieceCount: PIECE_COUNT, totalLength: PIECE_LENGTH * PIECE_COUNT },
      isLendingMessages: true,
    });
    let n = 0;
    try {
      for await (const m of conn.messages()) {
        ok(n < msgs.length, "no extra message");
        deepEqual(comparable(m), comparable(msgs[n]!), `seed ${seed} message ${n}`);
        n++;
      }
    } finally {
      conn.close();
    }
    equal(conn.closeReason, null);
    equal(n, msgs.length);
  }
});
