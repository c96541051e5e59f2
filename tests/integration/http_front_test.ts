// The default HTTP stack's connection side (lib/tracker/http_front.ts under startHttpServer) over real sockets on
// 127.0.0.1, its deadlines on an injected clock (sweepIntervalMs 0: the test sweeps): a half-sent or trickled
// head is dropped at headTimeoutMs, an idle kept-alive connection or an unread response at the longer of idleTimeoutMs
// and writeTimeoutMs; shutdown() does not wait for a half-sent head; failing accepts are retried without a warning
// each. maxPerAddress and maxConnections, on both stacks: http_server_test.ts.

import { deepEqual, equal, match, ok } from "../_helpers/assert.ts";
import { serveOnConnection, startFront } from "../../lib/tracker/http_front.ts";
import { resolveLimits } from "../../lib/tracker/http_limits.ts";
import {
  type HttpHandler,
  type HttpLimitsInput,
  type HttpServer,
  startHttpServer,
} from "../../lib/tracker/http_server.ts";
import { Client, ConnScope, get, waitFor } from "./_http_raw_client.ts";
import { manualClock } from "../_helpers/clock.ts";

const echo: HttpHandler = (req) => new Response(`${req.method} ${new URL(req.url).pathname}`);

/** What a test opened, with its server on the default stack. */
class Scope extends ConnScope {
  serve(o: { handler?: HttpHandler; hostname?: string; now?: () => number; limits?: HttpLimitsInput }): HttpServer {
    const server = startHttpServer({
      hostname: o.hostname ?? "127.0.0.1",
      port: 0,
      handler: o.handler ?? echo,
      ...(o.now === undefined ? {} : { now: o.now }),
      limits: { sweepIntervalMs: 0, ...o.limits },
    });
    equal(server.io, "deno");
    ok(server.connections >= 0, "this Deno serves through the front (serveHttpOnConnection)");
    return this.track(server);
  }
}

function frontTest(name: string, fn: (t: Scope) => Promise<void>): void {
  Deno.test(`front: ${name}`, async () => {
    const t = new Scope();
    try {
      await fn(t);
    } finally {
      await t.close();
    }
  });
}

frontTest("a half-sent head is dropped at headTimeoutMs; 1 ms before, it can still finish", async (t) => {
  const clock = manualClock();
  const server = t.serve({ now: clock.now, limits: { headTimeoutMs: 1_000, idleTimeoutMs: 60_000 } });
  const early = await t.connect(server.addr.port);
  const late = await t.connect(server.addr.port);
  await early.send("GET /early HTTP/1.1\r\nHost: t\r\n");
  await late.send("GET /late HTTP/1.1\r\nHost: t\r\n");
  await waitFor("both connections to be accepted", () => server.connections === 2);
  clock.advance(999);
  server.sweep();
  await early.send("\r\n");
  equal((await early.readResponse("the head finished 1 ms before headTimeoutMs")).text, "GET /early");
  clock.advance(1);
  server.sweep();
  equal((await late.readToEof("the server to drop the half-sent head")).length, 0, "no response to half a head");
});

frontTest(
  "heads trickled a byte per 100 ms: dropped at headTimeoutMs after accept, a byte does not reset it",
  async (t) => {
    const clock = manualClock();
    const server = t.serve({ now: clock.now, limits: { headTimeoutMs: 1_000 } });
    const finishing = await t.connect(server.addr.port);
    const trickling = await t.connect(server.addr.port);
    await waitFor("both connections to be accepted", () => server.connections === 2);
    for (const c of [finishing, trickling]) await c.send("GET /t HTTP/1.1\r\nHost: t\r\nX-Pad: ");
    for (let piece = 1; piece <= 9; piece++) {
      for (const c of [finishing, trickling]) await c.send("a");
      clock.advance(100);
      server.sweep();
    }
    await finishing.send("\r\n\r\n");
    equal((await finishing.readResponse("a trickled head finished at 900 ms")).text, "GET /t");
    await trickling.send("a").catch(() => {});
    clock.advance(100);
    server.sweep();
    equal(
      (await trickling.readToEof("the server to drop a trickling head")).length,
      0,
      "no response to a trickling head",
    );
  },
);

