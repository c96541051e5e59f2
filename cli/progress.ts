// A small progress bar for long CLI jobs (create, verify, peer): bytes done, MiB/s and ETA on one stderr line.
// Draws only on a terminal (quiet when stderr is a file or pipe); the formatting functions are pure.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"] as const;

/** Human size with binary units: `0 B`, `512 B`, `1.50 KiB`, `12.3 MiB`, `123 GiB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "? B";
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  // Keep three significant digits; rounding up to 1024 moves to the next unit.
  let text = value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
  if (Number(text) >= 1024 && unit < UNITS.length - 1) {
    unit++;
    text = (value / 1024).toFixed(2);
  }
  return `${text} ${UNITS[unit]}`;
}

/** Human rate: `formatBytes` per second, e.g. `1.52 GiB/s`. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** Remaining time as `m:ss` or `h:mm:ss`; `--:--` when unknown (no rate yet, or more than 99 hours). */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0 || seconds >= 100 * 3600) return "--:--";
  const s = Math.ceil(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** What one progress line shows. */
export interface ProgressState {
  label: string;
  done: number;
  total: number;
  /** Bytes per second, NaN when not known yet. */
  rate: number;
}

/**
 * One progress line fitting `width` columns:
 * `label [#########---------]  45.0%  460 MiB / 1.00 GiB  1.52 GiB/s  ETA 0:03`.
 * The bar shrinks (and disappears) first when the terminal is narrow.
 */
export function formatProgressLine(state: ProgressState, width: number): string {
  const fraction = state.total > 0 ? Math.min(1, Math.max(0, state.done / state.total)) : 0;
  const percent = `${(fraction * 100).toFixed(1)}%`.padStart(6);
  const eta = state.rate > 0 ? formatEta((state.total - state.done) / state.rate) : "--:--";
  const rate = state.rate > 0 ? formatRate(state.rate) : "-";
  // Fixed-width fields keep the bar from jumping as the numbers change.
  const sizes = `${formatBytes(state.done).padStart(8)} / ${formatBytes(state.total)}`;
  const tail = `${percent}  ${sizes}  ${rate.padStart(10)}  ETA ${eta.padStart(5)}`;
  const head = state.label === "" ? "" : `${state.label} `;
  const barWidth = Math.min(30, width - head.length - tail.length - 4);
  if (barWidth < 5) return (head + tail).slice(0, Math.max(0, width - 1));
  const filled = Math.round(fraction * barWidth);
  return `${head}[${"#".repeat(filled)}${"-".repeat(barWidth - filled)}] ${tail}`;
}

/** A rate needs samples spanning at least this long; earlier figures are mostly noise. */
export const MIN_RATE_SPAN_MS = 200;

/**
 * Rate over a sliding window of samples (so a stall shows up), from `(timeMs, done)` pairs oldest first;
 * NaN until the samples span MIN_RATE_SPAN_MS.
 */
export function windowRate(samples: readonly (readonly [number, number])[]): number {
  if (samples.length < 2) return NaN;
  const [t0, d0] = samples[0]!;
  const [t1, d1] = samples[samples.length - 1]!;
  return t1 - t0 >= MIN_RATE_SPAN_MS ? ((d1 - d0) * 1000) / (t1 - t0) : NaN;
}

/** Options of `ProgressBar`. */
export interface ProgressBarOptions {
  label?: string;
  /** Draw at all (default: stderr is a terminal). */
  isEnabled?: boolean;
  /** Where to draw (default Deno.stderr). */
  output?: { writeSync(p: Uint8Array): number };
  /** Clock in milliseconds (default performance.now). */
  now?: () => number;
  /** Redraw at most this often (default 100 ms). */
  intervalMs?: number;
  /** Rate window (default 5000 ms). */
  windowMs?: number;
  /** Columns (default: the terminal's width, else 80). */
  width?: number;
}

const ENCODER = new TextEncoder();

/**
 * A one-line progress bar on stderr. Call `update(done)` as work advances and `finish()` (or `clear()`) at the end.
 * It first draws one interval after it was created, so work that ends sooner leaves no trace.
 */
export class ProgressBar {
  readonly #total: number;
  readonly #label: string;
  readonly #isEnabled: boolean;
  readonly #output: { writeSync(p: Uint8Array): number };
  readonly #now: () => number;
  readonly #intervalMs: number;
  readonly #windowMs: number;
  readonly #width: number;
  readonly #samples: [number, number][] = [];
  #lastDrawMs = -Infinity;
  #done = 0;
  #isDrawn = false;

  constructor(total: number, options: ProgressBarOptions = {}) {
    this.#total = total;
    this.#label = options.label ?? "";
    this.#isEnabled = options.isEnabled ?? isStderrTerminal();
    this.#output = options.output ?? Deno.stderr;
    this.#now = options.now ?? (() => performance.now());
    this.#intervalMs = options.intervalMs ?? 100;
    this.#windowMs = options.windowMs ?? 5000;
    this.#width = options.width ?? terminalWidth();
    const t = this.#now();
    this.#samples.push([t, 0]);
    this.#lastDrawMs = t; // first draw after one interval: quick jobs print nothing
  }

  /** Record progress; redraws when enough time has passed. */
  update(done: number): void {
    this.#done = done;
    const t = this.#now();
    this.#samples.push([t, done]);
    while (this.#samples.length > 2 && this.#samples[1]![0] <= t - this.#windowMs) this.#samples.shift();
    if (t - this.#lastDrawMs >= this.#intervalMs) this.#draw(t);
  }

  /** Bytes per second over the recent window (NaN before the second sample). */
  get rate(): number {
    return windowRate(this.#samples);
  }

  #draw(t: number): void {
    this.#lastDrawMs = t;
    if (!this.#isEnabled) return;
    const line = formatProgressLine(
      { label: this.#label, done: this.#done, total: this.#total, rate: this.rate },
      this.#width,
    );
    this.#write(`\r${line}\x1b[K`);
    this.#isDrawn = true;
  }

  #write(text: string): void {
    try {
      this.#output.writeSync(ENCODER.encode(text));
    } catch {
      // a closed terminal must not stop the work
    }
  }

  /** Draw the final state and end the line (nothing when the bar was never drawn). */
  finish(): void {
    if (!this.#isEnabled || !this.#isDrawn) return;
    this.#draw(this.#now());
    this.#write("\n");
    this.#isDrawn = false;
  }

  /** Erase the bar (e.g. before printing an error). */
  clear(): void {
    if (this.#isEnabled && this.#isDrawn) this.#write("\r\x1b[K");
    this.#isDrawn = false;
  }
}

function isStderrTerminal(): boolean {
  try {
    return Deno.stderr.isTerminal();
  } catch {
    return false;
  }
}

function terminalWidth(): number {
  try {
    const { columns } = Deno.consoleSize();
    return columns >= 20 ? columns : 80; // some pseudo-terminals report 0 columns
  } catch {
    return 80;
  }
}
