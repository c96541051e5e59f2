// The admin-API client of `btool register` (issues #6, #18): JSON calls with retries on network errors and 5xx, and
// errors that say what happened (refused with the server's own text, failed, or unreachable). Opens no socket itself
// beyond `fetch`; never prints.

import { BtoolError, errorText } from "./errors.ts";

/**
 * `btool register` failed as a whole (bad tracker URL, refused admin token, unreachable after retries), or one
 * request did (then its files are reported failed with the error's text and code).
 */
export class RegisterError extends BtoolError {}

/** Options of Api (the relevant part of RegisterOptions). */
export interface ApiOptions {
  adminToken?: string;
  retries: number;
  backoffMs: number;
  timeoutMs: number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  onRetry?: (attempt: number, error: string) => void;
}

/** JSON calls to the admin API with retries on network errors and 5xx. */
export class Api {
  readonly #origin: string;
  readonly #token: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #retries: number;
  readonly #backoffMs: number;
  readonly #timeoutMs: number;
  readonly #onRetry: ApiOptions["onRetry"];

  constructor(origin: string, options: ApiOptions) {
    this.#origin = origin;
    this.#token = options.adminToken;
    this.#fetch = options.fetch ?? fetch;
    this.#sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.#retries = options.retries;
    this.#backoffMs = options.backoffMs;
    this.#timeoutMs = options.timeoutMs;
    this.#onRetry = options.onRetry;
  }

  /**
   * One JSON call. Network errors and 5xx are retried with doubling backoff; a 4xx never is.
   * @throws {RegisterError} unauthorized (401/403), api_refused (other 4xx, or an answer that is not JSON),
   *   tracker_failed (5xx after the retries), tracker_unreachable (no connection after the retries)
   */
  async call(method: string, path: string, request: ApiRequest = {}): Promise<unknown> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    const init: RequestInit = { method, headers };
    if (request.bodyText !== undefined) init.body = request.bodyText;
    else if (request.body !== undefined) init.body = JSON.stringify(request.body);
    const what = request.what ?? `${method} ${path}`;
    const attempts = this.#retries + 1;
    let lastError = "";
    let lastStatus: string | null = null;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) {
        this.#onRetry?.(attempt, lastError);
        await this.#sleep(this.#backoffMs * 2 ** (attempt - 1));
      }
      let res: Response;
      try {
        res = await this.#fetch(`${this.#origin}${path}`, {
          ...init,
          signal: AbortSignal.timeout(this.#timeoutMs),
        });
      } catch (err: unknown) {
        lastError = errorText(err);
        lastStatus = null;
        continue;
      }
      let text = "";
      try {
        text = await res.text();
      } catch (err: unknown) {
        lastError = errorText(err); // the connection broke while the answer came in
        lastStatus = null;
        continue;
      }
      const status = `${res.status}${res.statusText === "" ? "" : ` ${res.statusText}`}${errorDetail(text)}`;
      if (res.status >= 500) {
        lastError = `HTTP ${status}`;
        lastStatus = status;
        continue;
      }
      if (res.status === 401 || res.status === 403) {
        throw new RegisterError(
          "unauthorized",
          `The tracker refused the admin token (HTTP ${res.status}): use --admin-token`,
        );
      }
      if (res.status >= 400) throw new RegisterError("api_refused", `The tracker refused ${what}: ${status}`);
      let value: unknown = null;
      try {
        value = JSON.parse(text);
      } catch {
        // A non-JSON answer: not a btool tracker (or an old one without /api).
      }
      if (value === null || typeof value !== "object") {
        throw new RegisterError(
          "api_refused",
          `The tracker's answer to ${what} is not JSON (HTTP ${res.status}): is ${this.#origin} a btool tracker?`,
        );
      }
      return value;
    }
    if (lastStatus !== null) {
      throw new RegisterError(
        "tracker_failed",
        `The tracker at ${this.#origin} failed ${what} ${attempts} times: ${lastStatus}`,
      );
    }
    throw new RegisterError(
      "tracker_unreachable",
      `Cannot reach the tracker at ${this.#origin} after ${attempts} attempts: ${lastError}`,
    );
  }
}

/** What Api.call sends: a value to encode, or a body already encoded; `what` names it in errors. */
interface ApiRequest {
  body?: unknown;
  bodyText?: string;
  what?: string;
}

/** Cap on the characters of a server's error text quoted in a message. */
const MAX_ERROR_DETAIL_CHARS = 300;

/** ": <the server's error text>" from a JSON `{ error }` or a short plain-text body; "" when there is none. */
function errorDetail(text: string): string {
  let detail = text;
  try {
    const value = JSON.parse(text) as { error?: unknown } | null;
    detail = typeof value?.error === "string" ? value.error : "";
  } catch {
    // plain text (or HTML): quoted as it is, trimmed
  }
  detail = detail.trim().slice(0, MAX_ERROR_DETAIL_CHARS);
  return detail === "" ? "" : `: ${detail}`;
}
