// KnownPeers: what may be dialled and when (backoff per failure, ourselves never), on an injected clock.

import { KnownPeers, MAX_KNOWN_PEERS, MAX_RETRY_MS, RETRY_BASE_MS } from "../../../lib/peer/known_peers.ts";
import { deepEqual, equal, ok } from "../../_helpers/assert.ts";

function setup() {
  let t = 1_000;
  const known = new KnownPeers({ now: () => t, ownPort: 6881 });
  return { known, advance: (ms: number) => t += ms };
}

Deno.test("KnownPeers.add() unmaps IPv4, brackets IPv6, refuses ourselves, bad ports and duplicates", () => {
  const { known } = setup();
  ok(known.add("::ffff:10.0.0.1", 1000));
  ok(known.get("10.0.0.1:1000") !== undefined);
  ok(known.add("2001:db8::1", 1000));
  ok(known.get("[2001:db8::1]:1000") !== undefined);
  equal(known.add("10.0.0.1", 1000), false);
  equal(known.add("127.0.0.1", 6881), false, "our own port on loopback");
  equal(known.add("10.0.0.2", 0), false);
  equal(known.add("10.0.0.2", 70000), false);
  equal(known.size, 2);
});

Deno.test("KnownPeers holds at most MAX_KNOWN_PEERS addresses", () => {
  const { known } = setup();
  for (let i = 0; i < MAX_KNOWN_PEERS + 10; i++) known.add(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, 1);
  equal(known.size, MAX_KNOWN_PEERS);
});

Deno.test("KnownPeers.takeDue() hands each address once, backs off failures, and skips what it is told", () => {
  const { known, advance } = setup();
  known.add("10.0.0.1", 1);
  known.add("10.0.0.2", 2);
  known.add("10.0.0.3", 3);
  const first = known.takeDue(2, (a) => a === "10.0.0.2:2");
  deepEqual(first.map((k) => k.address), ["10.0.0.1:1", "10.0.0.3:3"]);
  deepEqual(known.takeDue(5, () => false).map((k) => k.address), ["10.0.0.2:2"], "the others are connecting");
  known.failed(first[0]!);
  known.failed(first[1]!);
  known.failed(first[1]!); // second failure: twice the wait
  advance(RETRY_BASE_MS);
  deepEqual(known.takeDue(5, () => false).map((k) => k.address), ["10.0.0.1:1"]);
  advance(RETRY_BASE_MS);
  deepEqual(known.takeDue(5, () => false).map((k) => k.address), ["10.0.0.3:3"]);
  const k = known.get("10.0.0.3:3")!;
  for (let i = 0; i < 40; i++) known.failed(k);
  ok(k.nextTryMs <= 1_000 + 2 * RETRY_BASE_MS + MAX_RETRY_MS, "backoff is capped");
});

Deno.test("KnownPeers.markSelf() removes an address for good; disconnected() delays a redial", () => {
  const { known, advance } = setup();
  known.add("10.0.0.1", 1);
  known.markSelf("::ffff:10.0.0.1", 1);
  equal(known.size, 0);
  equal(known.add("10.0.0.1", 1), false);
  known.add("10.0.0.2", 2);
  const [k] = known.takeDue(1, () => false);
  known.connected(k!);
  known.disconnected(k!.address, true);
  advance(MAX_RETRY_MS - 1);
  equal(known.takeDue(1, () => false).length, 0);
  advance(1);
  equal(known.takeDue(1, () => false).length, 1);
});
