// btool's CLI entry: dispatches to the subcommands in cli/. The only place that calls Deno.exit.

import { runMain } from "./cli/main_cli.ts";

if (import.meta.main) {
  Deno.exit(await runMain(Deno.args));
}
