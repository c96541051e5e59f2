// Argument parsing for every subcommand over node:util parseArgs; turns its errors into UsageError.
// Each front end (cli/<command>.ts) declares its own options and help text and calls parseCommand.

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { UsageError } from "../lib/errors.ts";

/** Parse `argv` strictly against `options`; positionals allowed. @throws {UsageError} on unknown or malformed flags */
export function parseCommand<T extends ParseArgsOptionsConfig>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err: unknown) {
    throw new UsageError(err instanceof Error ? err.message.replace(/\. To specify.*$/s, "") : String(err), {
      cause: err,
    });
  }
}

/** True when the user asked for help anywhere in `argv` (before a `--`). */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === "--") return false;
    if (a === "--help" || a === "-h") return true;
  }
  return false;
}

/**
 * Parse a byte size: plain bytes (`262144`) or with a binary suffix (`256K`, `1M`, `1MiB`, `2g`).
 * @throws {UsageError} when `text` is not a size
 */
export function parseByteSize(text: string, what: string): number {
  const m = /^(\d+)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (m === null) throw new UsageError(`Invalid ${what}: "${text}" is not a size (e.g. 262144, 256K, 1M)`);
  const shift = { "": 0, k: 10, m: 20, g: 30, t: 40 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g" | "t"];
  const value = Number(m[1]) * 2 ** shift;
  if (!Number.isSafeInteger(value)) throw new UsageError(`Invalid ${what}: "${text}" is too large`);
  return value;
}

/**
 * Parse a non-negative integer option.
 * @throws {UsageError} when `text` is not one, or is outside [min, max]
 */
export function parseIntOption(text: string, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`Invalid ${what}: "${text}" is not a whole number`);
  const value = Number(text);
  if (value < min || value > max) throw new UsageError(`Invalid ${what}: "${text}" must be in ${min}..${max}`);
  return value;
}
