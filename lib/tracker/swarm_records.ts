// The swarm store's snapshot records: a fixed-size, little-endian record per live peer (SWARM_RECORD_BYTES,
// named by SWARM_RECORD_FORMAT), written from a swarm's block and read back field by field, and the export cursor that
// hands out whole swarms over several calls. Codec only: what to keep is the store's business.

import { TrackerError } from "../errors.ts";
import {
  FLAG_COUNTED,
  FLAG_IPV6,
  FLAG_KEYED,
  H_ADDR,
  H_PORT,
  HOT_WORDS,
  type Ipv6Slab,
  REC_WORDS,
  type Swarm,
  W_ID,
  W_KEY,
  W_LEFT_HI,
  W_LEFT_LO,
  W_SEEN,
} from "./swarm_arena.ts";

/**
 * The snapshot record (little-endian, fixed size): info hash (20 bytes) at 0, peer id (20) at 20, address (16) at 40
 * (IPv4 in its first 4 bytes, the rest zero, unless FLAG_IPV6), port (u16) at 56, flags (u8) at 58 (1 IPv6,
 * 2 completion counted, 4 keyed), a zero byte, last seen in seconds (u32) at 60, left (u64 as low, high u32) at 64,
 * key (u32, zero unless keyed) at 72.
 */
export const SWARM_RECORD_BYTES = 76;
/** Names the record layout; stored with each snapshot so that a changed layout is never misread. */
export const SWARM_RECORD_FORMAT = "btool-swarm-76-v2";
/** Flags byte of a snapshot record. */
export const SwarmRecordFlag = { Ipv6: 1, CompletionCounted: 2, Keyed: 4 } as const;

/** Byte offsets in a snapshot record (SWARM_RECORD_BYTES). */
export const R_ID = 20;
export const R_ADDR = 40;
export const R_PORT = 56;
export const R_FLAGS = 58;
export const R_SEEN = 60;
export const R_LEFT = 64;
export const R_KEY = 72;

/** Where an export over the swarms stands (from `exportCursor()`). */
export interface SwarmExportCursor {
  /** Records exported so far. */
  readonly records: number;
  /** Every swarm has been exported. */
  readonly isDone: boolean;
}

/** The SwarmExportCursor of an export over `iter` (a Map or Set iterator stays valid while the swarms change). */
export class ExportCursor implements SwarmExportCursor {
  /** The store it belongs to (another store's cursor is refused). */
  readonly owner: object;
  readonly iter: Iterator<Swarm>;
  records = 0;
  isIterDone = false;
  /** The swarm reached that did not fit into the last buffer (written whole, by the next call). */
  pending: Swarm | null = null;
  /** A swarm larger than the caller's buffer, copied whole, handed out from `overflowAt`. */
  overflow: Uint8Array | null = null;
  overflowAt = 0;
  constructor(owner: object, iter: Iterator<Swarm>) {
    this.owner = owner;
    this.iter = iter;
  }
  get isDone(): boolean {
    return this.isIterDone && this.overflow === null;
  }
}

/**
 * Copy the next swarms' records into `out` from `cursor` (see SwarmStore.exportRecords); `v6` holds their IPv6
 * addresses. A dropped swarm (n = 0) is skipped.
 * @returns bytes written
 * @throws {TrackerError} bad_buffer when `out` holds no whole record
 */
export function exportSwarmRecords(cursor: ExportCursor, out: Uint8Array, v6: Ipv6Slab): number {
  const cap = out.length - out.length % SWARM_RECORD_BYTES;
  if (cap === 0) throw new TrackerError("bad_buffer", "Cannot export: the buffer holds no whole record");
  const c = cursor;
  if (c.overflow !== null) {
    const n = Math.min(cap, c.overflow.length - c.overflowAt);
    out.set(c.overflow.subarray(c.overflowAt, c.overflowAt + n));
    c.overflowAt += n;
    if (c.overflowAt === c.overflow.length) c.overflow = null;
    return n;
  }
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let at = 0;
  while (!c.isIterDone) {
    let swarm = c.pending;
    c.pending = null;
    if (swarm === null) {
      const next = c.iter.next();
      if (next.done === true) {
        c.isIterDone = true;
        break;
      }
      swarm = next.value;
    }
    const n = swarm.n;
    if (n === 0) continue;
    const bytes = n * SWARM_RECORD_BYTES;
    if (at + bytes <= cap) {
      writeSwarmRecords(swarm, v6, view, at);
      at += bytes;
      c.records += n;
      continue;
    }
    if (at > 0) {
      c.pending = swarm; // next call, whole
      break;
    }
    // Larger than `out`: copy it whole now, hand it out over the next calls.
    const whole = new Uint8Array(bytes);
    writeSwarmRecords(swarm, v6, new DataView(whole.buffer), 0);
    c.records += n;
    out.set(whole.subarray(0, cap));
    c.overflow = whole;
    c.overflowAt = cap;
    return cap;
  }
  return at;
}

