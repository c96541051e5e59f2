// The one table of HTTP limits (lib/tracker/http_limits.ts): body caps by route and how limits are given.

import { equal, ok } from "../../_helpers/assert.ts";
import {
  DEFAULT_HTTP_LIMITS,
  MAX_BULK_BODY_BYTES,
  MAX_HEAD_BYTES,
  MAX_SMALL_BODY_BYTES,
  maxBodyBytesFor,
  resolveLimits,
} from "../../../lib/tracker/http_limits.ts";

Deno.test("maxBodyBytesFor(): the bulk admin API (/api/..., /add_torrent_info) takes 64 MiB, the rest 64 KiB", () => {
  equal(MAX_BULK_BODY_BYTES, 64 * 1_048_576);
  equal(maxBodyBytesFor("/api/torrents"), MAX_BULK_BODY_BYTES);
  equal(maxBodyBytesFor("/api/users/x/rotate"), MAX_BULK_BODY_BYTES);
  equal(maxBodyBytesFor("/add_torrent_info"), MAX_BULK_BODY_BYTES);
  for (const p of ["/announce", "/scrape", "/stats", "/", "/apix", "/shutdown"]) {
    equal(maxBodyBytesFor(p), MAX_SMALL_BODY_BYTES, p);
  }
});

Deno.test("resolveLimits(): defaults, overrides, and a number as maxBodyBytes caps every route alike", () => {
  const d = resolveLimits();
  equal(d.maxHeadBytes, MAX_HEAD_BYTES);
  equal(d.maxBodyBytes("/api/torrents"), MAX_BULK_BODY_BYTES);
  const t = resolveLimits({ maxBodyBytes: 1000, idleTimeoutMs: 5 });
  equal(t.maxBodyBytes("/api/torrents"), 1000);
  equal(t.idleTimeoutMs, 5);
  equal(t.headTimeoutMs, DEFAULT_HTTP_LIMITS.headTimeoutMs);
  // One connection can hold a whole bulk request; one address two of them; all addresses more than one address.
  ok(d.maxConnectionBytes > MAX_BULK_BODY_BYTES + MAX_HEAD_BYTES);
  ok(d.maxAddressBytes >= 2 * MAX_BULK_BODY_BYTES && d.maxBufferedBytes > d.maxAddressBytes);
});
