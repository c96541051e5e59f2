// A clock a test moves by hand: code under test reads `now`, nothing waits on it (no timing in tests).

/** Starts at `start` ms (default: the real time, for code that also formats dates) and moves only by `advance`. */
export function manualClock(start = Date.now()): { now: () => number; advance(ms: number): void } {
  let at = start;
  return { now: () => at, advance: (ms) => void (at += ms) };
}
