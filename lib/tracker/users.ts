// Members of a private tracker (issue #6): add/list/revoke/rotate over TrackerDb, per-user accounting of
// uploaded/downloaded (restart-safe positive deltas per (user, torrent, peer), INTEROP.md 11), member announce URLs
// and a member's copy of a .torrent. Time comes in as `nowMs`; never logs, never prints a passkey by itself.

import { type BencodeValue, decodeBencode, encodeBencode, isBytes, isDict, rawValue } from "../bencode.ts";
import { compare, concat, fromLatin1, utf8 } from "../bytes.ts";
import { MetainfoError } from "../errors.ts";
import type { TrackerDb, UserDelta, UserRecord } from "../persist/db.ts";
import { type AccessUser, createPasskey } from "./access.ts";

/**
 * Cap on (user, torrent, peer) counters kept in memory (~130 bytes each: ~32 MB at the cap, allocated as the table
 * grows); beyond it new peers are not remembered.
 */
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
/**
 * Int32 words per entry in `#words` (one 64-byte cache line): user id low and high, info hash (5), peer id (5), the
 * entry's hash, its index in the dirty list (-1 = clean), 2 spare.
 */
const ENTRY_WORDS = 16;
const W_HASH = 12;
const W_DIRTY = 13;
/** Float64 columns per entry in `#numbers`: last uploaded, last downloaded, last seen (ms), user id, and the
 * uploaded and downloaded deltas not yet written (so a partial flush writes each entry's deltas with its counters). */
const ENTRY_NUMBERS = 6;

/** A secret per process, the hash's seed: a member picks the info hashes and peer ids, so a fixed seed would let one
 * compute ids that all share one probe chain. (The table lives in memory only: hashes are never stored.) */
const TABLE_SEED = crypto.getRandomValues(new Int32Array(1))[0]!;

