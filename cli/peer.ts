// `btool peer` front end (issue #5).

import { notLanded } from "./_stub.ts";

/** Help text for `btool peer`. */
export const HELP = `Usage: btool peer [options]

Not available yet: issue #5 has not landed.`;

/** Run `btool peer` with `argv` (after the subcommand); resolves to the exit code. */
export function run(_argv: string[]): Promise<number> {
  return notLanded("peer", 5);
}
