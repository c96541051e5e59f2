// `btool verify` front end (issue #3): hash-checks data on disk against a .torrent, one piece at a time (bounded
// memory), and prints a verdict per file. Data lives at DIR/<name> (single-file) or DIR/<name>/<path…> (multi-file).

import { BtoolError, UsageError } from "../lib/errors.ts";
import type { Metainfo } from "../lib/metainfo.ts";
import { checkData, type FileVerdict, type VerifyReport } from "../lib/storage/check.ts";
import { parseCommand } from "./args.ts";
import { ProgressBar } from "./progress.ts";
import { loadTorrentFile } from "./show.ts";
import { safeJson, terminalSafe } from "./_escape.ts";

/** Help text for `btool verify`. */
export const HELP = `Usage: btool verify FILE.torrent DIR [--json]

Hash-check the data of FILE.torrent on disk. DIR is the download folder, as for \`btool peer --dir\`: a single-file
torrent's data is DIR/<name>, a multi-file torrent's DIR/<name>/<path…>. Prints a verdict per file (ok, N bad
pieces, missing, wrong size) and the percentage complete. Nothing is written. Progress shows on a terminal only.

Options:
  --json        print the report as one JSON object (files, goodPieces, pieceCount, goodBytes, isComplete)
  -h, --help    show this help

Exit codes: 0 complete and correct, 1 incomplete, damaged or unreadable, 2 bad usage.`;

/** Percentage with one decimal, rounded down so that 100.0% means every byte is good. */
export function formatPercent(good: number, total: number): string {
  if (total === 0) return "100.0%";
  return `${(Math.floor((good / total) * 1000) / 10).toFixed(1)}%`;
}

function verdictText(f: FileVerdict): string {
  switch (f.status) {
    case "ok":
      return "ok";
    case "bad":
      return `${f.badPieces} bad piece${f.badPieces === 1 ? "" : "s"}`;
    case "missing":
      return "missing";
    case "wrong_size":
      return `wrong size (${f.actualSize} bytes, expected ${f.length})` +
        (f.badPieces > 0 ? `, ${f.badPieces} bad piece${f.badPieces === 1 ? "" : "s"}` : "");
    default: {
      const never: never = f.status;
      return never;
    }
  }
}

/** The report as text lines: one per file (its path escaped for the terminal, #19), then a summary. */
export function formatReport(report: VerifyReport): string {
  const lines = report.files.map((f) => `${verdictText(f).padEnd(12)}  ${terminalSafe(f.path)}`);
  const percent = formatPercent(report.goodBytes, report.totalLength);
  const bad = report.files.filter((f) => f.status !== "ok").length;
  lines.push(
    `${percent} complete: ${report.goodPieces} of ${report.pieceCount} pieces ok, ` +
      (bad === 0
        ? "all files ok"
        : `${bad} of ${report.files.length} file${report.files.length === 1 ? "" : "s"} not ok`),
  );
  return lines.join("\n");
}

/** Run `btool verify` with `argv` (after the subcommand); resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, { json: { type: "boolean" } });
  if (positionals.length !== 2) throw new UsageError("Expected FILE.torrent and DIR");
  const [torrentPath, dir] = positionals as [string, string];
  let meta: Metainfo;
  try {
    meta = await loadTorrentFile(torrentPath);
  } catch (err: unknown) {
    if (!(err instanceof BtoolError)) throw err;
    console.error(`btool: ${terminalSafe(err.message)}`);
    return 1;
  }
  try {
    if (!(await Deno.stat(dir)).isDirectory) throw new Error("not a directory");
  } catch (err: unknown) {
    const detail = err instanceof Deno.errors.NotFound ? "no such directory" : err instanceof Error ? err.message : "";
    console.error(terminalSafe(`btool: ${dir}: Cannot verify: ${detail}`));
    return 1;
  }
  const progress = new ProgressBar(meta.totalLength, { label: "verify" });
  let report: VerifyReport;
  try {
    report = await checkData(meta, dir, { onProgress: (done) => progress.update(done) });
  } finally {
    progress.clear();
  }
  console.log(values.json ? safeJson(report, 2) : formatReport(report));
  return report.isComplete ? 0 : 1;
}
