// A token bucket for byte rates (`--upload-limit`, `--download-limit`). Shared by reference: one limiter can pace
// every peer of every torrent of a process. Time comes in (`now`); waiting uses timers, released by `close()`.

/**
 * A token bucket for byte rates: `take(n)` resolves when n more bytes fit under `bytesPerSecond` (bursts up to one
 * second's worth). Callers that arrive while in debt wait their turn. `close()` releases every waiter.
 */
export class RateLimiter {
  #rate: number;
  #tokens: number;
  #lastMs: number;
  #now: () => number;
  #waiters = new Set<{ timer: ReturnType<typeof setTimeout>; resolve: () => void }>();

  constructor(bytesPerSecond: number, options: { now?: () => number } = {}) {
    this.#rate = Math.max(1, bytesPerSecond);
    this.#now = options.now ?? Date.now;
    this.#tokens = this.#rate;
    this.#lastMs = this.#now();
  }

  /** Milliseconds a caller taking `n` bytes now must wait (and the bytes are counted as taken). */
  reserve(n: number): number {
    const t = this.#now();
    this.#tokens = Math.min(this.#rate, this.#tokens + ((t - this.#lastMs) * this.#rate) / 1000);
    this.#lastMs = t;
    this.#tokens -= n;
    return this.#tokens >= 0 ? 0 : (-this.#tokens * 1000) / this.#rate;
  }

  /** Wait until `n` bytes may pass. */
  take(n: number): Promise<void> {
    const waitMs = this.reserve(n);
    if (waitMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          resolve();
        }, waitMs),
        resolve,
      };
      this.#waiters.add(waiter);
    });
  }

  /** Release every waiter now (shutdown). */
  close(): void {
    for (const w of this.#waiters) {
      clearTimeout(w.timer);
      w.resolve();
    }
    this.#waiters.clear();
  }
}
