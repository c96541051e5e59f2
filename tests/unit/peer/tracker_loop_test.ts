// The announce loop with a scripted tracker and a hand-driven sleep: started, regular announces at the interval
// (at least MIN_ANNOUNCE_INTERVAL_S), backoff after failures, completed at once, and a final stopped.

import { TrackerError } from "../../../lib/errors.ts";
import {
  ANNOUNCE_RETRY_BASE_S,
  type AnnounceFn,
  MIN_ANNOUNCE_INTERVAL_S,
  NUM_WANT,
  startTrackerLoop,
} from "../../../lib/peer/tracker_loop.ts";
import { TrackerTiers } from "../../../lib/tracker/tracker_tiers.ts";
import { deepEqual, equal } from "../../_helpers/assert.ts";

function script(replies: (number | "fail")[]) {
  const calls: { event: string; numWant: number }[] = [];
  const announce: AnnounceFn = (_tiers, request) => {
    calls.push({ event: request.event ?? "none", numWant: request.numWant ?? -1 });
    const r = replies.shift() ?? 1800;
    if (r === "fail") return Promise.reject(new TrackerError("unreachable", "Tracker unreachable"));
    return Promise.resolve({ url: "http://t/announce", response: { interval: r, peers: [] } });
  };
  const sleeps: number[] = [];
  let wakeUp: (() => void) | null = null;
  const sleep = (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      sleeps.push(ms);
      wakeUp = resolve;
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
  const next = async () => {
    for (let i = 0; i < 50 && wakeUp === null; i++) await Promise.resolve();
    const w = wakeUp as (() => void) | null;
    wakeUp = null;
    w?.();
    for (let i = 0; i < 50; i++) await Promise.resolve();
  };
  return { announce, calls, sleeps, sleep, next };
}

const params = () => ({
  infoHash: new Uint8Array(20),
  peerId: new Uint8Array(20),
  port: 1,
  uploaded: 0,
  downloaded: 0,
  left: 5,
});

/** A loop on one tracker that answers `replies` in turn, sleeping through the script's hand-driven sleep. */
function startScripted(replies: (number | "fail")[]) {
  const s = script(replies);
  const warnings: string[] = [];
  const loop = startTrackerLoop({
    tiers: new TrackerTiers([["http://t/announce"]], { random: () => 0 }),
    params,
    onAnnounced: () => {},
    onWarning: (m) => warnings.push(m),
    announce: s.announce,
    sleep: (ms, signal) => s.sleep(ms, signal),
  });
  return { s, warnings, loop };
}

Deno.test("startTrackerLoop() announces started, then at the interval (never below the minimum), then stopped", async () => {
  const { s, warnings, loop } = startScripted([1, 60]);
  await s.next();
  await s.next();
  await loop.halt();
  await loop.announceStopped();
  deepEqual(s.calls.map((c) => c.event), ["started", "none", "none", "stopped"]);
  deepEqual(s.calls.map((c) => c.numWant), [NUM_WANT, NUM_WANT, NUM_WANT, 0]);
  deepEqual(s.sleeps.slice(0, 2), [MIN_ANNOUNCE_INTERVAL_S * 1000, 60_000]);
  deepEqual(warnings, []);
});

Deno.test("startTrackerLoop() backs off after failures, retries started, and sends completed at once", async () => {
  const { s, warnings, loop } = startScripted(["fail", "fail", 1800, 1800]);
  await s.next();
  await s.next();
  for (let i = 0; i < 50; i++) await Promise.resolve();
  loop.complete(); // wakes the 1800 s sleep
  for (let i = 0; i < 50; i++) await Promise.resolve();
  await loop.halt();
  deepEqual(s.calls.map((c) => c.event), ["started", "started", "started", "completed"]);
  deepEqual(s.sleeps.slice(0, 3), [ANNOUNCE_RETRY_BASE_S * 1000, 2 * ANNOUNCE_RETRY_BASE_S * 1000, 1_800_000]);
  equal(warnings.length, 2);
});
