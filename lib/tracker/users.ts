// Members of a private tracker (issue #6): add/list/revoke/rotate over TrackerDb, member announce URLs and a
// member's copy of a .torrent (their accounting is member_accounting.ts). Time comes in as `nowMs`; never logs, never
// prints a passkey by itself.

import { type BencodeValue, decodeBencode, encodeBencode, isBytes, isDict, rawValue } from "../bencode.ts";
import { compare, concat, fromLatin1, utf8 } from "../bytes.ts";
import { MetainfoError } from "../errors.ts";
import type { TrackerDb, UserRecord } from "../persist/db.ts";
import { type AccessUser, createPasskey } from "./access.ts";

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
