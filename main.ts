// btool's CLI entry: dispatches to the subcommands in cli/. The only place that calls Deno.exit.

import "./cli/_create_prewarm.ts"; // first: starts `btool create`'s hash Worker before the other modules load
import { runMain } from "./cli/main_cli.ts";

if (import.meta.main) {
  Deno.exit(await runMain(Deno.args));
}
