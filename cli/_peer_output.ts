// Where `btool peer` (cli/peer.ts) prints, by mode: plain lines, JSON status lines (--json) or errors only
// (--quiet), and the one-line TTY progress display cleared before any other line. Every text is escaped here (#19):
// torrent names, paths, peer and tracker messages are outside text.

import { terminalSafe } from "./_escape.ts";

const ENCODER = new TextEncoder();
/** Terminal width when the console cannot say. */
const DEFAULT_COLUMNS = 80;

/** The sinks PeerOutput writes to; tests pass their own. */
export interface PeerOutputSinks {
  /** A line on stdout. */
  out(line: string): void;
  /** A line on stderr. */
  err(line: string): void;
  /** Raw text on the terminal (stderr), no newline. */
  tty(text: string): void;
  /** Terminal columns. */
  columns(): number;
}

function writeStderrTty(text: string): void {
  try {
    Deno.stderr.writeSync(ENCODER.encode(text));
  } catch {
    // a closed terminal must not stop the transfer
  }
}

function consoleColumns(): number {
  try {
    return Deno.consoleSize().columns || DEFAULT_COLUMNS;
  } catch {
    return DEFAULT_COLUMNS;
  }
}

const CONSOLE_SINKS: PeerOutputSinks = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
  tty: writeStderrTty,
  columns: consoleColumns,
};

/** What `btool peer` prints, by mode. */
export class PeerOutput {
  readonly isJson: boolean;
  readonly isQuiet: boolean;
  /** The progress line is drawn (stderr is a terminal, neither --json nor --quiet). */
  readonly isTty: boolean;
  readonly #sinks: PeerOutputSinks;
  #progressLength = 0;

  constructor(mode: { isJson: boolean; isQuiet: boolean; isTty: boolean }, sinks: PeerOutputSinks = CONSOLE_SINKS) {
    this.isJson = mode.isJson;
    this.isQuiet = mode.isQuiet;
    this.isTty = mode.isTty;
    this.#sinks = sinks;
  }

  /** A plain report on stdout (check results), not with --quiet or --json. */
  say(text: string): void {
    if (!this.isQuiet && !this.isJson) this.#sinks.out(text.split("\n").map(terminalSafe).join("\n"));
  }

  /** `btool peer: message` on stderr, not with --quiet. */
  warn(message: string): void {
    if (this.isQuiet) return;
    this.clearProgress();
    this.#sinks.err(terminalSafe(`btool peer: ${message}`));
  }

  /** `btool peer: message` on stderr for a human (listening, complete, stopped), not with --quiet or --json. */
  notice(message: string): void {
    if (this.isQuiet || this.isJson) return;
    this.clearProgress();
    this.#sinks.err(terminalSafe(`btool peer: ${message}`));
  }

  /** `btool peer: message` on stderr in every mode (the reason for exit code 1). */
  error(message: string): void {
    this.#sinks.err(terminalSafe(`btool peer: ${message}`));
  }

  /** One JSON line on stdout, with --json only. */
  json(line: string): void {
    if (this.isJson) this.#sinks.out(line);
  }

  /** Redraw the TTY progress line, cut to the terminal's width. */
  drawProgress(line: string): void {
    if (!this.isTty) return;
    const text = terminalSafe(line).slice(0, Math.max(10, this.#sinks.columns() - 1));
    this.#progressLength = text.length;
    this.#sinks.tty(`\r${text}\x1b[K`);
  }

  /** Erase the progress line, if one is drawn. */
  clearProgress(): void {
    if (!this.isTty || this.#progressLength === 0) return;
    this.#sinks.tty("\r\x1b[K");
    this.#progressLength = 0;
  }
}
