// cli/_peer_output.ts with recording sinks: what each mode prints where, the TTY progress line (cut to the
// terminal, cleared before any other line) and escaping of outside text.

import { PeerOutput, type PeerOutputSinks } from "../../cli/_peer_output.ts";
import { deepEqual } from "../_helpers/assert.ts";

function recorder(columns = 80) {
  const log: string[] = [];
  const sinks: PeerOutputSinks = {
    out: (line) => log.push(`out:${line}`),
    err: (line) => log.push(`err:${line}`),
    tty: (text) => log.push(`tty:${JSON.stringify(text)}`),
    columns: () => columns,
  };
  return { log, sinks };
}

function everyKind(out: PeerOutput): void {
  out.say("checked");
  out.warn("slow peer");
  out.notice("listening");
  out.error("cannot seed");
  out.json('{"event":"status"}');
}

Deno.test("PeerOutput: plain mode prints reports on stdout, messages on stderr, no JSON", () => {
  const { log, sinks } = recorder();
  everyKind(new PeerOutput({ isJson: false, isQuiet: false, isTty: false }, sinks));
  deepEqual(log, [
    "out:checked",
    "err:btool peer: slow peer",
    "err:btool peer: listening",
    "err:btool peer: cannot seed",
  ]);
});

Deno.test("PeerOutput: --json prints JSON lines and warnings and errors only; --quiet errors only", () => {
  const json = recorder();
  everyKind(new PeerOutput({ isJson: true, isQuiet: false, isTty: false }, json.sinks));
  deepEqual(json.log, ["err:btool peer: slow peer", "err:btool peer: cannot seed", 'out:{"event":"status"}']);
  const quiet = recorder();
  everyKind(new PeerOutput({ isJson: false, isQuiet: true, isTty: false }, quiet.sinks));
  deepEqual(quiet.log, ["err:btool peer: cannot seed"]);
});

Deno.test("PeerOutput: the TTY progress line is cut to the width and cleared once before the next message", () => {
  const { log, sinks } = recorder(20);
  const out = new PeerOutput({ isJson: false, isQuiet: false, isTty: true }, sinks);
  out.clearProgress(); // nothing drawn yet: nothing to clear
  out.drawProgress("name  45.2%  down 1 MiB/s");
  out.notice("complete");
  out.notice("stopped");
  deepEqual(log, [
    `tty:${JSON.stringify("\rname  45.2%  down 1\x1b[K")}`,
    `tty:${JSON.stringify("\r\x1b[K")}`,
    "err:btool peer: complete",
    "err:btool peer: stopped",
  ]);
});

Deno.test("PeerOutput: without a TTY the progress line is never drawn", () => {
  const { log, sinks } = recorder();
  const out = new PeerOutput({ isJson: false, isQuiet: false, isTty: false }, sinks);
  out.drawProgress("name  45.2%");
  out.clearProgress();
  deepEqual(log, []);
});

Deno.test("PeerOutput escapes controls in outside text (#19)", () => {
  const { log, sinks } = recorder();
  const out = new PeerOutput({ isJson: false, isQuiet: false, isTty: false }, sinks);
  out.say("evil\x1b[2Jname\nsecond\x07");
  out.warn("tracker says \x1b]0;title\x07");
  deepEqual(log, ["out:evil\\x1b[2Jname\nsecond\\x07", "err:btool peer: tracker says \\x1b]0;title\\x07"]);
});