/** Write every record of `swarm` as snapshot records at byte `at` of `view`. */
export function writeSwarmRecords(swarm: Swarm, v6Slab: Ipv6Slab, view: DataView, at: number): void {
  const rec = swarm.rec;
  const v6 = v6Slab.words;
  const h0 = swarm.k0, h1 = swarm.k1, h2 = swarm.k2, h3 = swarm.k3, h4 = swarm.k4;
  const end = swarm.base + swarm.n * REC_WORDS;
  for (let o = swarm.base, h = swarm.hbase; o < end; o += REC_WORDS, h += HOT_WORDS, at += SWARM_RECORD_BYTES) {
    view.setUint32(at, h0, true);
    view.setUint32(at + 4, h1, true);
    view.setUint32(at + 8, h2, true);
    view.setUint32(at + 12, h3, true);
    view.setUint32(at + 16, h4, true);
    view.setUint32(at + R_ID, rec[o + W_ID]!, true);
    view.setUint32(at + R_ID + 4, rec[o + W_ID + 1]!, true);
    view.setUint32(at + R_ID + 8, rec[o + W_ID + 2]!, true);
    view.setUint32(at + R_ID + 12, rec[o + W_ID + 3]!, true);
    view.setUint32(at + R_ID + 16, rec[o + W_ID + 4]!, true);
    const pw = rec[h + H_PORT]!;
    const flags = pw >>> 16;
    const a = rec[h + H_ADDR]!;
    let recordFlags = 0;
    if (flags & FLAG_IPV6) {
      // Slab words hold the address big-endian, as the bytes go on the wire.
      view.setUint32(at + R_ADDR, v6[a * 4]!);
      view.setUint32(at + R_ADDR + 4, v6[a * 4 + 1]!);
      view.setUint32(at + R_ADDR + 8, v6[a * 4 + 2]!);
      view.setUint32(at + R_ADDR + 12, v6[a * 4 + 3]!);
      recordFlags = SwarmRecordFlag.Ipv6;
    } else {
      view.setUint32(at + R_ADDR, a);
      view.setUint32(at + R_ADDR + 4, 0);
      view.setUint32(at + R_ADDR + 8, 0);
      view.setUint32(at + R_ADDR + 12, 0);
    }
    if (flags & FLAG_COUNTED) recordFlags |= SwarmRecordFlag.CompletionCounted;
    if (flags & FLAG_KEYED) recordFlags |= SwarmRecordFlag.Keyed;
    // Port, flags and the zero byte as one little-endian word.
    view.setUint32(at + R_PORT, (pw & 0xffff) | recordFlags << 16, true);
    view.setUint32(at + R_SEEN, rec[o + W_SEEN]!, true);
    view.setUint32(at + R_LEFT, rec[o + W_LEFT_LO]!, true);
    view.setUint32(at + R_LEFT + 4, rec[o + W_LEFT_HI]!, true);
    view.setUint32(at + R_KEY, (flags & FLAG_KEYED) !== 0 ? rec[o + W_KEY]! : 0, true);
  }
}

/** Whether the records at bytes `a` and `b` of `view` have the same info hash. */
export function isSameInfoHash(view: DataView, a: number, b: number): boolean {
  return view.getUint32(a, true) === view.getUint32(b, true) &&
    view.getUint32(a + 4, true) === view.getUint32(b + 4, true) &&
    view.getUint32(a + 8, true) === view.getUint32(b + 8, true) &&
    view.getUint32(a + 12, true) === view.getUint32(b + 12, true) &&
    view.getUint32(a + 16, true) === view.getUint32(b + 16, true);
}

/** The address of the record at byte `at` of `records`, copied into `ip4` or `ip6` (returned). */
export function readRecordIp(records: Uint8Array, at: number, ip4: Uint8Array, ip6: Uint8Array): Uint8Array {
  if (records[at + R_FLAGS]! & SwarmRecordFlag.Ipv6) {
    for (let b = 0; b < 16; b++) ip6[b] = records[at + R_ADDR + b]!;
    return ip6;
  }
  for (let b = 0; b < 4; b++) ip4[b] = records[at + R_ADDR + b]!;
  return ip4;
}