function mixWord(h: number, w: number): number {
  // murmur3's 32-bit block mix.
  w = Math.imul(w, 0xcc9e2d51);
  w = (w << 15) | (w >>> 17);
  h ^= Math.imul(w, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** Copy 20 bytes as 5 little-endian words (any alignment: the bytes may be a view into a request buffer). */
function readWords(b: Uint8Array, out: Int32Array, at: number): void {
  for (let i = 0; i < 5; i++) {
    const j = 4 * i;
    out[at + i] = b[j]! | (b[j + 1]! << 8) | (b[j + 2]! << 16) | (b[j + 3]! << 24);
  }
}

/**
 * Last counters per (user, torrent, peer) without a JS object or string per entry, so the announce path allocates
 * nothing and 250k entries cost the garbage collector nothing. An entry is one 64-byte line of `#words` (key, hash,
 * dirty mark) plus 4 numbers; entries are dense in `0..size-1` and found through an open-addressing slot table of
 * (hash, entry + 1) pairs (linear probing, load ≤ 1/2, backward-shift deletion: no tombstones).
 * Invariants: every entry is in exactly one slot, reachable from `hash & #mask` without crossing an empty slot;
 * an entry's dirty word is its index in `#dirtyList` or -1; size ≤ maxEntries.
 */
export class PeerCounters {
  readonly #maxEntries: number;
  readonly #hashMask: number;
  #capacity = 0;
  #mask = 0;
  #size = 0;
  #slots = new Int32Array(0);
  #words = new Int32Array(0);
  #numbers = new Float64Array(0);
  #dirtyList = new Int32Array(0);
  #dirtyCount = 0;
  /** The key of the last `find` or `insert` as words, and its hash. */
  readonly #key = new Int32Array(12);
  #hash = 0;

  /** @param options.hashMask tests only: narrows every hash to force collisions */
  constructor(maxEntries: number, options: { hashMask?: number } = {}) {
    this.#maxEntries = Math.max(1, maxEntries);
    this.#hashMask = options.hashMask ?? -1;
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
    const words = this.#words;
    const numbers = this.#numbers;
    const dirtyList = this.#dirtyList;
    let slotCount = 2;
    while (slotCount < 2 * capacity) slotCount *= 2;
    this.#capacity = capacity;
    this.#mask = slotCount - 1;
    this.#slots = new Int32Array(2 * slotCount);
    this.#words = new Int32Array(capacity * ENTRY_WORDS);
    this.#numbers = new Float64Array(capacity * ENTRY_NUMBERS);
    this.#dirtyList = new Int32Array(capacity);
    this.#words.set(words.subarray(0, this.#size * ENTRY_WORDS));
    this.#numbers.set(numbers.subarray(0, this.#size * ENTRY_NUMBERS));
    this.#dirtyList.set(dirtyList.subarray(0, this.#dirtyCount));
    for (let e = 0; e < this.#size; e++) this.#place(this.#words[e * ENTRY_WORDS + W_HASH]!, e);
  }

  #place(hash: number, e: number): void {
    const slots = this.#slots;
    let s = hash & this.#mask;
    while (slots[2 * s + 1] !== 0) s = (s + 1) & this.#mask;
    slots[2 * s] = hash;
    slots[2 * s + 1] = e + 1;
  }

  #prepare(userId: number, infoHash: Uint8Array, peerId: Uint8Array): void {
    const key = this.#key;
    key[0] = userId | 0;
    key[1] = (userId / 0x1_0000_0000) | 0;
    readWords(infoHash, key, 2);
    readWords(peerId, key, 7);
    let h = TABLE_SEED;
    for (let i = 0; i < 12; i++) h = mixWord(h, key[i]!);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    this.#hash = (h ^ (h >>> 16)) & this.#hashMask;
  }

  /** The entry of (userId, infoHash, peerId), or -1. */
  find(userId: number, infoHash: Uint8Array, peerId: Uint8Array): number {
    this.#prepare(userId, infoHash, peerId);
    const hash = this.#hash;
    const key = this.#key;
    const slots = this.#slots;
    const words = this.#words;
    const mask = this.#mask;
    for (let s = hash & mask;; s = (s + 1) & mask) {
      const v = slots[2 * s + 1]!;
      if (v === 0) return -1;
      if (slots[2 * s] !== hash) continue;
      const at = (v - 1) * ENTRY_WORDS;
      let i = 0;
      while (i < 12 && words[at + i] === key[i]) i++;
      if (i === 12) return v - 1;
    }
  }

  /**
   * Add an entry (the caller checked that `find` missed) and mark it dirty when `isDirty`.
   * @returns its index, or -1 when the table is full (the cap: the peer is not remembered)
   */
  insert(
    userId: number,
    infoHash: Uint8Array,
    peerId: Uint8Array,
    counters: { uploaded: number; downloaded: number; lastSeenMs: number; isDirty: boolean },
  ): number {
    if (this.#size >= this.#capacity) {
      if (this.#capacity >= this.#maxEntries) return -1;
      this.#resize(Math.min(this.#maxEntries, this.#capacity * 2));
    }
    this.#prepare(userId, infoHash, peerId);
    const e = this.#size++;
    const at = e * ENTRY_WORDS;
    this.#words.set(this.#key, at);
    this.#words[at + W_HASH] = this.#hash;
    this.#words[at + W_DIRTY] = -1;
    const n = e * ENTRY_NUMBERS;
    this.#numbers[n] = counters.uploaded;
    this.#numbers[n + 1] = counters.downloaded;
    this.#numbers[n + 2] = counters.lastSeenMs;
    this.#numbers[n + 3] = userId;
    this.#numbers[n + 4] = 0;
    this.#numbers[n + 5] = 0;
    if (counters.isDirty) this.#markDirty(e);
    this.#place(this.#hash, e);
    return e;
  }

  /** Set entry `e`'s last counters and mark it dirty. */
  update(e: number, uploaded: number, downloaded: number, lastSeenMs: number): void {
    const n = e * ENTRY_NUMBERS;
    this.#numbers[n] = uploaded;
    this.#numbers[n + 1] = downloaded;
    this.#numbers[n + 2] = lastSeenMs;
    this.#markDirty(e);
  }

  #markDirty(e: number): void {
    const at = e * ENTRY_WORDS + W_DIRTY;
    if (this.#words[at]! >= 0) return;
    this.#words[at] = this.#dirtyCount;
    this.#dirtyList[this.#dirtyCount++] = e;
  }

  uploadedAt(e: number): number {
    return this.#numbers[e * ENTRY_NUMBERS]!;
  }

  downloadedAt(e: number): number {
    return this.#numbers[e * ENTRY_NUMBERS + 1]!;
  }

  lastSeenMsAt(e: number): number {
    return this.#numbers[e * ENTRY_NUMBERS + 2]!;
  }

  userIdAt(e: number): number {
    return this.#numbers[e * ENTRY_NUMBERS + 3]!;
  }

  /** The dirty entries' indexes (a copy). */
  dirtyEntries(): Int32Array {
    return this.#dirtyList.slice(0, this.#dirtyCount);
  }

  /** Mark every entry clean (a save began: later changes mark them again). Unwritten deltas stay. */
  clearDirty(): void {
    for (let i = 0; i < this.#dirtyCount; i++) this.#words[this.#dirtyList[i]! * ENTRY_WORDS + W_DIRTY] = -1;
    this.#dirtyCount = 0;
  }

  /** Set entry `e`'s unwritten deltas to zero (they were handed to a save). */
  zeroPending(e: number): void {
    this.#numbers[e * ENTRY_NUMBERS + 4] = 0;
    this.#numbers[e * ENTRY_NUMBERS + 5] = 0;
  }

  /**
   * Write entry `e` as an accounting record (ACCOUNTING_RECORD_BYTES) at byte `at` of `view`: user id, info hash,
   * peer id, last uploaded, last downloaded, last seen.
   */
  writeRecord(e: number, view: DataView, at: number): void {
    const w = e * ENTRY_WORDS;
    const n = e * ENTRY_NUMBERS;
    view.setFloat64(at, this.#numbers[n + 3]!, true);
    // Info hash and peer id: words 2–11, each 4 bytes little-endian (readWords' order), so the bytes come back as-is.
    for (let i = 0; i < 10; i++) view.setInt32(at + 8 + 4 * i, this.#words[w + 2 + i]!, true);
    view.setFloat64(at + 48, this.#numbers[n]!, true);
    view.setFloat64(at + 56, this.#numbers[n + 1]!, true);
    view.setFloat64(at + 64, this.#numbers[n + 2]!, true);
  }

  /** Add unwritten deltas to entry `e` (which is dirty: `update` or a dirty `insert` came first). */
  addPending(e: number, uploaded: number, downloaded: number): void {
    const n = e * ENTRY_NUMBERS;
    this.#numbers[n + 4] = Math.min(Number.MAX_SAFE_INTEGER, this.#numbers[n + 4]! + uploaded);
    this.#numbers[n + 5] = Math.min(Number.MAX_SAFE_INTEGER, this.#numbers[n + 5]! + downloaded);
  }

  pendingUploadedAt(e: number): number {
    return this.#numbers[e * ENTRY_NUMBERS + 4]!;
  }

  pendingDownloadedAt(e: number): number {
    return this.#numbers[e * ENTRY_NUMBERS + 5]!;
  }

  /** Remove clean entries last seen before `beforeMs`. @returns how many were removed */
  expire(beforeMs: number): number {
    let n = 0;
    // Downwards: removing `e` moves the last entry (already visited) into it.
    for (let e = this.#size - 1; e >= 0; e--) {
      if (this.lastSeenMsAt(e) < beforeMs && this.#words[e * ENTRY_WORDS + W_DIRTY] === -1) {
        this.#remove(e);
        n++;
      }
    }
    return n;
  }

  #slotOf(e: number): number {
    let s = this.#words[e * ENTRY_WORDS + W_HASH]! & this.#mask;
    while (this.#slots[2 * s + 1] !== e + 1) s = (s + 1) & this.#mask;
    return s;
  }

  /** Remove clean entry `e`. */
  #remove(e: number): void {
    const slots = this.#slots;
    const mask = this.#mask;
    // Backward-shift deletion: pull later entries of the probe run into the hole, so lookups need no tombstones.
    let hole = this.#slotOf(e);
    for (let j = (hole + 1) & mask; slots[2 * j + 1] !== 0; j = (j + 1) & mask) {
      const home = slots[2 * j]! & mask;
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        slots[2 * hole] = slots[2 * j]!;
        slots[2 * hole + 1] = slots[2 * j + 1]!;
        hole = j;
      }
    }
    slots[2 * hole] = 0;
    slots[2 * hole + 1] = 0;
    const last = --this.#size;
    if (e === last) return;
    slots[2 * this.#slotOf(last) + 1] = e + 1;
    this.#words.copyWithin(e * ENTRY_WORDS, last * ENTRY_WORDS, (last + 1) * ENTRY_WORDS);
    this.#numbers.copyWithin(e * ENTRY_NUMBERS, last * ENTRY_NUMBERS, (last + 1) * ENTRY_NUMBERS);
    const pos = this.#words[e * ENTRY_WORDS + W_DIRTY]!;
    if (pos >= 0) this.#dirtyList[pos] = e;
  }
}

/** Add to a user's totals in `map` (capped at MAX_SAFE_INTEGER). */
function addTotals(map: Map<number, PendingTotals>, userId: number, uploaded: number, downloaded: number): void {
  const t = map.get(userId);
  if (t === undefined) map.set(userId, { uploaded, downloaded });
  else {
    t.uploaded = Math.min(Number.MAX_SAFE_INTEGER, t.uploaded + uploaded);
    t.downloaded = Math.min(Number.MAX_SAFE_INTEGER, t.downloaded + downloaded);
  }
}

/** Per-user totals not yet in the db, as returned by `Accounting.pending`. */
export interface PendingTotals {
  uploaded: number;
  downloaded: number;
}

/** Bytes of one accounting record: user id, info hash, peer id, last uploaded, last downloaded, last seen. */
export const ACCOUNTING_RECORD_BYTES = 72;
/** The record format's name, stored with each generation (another format is not read). */
export const ACCOUNTING_RECORD_FORMAT = "btool-accounting-72-v1";
/** Records per chunk of a save (about 1 MiB). */
export const ACCOUNTING_CHUNK_ENTRIES = 14_000;

/** A save of the accounting in progress: call `step` (one chunk each) until it returns true (committed). */
export interface AccountingSave {
  /**
   * Write up to `maxEntries` records as one chunk; after the last one, commit the generation with the deltas
   * written. @returns true when committed
   * @throws {PersistError} the save is abandoned: nothing is lost, the next save writes everything again
   */
  step(maxEntries?: number): boolean;
}

/**
 * Per-user accounting. Clients report per-session counters that restart with the client (INTEROP.md 11): for each
 * (user, torrent, peer) the last values are kept and only positive deltas are added; a decrease means a restart,
 * so the new value itself is the delta. A peer seen for the first time counts its values only on `started` (a new
 * session); otherwise (the tracker restarted, or forgot it) they are its baseline: never counted twice.
 * A save writes every entry's last counters as a new generation of binary chunks (one per event-loop turn when run
 * in steps) and commits it in the same transaction that adds the deltas those counters include. After a crash the
 * previous generation and totals stand together: a peer's next announce is measured from its older counters, so
 * the unsaved deltas are counted then, once.
 * Invariants: each entry carries the deltas not yet handed to a save; `#loose` holds deltas of peers the capped
 * table could not hold; `#staged` the deltas of entries written by the running save; `#pending` is, per user, the
 * sum of all three. Entries are only removed (expire) when no save runs, so a save's cursor sees every entry.
 */
export class Accounting {
  readonly #db: TrackerDb;
  readonly #peers: PeerCounters;
  readonly #pending = new Map<number, PendingTotals>();
  readonly #loose = new Map<number, PendingTotals>();
  #staged = new Map<number, PendingTotals>();
  #save: { generation: number; cursor: number; seq: number } | null = null;

  /** Loads the last counters seen since `sinceMs` (the peer timeout) from the db. */
  constructor(db: TrackerDb, options: { sinceMs?: number; maxPeers?: number } = {}) {
    this.#db = db;
    this.#peers = new PeerCounters(options.maxPeers ?? MAX_ACCOUNTED_PEERS);
    const sinceMs = options.sinceMs ?? 0;
    const saved = db.loadAccounting();
    if (saved !== null && saved.format === ACCOUNTING_RECORD_FORMAT) {
      for (const chunk of saved.chunks()) {
        const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        for (let at = 0; at + ACCOUNTING_RECORD_BYTES <= chunk.length; at += ACCOUNTING_RECORD_BYTES) {
          const lastSeenMs = view.getFloat64(at + 64, true);
          if (lastSeenMs < sinceMs) continue;
          const ok = this.#restore(
            view.getFloat64(at, true),
            chunk.subarray(at + 8, at + 28),
            chunk.subarray(at + 28, at + 48),
            view.getFloat64(at + 48, true),
            view.getFloat64(at + 56, true),
            lastSeenMs,
          );
          if (!ok) return;
        }
      }
    }
  }

  /** Put back saved last counters; false when the table is full. */
  #restore(
    userId: number,
    infoHash: Uint8Array,
    peerId: Uint8Array,
    uploaded: number,
    downloaded: number,
    lastSeenMs: number,
  ): boolean {
    if (this.#peers.find(userId, infoHash, peerId) >= 0) return true;
    return this.#peers.insert(userId, infoHash, peerId, { uploaded, downloaded, lastSeenMs, isDirty: false }) >= 0;
  }

  /** (user, torrent, peer) counters in memory. */
  get size(): number {
    return this.#peers.size;
  }

  /** Count one announce of `userId`. Allocates nothing on a known peer; a save writes the db. */
  record(
    userId: number,
    infoHash: Uint8Array,
    peerId: Uint8Array,
    counters: { uploaded: number; downloaded: number; isStarted?: boolean; nowMs: number },
  ): void {
    const { uploaded, downloaded, nowMs } = counters;
    const peers = this.#peers;
    let e = peers.find(userId, infoHash, peerId);
    let dUp: number;
    let dDown: number;
    if (e < 0) {
      dUp = counters.isStarted === true ? uploaded : 0;
      dDown = counters.isStarted === true ? downloaded : 0;
      e = peers.insert(userId, infoHash, peerId, { uploaded, downloaded, lastSeenMs: nowMs, isDirty: true });
    } else {
      const lastUp = peers.uploadedAt(e);
      const lastDown = peers.downloadedAt(e);
      dUp = uploaded >= lastUp ? uploaded - lastUp : uploaded;
      dDown = downloaded >= lastDown ? downloaded - lastDown : downloaded;
      peers.update(e, uploaded, downloaded, nowMs);
    }
    if (dUp === 0 && dDown === 0) return;
    if (e >= 0) peers.addPending(e, dUp, dDown);
    else addTotals(this.#loose, userId, dUp, dDown);
    addTotals(this.#pending, userId, dUp, dDown);
  }

  /** Deltas of `userId` not yet saved. */
  pending(userId: number): PendingTotals {
    return { ...(this.#pending.get(userId) ?? { uploaded: 0, downloaded: 0 }) };
  }

  /** Something changed since the last save began (a counter, a new peer, or deltas). */
  get hasChanges(): boolean {
    return this.#peers.dirtyCount > 0 || this.#loose.size > 0;
  }

  /** A save is in progress. */
  get isSaving(): boolean {
    return this.#save !== null;
  }

  /**
   * Start a save of every entry (abandoning a running one, whose deltas go to the next). Drive it with `step`.
   * @throws {PersistError} `db_busy`, `write_failed`
   */
  beginSave(): AccountingSave {
    this.#abandon();
    const generation = this.#db.beginAccounting();
    this.#save = { generation, cursor: 0, seq: 0 };
    this.#peers.clearDirty();
    // Deltas of peers without an entry have no counters to wait for: they go with this generation.
    for (const [userId, t] of this.#loose) addTotals(this.#staged, userId, t.uploaded, t.downloaded);
    this.#loose.clear();
    const save = this.#save;
    return {
      step: (maxEntries = ACCOUNTING_CHUNK_ENTRIES) => {
        return this.#save === save ? this.#guardedStep(save, maxEntries) : true;
      },
    };
  }

  /** `#step`, abandoning the save when it throws (nothing is lost: the next save writes everything). */
  #guardedStep(save: { generation: number; cursor: number; seq: number }, maxEntries: number): boolean {
    try {
      return this.#step(save, maxEntries);
    } catch (err: unknown) {
      this.#abandon();
      throw err;
    }
  }

  #step(save: { generation: number; cursor: number; seq: number }, maxEntries: number): boolean {
    const p = this.#peers;
    const count = Math.min(p.size - save.cursor, maxEntries);
    if (count > 0) {
      const chunk = new Uint8Array(count * ACCOUNTING_RECORD_BYTES);
      const view = new DataView(chunk.buffer);
      const staged = new Map<number, PendingTotals>();
      for (let i = 0; i < count; i++) {
        const e = save.cursor + i;
        p.writeRecord(e, view, i * ACCOUNTING_RECORD_BYTES);
        const up = p.pendingUploadedAt(e);
        const down = p.pendingDownloadedAt(e);
        if (up !== 0 || down !== 0) addTotals(staged, p.userIdAt(e), up, down);
      }
      this.#db.writeAccountingChunk(save.generation, save.seq, chunk);
      // Written: these entries' deltas now wait for the commit.
      for (let i = 0; i < count; i++) p.zeroPending(save.cursor + i);
      for (const [userId, t] of staged) addTotals(this.#staged, userId, t.uploaded, t.downloaded);
      save.seq++;
      save.cursor += count;
      if (save.cursor < p.size) return false;
    }
    const deltas: UserDelta[] = [...this.#staged].map(([userId, t]) => ({ userId, ...t }));
    this.#db.commitAccounting(save.generation, deltas, ACCOUNTING_RECORD_FORMAT);
    for (const d of deltas) {
      const left = this.#pending.get(d.userId);
      if (left === undefined) continue;
      left.uploaded = Math.max(0, left.uploaded - d.uploaded);
      left.downloaded = Math.max(0, left.downloaded - d.downloaded);
      if (left.uploaded === 0 && left.downloaded === 0) this.#pending.delete(d.userId);
    }
    this.#staged = new Map();
    this.#save = null;
    this.#db.pruneAccountingChunks();
    return true;
  }

  /** Drop a running save: its written deltas wait for the next one (nothing is lost or counted twice). */
  #abandon(): void {
    if (this.#save === null) return;
    for (const [userId, t] of this.#staged) addTotals(this.#loose, userId, t.uploaded, t.downloaded);
    this.#staged = new Map();
    this.#save = null;
  }

  /**
   * Save now, synchronously: finish a running save, then save again if anything changed meanwhile.
   * @returns records written by the new save (0 when nothing changed)
   * @throws {PersistError} `db_busy`, `write_failed` (nothing is lost)
   */
  flush(): number {
    if (this.#save !== null) this.#guardedStep(this.#save, Number.POSITIVE_INFINITY);
    if (!this.hasChanges) return 0;
    const size = this.#peers.size;
    this.beginSave().step(Number.POSITIVE_INFINITY);
    return size;
  }

  /** Forget counters not seen since `beforeMs` (in memory; the next save leaves them out). Not while a save runs.
   * @returns entries dropped */
  expire(beforeMs: number): number {
    if (this.#save !== null) return 0;
    return this.#peers.expire(beforeMs);
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
