// The members of a private tracker (issue #6): names, passkeys, revocation and their upload/download totals. A
// revoked user keeps its row and totals. Passkeys are never echoed in errors.

import { PersistError, type SqlContext } from "./_sql.ts";

/** A member of a private tracker (issue #6). */
export interface UserRecord {
  id: number;
  name: string;
  /** 32 lowercase hex digits; never log it. */
  passkeyHex: string;
  createdMs: number;
  /** Set once revoked: the passkey no longer works. */
  revokedMs: number | null;
  rotatedMs: number | null;
  uploaded: number;
  downloaded: number;
}

/** Longest user name accepted. */
export const MAX_USER_NAME_CHARS = 64;
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]*$/;
const PASSKEY32 = /^[0-9a-f]{32}$/;

/** The users table of one open TrackerDb. */
export class UserTable {
  readonly #sql: SqlContext;

  constructor(sql: SqlContext) {
    this.#sql = sql;
  }

  /** See `TrackerDb.addUser`. */
  add(name: string, passkeyHex: string, nowMs: number): UserRecord {
    checkUserName(name);
    checkPasskey(passkeyHex);
    return this.#sql.transaction(() => {
      const row = this.#sql.stmt("SELECT id, revoked_ms FROM users WHERE name = ?").get(name);
      if (row !== undefined && row.revoked_ms === null) {
        throw new PersistError("user_exists", `Cannot add user "${name}": it exists`);
      }
      if (row === undefined) {
        this.#sql.stmt("INSERT INTO users (name, passkey, created_ms) VALUES (?, ?, ?)").run(name, passkeyHex, nowMs);
      } else {
        this.#sql.stmt("UPDATE users SET passkey = ?, revoked_ms = NULL, rotated_ms = ? WHERE id = ?").run(
          passkeyHex,
          nowMs,
          row.id as number,
        );
      }
      return this.#userByName(name)!;
    });
  }

  /** See `TrackerDb.getUser`. */
  get(name: string): UserRecord | null {
    return this.#userByName(name);
  }

  #userByName(name: string): UserRecord | null {
    const row = this.#sql.stmt(`SELECT ${USER_COLUMNS} FROM users WHERE name = ?`).get(name);
    return row === undefined ? null : rowToUser(row);
  }

  /** See `TrackerDb.listUsers`. */
  list(options: { activeOnly?: boolean } = {}): UserRecord[] {
    const where = options.activeOnly === true ? " WHERE revoked_ms IS NULL" : "";
    return this.#sql.stmt(`SELECT ${USER_COLUMNS} FROM users${where} ORDER BY name`).all().map(rowToUser);
  }

  /** See `TrackerDb.revokeUser`. */
  revoke(name: string, nowMs: number): boolean {
    return this.#sql.transaction(() => {
      const user = this.#userByName(name);
      if (user === null) throw new PersistError("unknown_user", `Unknown user "${name}"`);
      if (user.revokedMs !== null) return false;
      this.#sql.stmt("UPDATE users SET revoked_ms = ? WHERE id = ?").run(nowMs, user.id);
      return true;
    });
  }

  /** See `TrackerDb.rotatePasskey`. */
  rotatePasskey(name: string, passkeyHex: string, nowMs: number): UserRecord {
    checkPasskey(passkeyHex);
    return this.#sql.transaction(() => {
      const user = this.#userByName(name);
      if (user === null) throw new PersistError("unknown_user", `Unknown user "${name}"`);
      if (user.revokedMs !== null) throw new PersistError("user_revoked", `Cannot rotate user "${name}": revoked`);
      this.#sql.stmt("UPDATE users SET passkey = ?, rotated_ms = ? WHERE id = ?").run(passkeyHex, nowMs, user.id);
      return this.#userByName(name)!;
    });
  }
}

const USER_COLUMNS = "id, name, passkey, created_ms, revoked_ms, rotated_ms, uploaded, downloaded";

function rowToUser(row: Record<string, unknown>): UserRecord {
  return {
    id: row.id as number,
    name: row.name as string,
    passkeyHex: row.passkey as string,
    createdMs: row.created_ms as number,
    revokedMs: row.revoked_ms as number | null,
    rotatedMs: row.rotated_ms as number | null,
    uploaded: row.uploaded as number,
    downloaded: row.downloaded as number,
  };
}

/** @throws {PersistError} `invalid_user_name` */
function checkUserName(name: string): void {
  if (typeof name !== "string" || name.length > MAX_USER_NAME_CHARS || !USER_NAME.test(name)) {
    throw new PersistError(
      "invalid_user_name",
      `Invalid user name "${
        String(name).slice(0, 80)
      }": use 1-${MAX_USER_NAME_CHARS} letters, digits, ".", "_", "@", "-"`,
    );
  }
}

/** @throws {PersistError} `invalid_passkey` (the value is never echoed) */
function checkPasskey(passkeyHex: string): void {
  if (typeof passkeyHex !== "string" || !PASSKEY32.test(passkeyHex)) {
    throw new PersistError("invalid_passkey", "Invalid passkey: expected 32 lowercase hex digits");
  }
}
