// The swarm store's reply sample: up to numWant random peers of a swarm, written as compact peers (BEP 23, BEP 7) into
// scratch buffers that one PeerSampler reuses for every reply. Reads records only (swarm_arena.ts's layout).
//
// Invariants: whole aligned blocks of SAMPLE_RUN record positions are picked uniformly without repetition, so every
// eligible peer is equally likely; the asker is never in its own sample and a seeder gets no seeders (eligible peers are
// one contiguous range, since a swarm keeps seeders first).

import { COMPACT_PEER4_BYTES, COMPACT_PEER6_BYTES, PEER_ID_BYTES } from "./announce.ts";
import { FLAG_IPV6, H_ADDR, H_PORT, HOT_WORDS, type Ipv6Slab, REC_WORDS, type Swarm, writeId } from "./swarm_arena.ts";

/** Records taken in a row when sampling a large swarm: an aligned block of 16 hot records is 128 bytes, two adjacent
 * cache lines (arena blocks are aligned to their size, and a swarm's block holds at least MIN_CAP records). */
export const SAMPLE_RUN = 16;
/** Zero bytes: the peers of an empty sample. */
export const EMPTY_BYTES = new Uint8Array(0);

/** What a sample needs besides the swarm. */
export interface SampleOptions {
  /** Uniform in [0, 1). */
  random: () => number;
  /** Also return the peer ids (dictionary model). */
  withPeerIds?: boolean;
}

/** Where a sample goes. */
export interface SampledPeers {
  /** Compact IPv4 peers (6 bytes each). A view valid until the next sample. */
  peers4: Uint8Array;
  /** Compact IPv6 peers (18 bytes each). A view valid until the next sample. */
  peers6: Uint8Array;
  /** Peer ids matching peers4 (20 bytes each), when `withPeerIds`. */
  peerIds4?: Uint8Array;
  /** Peer ids matching peers6, when `withPeerIds`. */
  peerIds6?: Uint8Array;
}

/** Samples peers for replies into its own scratch buffers (one sampler per store: replies are built one at a time). */
export class PeerSampler {
  readonly #v6: Ipv6Slab;
  readonly #out4: Uint8Array;
  readonly #out4View: DataView;
  readonly #out6: Uint8Array;
  readonly #outIds4: Uint8Array;
  readonly #outIds6: Uint8Array;
  /** Views of #out4 and #out6 by peer count, made once: a reply needs one, and a fresh view costs (PERFORMANCE.md). */
  readonly #views4: Uint8Array[];
  readonly #views6: Uint8Array[];
  /** Blocks picked by one sample. */
  readonly #picked: Int32Array;
  /** Keeps the touch loop of `sample` from being optimized away. */
  #touched = 0;
  #n4 = 0;
  #n6 = 0;

  /** A sampler of at most `numWantMax` peers a reply, reading IPv6 addresses from `v6`. */
  constructor(numWantMax: number, v6: Ipv6Slab) {
    this.#v6 = v6;
    this.#out4 = new Uint8Array(numWantMax * COMPACT_PEER4_BYTES);
    this.#out4View = new DataView(this.#out4.buffer);
    this.#out6 = new Uint8Array(numWantMax * COMPACT_PEER6_BYTES);
    this.#outIds4 = new Uint8Array(numWantMax * PEER_ID_BYTES);
    this.#outIds6 = new Uint8Array(numWantMax * PEER_ID_BYTES);
    this.#views4 = Array.from({ length: numWantMax + 1 }, (_, n) => this.#out4.subarray(0, n * COMPACT_PEER4_BYTES));
    this.#views6 = Array.from({ length: numWantMax + 1 }, (_, n) => this.#out6.subarray(0, n * COMPACT_PEER6_BYTES));
    this.#picked = new Int32Array(Math.ceil(numWantMax / SAMPLE_RUN) + 2);
  }

