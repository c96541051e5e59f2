// The limits on Deno.serve (lib/tracker/http_guard.ts), without a socket: requests in progress per address and in
// all, bodies capped by route and by the memory all bodies may hold, the body deadline (an injected timer), and the
// framing hyper takes but the libc server refuses.

import { equal, ok } from "../../_helpers/assert.ts";
import { guardHandler, type HttpHandler } from "../../../lib/tracker/http_guard.ts";
import { MAX_BULK_BODY_BYTES, MAX_SMALL_BODY_BYTES, resolveLimits } from "../../../lib/tracker/http_limits.ts";

const V4 = { remoteAddr: { transport: "tcp" as const, hostname: "192.0.2.1", port: 1 } };
const V4B = { remoteAddr: { transport: "tcp" as const, hostname: "192.0.2.2", port: 1 } };

/** A handler whose responses wait until release(); counts calls and the body sizes it saw. */
function gated(): { handler: HttpHandler; release(): void; calls: number; sizes: number[] } {
  const gate = Promise.withResolvers<void>();
  const state = {
    calls: 0,
    sizes: [] as number[],
    release: () => gate.resolve(),
    handler: (async (req: Request) => {
      state.calls++;
      if (req.body !== null) state.sizes.push((await req.arrayBuffer()).byteLength);
      await gate.promise;
      return new Response("ok");
    }) as HttpHandler,
  };
  return state;
}

/** A stream of `n` bytes in chunks of `chunk`, or one that never ends (n < 0). */
function stream(n: number, chunk = 65_536): ReadableStream<Uint8Array> {
  let left = n;
  return new ReadableStream({
    pull(c) {
      if (n < 0) return new Promise(() => {}); // never
      if (left === 0) return c.close();
      const k = Math.min(chunk, left);
      left -= k;
      c.enqueue(new Uint8Array(k));
    },
  });
}

function postTo(path: string, body: BodyInit | null, headers: Record<string, string> = {}): Request {
  return new Request(`http://t${path}`, { method: "POST", body, headers });
}

Deno.test("guardHandler: maxPerAddress requests in progress from one address; the next gets 429, others pass", async () => {
  const g = gated();
  const guard = guardHandler(g.handler, { limits: resolveLimits({ maxPerAddress: 2 }) });
  const a = guard.handler(new Request("http://t/a"), V4) as Promise<Response>;
  const b = guard.handler(new Request("http://t/b"), V4) as Promise<Response>;
  const refused = await guard.handler(new Request("http://t/c"), V4);
  equal(refused.status, 429);
  equal(refused.headers.get("connection"), "close");
  equal(await refused.text(), "429 Too Many Requests\n");
  const other = guard.handler(new Request("http://t/d"), V4B) as Promise<Response>;
  equal(guard.inFlight, 3);
  g.release();
  equal((await a).status, 200);
  equal((await b).status, 200);
  equal((await other).status, 200);
  equal(guard.inFlight, 0);
  equal((await guard.handler(new Request("http://t/e"), V4)).status, 200, "the address is free again");
});

Deno.test("guardHandler: an uncapped address (a trusted proxy) passes maxPerAddress and maxAddressBytes", async () => {
  const g = gated();
  const guard = guardHandler(g.handler, {
    limits: resolveLimits({
      maxPerAddress: 1,
      maxAddressBytes: 150_000,
      isUncapped: (host) => host === V4.remoteAddr.hostname,
    }),
  });
  const a = guard.handler(new Request("http://t/a"), V4) as Promise<Response>;
  const b = guard.handler(postTo("/api/x", stream(100_000)), V4) as Promise<Response>;
  const c = guard.handler(postTo("/api/x", stream(100_000)), V4) as Promise<Response>;
  for (let i = 0; i < 40 && g.calls < 3; i++) await new Promise((r) => setTimeout(r, 0));
  equal(guard.inFlight, 3, "three requests in progress from one uncapped address");
  equal(guard.bufferedBytes, 200_000, "past maxAddressBytes");
  const held = guard.handler(new Request("http://t/x"), V4B) as Promise<Response>;
  equal((await guard.handler(new Request("http://t/y"), V4B)).status, 429, "a capped address is still capped");
  g.release();
  for (const r of [a, b, c, held]) equal((await r).status, 200);
});

Deno.test("guardHandler: maxConnections requests in progress in all; the next gets 503", async () => {
  const g = gated();
  const guard = guardHandler(g.handler, { limits: resolveLimits({ maxConnections: 1 }) });
  const a = guard.handler(new Request("http://t/a"), V4) as Promise<Response>;
  equal((await guard.handler(new Request("http://t/b"), V4B)).status, 503);
  g.release();
  equal((await a).status, 200);
});

