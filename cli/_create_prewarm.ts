// Imported FIRST by main.ts. For `btool create` on enough data, start the hash Worker before the rest of btool's
// modules are evaluated (node:crypto, node:util, … ~20 ms), so that the Worker's boot overlaps the main thread's.
// Only a guess from argv: it never changes what `create` does, only whether a Worker is ready sooner
// (lib/create_hashing.ts adopts it; cli/create.ts terminates it if unused). Imports nothing heavy.

import { prewarmHashWorker } from "../lib/_hash_pool.ts";

/**
 * Smallest data worth a prewarmed Worker: below it the main thread alone is done sooner (docs/PERFORMANCE.md,
 * "create"). The same as INLINE_MAX_BYTES in lib/create_hashing.ts, not imported from there: its imports
 * (node:crypto) would be evaluated before this module and delay the Worker.
 */
export const PREWARM_MIN_BYTES = 160 * 1024 * 1024;

/** Entries a folder's size estimate may look at; past that, the folder counts as big. */
export const PREWARM_MAX_ENTRIES = 1000;

/** Whether the data under `path` reaches PREWARM_MIN_BYTES (bounded walk; symbolic links followed). */
function isBigEnough(path: string, budget: { entries: number; bytes: number }): boolean {
  const info = Deno.statSync(path);
  if (!info.isDirectory) {
    budget.bytes += info.isFile ? info.size : 0;
    return budget.bytes >= PREWARM_MIN_BYTES;
  }
  for (const e of Deno.readDirSync(path)) {
    if (--budget.entries < 0) return true;
    try {
      if (isBigEnough(`${path}/${e.name}`, budget)) return true;
    } catch {
      // unreadable or broken: create will say so
    }
  }
  return false;
}

/** True when `args` (btool's argv) is a `btool create` that is likely to hash at least PREWARM_MIN_BYTES. */
export function shouldPrewarmCreate(args: readonly string[]): boolean {
  if (args[0] !== "create") return false;
  const rest = args.slice(1);
  const end = rest.indexOf("--");
  const flags = end < 0 ? rest : rest.slice(0, end);
  if (flags.includes("--help") || flags.includes("-h")) return false;
  if (Deno.permissions.querySync({ name: "read" }).state !== "granted") return false;
  // PATH is one of the arguments that are not flags; the others (URLs, texts, the output) are rarely big files.
  for (const a of rest) {
    if (a.startsWith("-") && a !== "-") continue;
    try {
      if (isBigEnough(a, { entries: PREWARM_MAX_ENTRIES, bytes: 0 })) return true;
    } catch {
      // not a path
    }
  }
  return false;
}

try {
  if (shouldPrewarmCreate(Deno.args)) prewarmHashWorker();
} catch {
  // a guess only: `create` spawns its own Workers if this failed
}
