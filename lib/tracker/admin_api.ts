// The seed tracker's JSON admin calls and their shared pieces: the one `json()` reply helper of the tracker (also
// used by private_mode.ts), the refusals of a request without the admin token, and /add_torrent_info (validation of
// its JSON into TorrentMeta, then the registry). The caller checks the token first; nothing here reads it.

import { readBodyCapped } from "../bytes.ts";
import { errorText } from "../errors.ts";
import type { TorrentMeta } from "../persist/db.ts";
import type { AdminCheck } from "./admin_auth.ts";
import { maxBodyBytesFor } from "./http_limits.ts";
import type { Registry } from "./registry.ts";

/** The refusal of an admin call without the token. */
export const ADMIN_REQUIRED_REASON = "Admin token required (Authorization: Bearer …)";
/** The refusal once an address sent too many wrong admin tokens (AdminAuth). */
export const ADMIN_LIMITED_REASON = "Too many wrong admin tokens from your address: try again later";

/** Headers of every JSON reply. */
export const JSON_HEADERS = { "content-type": "application/json" };

/** A JSON reply. */
export function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), { status, headers: JSON_HEADERS });
}

/** The refusal of a request whose admin check is not "admin": 401, or 429 once its address is limited. */
export function notAdmin(check: Exclude<AdminCheck, "admin">): Response {
  return check === "limited" ? json({ error: ADMIN_LIMITED_REASON }, 429) : json({ error: ADMIN_REQUIRED_REASON }, 401);
}

/**
 * POST /add_torrent_info: one torrent's metadata as a JSON object, or a list of them, registered in one transaction.
 * 400 for bad JSON or a bad field (nothing registered), 413 past its body cap (lib/tracker/http_limits.ts).
 */
export async function addTorrentInfo(req: Request, registry: Registry, nowMs: number): Promise<Response> {
  const bytes = await readBodyCapped(req, maxBodyBytesFor("/add_torrent_info"));
  if (bytes === null) return json({ error: "Body is too large" }, 413);
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return json({ error: "Body is not JSON" }, 400);
  }
  const items = Array.isArray(body) ? body : [body];
  const metas: TorrentMeta[] = [];
  for (const item of items) {
    const meta = toTorrentMeta(item);
    if (typeof meta === "string") return json({ error: meta }, 400);
    metas.push(meta);
  }
  try {
    const results = registry.registerMany(metas, nowMs);
    return json({
      results: metas.map((m, i) => ({ infoHash: m.infoHashHex.toLowerCase(), status: results[i] })),
      ...(metas.length === 1 ? { infoHash: metas[0]!.infoHashHex.toLowerCase(), status: results[0] } : {}),
    });
  } catch (err: unknown) {
    return json({ error: errorText(err) }, 400);
  }
}

const META_FIELDS: Record<string, keyof TorrentMeta> = {
  name: "name",
  size: "size",
  length: "size",
  piece_length: "pieceLength",
  pieceLength: "pieceLength",
  comment: "comment",
  created_by: "createdBy",
  createdBy: "createdBy",
};

/** One JSON entry of /add_torrent_info → TorrentMeta (unknown fields go to `extra`), or an error text. */
export function toTorrentMeta(item: unknown): TorrentMeta | string {
  if (typeof item !== "object" || item === null || Array.isArray(item)) return "Each entry must be a JSON object";
  const obj = item as Record<string, unknown>;
  const hex = obj.info_hash ?? obj.infoHash;
  if (typeof hex !== "string" || !/^[0-9a-fA-F]{40}$/.test(hex)) return "info_hash must be 40 hex digits";
  const meta: TorrentMeta = { infoHashHex: hex.toLowerCase() };
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === "info_hash" || k === "infoHash") continue;
    const field = META_FIELDS[k];
    if (field === undefined) {
      extra[k] = v;
      continue;
    }
    if (field === "size" || field === "pieceLength") {
      if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) return `${k} must be a non-negative integer`;
      meta[field] = v;
    } else {
      if (typeof v !== "string") return `${k} must be a string`;
      meta[field as "name" | "comment" | "createdBy"] = v;
    }
  }
  if (Object.keys(extra).length > 0) meta.extra = extra;
  return meta;
}
