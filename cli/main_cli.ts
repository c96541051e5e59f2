// Subcommand table and error-to-exit-code mapping for main.ts (kept here so tests can call it without exiting).

import config from "../deno.json" with { type: "json" };
import { BtoolError, UsageError } from "../lib/errors.ts";
import { wantsHelp } from "./args.ts";
import * as create from "./create.ts";
import * as peer from "./peer.ts";
import * as register from "./register.ts";
import * as show from "./show.ts";
import * as tracker from "./tracker.ts";
import * as verify from "./verify.ts";
import { terminalSafe } from "./_escape.ts";

/** btool's version, from deno.json (a static import, so `deno compile` embeds it). */
export const VERSION: string = config.version;

interface Command {
  summary: string;
  HELP: string;
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  tracker: { summary: "run the tracker (HTTP + UDP, SQLite state, dashboard)", ...tracker },
  peer: { summary: "download and seed a torrent", ...peer },
  create: { summary: "make a .torrent from a file or folder", ...create },
  register: { summary: "register .torrent files with a tracker", ...register },
  show: { summary: "print what a .torrent holds", ...show },
  verify: { summary: "hash-check data on disk against a .torrent", ...verify },
};

/** Top-level help text. */
export const MAIN_HELP = `btool ${VERSION}: private BitTorrent sharing in one binary

Usage: btool <command> [options]

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)}${c.summary}`).join("\n")}

Options:
  -h, --help     show help (also: btool <command> --help)
  -V, --version  print the version

Quick start:
  btool tracker --port 6969
  btool create ./data --announce http://tracker.example:6969/announce -o data.torrent
  btool peer data.torrent --dir ./downloads`;

/** Run btool with `args` (no program name); resolves to the process exit code. Never exits. */
export async function runMain(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(MAIN_HELP);
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-V" || name === "version") {
    console.log(`btool ${VERSION}`);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    console.error(`btool: unknown command "${terminalSafe(name)}"\n\n${MAIN_HELP}`);
    return 2;
  }
  if (wantsHelp(rest)) {
    console.log(command.HELP);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err: unknown) {
    if (err instanceof UsageError) {
      console.error(`btool ${name}: ${terminalSafe(err.message)}\n\n${command.HELP}`);
      return 2;
    }
    if (err instanceof BtoolError) {
      console.error(`btool: ${terminalSafe(err.message)}`);
      return 1;
    }
    const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
    console.error(`btool: internal error: ${text.split("\n").map(terminalSafe).join("\n")}`);
    return 1;
  }
}
