// Test helpers: a MemorySwarmStore filled with `swarms` swarms of `peersEach` IPv4 peers, all seen at `nowMs`, and the
// "started" announce that fills it.

import type { AnnounceRequest } from "../../../lib/tracker/announce.ts";
import { MemorySwarmStore } from "../../../lib/tracker/swarm_store.ts";

/** Info hash n (distinct, high bits set in some bytes). */
export function hashOf(n: number): Uint8Array {
  const h = new Uint8Array(20).fill(0xa0);
  new DataView(h.buffer).setUint32(0, n + 1);
  return h;
}

/** A "started" announce of `peerId` on `port` for `infoHash`, compact, wanting no peers. */
export function startedAnnounce(infoHash: Uint8Array, peerId: Uint8Array, port: number, left: number): AnnounceRequest {
  return {
    infoHash,
    peerId,
    port,
    uploaded: 0,
    downloaded: 0,
    left,
    event: "started",
    numWant: 0,
    isCompact: true,
    isNoPeerId: true,
  };
}

/** A store with `swarms` swarms of `peersEach` peers. */
export function filledStore(swarms: number, peersEach: number, nowMs: number, maxPeers = 100_000): MemorySwarmStore {
  const store = new MemorySwarmStore({ maxPeers });
  for (let n = 0; n < swarms; n++) {
    for (let p = 0; p < peersEach; p++) {
      store.announce(
        startedAnnounce(hashOf(n), new Uint8Array(20).fill(p + 1), 1000 + p, p % 2),
        { ip: new Uint8Array([10, 0, n & 0xff, p + 1]), nowMs, random: Math.random },
      );
    }
  }
  return store;
}
