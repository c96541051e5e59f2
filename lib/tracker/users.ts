// Members of a private tracker (issue #6): add/list/revoke/rotate over TrackerDb, per-user accounting of
// uploaded/downloaded (restart-safe positive deltas per (user, torrent, peer), INTEROP.md 11), member announce URLs
// and a member's copy of a .torrent. Time comes in as `nowMs`; never logs, never prints a passkey by itself.

import { type BencodeValue, decodeBencode, encodeBencode, isBytes, isDict, rawValue } from "../bencode.ts";
import { compare, concat, fromHex, fromLatin1, toHex, utf8 } from "../bytes.ts";
import { MetainfoError } from "../errors.ts";
import type { AccountingBatch, TrackerDb, UserPeerCounters, UserRecord } from "../persist/db.ts";
import { type AccessUser, createPasskey } from "./access.ts";

/** Cap on (user, torrent, peer) counters kept in memory (~100 bytes each); beyond it new peers are not remembered. */
export const MAX_ACCOUNTED_PEERS = 250_000;

/** User management over the db (the CLI and the admin API call the same methods). */
export class Users {
  readonly #db: TrackerDb;
  readonly #randomBytes: ((n: number) => Uint8Array) | undefined;

  constructor(db: TrackerDb, options: { randomBytes?: (n: number) => Uint8Array } = {}) {
    this.#db = db;
    this.#randomBytes = options.randomBytes;
  }

  /** Add a member with a fresh passkey. @throws {PersistError} `invalid_user_name`, `user_exists` */
  add(name: string, nowMs: number): UserRecord {
    return this.#db.addUser(name, createPasskey(this.#randomBytes), nowMs);
  }

  /** Every member, revoked ones included, by name. */
  list(): UserRecord[] {
    return this.#db.listUsers();
  }

  /** The member named `name`, or null. */
  get(name: string): UserRecord | null {
    return this.#db.getUser(name);
  }

  /** Revoke a member's passkey. @returns false if already revoked @throws {PersistError} `unknown_user` */
  revoke(name: string, nowMs: number): boolean {
    return this.#db.revokeUser(name, nowMs);
  }

  /** Give a member a new passkey. @throws {PersistError} `unknown_user`, `user_revoked` */
  rotate(name: string, nowMs: number): UserRecord {
    return this.#db.rotatePasskey(name, createPasskey(this.#randomBytes), nowMs);
  }

  /** The active members as AccessControl wants them. */
  activeAccessUsers(): AccessUser[] {
    return this.#db.listUsers({ activeOnly: true }).map((u) => ({ id: u.id, name: u.name, passkeyHex: u.passkeyHex }));
  }
}

/**
 * A member's announce URL: `<base>/announce?passkey=<hex>` (INTEROP.md 10: the form every client accepts).
 * `base` is the tracker's base URL or any of its announce URLs (path and query are replaced).
 */
export function memberAnnounceUrl(base: string, passkeyHex: string): string {
  const url = new URL(base);
  return `${url.origin}/announce?passkey=${passkeyHex}`;
}

/** Entries a PeerCounters table holds before it first grows (it doubles up to its cap). */
const INITIAL_COUNTER_ENTRIES = 1024;
/** Bytes of a key: 20-byte info hash then 20-byte peer id (the user id is a column of its own). */
const KEY_BYTES = 40;

/** Reads 4 bytes little-endian (any alignment: the bytes may be a view into a request buffer). */
function word(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24);
}

