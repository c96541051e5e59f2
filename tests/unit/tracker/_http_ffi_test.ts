// createLibcHttpServer (lib/tracker/_http_ffi.ts), the libc HTTP server's epoll set, accept loop and lifecycle, on
// 127.0.0.1 where libc applies (Linux x86_64/aarch64; else skipped with the reason printed): more connections at once
// than one accept batch, each served by `rawRequest` or the handler; shutdown() as one promise that closes what it
// owns. Requests, limits and deadlines: _http_requests_test, _http_sockets_test, tests/integration/http_server_test.
// Every wait is bounded (the raw client's WAIT_MS); nothing asserts time.

import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { utf8 } from "../../../lib/bytes.ts";
import { targetText } from "../../../lib/tracker/http1.ts";
import { openLibrary } from "../../../lib/tracker/_libc.ts";
import { HTTP_SYMBOLS } from "../../../lib/tracker/_http_epoll.ts";
import { createLibcHttpServer, type LibcHttpServer } from "../../../lib/tracker/_http_ffi.ts";
import { Client, get, waitFor } from "../../integration/_http_raw_client.ts";

const LIBC = openLibrary(HTTP_SYMBOLS);
if (LIBC === null) {
  console.log("_http_ffi_test: no libc path here (not Linux x86_64/aarch64, or no --allow-ffi): skipped");
}
LIBC?.close();

/** More than the server's ACCEPT_BATCH (64): the accept loop must come back for the rest. */
const CLIENTS = 70;

function serve(warnings: string[]): LibcHttpServer {
  const server = createLibcHttpServer({
    hostname: "127.0.0.1",
    port: 0,
    limits: { sweepIntervalMs: 0 },
    // GET /fast/<n> is answered from the request bytes; anything else goes to the handler.
    rawRequest: (b, start, end) => {
      const target = targetText(b, start, end);
      return target.startsWith("/fast/") ? utf8(`raw ${target}`) : null;
    },
    handler: (req, info) => new Response(`handler ${new URL(req.url).pathname} ${info.remoteAddr.hostname}`),
    onWarning: (m) => warnings.push(m),
  });
  ok(server !== null);
  return server;
}

Deno.test("createLibcHttpServer() leaves host names to Deno.serve", () => {
  equal(createLibcHttpServer({ hostname: "localhost", port: 0, handler: () => new Response("x") }), null);
});

Deno.test({
  name: `createLibcHttpServer() serves ${CLIENTS} connections at once (more than one accept batch), then holds none`,
  ignore: LIBC === null,
  fn: async () => {
    const warnings: string[] = [];
    const server = serve(warnings);
    const clients: Client[] = [];
    try {
      for (let i = 0; i < CLIENTS; i++) {
        clients.push(new Client(await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port })));
      }
      await Promise.all(
        clients.map((c, i) => c.send(get(i % 2 === 0 ? `/fast/${i}` : `/slow/${i}`, "Connection: close\r\n"))),
      );
      const texts = await Promise.all(clients.map(async (c) => (await c.readResponse()).text));
      deepEqual(
        texts,
        clients.map((_, i) => i % 2 === 0 ? `raw /fast/${i}` : `handler /slow/${i} 127.0.0.1`),
      );
      await waitFor("every connection closed", () => server.connections === 0);
      ok(server.bytesRead > 0);
      deepEqual(warnings, []);
    } finally {
      for (const c of clients) c.close();
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "LibcHttpServer.shutdown() is one promise: idle connections end, finished settles, the port is closed",
  ignore: LIBC === null,
  fn: async () => {
    const server = serve([]);
    const client = new Client(await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port }));
    try {
      await client.send(get("/fast/1"));
      equal((await client.readResponse()).text, "raw /fast/1");
      equal(server.connections, 1, "kept alive");
      const stopping = server.shutdown();
      equal(server.shutdown(), stopping);
      await stopping;
      await server.finished;
      equal(server.connections, 0);
      equal((await client.readToEof()).length, 0, "the idle connection is closed without a word");
      let refused = false;
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port })).close();
      } catch (err: unknown) {
        refused = err instanceof Deno.errors.ConnectionRefused;
      }
      ok(refused, "nothing listens on the port any more");
    } finally {
      client.close();
      await server.shutdown();
    }
  },
});
