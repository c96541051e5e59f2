// The admin token check of the tracker's admin calls (issue #19): a constant-time comparison, and the failed-passkey
// limiter of access.ts per client address, so that nobody can guess the token at request speed.
// Pure policy over values: the address and the time come in; it never logs a token.

import { timingSafeEquals, utf8 } from "../bytes.ts";
import { FailedPasskeyLimiter, type IpKey, type LimiterOptions } from "./access.ts";

/** Bad admin tokens one address may send per window before even the right one is refused for the rest of it. */
export const DEFAULT_MAX_ADMIN_FAILURES_PER_IP = 10;
/** The bad-token window. */
export const DEFAULT_ADMIN_FAILURE_WINDOW_MS = 60_000;
/** Cap on addresses the bad-token limiter remembers (oldest dropped first; entries expire with their window). */
export const DEFAULT_MAX_ADMIN_LIMITED_IPS = 65_536;

/**
 * What a request's `Authorization` header makes of it: "none" (no admin token sent: a public caller), "admin",
 * "refused" (a wrong token, counted), or "limited" (this address sent too many wrong ones: refused, token unread).
 */
export type AdminCheck = "none" | "admin" | "refused" | "limited";

/** The admin token and the per-address limiter of wrong ones. */
export class AdminAuth {
  readonly #token: Uint8Array;
  readonly limiter: FailedPasskeyLimiter;

  /** @param options.limiter defaults: 10 bad tokens a minute per address, 65,536 addresses remembered */
  constructor(token: string, options: { limiter?: LimiterOptions } = {}) {
    this.#token = utf8(token);
    this.limiter = new FailedPasskeyLimiter({
      maxFailures: DEFAULT_MAX_ADMIN_FAILURES_PER_IP,
      windowMs: DEFAULT_ADMIN_FAILURE_WINDOW_MS,
      maxIps: DEFAULT_MAX_ADMIN_LIMITED_IPS,
      ...options.limiter,
    });
  }

  /**
   * Check `authorization` (the header, `Bearer <token>`) sent from `ip` (an `ipKey()` of the client's address).
   * A header that is not a bearer token counts as a wrong token.
   */
  check(authorization: string | null, ip: IpKey, nowMs: number): AdminCheck {
    if (authorization === null) return "none";
    if (this.limiter.isBlocked(ip, nowMs)) return "limited";
    const isRight = authorization.startsWith("Bearer ") &&
      timingSafeEquals(utf8(authorization.slice(7).trim()), this.#token);
    if (isRight) return "admin";
    this.limiter.recordFailure(ip, nowMs);
    return "refused";
  }
}