function mixWord(h: number, w: number): number {
  // murmur3's 32-bit block mix.
  w = Math.imul(w, 0xcc9e2d51);
  w = (w << 15) | (w >>> 17);
  h ^= Math.imul(w, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** A 32-bit hash of (user, info hash, peer id), computed once per announce and kept with the entry. */
export function hashPeerKey(userId: number, infoHash: Uint8Array, peerId: Uint8Array): number {
  let h = mixWord(0x9747b28c, userId | 0);
  h = mixWord(h, (userId / 0x1_0000_0000) | 0);
  for (let i = 0; i < 20; i += 4) h = mixWord(h, word(infoHash, i));
  for (let i = 0; i < 20; i += 4) h = mixWord(h, word(peerId, i));
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Last counters per (user, torrent, peer), without a JS object or string per entry (the announce hot path allocates
 * nothing, so 250k entries cost the garbage collector nothing): columns in typed arrays, entries dense in
 * `0..size-1`, found through an open-addressing slot table (linear probing, load ≤ 1/2, backward-shift deletion).
 * Invariants: `#slots` holds `entry + 1` for every entry exactly once, reachable from `#hashes[entry] & #mask`
 * without crossing an empty slot; `#dirtyPos[e]` is e's index in `#dirtyList` or -1; size ≤ maxEntries.
 */
export class PeerCounters {
  readonly #maxEntries: number;
  #capacity = 0;
  #mask = 0;
  #size = 0;
  #slots = new Int32Array(0);
  #hashes = new Uint32Array(0);
  #keys = new Uint8Array(0);
  #userIds = new Float64Array(0);
  #uploaded = new Float64Array(0);
  #downloaded = new Float64Array(0);
  #lastSeenMs = new Float64Array(0);
  #dirtyPos = new Int32Array(0);
  #dirtyList = new Int32Array(0);
  #dirtyCount = 0;

  constructor(maxEntries: number) {
    this.#maxEntries = Math.max(1, maxEntries);
    this.#resize(Math.min(this.#maxEntries, INITIAL_COUNTER_ENTRIES));
  }

  /** Entries held. */
  get size(): number {
    return this.#size;
  }

  /** Entries changed since the last `clearDirty()`. */
  get dirtyCount(): number {
    return this.#dirtyCount;
  }

  #resize(capacity: number): void {
    const old = {
      hashes: this.#hashes,
      keys: this.#keys,
      userIds: this.#userIds,
      uploaded: this.#uploaded,
      downloaded: this.#downloaded,
      lastSeenMs: this.#lastSeenMs,
      dirtyPos: this.#dirtyPos,
      dirtyList: this.#dirtyList,
    };
    let slotCount = 2;
    while (slotCount < 2 * capacity) slotCount *= 2;
    this.#capacity = capacity;
    this.#mask = slotCount - 1;
    this.#slots = new Int32Array(slotCount);
    this.#hashes = new Uint32Array(capacity);
    this.#keys = new Uint8Array(capacity * KEY_BYTES);
    this.#userIds = new Float64Array(capacity);
    this.#uploaded = new Float64Array(capacity);
    this.#downloaded = new Float64Array(capacity);
    this.#lastSeenMs = new Float64Array(capacity);
    this.#dirtyPos = new Int32Array(capacity);
    this.#dirtyList = new Int32Array(capacity);
    const n = this.#size;
    this.#hashes.set(old.hashes.subarray(0, n));
    this.#keys.set(old.keys.subarray(0, n * KEY_BYTES));
    this.#userIds.set(old.userIds.subarray(0, n));
    this.#uploaded.set(old.uploaded.subarray(0, n));
    this.#downloaded.set(old.downloaded.subarray(0, n));
    this.#lastSeenMs.set(old.lastSeenMs.subarray(0, n));
    this.#dirtyPos.set(old.dirtyPos.subarray(0, n));
    this.#dirtyList.set(old.dirtyList.subarray(0, this.#dirtyCount));
    for (let e = 0; e < n; e++) {
      let s = this.#hashes[e]! & this.#mask;
      while (this.#slots[s] !== 0) s = (s + 1) & this.#mask;
      this.#slots[s] = e + 1;
    }
  }

  /** The entry of (userId, infoHash, peerId) whose `hashPeerKey` is `hash`, or -1. */
  find(hash: number, userId: number, infoHash: Uint8Array, peerId: Uint8Array): number {
    const slots = this.#slots;
    const mask = this.#mask;
    const keys = this.#keys;
    for (let s = hash & mask;; s = (s + 1) & mask) {
      const v = slots[s]!;
      if (v === 0) return -1;
      const e = v - 1;
      if (this.#hashes[e] !== hash || this.#userIds[e] !== userId) continue;
      const at = e * KEY_BYTES;
      let i = 0;
      while (i < 20 && keys[at + i] === infoHash[i]) i++;
      if (i < 20) continue;
      i = 0;
      while (i < 20 && keys[at + 20 + i] === peerId[i]) i++;
      if (i === 20) return e;
    }
  }

  /**
   * Add an entry (the caller checked `find` missed) and mark it dirty when `isDirty`.
   * @returns its index, or -1 when the table is full (the cap: the peer is not remembered)
   */
  insert(
    hash: number,
    userId: number,
    infoHash: Uint8Array,
    peerId: Uint8Array,
    counters: { uploaded: number; downloaded: number; lastSeenMs: number; isDirty: boolean },
  ): number {
    if (this.#size >= this.#capacity) {
      if (this.#capacity >= this.#maxEntries) return -1;
      this.#resize(Math.min(this.#maxEntries, this.#capacity * 2));
    }
    const e = this.#size++;
    this.#hashes[e] = hash;
    this.#userIds[e] = userId;
    const keys = this.#keys;
    const at = e * KEY_BYTES;
    for (let i = 0; i < 20; i++) keys[at + i] = infoHash[i]!;
    for (let i = 0; i < 20; i++) keys[at + 20 + i] = peerId[i]!;
    this.#uploaded[e] = counters.uploaded;
    this.#downloaded[e] = counters.downloaded;
    this.#lastSeenMs[e] = counters.lastSeenMs;
    this.#dirtyPos[e] = -1;
    if (counters.isDirty) this.#markDirty(e);
    let s = hash & this.#mask;
    while (this.#slots[s] !== 0) s = (s + 1) & this.#mask;
    this.#slots[s] = e + 1;
    return e;
  }

  /** Set entry `e`'s last counters and mark it dirty. */
  update(e: number, uploaded: number, downloaded: number, lastSeenMs: number): void {
    this.#uploaded[e] = uploaded;
    this.#downloaded[e] = downloaded;
    this.#lastSeenMs[e] = lastSeenMs;
    this.#markDirty(e);
  }

  #markDirty(e: number): void {
    if (this.#dirtyPos[e]! >= 0) return;
    this.#dirtyPos[e] = this.#dirtyCount;
    this.#dirtyList[this.#dirtyCount++] = e;
  }

  uploadedAt(e: number): number {
    return this.#uploaded[e]!;
  }

  downloadedAt(e: number): number {
    return this.#downloaded[e]!;
  }

  lastSeenMsAt(e: number): number {
    return this.#lastSeenMs[e]!;
  }

  userIdAt(e: number): number {
    return this.#userIds[e]!;
  }

  /** Hex of entry `e`'s info hash. */
  infoHashHexAt(e: number): string {
    return toHex(this.#keys.subarray(e * KEY_BYTES, e * KEY_BYTES + 20));
  }

  /** Hex of entry `e`'s peer id. */
  peerIdHexAt(e: number): string {
    return toHex(this.#keys.subarray(e * KEY_BYTES + 20, (e + 1) * KEY_BYTES));
  }

  /** The dirty entries' indexes (valid until the next insert, remove or expire). */
  dirtyEntries(): Int32Array {
    return this.#dirtyList.slice(0, this.#dirtyCount);
  }

  /** Mark every entry clean (after they were written). */
  clearDirty(): void {
    for (let i = 0; i < this.#dirtyCount; i++) this.#dirtyPos[this.#dirtyList[i]!] = -1;
    this.#dirtyCount = 0;
  }

  /** Remove clean entries last seen before `beforeMs`. @returns how many were removed */
  expire(beforeMs: number): number {
    let n = 0;
    // Downwards: removing `e` moves the last entry (already visited) into it.
    for (let e = this.#size - 1; e >= 0; e--) {
      if (this.#lastSeenMs[e]! < beforeMs && this.#dirtyPos[e] === -1) {
        this.#remove(e);
        n++;
      }
    }
    return n;
  }

  #slotOf(e: number): number {
    let s = this.#hashes[e]! & this.#mask;
    while (this.#slots[s] !== e + 1) s = (s + 1) & this.#mask;
    return s;
  }

  #remove(e: number): void {
    const slots = this.#slots;
    const mask = this.#mask;
    // Backward-shift deletion: pull later entries of the probe run into the hole, so lookups need no tombstones.
    let hole = this.#slotOf(e);
    for (let j = (hole + 1) & mask; slots[j] !== 0; j = (j + 1) & mask) {
      const home = this.#hashes[slots[j]! - 1]! & mask;
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        slots[hole] = slots[j]!;
        hole = j;
      }
    }
    slots[hole] = 0;
    const last = --this.#size;
    if (this.#dirtyPos[e]! >= 0) {
      // Keep the dirty list dense: the list's last element takes e's place.
      const pos = this.#dirtyPos[e]!;
      const moved = this.#dirtyList[--this.#dirtyCount]!;
      this.#dirtyList[pos] = moved;
      this.#dirtyPos[moved] = pos;
    }
    if (e === last) return;
    slots[this.#slotOf(last)] = e + 1;
    this.#hashes[e] = this.#hashes[last]!;
    this.#keys.copyWithin(e * KEY_BYTES, last * KEY_BYTES, (last + 1) * KEY_BYTES);
    this.#userIds[e] = this.#userIds[last]!;
    this.#uploaded[e] = this.#uploaded[last]!;
    this.#downloaded[e] = this.#downloaded[last]!;
    this.#lastSeenMs[e] = this.#lastSeenMs[last]!;
    const pos = this.#dirtyPos[last]!;
    this.#dirtyPos[e] = pos;
    if (pos >= 0) this.#dirtyList[pos] = e;
  }
}

/** Per-user totals not yet in the db, as returned by `Accounting.pending`. */
export interface PendingTotals {
  uploaded: number;
  downloaded: number;
}

/**
 * Per-user accounting. Clients report per-session counters that restart with the client (INTEROP.md 11): for each
 * (user, torrent, peer) the last values are kept and only positive deltas are added; a decrease means a restart,
 * so the new value itself is the delta. A peer seen for the first time counts its values only on `started` (a new
 * session); otherwise (the tracker restarted, or forgot it) they are its baseline: never counted twice.
 * Deltas and last counters are written together by `flush()` in one transaction (the tracker calls it with each
 * swarm snapshot), so after a crash totals and last counters agree: at most one snapshot period is lost.
 * Invariant: `#pending` holds exactly the deltas since the last flush; the dirty entries of `#peers` exactly the
 * last counters changed since then.
 */
export class Accounting {
  readonly #db: TrackerDb;
  readonly #peers: PeerCounters;
  readonly #pending = new Map<number, PendingTotals>();

  /** Loads the last counters seen since `sinceMs` (the peer timeout) from the db. */
  constructor(db: TrackerDb, options: { sinceMs?: number; maxPeers?: number } = {}) {
    this.#db = db;
    this.#peers = new PeerCounters(options.maxPeers ?? MAX_ACCOUNTED_PEERS);
    for (const p of db.loadUserPeers(options.sinceMs ?? 0)) {
      const infoHash = fromHex(p.infoHashHex);
      const peerId = fromHex(p.peerIdHex);
      if (infoHash === null || peerId === null || infoHash.length !== 20 || peerId.length !== 20) continue;
      const hash = hashPeerKey(p.userId, infoHash, peerId);
      if (this.#peers.find(hash, p.userId, infoHash, peerId) >= 0) continue;
      const e = this.#peers.insert(hash, p.userId, infoHash, peerId, {
        uploaded: p.lastUploaded,
        downloaded: p.lastDownloaded,
        lastSeenMs: p.lastSeenMs,
        isDirty: false,
      });
      if (e < 0) break;
    }
  }

  /** (user, torrent, peer) counters in memory. */
  get size(): number {
    return this.#peers.size;
  }

  /** Count one announce of `userId`. Allocates nothing (one hash, one probe run); `flush()` writes the db. */
  record(
    userId: number,
    infoHash: Uint8Array,
    peerId: Uint8Array,
    counters: { uploaded: number; downloaded: number; isStarted?: boolean; nowMs: number },
  ): void {
    const { uploaded, downloaded, nowMs } = counters;
    const peers = this.#peers;
    const hash = hashPeerKey(userId, infoHash, peerId);
    const e = peers.find(hash, userId, infoHash, peerId);
    let dUp: number;
    let dDown: number;
    if (e < 0) {
      dUp = counters.isStarted === true ? uploaded : 0;
      dDown = counters.isStarted === true ? downloaded : 0;
      peers.insert(hash, userId, infoHash, peerId, { uploaded, downloaded, lastSeenMs: nowMs, isDirty: true });
    } else {
      const lastUp = peers.uploadedAt(e);
      const lastDown = peers.downloadedAt(e);
      dUp = uploaded >= lastUp ? uploaded - lastUp : uploaded;
      dDown = downloaded >= lastDown ? downloaded - lastDown : downloaded;
      peers.update(e, uploaded, downloaded, nowMs);
    }
    if (dUp === 0 && dDown === 0) return;
    const t = this.#pending.get(userId);
    if (t === undefined) this.#pending.set(userId, { uploaded: dUp, downloaded: dDown });
    else {
      t.uploaded = Math.min(Number.MAX_SAFE_INTEGER, t.uploaded + dUp);
      t.downloaded = Math.min(Number.MAX_SAFE_INTEGER, t.downloaded + dDown);
    }
  }

  /** Deltas of `userId` not yet flushed. */
  pending(userId: number): PendingTotals {
    return { ...(this.#pending.get(userId) ?? { uploaded: 0, downloaded: 0 }) };
  }

  /**
   * Write pending deltas and changed last counters in one transaction. On failure nothing is lost: the same
   * values are written by the next flush. @returns how many peer rows were written
   * @throws {PersistError} `db_busy`, `write_failed`
   */
  flush(): number {
    const p = this.#peers;
    const peers: UserPeerCounters[] = [];
    for (const e of p.dirtyEntries()) {
      peers.push({
        userId: p.userIdAt(e),
        infoHashHex: p.infoHashHexAt(e),
        peerIdHex: p.peerIdHexAt(e),
        lastUploaded: p.uploadedAt(e),
        lastDownloaded: p.downloadedAt(e),
        lastSeenMs: p.lastSeenMsAt(e),
      });
    }
    const batch: AccountingBatch = {
      deltas: [...this.#pending].map(([userId, t]) => ({ userId, ...t })),
      peers,
    };
    this.#db.saveAccounting(batch);
    p.clearDirty();
    this.#pending.clear();
    return peers.length;
  }

  /** Forget counters not seen since `beforeMs` (memory and db). @returns entries dropped from memory */
  expire(beforeMs: number): number {
    const n = this.#peers.expire(beforeMs);
    this.#db.forgetUserPeers(beforeMs);
    return n;
  }
}

/**
 * A member's copy of a .torrent: `announce` becomes `announceUrl`, and in `announce-list` every URL with the same
 * origin (scheme, host, port) as `announceUrl` is replaced by it. The `info` bytes are copied exactly, so the info
 * hash is unchanged (INTEROP.md 16).
 * @throws {BencodeError} when `torrent` is not bencode
 * @throws {MetainfoError} not_a_dict, missing_field
 */
export function personalizeTorrent(torrent: Uint8Array, announceUrl: string): Uint8Array {
  const top = decodeBencode(torrent, { isStrict: false });
  if (!isDict(top)) {
    throw new MetainfoError("not_a_dict", "Invalid torrent: not a bencoded dictionary", { field: "" });
  }
  if (!top.has("info")) {
    throw new MetainfoError("missing_field", `Invalid torrent field "info": missing`, { field: "info" });
  }
  const rawInfo = rawValue(torrent, ["info"], { isStrict: false });
  const origin = new URL(announceUrl).origin;
  const sameOrigin = (u: Uint8Array): boolean => {
    try {
      return new URL(new TextDecoder().decode(u)).origin === origin;
    } catch {
      return false;
    }
  };
  const out = new Map<string, BencodeValue>(top);
  out.set("announce", utf8(announceUrl));
  const list = top.get("announce-list");
  if (Array.isArray(list)) {
    const tiers: BencodeValue[] = [];
    for (const tier of list) {
      if (!Array.isArray(tier)) continue;
      const urls = tier.map((u) => (isBytes(u) && sameOrigin(u) ? utf8(announceUrl) : u));
      tiers.push(urls);
    }
    out.set("announce-list", tiers);
  }
  // Keys in bencode order; `info` spliced in as its original bytes.
  const parts: Uint8Array[] = [utf8("d")];
  // Dict keys are Latin-1 strings (one char per byte, bencode.ts).
  const keys = [...out.keys()].sort((a, b) => compare(fromLatin1(a), fromLatin1(b)));
  for (const key of keys) {
    const keyBytes = fromLatin1(key);
    parts.push(utf8(`${keyBytes.length}:`), keyBytes);
    parts.push(key === "info" ? rawInfo : encodeBencode(out.get(key)!));
  }
  parts.push(utf8("e"));
  return concat(parts);
}
