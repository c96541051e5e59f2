// `btool verify` front end (issue #3).

import { notLanded } from "./_stub.ts";

/** Help text for `btool verify`. */
export const HELP = `Usage: btool verify [options]

Not available yet: issue #3 has not landed.`;

/** Run `btool verify` with `argv` (after the subcommand); resolves to the exit code. */
export function run(_argv: string[]): Promise<number> {
  return notLanded("verify", 3);
}
