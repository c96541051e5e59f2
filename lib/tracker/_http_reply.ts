// The bytes the libc HTTP server (lib/tracker/_http_ffi.ts) writes and the request facts it derives from a head's
// text: responses from a Response, refusals, the raw-request reply written into a reused buffer, the URL authority
// and path of a target. Pure: no sockets, no clock (the Date text comes in).

import { type ConnectionHeader, isBodiless, reasonPhrase, responseHead } from "./http1.ts";

const ENCODER = new TextEncoder();
export const ENCODED_CONTINUE = ENCODER.encode("HTTP/1.1 100 Continue\r\n\r\n");
const CRLF_CRLF = ENCODER.encode("\r\n\r\n");
const CLOSE_TAIL = ENCODER.encode("\r\nconnection: close\r\n\r\n");
const KEEP_ALIVE_TAIL = ENCODER.encode("\r\nconnection: keep-alive\r\n\r\n");
/** A Host value safe to put in a URL: a name or IPv4 literal, or a bracketed IPv6 literal, and an optional port. */
const HOST_RE = /^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** The URL authority of a request: its Host when that is safe in a URL, else `fallback` (the listening address). */
export function authorityOf(host: string | null, fallback: string): string {
  return host !== null && HOST_RE.test(host) ? host : fallback;
}

/** The path and query of a target (origin-form as is, absolute-form without its scheme and authority), or null. */
export function targetPath(target: string): string | null {
  if (target.startsWith("/")) return target;
  const m = /^https?:\/\/[^/?#]*(.*)$/i.exec(target);
  if (m === null) return null;
  const rest = m[1]!;
  return rest === "" ? "/" : rest.startsWith("/") ? rest : rest.startsWith("?") ? `/${rest}` : null;
}

/** The path of a path-and-query (what a body cap is chosen by). */
export function pathOnly(pathAndQuery: string): string {
  const q = pathAndQuery.indexOf("?");
  return q < 0 ? pathAndQuery : pathAndQuery.slice(0, q);
}

/** A response's bytes: head (with `date` and `connection`) and body; none of the body for HEAD. */
export async function encodeResponse(
  res: Response,
  o: { isHead: boolean; connection: ConnectionHeader; date: string },
): Promise<Uint8Array> {
  const body = res.body === null || isBodiless(res.status)
    ? new Uint8Array(0)
    : new Uint8Array(await res.arrayBuffer());
  const head = ENCODER.encode(responseHead(res.status, res.headers, body.length, o.connection, o.date));
  if (o.isHead || body.length === 0) return head;
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/** A plain-text refusal or error: "<status> <reason>\n", as Deno.serve's guard answers (lib/tracker/http_guard.ts). */
export function encodeRefusal(status: number, connection: ConnectionHeader, date: string): Uint8Array {
  const body = `${status} ${reasonPhrase(status)}\n`;
  return ENCODER.encode(
    responseHead(status, [["content-type", "text/plain"]], body.length, connection, date) + body,
  );
}

/** A refusal of a malformed head, as hyper answers it: the status, no body, and the connection closed. */
export function encodeBareRefusal(status: number, date: string): Uint8Array {
  return ENCODER.encode(
    `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\ncontent-length: 0\r\nconnection: close\r\ndate: ${date}\r\n\r\n`,
  );
}

/** The head of a 200 text/plain reply up to "content-length: " (changes once a second, with `date`). */
export function rawReplyHead(date: string): Uint8Array {
  return ENCODER.encode(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ndate: ${date}\r\ncontent-length: `);
}

/**
 * Write a 200 text/plain reply (`head` of rawReplyHead, the Content-Length of `body`, `connection`, `body`) into
 * `out` (at least rawReplyBytes long).
 * @returns its length
 */
export function writeRawReply(
  out: Uint8Array,
  head: Uint8Array,
  body: Uint8Array,
  connection: ConnectionHeader,
): number {
  const tail = connection === "" ? CRLF_CRLF : connection === "close" ? CLOSE_TAIL : KEEP_ALIVE_TAIL;
  out.set(head);
  let at = head.length;
  const len = body.length;
  let digits = 1;
  for (let v = len; v >= 10; v = Math.floor(v / 10)) digits++;
  for (let i = digits - 1, v = len; i >= 0; i--, v = Math.floor(v / 10)) out[at + i] = 48 + (v % 10);
  at += digits;
  for (let i = 0; i < tail.length; i++) out[at + i] = tail[i]!;
  at += tail.length;
  // Small bodies (most replies) are copied byte by byte: cheaper than set() below ~64 bytes.
  if (len <= 64) {
    for (let i = 0; i < len; i++) out[at + i] = body[i]!;
  } else out.set(body, at);
  return at + len;
}

/** The most bytes writeRawReply writes for `head` and a body of `bodyLength`. */
export function rawReplyBytes(head: Uint8Array, bodyLength: number): number {
  return head.length + 16 + KEEP_ALIVE_TAIL.length + bodyLength;
}
