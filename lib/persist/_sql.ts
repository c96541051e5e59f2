// What the table modules of lib/persist share: the connection handle they are given (statements, transactions,
// settings), the error type, SQLite error translation and argument checks. Opens nothing itself.

import type { StatementSync } from "node:sqlite";
import { BtoolError } from "../errors.ts";

/** The state database could not be opened, migrated or written, or a value given to it is invalid. */
export class PersistError extends BtoolError {}

/** What a table module may do with the open database (given by TrackerDb). */
export interface SqlContext {
  /** A prepared statement, cached by its text. */
  stmt(sql: string): StatementSync;
  /** Run `fn` in a write transaction; SQLite errors become PersistError. */
  transaction<T>(fn: () => T): T;
  getSetting(key: string): string | null;
  /** Store a setting inside the caller's transaction. */
  setSettingInside(key: string, value: string): void;
}

/** node:sqlite's `StatementSync.setReturnArrays` (present at run time, missing from Deno 2.9's type declarations). */
export interface ArrayRows {
  setReturnArrays(enabled: boolean): void;
}

/** A statement that returns rows as arrays in column order (no object per row: faster for many rows). */
export function returningArrays(stmt: StatementSync): StatementSync {
  (stmt as StatementSync & ArrayRows).setReturnArrays(true);
  return stmt;
}

const HEX40 = /^[0-9a-fA-F]{40}$/;

/** Lowercase a 40-digit hex info hash. @throws {PersistError} `invalid_info_hash` */
export function normalizeHex(hex: string, what: string): string {
  if (typeof hex !== "string" || !HEX40.test(hex)) {
    throw new PersistError("invalid_info_hash", `Invalid ${what}: expected 40 hex digits, got "${String(hex)}"`);
  }
  return hex.toLowerCase();
}

/** @throws {PersistError} `invalid_value` unless `value` is a non-negative safe integer */
export function checkCount(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new PersistError("invalid_value", `Invalid ${what}: expected a non-negative safe integer, got "${value}"`);
  }
}

/**
 * SQLite's own errors become PersistError: `db_busy` when another connection held the write lock past
 * busy_timeout, `write_failed` otherwise. Other errors (e.g. thrown by a caller's callback) pass unchanged.
 */
export function wrapSqliteError(err: unknown): unknown {
  if (!(err instanceof Error) || (err as Error & { code?: unknown }).code !== "ERR_SQLITE_ERROR") return err;
  const isBusy = /\b(locked|busy)\b/i.test(err.message);
  return new PersistError(isBusy ? "db_busy" : "write_failed", `Cannot write the database: ${err.message}`, {
    cause: err,
  });
}
