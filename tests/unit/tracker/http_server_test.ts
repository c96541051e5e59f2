// startHttpServer's choice of stack (lib/tracker/http_server.ts) where no socket opens: the libc server asked for
// where it cannot work is a clear error, never a silent fallback. Sockets: tests/integration/http_server_test.ts.

import { equal, ok } from "../../_helpers/assert.ts";
import { TrackerError } from "../../../lib/errors.ts";
import { startHttpServer } from "../../../lib/tracker/http_server.ts";
import { createLibcHttpServer } from "../../../lib/tracker/_http_ffi.ts";
import { EPOLL_DATA_OFFSET, EPOLL_EVENT_BYTES, listenTcp } from "../../../lib/tracker/_http_epoll.ts";

Deno.test('startHttpServer({ io: "libc" }) on a host name throws libc_unavailable (no fallback)', () => {
  let err: unknown;
  try {
    startHttpServer({ hostname: "localhost", port: 0, io: "libc", handler: () => new Response("x") });
  } catch (e: unknown) {
    err = e;
  }
  ok(err instanceof TrackerError);
  equal(err.code, "libc_unavailable");
});

Deno.test("createLibcHttpServer() and listenTcp() do not apply to a host name or a scoped address", () => {
  equal(createLibcHttpServer({ hostname: "localhost", port: 0, handler: () => new Response("x") }), null);
  equal(listenTcp("fe80::1%eth0", 0), null);
});

Deno.test("struct epoll_event: packed on x86_64 (12 bytes), natural alignment elsewhere (16)", () => {
  const isX64 = Deno.build.arch === "x86_64";
  equal(EPOLL_EVENT_BYTES, isX64 ? 12 : 16);
  equal(EPOLL_DATA_OFFSET, isX64 ? 4 : 8);
});
