// `btool register` front end (issue #6).

import { notLanded } from "./_stub.ts";

/** Help text for `btool register`. */
export const HELP = `Usage: btool register [options]

Not available yet: issue #6 has not landed.`;

/** Run `btool register` with `argv` (after the subcommand); resolves to the exit code. */
export function run(_argv: string[]): Promise<number> {
  return notLanded("register", 6);
}