Deno.test("guardHandler: a synchronous answer is never counted; a throw reaches Deno.serve's onError", () => {
  const guard = guardHandler(() => new Response("sync"), { limits: resolveLimits({ maxConnections: 1 }) });
  for (let i = 0; i < 3; i++) equal((guard.handler(new Request("http://t/a"), V4) as Response).status, 200);
  equal(guard.inFlight, 0);
  const throwing = guardHandler(() => {
    throw new Error("boom");
  }, { limits: resolveLimits() });
  let caught = "";
  try {
    throwing.handler(new Request("http://t/a"), V4);
  } catch (err: unknown) {
    caught = (err as Error).message;
  }
  equal(caught, "boom");
  equal(throwing.inFlight, 0);
});

Deno.test("guardHandler: bodies are capped by route (bulk admin API 64 MiB, others 64 KiB): 413", async () => {
  const g = gated();
  g.release();
  const guard = guardHandler(g.handler, { limits: resolveLimits() });
  // Declared too large: refused before reading.
  const declared = await guard.handler(
    postTo("/api/torrents", stream(10), { "content-length": String(MAX_BULK_BODY_BYTES + 1) }),
    V4,
  );
  equal(declared.status, 413);
  equal(await declared.text(), "413 Content Too Large\n");
  // Streamed (chunked) past the small cap.
  equal((await guard.handler(postTo("/stats", stream(MAX_SMALL_BODY_BYTES + 1)), V4)).status, 413);
  // A 6 MiB registration is within the bulk cap (it was refused at 4 MiB on the libc server: "fetch failed").
  equal((await guard.handler(postTo("/api/torrents", stream(6 * 1_048_576)), V4)).status, 200);
  equal((await guard.handler(postTo("/add_torrent_info", stream(6 * 1_048_576)), V4)).status, 200);
  equal(g.sizes.join(","), `${6 * 1_048_576},${6 * 1_048_576}`, "the handler saw only the accepted bodies, whole");
  equal(guard.bufferedBytes, 0, "bodies are given back when their requests end");
});

Deno.test("guardHandler: bodies in flight are capped per address and in all (503), and given back", async () => {
  const g = gated();
  const guard = guardHandler(g.handler, {
    limits: resolveLimits({ maxAddressBytes: 150_000, maxBufferedBytes: 250_000 }),
  });
  const first = guard.handler(postTo("/api/x", stream(100_000)), V4) as Promise<Response>;
  // Let the first body be read (its handler then waits on the gate, holding the bytes).
  for (let i = 0; i < 20 && g.calls === 0; i++) {
    await Promise.resolve().then(() => new Promise((r) => setTimeout(r, 0)));
  }
  equal(guard.bufferedBytes, 100_000);
  equal((await guard.handler(postTo("/api/x", stream(100_000)), V4)).status, 503, "past the address's cap");
  const other = guard.handler(postTo("/api/x", stream(100_000)), V4B) as Promise<Response>;
  for (let i = 0; i < 20 && g.calls < 2; i++) await new Promise((r) => setTimeout(r, 0));
  equal(guard.bufferedBytes, 200_000);
  equal((await guard.handler(postTo("/api/x", stream(100_000)), V4B)).status, 503, "past the total cap");
  g.release();
  equal((await first).status, 200);
  equal((await other).status, 200);
  equal(guard.bufferedBytes, 0);
});

Deno.test("guardHandler: a body not whole within requestTimeoutMs gets 408 (injected timer)", async () => {
  const timer: { fire: (() => void) | null } = { fire: null };
  let nowMs = 1_000;
  const guard = guardHandler(() => new Response("never"), {
    limits: resolveLimits({ requestTimeoutMs: 5_000 }),
    now: () => nowMs,
    setTimer: (fn) => {
      timer.fire = fn;
      return 1;
    },
    clearTimer: () => {},
  });
  const res = guard.handler(postTo("/api/x", stream(-1)), V4) as Promise<Response>;
  await new Promise((r) => setTimeout(r, 0));
  ok(timer.fire !== null, "a deadline was set");
  nowMs += 5_000;
  timer.fire();
  const r = await res;
  equal(r.status, 408);
  equal(await r.text(), "408 Request Timeout\n");
  equal(guard.inFlight, 0);
});

Deno.test("guardHandler: Transfer-Encoding other than chunked is refused as a malformed head (400, no body)", async () => {
  const guard = guardHandler(() => new Response("no"), { limits: resolveLimits() });
  const r = await guard.handler(postTo("/stats", stream(3), { "transfer-encoding": "gzip, chunked" }), V4);
  equal(r.status, 400);
  equal(await r.text(), "");
});
