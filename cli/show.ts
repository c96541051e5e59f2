// `btool show` front end (issue #3).

import { notLanded } from "./_stub.ts";

/** Help text for `btool show`. */
export const HELP = `Usage: btool show [options]

Not available yet: issue #3 has not landed.`;

/** Run `btool show` with `argv` (after the subcommand); resolves to the exit code. */
export function run(_argv: string[]): Promise<number> {
  return notLanded("show", 3);
}
