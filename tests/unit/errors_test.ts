// The error hierarchy (lib/errors.ts): every class keeps its stable code, its context and its cause, reports its own
// name, and errorText() gives a caught value's message whatever was thrown.

import { deepEqual, equal, ok } from "../_helpers/assert.ts";
import {
  BencodeError,
  BtoolError,
  errorText,
  MetainfoError,
  StorageError,
  TrackerError,
  UsageError,
  WireError,
} from "../../lib/errors.ts";

Deno.test("BtoolError subclasses keep code, name and context, and are BtoolErrors", () => {
  const cause = new Error("inner");
  const b = new BencodeError("leading_zero", "Cannot decode integer", { offset: 7, path: "info.length", cause });
  deepEqual([b.code, b.name, b.offset, b.path, b.message], [
    "leading_zero",
    "BencodeError",
    7,
    "info.length",
    "Cannot decode integer",
  ]);
  equal(b.cause, cause);
  const m = new MetainfoError("bad_field", "Bad name", { field: "name" });
  deepEqual([m.code, m.name, m.field], ["bad_field", "MetainfoError", "name"]);
  const t = new TrackerError("unregistered", "Torrent is not registered here");
  deepEqual([t.code, t.name, t.reason, t.message], [
    "unregistered",
    "TrackerError",
    "Torrent is not registered here",
    "Torrent is not registered here",
  ]);
  const w = new WireError("bad_length", "Message too long");
  const s = new StorageError("read_failed", "Cannot read");
  for (const e of [b, m, t, w, s]) ok(e instanceof BtoolError && e instanceof Error, e.name);
  deepEqual([w.name, s.name], ["WireError", "StorageError"]);
});

Deno.test("UsageError's code is always usage; a missing cause leaves no cause property", () => {
  const u = new UsageError('Unknown flag: "--x"');
  deepEqual([u.code, u.name, u.message], ["usage", "UsageError", 'Unknown flag: "--x"']);
  equal("cause" in u, false);
  equal(new UsageError("x", { cause: 5 }).cause, 5);
  equal("cause" in new BtoolError("c", "m", {}), false);
});

Deno.test("errorText() is an Error's message, else the thrown value as text", () => {
  equal(errorText(new TrackerError("x", "refused")), "refused");
  equal(errorText(new RangeError("out of range")), "out of range");
  equal(errorText("plain string"), "plain string");
  equal(errorText(42), "42");
  equal(errorText(undefined), "undefined");
  equal(errorText(null), "null");
});
