// The HTTP tracker's routes as a `(Request, info) => Response` handler for Deno.serve: announce and scrape (through
// http_answers.ts), the dashboard, /stats, the seed tracker's admin calls (/add_torrent_info, /save_state,
// /shutdown), the private mode's /api and passkey paths. Announce and scrape errors are HTTP 200 + bencoded
// `failure reason`; admin calls answer JSON with a status. No socket, no timers.

import { TrackerError } from "../errors.ts";
import { splitPasskeyPath } from "./access.ts";
import { addTorrentInfo, json, JSON_HEADERS, notAdmin } from "./admin_api.ts";
import type { AdminCheck } from "./admin_auth.ts";
import type { HeaderOf } from "./client_address.ts";
import { DASHBOARD_HTML } from "./dashboard.ts";
import type { HttpAnswers } from "./http_answers.ts";
import { encodeFailure } from "./http_codec.ts";
import { isApiPath, type PrivateMode } from "./private_mode.ts";
import type { Registry } from "./registry.ts";
import type { TrackerStats } from "./stats.ts";

/** The part of Deno.serve's handler info the tracker reads. */
export interface ClientInfo {
  remoteAddr: { hostname: string; port?: number };
}

/** A request handler in Deno.serve's shape. */
export type TrackerHandler = (req: Request, info: ClientInfo) => Response | Promise<Response>;

/** Options of createHttpRoutes. */
export interface HttpRoutesOptions {
  answers: HttpAnswers;
  stats: Pick<TrackerStats, "publicJson" | "stats">;
  /** The admin check of a request (token and per-address limiter). */
  adminCheck: (header: HeaderOf, host: string) => AdminCheck;
  registry: Registry;
  privateMode: Pick<PrivateMode, "handleApi">;
  /** GET /save_state: save the swarm snapshot now; returns peers saved. */
  snapshot: () => number;
  now: () => number;
  /** Called after POST /shutdown has been answered. */
  onShutdown?: () => void;
}

const TEXT_HEADERS = { "content-type": "text/plain" };
const HTML_HEADERS = { "content-type": "text/html; charset=utf-8" };

function bencoded(body: Uint8Array, status = 200): Response {
  // Our encoders allocate plain ArrayBuffers; the cast only narrows the buffer type for BodyInit. Status 200 is the
  // default: leaving it out spares the init's conversion.
  const b = body as Uint8Array<ArrayBuffer>;
  return status === 200
    ? new Response(b, { headers: TEXT_HEADERS })
    : new Response(b, { status, headers: TEXT_HEADERS });
}

/** Build the handler. Any error it does not expect is reported through the answers' onWarning, never sent. */
export function createHttpRoutes(options: HttpRoutesOptions): TrackerHandler {
  const { answers, stats, adminCheck, registry, privateMode, snapshot, now } = options;

  const adminOnly = (req: Request, check: AdminCheck, method: string, fn: () => Response | Promise<Response>) => {
    if (req.method !== method) return json({ error: `Use ${method}` }, 405);
    return check === "admin" ? fn() : notAdmin(check);
  };

  /** Everything but announce and scrape at their plain paths. */
  const other = (req: Request, path: string, url: string, queryAt: number, host: string, header: HeaderOf) => {
    switch (path) {
      case "/":
        return new Response(DASHBOARD_HTML, { headers: HTML_HEADERS });
      case "/stats": {
        const check = adminCheck(header, host);
        if (check === "none") {
          return new Response(stats.publicJson() as Uint8Array<ArrayBuffer>, { headers: JSON_HEADERS });
        }
        return check === "admin" ? json(stats.stats(true)) : notAdmin(check);
      }
      case "/add_torrent_info":
        return adminOnly(req, adminCheck(header, host), "POST", () => addTorrentInfo(req, registry, now()));
      case "/save_state":
        return adminOnly(req, adminCheck(header, host), "GET", () => json({ ok: true, peers: snapshot() }));
      case "/shutdown":
        return adminOnly(req, adminCheck(header, host), "POST", () => {
          setTimeout(() => options.onShutdown?.(), 0);
          return json({ ok: true });
        });
      default: {
        if (isApiPath(path)) {
          const check = adminCheck(header, host);
          return check === "admin" ? privateMode.handleApi(req, path) : notAdmin(check);
        }
        // Torrust-style passkey URLs (issue #6).
        const pk = splitPasskeyPath(path);
        if (pk !== null) {
          return bencoded(
            pk.path === "/announce"
              ? answers.announce(header, host, url, queryAt, pk.passkey)
              : answers.scrape(header, host, url.slice(queryAt), pk.passkey),
          );
        }
        return bencoded(encodeFailure("Unknown path"), 404);
      }
    }
  };

  const route = (req: Request, info: ClientInfo): Response | Promise<Response> => {
    const url = req.url;
    const pathStart = url.indexOf("/", url.indexOf("//") + 2);
    const header: HeaderOf = (name) => req.headers.get(name);
    const host = info.remoteAddr.hostname;
    const reply = answers.announceOrScrape(url, pathStart, host, header);
    if (reply !== null) return bencoded(reply);
    const q = url.indexOf("?", pathStart);
    const path = q < 0 ? url.slice(pathStart) : url.slice(pathStart, q);
    return other(req, path, url, q < 0 ? url.length : q + 1, host, header);
  };

  const internalError = (err: unknown): Response => bencoded(answers.internalErrorBody(err));

  return (req: Request, info: ClientInfo): Response | Promise<Response> => {
    try {
      const res = route(req, info);
      return res instanceof Promise ? res.catch((err: unknown) => internalError(err)) : res;
    } catch (err: unknown) {
      if (err instanceof TrackerError) return bencoded(answers.failureBody(err.reason));
      return internalError(err);
    }
  };
}
