// Test assertions: node:assert/strict plus helpers that check a BtoolError's `code`.

import assert from "node:assert/strict";
import type { BtoolError } from "../../lib/errors.ts";

export { assert };
export const equal: typeof assert.equal = assert.equal;
export const deepEqual: typeof assert.deepEqual = assert.deepEqual;
export const notEqual: typeof assert.notEqual = assert.notEqual;
export const ok: typeof assert.ok = assert.ok;
export const match: typeof assert.match = assert.match;

/** Assert that `fn` throws a `cls` whose `code` is `code`; returns the error. */
export function assertThrowsCode<E extends BtoolError>(
  fn: () => unknown,
  cls: abstract new (...args: never[]) => E,
  code: string,
): E {
  try {
    fn();
  } catch (err: unknown) {
    if (!(err instanceof cls)) throw new Error(`Expected ${cls.name}, got ${String(err)}`, { cause: err });
    assert.equal(err.code, code, `wrong code: ${err.message}`);
    return err;
  }
  throw new Error(`Expected ${cls.name} with code "${code}", nothing was thrown`);
}

/** Async version of assertThrowsCode. */
export async function assertRejectsCode<E extends BtoolError>(
  fn: () => Promise<unknown>,
  cls: abstract new (...args: never[]) => E,
  code: string,
): Promise<E> {
  try {
    await fn();
  } catch (err: unknown) {
    if (!(err instanceof cls)) throw new Error(`Expected ${cls.name}, got ${String(err)}`, { cause: err });
    assert.equal(err.code, code, `wrong code: ${err.message}`);
    return err;
  }
  throw new Error(`Expected ${cls.name} with code "${code}", nothing was thrown`);
}
