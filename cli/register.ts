// `btool register` front end (issue #6): registers every .torrent under DIR|FILE… with a btool tracker in bulk, prints
// invalid files and warnings one line each and a registered / unchanged / failed summary (or JSON). Exit code 1 when
// anything failed.

import { type RegisterSummary, registerTorrents } from "../lib/register.ts";
import { UsageError } from "../lib/errors.ts";
import { parseCommand } from "./args.ts";
import { ProgressBar } from "./progress.ts";
import { safeJson, terminalSafe } from "./_escape.ts";

/** Help text for `btool register`. */
export const HELP = `Usage: btool register DIR|FILE... --tracker URL [options]

Register every .torrent found (folders are searched recursively) with a btool tracker, in bulk:
name, size, piece length, files, private flag, source, comment, creator, date and announce URLs.
Re-running changes nothing; invalid files are reported and skipped. Requests are batches of at most
1,000 torrents and 2 MiB; network errors and HTTP 5xx are retried 3 times with backoff, a refusal
(HTTP 4xx) is not retried and is reported with the files of its batch. Warns about torrents that will not work with the tracker (announce URL
pointing elsewhere, private flag off on a private tracker, no passkey in the announce URL).

Options:
  --tracker URL        the tracker's base URL (http://host:6969) or any of its announce URLs (required)
  --admin-token T      the tracker's admin token (or the BTOOL_ADMIN_TOKEN environment variable)
  --prune              also unregister torrents the tracker has that are not among DIR|FILE...
  --dry-run            parse and check only; register nothing (asks the tracker's mode when reachable)
  --json               print the result as JSON on stdout
  -q, --quiet          print only errors and the summary
  -h, --help           show this help

Exit code: 0 when everything registered (or was unchanged), 1 when any file or registration failed.`;

/** Run `btool register` with `argv` (after the subcommand); resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    tracker: { type: "string" },
    "admin-token": { type: "string" },
    prune: { type: "boolean", default: false },
    "dry-run": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    quiet: { type: "boolean", short: "q", default: false },
  });
  if (values.tracker === undefined) throw new UsageError("Missing --tracker URL");
  if (positionals.length === 0) throw new UsageError("Missing DIR or FILE to register");
  const isJson = values.json;
  const isQuiet = values.quiet || isJson;
  const token = values["admin-token"] ?? Deno.env.get("BTOOL_ADMIN_TOKEN");
  let bar: ProgressBar | null = null;
  const say = (line: string) => {
    bar?.clear();
    console.error(terminalSafe(line));
  };
  const summary = await registerTorrents(positionals, {
    trackerUrl: values.tracker,
    ...(token === undefined ? {} : { adminToken: token }),
    isDryRun: values["dry-run"],
    isPrune: values.prune,
    onInvalid: (path, error) => {
      if (!isJson) say(`invalid: ${path}: ${error}`);
    },
    onWarning: (w) => {
      if (!isQuiet) say(`warning: ${w.path}: ${w.message}`);
    },
    onRetry: (attempt, error) => {
      if (!isQuiet) say(`retry ${attempt}: ${error}`);
    },
    onProgress: (phase, done, total) => {
      if (isJson) return;
      if (phase === "register" && bar === null) bar = new ProgressBar(total, { label: "register" });
      bar?.update(done);
    },
  });
  (bar as ProgressBar | null)?.finish();
  if (isJson) console.log(safeJson(summary, 2));
  else printSummary(summary);
  return summary.failed > 0 ? 1 : 0;
}

/** Failed files grouped by error (a refused batch is one error and many files), escaped for the terminal. */
export function formatFailures(s: Pick<RegisterSummary, "outcomes">): string[] {
  const byError = new Map<string, string[]>();
  for (const o of s.outcomes) {
    if (o.type !== "failed") continue;
    const paths = byError.get(o.error) ?? [];
    paths.push(o.path);
    byError.set(o.error, paths);
  }
  const lines: string[] = [];
  for (const [error, paths] of byError) {
    if (paths.length === 1) lines.push(terminalSafe(`failed: ${paths[0]}: ${error}`));
    else {
      lines.push(terminalSafe(`failed (${paths.length} files): ${error}`));
      for (const path of paths) lines.push(`  ${terminalSafe(path)}`);
    }
  }
  return lines;
}

function printSummary(s: RegisterSummary): void {
  for (const line of formatFailures(s)) console.error(line);
  const mode = s.tracker === null
    ? "mode unknown"
    : [s.tracker.isListed ? "listed" : "", s.tracker.isPrivate ? "private" : ""].filter(Boolean).join(", ") || "open";
  if (s.isDryRun) {
    const would = s.outcomes.filter((o) => o.type === "would_register").length;
    console.log(
      `dry run (${
        terminalSafe(s.trackerUrl)
      }, ${mode}): ${s.found} found, ${would} to register, ${s.failed} invalid, ` +
        `${s.duplicates} duplicates, ${s.warnings.length} warnings` + (s.pruned > 0 ? `, ${s.pruned} to prune` : ""),
    );
    return;
  }
  console.log(
    `${terminalSafe(s.trackerUrl)} (${mode}): ${s.registered} registered (${s.added} new, ${s.updated} updated), ` +
      `${s.unchanged} unchanged, ${s.failed} failed` + (s.duplicates > 0 ? `, ${s.duplicates} duplicates` : "") +
      (s.pruned > 0 ? `, ${s.pruned} pruned` : "") + (s.warnings.length > 0 ? `, ${s.warnings.length} warnings` : ""),
  );
}