frontTest("a kept-alive connection is closed at idleTimeoutMs after its response, not before", async (t) => {
  const clock = manualClock();
  const server = t.serve({
    now: clock.now,
    limits: { headTimeoutMs: 1_000, idleTimeoutMs: 5_000, writeTimeoutMs: 5_000 },
  });
  const a = await t.connect(server.addr.port);
  const b = await t.connect(server.addr.port);
  await a.send(get("/a"));
  equal((await a.readResponse("a's response")).text, "GET /a");
  await b.send(get("/b"));
  equal((await b.readResponse("b's response")).text, "GET /b");
  clock.advance(4_999); // far past headTimeoutMs: both answered a request
  server.sweep();
  await a.send(get("/a2"));
  equal((await a.readResponse("a request 1 ms before idleTimeoutMs")).text, "GET /a2");
  clock.advance(1);
  server.sweep();
  equal((await b.readToEof("the server to close b at idleTimeoutMs")).length, 0);
});

frontTest(
  "a response the client does not read is dropped at the longer of idleTimeoutMs and writeTimeoutMs",
  async (t) => {
    const clock = manualClock();
    const big = new Uint8Array(32 * 1_048_576); // more than the socket buffers of both ends hold
    let isCalled = false;
    const server = t.serve({
      now: clock.now,
      handler: () => {
        isCalled = true;
        return new Response(big);
      },
      limits: { writeTimeoutMs: 2_000, idleTimeoutMs: 1_000 },
    });
    const c = await t.connect(server.addr.port);
    await c.send(get("/big"));
    await waitFor("the handler to be called", () => isCalled);
    clock.advance(1_999);
    server.sweep();
    equal(server.connections, 1, "kept 1 ms before writeTimeoutMs (past idleTimeoutMs)");
    clock.advance(1);
    server.sweep();
    await waitFor("the server to drop the unread response", () => server.connections === 0);
    const got = await c.readToEof("the truncated response");
    ok(got.length < big.length, `only part of the response arrived (${got.length} bytes)`);
  },
);

frontTest("shutdown() closes a half-sent head at once and lets a request in progress finish", async (t) => {
  const gate = Promise.withResolvers<void>();
  let isCalled = false;
  const server = t.serve({
    handler: async () => {
      isCalled = true;
      await gate.promise;
      return new Response("finished");
    },
  });
  const half = await t.connect(server.addr.port);
  await half.send("GET / HTTP/1.1\r\nHost: t\r\n");
  const busy = await t.connect(server.addr.port);
  await busy.send(get("/slow"));
  await waitFor("the slow request to reach the handler", () => isCalled && server.connections === 2);
  const stopping = server.shutdown();
  equal((await half.readToEof("the half-sent head to be closed by shutdown")).length, 0);
  gate.resolve();
  equal((await busy.readResponse("the request in progress")).text, "finished");
  await stopping;
  await server.finished;
});

Deno.test("front: failing accepts are retried with one warning when they start and one when they end", async () => {
  const warnings: string[] = [];
  let failuresLeft = 5;
  const front = startFront({
    hostname: "127.0.0.1",
    port: 0,
    handler: echo,
    onError: () => new Response("error", { status: 500 }),
    limits: resolveLimits({ sweepIntervalMs: 0 }),
    serve: serveOnConnection()!,
    onWarning: (m) => warnings.push(m),
    listen: (o) => {
      const real = Deno.listen(o);
      const accept = real.accept.bind(real);
      real.accept = () => failuresLeft-- > 0 ? Promise.reject(new Error("Too many open files")) : accept();
      return real;
    },
  });
  const c = new Client(await Deno.connect({ hostname: "127.0.0.1", port: front.addr.port }));
  try {
    await c.send(get("/after"));
    equal((await c.readResponse("a request once accepting works again")).text, "GET /after");
    deepEqual(warnings, [
      "Cannot accept HTTP connections (retrying): Too many open files",
      "Accepting HTTP connections again after 5 failed attempts",
    ]);
  } finally {
    c.close();
    await front.shutdown();
  }
});

Deno.test("front: on a runtime without serveHttpOnConnection, plain Deno.serve serves and a warning says what is lost", async () => {
  const warnings: string[] = [];
  const server = startHttpServer({
    hostname: "127.0.0.1",
    port: 0,
    handler: echo,
    serveOnConnection: null,
    onWarning: (m) => warnings.push(m),
  });
  try {
    equal(server.connections, -1, "connections are not counted");
    const res = await fetch(`http://127.0.0.1:${server.addr.port}/plain`);
    equal(await res.text(), "GET /plain");
    equal(warnings.length, 1);
    match(warnings[0]!, /without per-address caps or deadlines/);
  } finally {
    await server.shutdown();
  }
});
