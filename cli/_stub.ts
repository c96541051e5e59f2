// A subcommand whose issue has not landed: says so and exits 2.

/** Print that `command` is not available yet (tracked in `issue`) and return exit code 2. */
export function notLanded(command: string, issue: number): Promise<number> {
  console.error(`btool ${command}: not available yet (issue #${issue} has not landed)`);
  return Promise.resolve(2);
}
