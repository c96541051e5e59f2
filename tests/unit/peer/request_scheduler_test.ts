// RequestScheduler over a real PiecePicker and PeerConnections on in-memory sockets: pipeline sizes (rate, slow
// start, the peer's reqq), and what a choke, a reject, an endgame cancel and a timeout do to our requests.

import { PiecePicker } from "../../../lib/peer/picker.ts";
import {
  blockKey,
  createRequestState,
  MAX_QUEUE_BLOCKS,
  MIN_QUEUE_BLOCKS,
  queueBlocksFor,
  REQUEST_TIMEOUT_MS,
  RequestScheduler,
  type SchedulerPeer,
  SNUB_MS,
} from "../../../lib/peer/request_scheduler.ts";
import type { Metainfo } from "../../../lib/metainfo.ts";
import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { seededRandom } from "../../_helpers/random.ts";
import { openFakePeer } from "./_fake_conn.ts";
import { smallTorrent } from "./_torrent.ts";

Deno.test("queueBlocksFor() grows with the rate between its bounds", () => {
  equal(queueBlocksFor(0), MIN_QUEUE_BLOCKS);
  equal(queueBlocksFor(1e12), MAX_QUEUE_BLOCKS);
  ok(queueBlocksFor(10 * 1024 * 1024) > MIN_QUEUE_BLOCKS);
  ok(queueBlocksFor(20 * 1024 * 1024) >= queueBlocksFor(10 * 1024 * 1024));
});

async function peerOf(meta: Metainfo, id: string, t: number): Promise<SchedulerPeer> {
  const { conn } = await openFakePeer(meta, id);
  // As if the peer had unchoked us after our interest.
  conn.peerChoking = false;
  conn.amInterested = true;
  return { id, conn, downloadRate: 0, ...createRequestState(t) };
}

async function setup(pieces = 40) {
  const { meta } = await smallTorrent(pieces);
  let t = 1_000_000;
  const picker = new PiecePicker(meta, { random: seededRandom(1) });
  const scheduler = new RequestScheduler(picker, { now: () => t, isActive: () => true });
  const add = async (id: string) => {
    const p = await peerOf(meta, id, t);
    picker.addPeer(id);
    picker.peerHaveAll(id);
    return p;
  };
  return { meta, picker, scheduler, add, advance: (ms: number) => t += ms };
}

Deno.test("RequestScheduler.fill() keeps MIN_QUEUE_BLOCKS in flight, capped by the peer's reqq", async () => {
  const { scheduler, add } = await setup();
  const a = await add("a");
  scheduler.fill(a);
  equal(a.requested.size, MIN_QUEUE_BLOCKS);
  scheduler.fill(a);
  equal(a.requested.size, MIN_QUEUE_BLOCKS, "no refill while the pipeline is full");
  const b = await add("b");
  b.maxRequests = 3;
  scheduler.fill(b);
  equal(b.requested.size, 3);
  a.conn.close();
  b.conn.close();
});

Deno.test("RequestScheduler grows the queue in slow start and doubles it when the pipeline runs dry", async () => {
  const { scheduler, add } = await setup();
  const a = await add("a");
  scheduler.fill(a);
  const first = [...a.requested.values()][0]!;
  scheduler.blockArrived(a, first);
  equal(a.queueFloor, MIN_QUEUE_BLOCKS + 1);
  for (const r of [...a.requested.values()]) scheduler.blockArrived(a, r);
  equal(a.requested.size, 0);
  // +1 per block while others are in flight, then doubled when the last one leaves the pipeline empty.
  equal(a.queueFloor, 2 * (2 * MIN_QUEUE_BLOCKS - 1));
  a.downloadRate = 1;
  scheduler.rateMeasured(a);
  equal(a.isSlowStart, false);
  equal(a.queueFloor, MIN_QUEUE_BLOCKS);
  a.conn.close();
});

Deno.test("RequestScheduler: a choke releases every request, a reject only its own, to other peers", async () => {
  const { scheduler, add } = await setup(2);
  const a = await add("a");
  scheduler.fill(a);
  const asked = a.requested.size;
  ok(asked > 0);
  const one = [...a.requested.values()][0]!;
  equal(scheduler.rejected(a, one), true);
  equal(scheduler.rejected(a, one), false, "not outstanding any more");
  equal(a.requested.size, asked - 1);
  scheduler.releaseAll(a);
  equal(a.requested.size, 0);
  const b = await add("b");
  scheduler.fill(b);
  ok(b.requested.has(blockKey(one)), "the released block goes to the next peer");
  scheduler.cancel(b, one);
  ok(!b.requested.has(blockKey(one)));
  a.conn.close();
  b.conn.close();
});

Deno.test("RequestScheduler.expire() gives back a silent peer's requests and snubs it for SNUB_MS", async () => {
  const { scheduler, add, advance } = await setup();
  const a = await add("a");
  scheduler.fill(a);
  advance(REQUEST_TIMEOUT_MS - 1);
  deepEqual(scheduler.expire([a]), []);
  advance(1);
  deepEqual(scheduler.expire([a]).map((p) => p.id), ["a"]);
  equal(a.requested.size, 0);
  scheduler.fill(a);
  equal(a.requested.size, 0, "snubbed");
  advance(SNUB_MS);
  scheduler.fill(a);
  ok(a.requested.size > 0);
  a.conn.close();
});
