// `btool tracker` front end (issue #4).

import { notLanded } from "./_stub.ts";

/** Help text for `btool tracker`. */
export const HELP = `Usage: btool tracker [options]

Not available yet: issue #4 has not landed.`;

/** Run `btool tracker` with `argv` (after the subcommand); resolves to the exit code. */
export function run(_argv: string[]): Promise<number> {
  return notLanded("tracker", 4);
}
