// The info hashes of the swarms in a swarm snapshot, kept as bytes while the snapshot is written, so that their
// torrents' last-seen times can be updated afterwards in info-hash order. Pure: no I/O.

import { toHex } from "../bytes.ts";
import { SWARM_RECORD_BYTES } from "./swarm_store.ts";

/** The info hashes of the swarms in a snapshot, as bytes (20 each: hex strings of every torrent would cost far more). */
export class HashList {
  #bytes = new Uint8Array(20 * 1024);
  #count = 0;

  /** Hashes added. */
  get count(): number {
    return this.#count;
  }

  /**
   * Add the info hash of each run of records in `records` (an export holds each swarm in one run; a swarm larger
   * than a chunk continues the previous chunk's last run).
   */
  addFromRecords(records: Uint8Array): void {
    const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
    for (let at = 0; at < records.length; at += SWARM_RECORD_BYTES) {
      const prev = at - SWARM_RECORD_BYTES;
      if (at === 0) {
        if (this.#count > 0 && this.#isLast(records)) continue;
      } else if (
        view.getUint32(at, true) === view.getUint32(prev, true) &&
        view.getUint32(at + 4, true) === view.getUint32(prev + 4, true) &&
        view.getUint32(at + 8, true) === view.getUint32(prev + 8, true) &&
        view.getUint32(at + 12, true) === view.getUint32(prev + 12, true) &&
        view.getUint32(at + 16, true) === view.getUint32(prev + 16, true)
      ) continue;
      if ((this.#count + 1) * 20 > this.#bytes.length) {
        const grown = new Uint8Array(this.#bytes.length * 2);
        grown.set(this.#bytes);
        this.#bytes = grown;
      }
      this.#bytes.set(records.subarray(at, at + 20), this.#count++ * 20);
    }
  }

  /** Whether `records` starts with the last hash added. */
  #isLast(records: Uint8Array): boolean {
    const last = (this.#count - 1) * 20;
    for (let i = 0; i < 20; i++) if (records[i] !== this.#bytes[last + i]) return false;
    return true;
  }

  /** Indices ordered by the first two bytes (a counting sort, O(n)): close enough to key order for page locality. */
  sortedOrder(): Uint32Array {
    const b = this.#bytes;
    const starts = new Uint32Array(65_537);
    for (let i = 0; i < this.#count; i++) starts[((b[i * 20]! << 8) | b[i * 20 + 1]!) + 1]!++;
    for (let k = 1; k < starts.length; k++) starts[k]! += starts[k - 1]!;
    const order = new Uint32Array(this.#count);
    for (let i = 0; i < this.#count; i++) order[starts[(b[i * 20]! << 8) | b[i * 20 + 1]!]!++] = i;
    return order;
  }

  /** Hex of the hashes at `order[from, to)`. */
  hexes(order: Uint32Array, from: number, to: number): string[] {
    const out: string[] = [];
    for (let k = from; k < to; k++) out.push(toHex(this.#bytes.subarray(order[k]! * 20, order[k]! * 20 + 20)));
    return out;
  }
}
