// `btool create` front end (issue #3).

import { notLanded } from "./_stub.ts";

/** Help text for `btool create`. */
export const HELP = `Usage: btool create [options]

Not available yet: issue #3 has not landed.`;

/** Run `btool create` with `argv` (after the subcommand); resolves to the exit code. */
export function run(_argv: string[]): Promise<number> {
  return notLanded("create", 3);
}
