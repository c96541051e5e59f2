// Members of a private tracker (issue #6): add/list/revoke/rotate over TrackerDb, per-user accounting of
// uploaded/downloaded (restart-safe positive deltas per (user, torrent, peer), INTEROP.md 11), member announce URLs
// and a member's copy of a .torrent. Time comes in as `nowMs`; never logs, never prints a passkey by itself.

import { type BencodeValue, decodeBencode, encodeBencode, isBytes, isDict, rawValue } from "../bencode.ts";
import { compare, concat, fromHex, fromLatin1, utf8 } from "../bytes.ts";
import { MetainfoError } from "../errors.ts";
import type { AccountingBatch, TrackerDb, UserPeerCounters, UserRecord } from "../persist/db.ts";
import { type AccessUser, createPasskey, key20, keyToHex20 } from "./access.ts";

/** Cap on (user, torrent, peer) counters kept in memory (~200 bytes each); beyond it new peers are not remembered. */
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

/** Keyed by info hash and peer id (`key20` each) and user id: entries stay small for 250k peers. */
interface PeerEntry {
  userId: number;
  lastUploaded: number;
  lastDownloaded: number;
  lastSeenMs: number;
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
 * Invariant: `#dirty` ⊆ keys of `#peers`; `#pending` holds exactly the deltas since the last flush.
 */
export class Accounting {
  readonly #db: TrackerDb;
  readonly #maxPeers: number;
  readonly #peers = new Map<string, PeerEntry>();
  readonly #dirty = new Set<string>();
  readonly #pending = new Map<number, PendingTotals>();

  /** Loads the last counters seen since `sinceMs` (the peer timeout) from the db. */
  constructor(db: TrackerDb, options: { sinceMs?: number; maxPeers?: number } = {}) {
    this.#db = db;
    this.#maxPeers = options.maxPeers ?? MAX_ACCOUNTED_PEERS;
    for (const p of db.loadUserPeers(options.sinceMs ?? 0)) {
      if (this.#peers.size >= this.#maxPeers) break;
      const infoHash = fromHex(p.infoHashHex);
      const peerId = fromHex(p.peerIdHex);
      if (infoHash === null || peerId === null || infoHash.length !== 20 || peerId.length !== 20) continue;
      this.#peers.set(key20(infoHash) + key20(peerId) + p.userId, {
        userId: p.userId,
        lastUploaded: p.lastUploaded,
        lastDownloaded: p.lastDownloaded,
        lastSeenMs: p.lastSeenMs,
      });
    }
  }

  /** (user, torrent, peer) counters in memory. */
  get size(): number {
    return this.#peers.size;
  }

  /** Count one announce of `userId`. Cheap (no hex, one map lookup); `flush()` writes the db. */
  record(
    userId: number,
    infoHash: Uint8Array,
    peerId: Uint8Array,
    counters: { uploaded: number; downloaded: number; isStarted?: boolean; nowMs: number },
  ): void {
    const key = key20(infoHash) + key20(peerId) + userId;
    const { uploaded, downloaded, nowMs } = counters;
    const e = this.#peers.get(key);
    let dUp: number;
    let dDown: number;
    if (e === undefined) {
      dUp = counters.isStarted === true ? uploaded : 0;
      dDown = counters.isStarted === true ? downloaded : 0;
      if (this.#peers.size < this.#maxPeers) {
        this.#peers.set(key, {
          userId,
          lastUploaded: uploaded,
          lastDownloaded: downloaded,
          lastSeenMs: nowMs,
        });
        this.#dirty.add(key);
      }
    } else {
      dUp = uploaded >= e.lastUploaded ? uploaded - e.lastUploaded : uploaded;
      dDown = downloaded >= e.lastDownloaded ? downloaded - e.lastDownloaded : downloaded;
      e.lastUploaded = uploaded;
      e.lastDownloaded = downloaded;
      e.lastSeenMs = nowMs;
      this.#dirty.add(key);
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
    const peers: UserPeerCounters[] = [];
    for (const key of this.#dirty) {
      const e = this.#peers.get(key);
      if (e !== undefined) {
        peers.push({
          userId: e.userId,
          infoHashHex: keyToHex20(key, 0),
          peerIdHex: keyToHex20(key, 10),
          lastUploaded: e.lastUploaded,
          lastDownloaded: e.lastDownloaded,
          lastSeenMs: e.lastSeenMs,
        });
      }
    }
    const batch: AccountingBatch = {
      deltas: [...this.#pending].map(([userId, t]) => ({ userId, ...t })),
      peers,
    };
    this.#db.saveAccounting(batch);
    this.#dirty.clear();
    this.#pending.clear();
    return peers.length;
  }

  /** Forget counters not seen since `beforeMs` (memory and db). @returns entries dropped from memory */
  expire(beforeMs: number): number {
    let n = 0;
    for (const [key, e] of this.#peers) {
      if (e.lastSeenMs < beforeMs && !this.#dirty.has(key)) {
        this.#peers.delete(key);
        n++;
      }
    }
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
