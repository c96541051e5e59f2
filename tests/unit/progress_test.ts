import { formatBytes, formatEta, formatProgressLine, formatRate, ProgressBar, windowRate } from "../../cli/progress.ts";
import { equal, match, ok } from "../_helpers/assert.ts";

Deno.test("formatBytes() uses binary units with three significant digits", () => {
  equal(formatBytes(0), "0 B");
  equal(formatBytes(1023), "1023 B");
  equal(formatBytes(1024), "1.00 KiB");
  equal(formatBytes(1536), "1.50 KiB");
  equal(formatBytes(10 * 1024 * 1024 + 300_000), "10.3 MiB");
  equal(formatBytes(123 * 1024 ** 3), "123 GiB");
  equal(formatBytes(1023.9 * 1024), "1.00 MiB");
  equal(formatBytes(-1), "? B");
  equal(formatBytes(NaN), "? B");
});

Deno.test("formatRate() appends /s", () => {
  equal(formatRate(1.5 * 1024 ** 3), "1.50 GiB/s");
  equal(formatRate(0), "0 B/s");
});

Deno.test("formatEta() prints m:ss, h:mm:ss, and --:-- when unknown", () => {
  equal(formatEta(0), "0:00");
  equal(formatEta(3.2), "0:04");
  equal(formatEta(65), "1:05");
  equal(formatEta(3600 + 62), "1:01:02");
  equal(formatEta(Infinity), "--:--");
  equal(formatEta(NaN), "--:--");
  equal(formatEta(-1), "--:--");
  equal(formatEta(100 * 3600), "--:--");
});

Deno.test("formatProgressLine() shows bar, percent, sizes, rate and ETA within the width", () => {
  const line = formatProgressLine(
    { label: "hashing", done: 512 * 1024 ** 2, total: 1024 ** 3, rate: 256 * 1024 ** 2 },
    100,
  );
  ok(line.startsWith("hashing ["), line);
  ok(line.endsWith("]  50.0%   512 MiB / 1.00 GiB   256 MiB/s  ETA  0:02"), line);
  ok(line.length < 100);
  const narrow = formatProgressLine({ label: "x", done: 1, total: 2, rate: NaN }, 40);
  ok(narrow.length < 40, narrow);
  ok(!narrow.includes("["));
  match(formatProgressLine({ label: "", done: 0, total: 0, rate: NaN }, 80), /0\.0%.*ETA --:--$/);
});

Deno.test("formatProgressLine() keeps the bar's width while the numbers change", () => {
  const a = formatProgressLine({ label: "h", done: 1, total: 1024 ** 3, rate: 5 }, 100);
  const b = formatProgressLine({ label: "h", done: 1000 * 1024 ** 2, total: 1024 ** 3, rate: 1.5 * 1024 ** 3 }, 100);
  equal(a.indexOf("]"), b.indexOf("]"));
});

Deno.test("windowRate() is bytes per second between the first and last sample", () => {
  equal(windowRate([[0, 0], [500, 1000], [2000, 4000]]), 2000);
  ok(Number.isNaN(windowRate([[0, 0]])));
  ok(Number.isNaN(windowRate([[5, 0], [5, 10]])));
  ok(Number.isNaN(windowRate([[0, 0], [199, 10]])), "too short a span to say");
});

Deno.test("ProgressBar draws on its output only when enabled, at most once per interval", () => {
  const writes: string[] = [];
  const output = { writeSync: (p: Uint8Array) => (writes.push(new TextDecoder().decode(p)), p.length) };
  let now = 0;
  const bar = new ProgressBar(1000, { isEnabled: true, output, now: () => now, intervalMs: 100, width: 80 });
  now = 50;
  bar.update(100);
  now = 60;
  bar.update(200);
  now = 200;
  bar.update(500);
  bar.finish();
  equal(writes.length, 3); // the update at 200 ms, the final state, the newline
  ok(writes[0]!.startsWith("\r"));
  ok(writes[0]!.endsWith("50.0%     500 B / 1000 B  2.44 KiB/s  ETA  0:01\x1b[K"), JSON.stringify(writes[0]));
  equal(writes[2], "\n");
  const fast: string[] = [];
  const quick = new ProgressBar(10, {
    isEnabled: true,
    output: { writeSync: (p) => (fast.push("x"), p.length) },
    now: () => 0,
  });
  quick.update(10);
  quick.finish();
  equal(fast.length, 0, "a job done within one interval draws nothing");
  const quiet: string[] = [];
  const off = new ProgressBar(10, {
    isEnabled: false,
    output: { writeSync: (p) => (quiet.push("x"), p.length) },
  });
  off.update(5);
  off.finish();
  off.clear();
  equal(quiet.length, 0);
});
