// `btool tracker --http-io` (cli/tracker.ts): deno is the default and libc is opt-in; a value it does not know, and
// libc where it cannot work (a host name; another OS), are usage errors (exit 2 with the help), never a silent fallback.

import { equal, match, ok } from "../_helpers/assert.ts";
import { UsageError } from "../../lib/errors.ts";
import { HELP, run } from "../../cli/tracker.ts";

async function usageError(argv: string[]): Promise<UsageError> {
  try {
    await run(argv);
  } catch (err: unknown) {
    ok(err instanceof UsageError, `not a UsageError: ${err}`);
    return err;
  }
  throw new Error(`run(${argv.join(" ")}) did not fail`);
}

Deno.test("btool tracker --http-io: an unknown value is a usage error naming both choices", async () => {
  const err = await usageError(["--http-io", "auto", "--db", ":memory:", "--port", "0", "--no-udp"]);
  equal(err.code, "usage");
  match(err.message, /deno or libc/);
});

Deno.test("btool tracker --http-io libc with a host name (or off Linux) is a usage error", async () => {
  const err = await usageError([
    "--http-io",
    "libc",
    "--host",
    "localhost",
    "--db",
    ":memory:",
    "--port",
    "0",
    "--no-udp",
  ]);
  match(err.message, Deno.build.os === "linux" ? /IP address as the host/ : /needs Linux/);
});

Deno.test("btool tracker --help documents --http-io deno (default) and libc", () => {
  match(HELP, /--http-io deno\|libc\s+deno \(default\)/);
});