  /** Copy the peer at position `i` into the output buffers (peers4 or peers6, and its id when `withIds`). */
  #take(swarm: Swarm, i: number, withIds: boolean): void {
    const h = swarm.hbase + i * HOT_WORDS;
    const a = swarm.rec[h + H_ADDR]!;
    const pw = swarm.rec[h + H_PORT]!;
    if (((pw >>> 16) & FLAG_IPV6) === 0) {
      const at = this.#n4 * COMPACT_PEER4_BYTES;
      this.#out4View.setUint32(at, a);
      this.#out4View.setUint16(at + 4, pw & 0xffff);
      if (withIds) writeId(swarm.rec, swarm.base + i * REC_WORDS, this.#outIds4, this.#n4 * PEER_ID_BYTES);
      this.#n4++;
      return;
    }
    const out = this.#out6;
    let at = this.#n6 * COMPACT_PEER6_BYTES;
    const v6 = this.#v6.words;
    for (let w = 0; w < 4; w++) {
      const x = v6[a * 4 + w]!;
      out[at++] = x >>> 24;
      out[at++] = x >>> 16;
      out[at++] = x >>> 8;
      out[at++] = x;
    }
    out[at++] = pw >>> 8;
    out[at] = pw;
    if (withIds) writeId(swarm.rec, swarm.base + i * REC_WORDS, this.#outIds6, this.#n6 * PEER_ID_BYTES);
    this.#n6++;
  }

  /**
   * Fill `result`'s peers with up to `numWant` random eligible peers (not `self`; no seeders for a seeder).
   * Eligible peers are one contiguous range [lo, n): leechers [nSeed, n) for a seeder, everyone for a leecher.
   * The peer arrays are views into scratch buffers, valid until the next sample.
   */
  sample(
    swarm: Swarm,
    self: number,
    isSeeder: boolean,
    numWant: number,
    options: SampleOptions,
    result: SampledPeers,
  ): void {
    const lo = isSeeder ? swarm.nSeed : 0;
    const hi = swarm.n;
    const eligible = isSeeder ? hi - lo : hi - lo - 1;
    const want = Math.min(numWant, eligible, this.#out4.length / COMPACT_PEER4_BYTES);
    if (want <= 0) return;
    const withIds = options.withPeerIds === true;
    this.#n4 = 0;
    this.#n6 = 0;
    if (want === eligible) {
      for (let i = lo; i < hi; i++) if (i !== self) this.#take(swarm, i, withIds);
    } else {
      // Whole aligned blocks of SAMPLE_RUN positions (two cache lines of hot words each), picked uniformly without
      // repetition, so every eligible peer is equally likely and a sample of 50 reads about 4 blocks. A bounded
      // number of random picks (a repeat is found in the few picked so far: no table of marks to touch), then the
      // unpicked blocks in order from a random one. Blocks are aligned on swarm positions (block k here is the swarm's
      // block b0 + k), so the first one and the last may be partial.
      const b0 = (lo / SAMPLE_RUN) | 0;
      const blocks = Math.ceil(hi / SAMPLE_RUN) - b0;
      const random = options.random;
      // Pick the blocks first (enough for `want` plus one, in case one holds the asker or is short), then touch each
      // one's cache line in a loop of independent loads, so that their memory latencies overlap instead of adding
      // up block after block (a sample is a few cache misses: most of its cost in a large store).
      const picked = this.#picked;
      const needed = Math.min(Math.ceil(want / SAMPLE_RUN) + 1, picked.length, blocks);
      let count = 0;
      for (let tries = needed * 3; tries > 0 && count < needed; tries--) {
        const b = (random() * blocks) | 0;
        if (!isPicked(picked, count, b)) picked[count++] = b;
      }
      const rec = swarm.rec;
      const hbase = swarm.hbase;
      let touch = 0;
      for (let k = 0; k < count; k++) {
        const first = (b0 + picked[k]!) * SAMPLE_RUN;
        const h = hbase + first * HOT_WORDS;
        touch |= rec[h]!;
        // The block's second line, when it holds peers.
        if (first + SAMPLE_RUN / 2 < hi) touch |= rec[h + (SAMPLE_RUN / 2) * HOT_WORDS]!;
      }
      this.#touched = touch;
      let taken = 0;
      for (let k = 0; k < count && taken < want; k++) {
        taken += this.#takeBlock(swarm, b0 + picked[k]!, lo, hi, self, want - taken, withIds, random);
      }
      if (taken < want) {
        const start = (random() * blocks) | 0;
        for (let k = 0; k < blocks && taken < want; k++) {
          const b = start + k < blocks ? start + k : start + k - blocks;
          if (!isPicked(picked, count, b)) {
            taken += this.#takeBlock(swarm, b0 + b, lo, hi, self, want - taken, withIds, random);
          }
        }
      }
    }
    result.peers4 = this.#views4[this.#n4]!;
    result.peers6 = this.#n6 === 0 ? EMPTY_BYTES : this.#views6[this.#n6]!;
    if (withIds) {
      result.peerIds4 = this.#outIds4.slice(0, this.#n4 * PEER_ID_BYTES);
      result.peerIds6 = this.#outIds6.slice(0, this.#n6 * PEER_ID_BYTES);
    }
  }

  /**
   * Take the peers of block `b` (positions [b·SAMPLE_RUN, +SAMPLE_RUN) within [lo, hi), without `self`), at most `max`:
   * all of them when they fit, otherwise `max` in a row from a random offset, wrapping inside the block, so that no
   * place in a block is favoured. Returns the peers taken.
   */
  #takeBlock(
    swarm: Swarm,
    b: number,
    lo: number,
    hi: number,
    self: number,
    max: number,
    withIds: boolean,
    random: () => number,
  ): number {
    const from = Math.max(b * SAMPLE_RUN, lo);
    const size = Math.min(b * SAMPLE_RUN + SAMPLE_RUN, hi) - from;
    const count = self >= from && self < from + size ? size - 1 : size;
    const rot = count <= max ? 0 : (random() * size) | 0;
    const n = count <= max ? count : max;
    if (rot === 0 && n === size && !withIds) {
      // A whole block without the asker (most of a sample): IPv4 peers inline (no call, the output index in a local),
      // IPv6 ones via #take.
      const rec = swarm.rec;
      const hbase = swarm.hbase;
      const view = this.#out4View;
      let n4 = this.#n4;
      for (let h = hbase + from * HOT_WORDS, end = h + size * HOT_WORDS; h < end; h += HOT_WORDS) {
        const pw = rec[h + H_PORT]!;
        if ((pw & (FLAG_IPV6 << 16)) !== 0) {
          this.#n4 = n4;
          this.#take(swarm, (h - hbase) / HOT_WORDS, false);
          n4 = this.#n4;
          continue;
        }
        const at = n4++ * COMPACT_PEER4_BYTES;
        view.setUint32(at, rec[h + H_ADDR]!);
        view.setUint16(at + 4, pw & 0xffff);
      }
      this.#n4 = n4;
      return n;
    }
    // The block holding the asker, the last one of a sample, or peer ids asked for: one peer at a time.
    let taken = 0;
    for (let k = 0; k < size && taken < n; k++) {
      const i = from + (rot + k < size ? rot + k : rot + k - size);
      if (i === self) continue;
      taken++;
      this.#take(swarm, i, withIds);
    }
    return taken;
  }
}

/** `b` is one of `picked[0, count)`. */
function isPicked(picked: Int32Array, count: number, b: number): boolean {
  for (let k = 0; k < count; k++) if (picked[k] === b) return true;
  return false;
}
