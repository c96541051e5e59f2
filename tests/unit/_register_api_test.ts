// Api (lib/_register_api.ts), the admin-API client of `btool register`, over a scripted fetch and a recording sleep:
// what it sends, which failures it retries with doubling backoff, and the error code and text of each outcome.
// No sockets, no real waiting.

import { Api, type ApiOptions, RegisterError } from "../../lib/_register_api.ts";
import { assertRejectsCode, deepEqual, equal, match, ok } from "../_helpers/assert.ts";

interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | null;
}

/** An Api on http://t:6969 whose fetch answers from `script` in turn (a Response, or an Error to throw). */
function scripted(script: (Response | Error)[], options: Partial<ApiOptions> = {}) {
  const calls: Call[] = [];
  const sleeps: number[] = [];
  const retries: [number, string][] = [];
  const fetchFake = (input: string | URL | Request, init?: RequestInit) => {
    calls.push({
      url: String(input),
      method: init?.method ?? "GET",
      headers: { ...init?.headers as Record<string, string> },
      body: typeof init?.body === "string" ? init.body : null,
    });
    const next = script.shift();
    if (next === undefined) throw new Error("the script ran out");
    return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
  };
  const api = new Api("http://t:6969", {
    retries: 2,
    backoffMs: 100,
    timeoutMs: 5_000,
    fetch: fetchFake as typeof fetch,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    onRetry: (attempt, error) => retries.push([attempt, error]),
    ...options,
  });
  return { api, calls, sleeps, retries };
}

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json" } });
}

Deno.test("Api.call() sends JSON with the bearer token and returns the parsed answer", async () => {
  const { api, calls } = scripted([json({ added: 1 }), json({ ok: true })], { adminToken: "s3cret" });
  deepEqual(await api.call("POST", "/api/torrents", { body: { hash: "ab" } }), { added: 1 });
  deepEqual(calls[0], {
    url: "http://t:6969/api/torrents",
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer s3cret" },
    body: '{"hash":"ab"}',
  });
  await api.call("PUT", "/api/x", { bodyText: "[1,2]" });
  equal(calls[1]!.body, "[1,2]", "an encoded body is sent as it is");
  const anonymous = scripted([json({})]);
  await anonymous.api.call("GET", "/api/stats");
  equal(anonymous.calls[0]!.headers.authorization, undefined);
  equal(anonymous.calls[0]!.body, null);
});

Deno.test("Api.call() retries 5xx with doubling backoff, then fails with the status and the server's text", async () => {
  const { api, calls, sleeps, retries } = scripted([
    json({ error: "db locked" }, 503),
    json({ error: "db locked" }, 503),
    json({ error: "db locked" }, 502),
    json({ error: "db locked" }, 500),
  ], { retries: 3 });
  const err = await assertRejectsCode(() => api.call("POST", "/api/torrents"), RegisterError, "tracker_failed");
  equal(calls.length, 4, "retries: 3 means four attempts");
  deepEqual(sleeps, [100, 200, 400]);
  deepEqual(retries.map(([n]) => n), [1, 2, 3]);
  match(retries[0]![1], /HTTP 503.*db locked/);
  match(err.message, /failed POST \/api\/torrents 4 times: 500: db locked$/);
});

Deno.test("Api.call() retries a network error and a broken answer, and succeeds when the server comes back", async () => {
  const broken = new Response(
    new ReadableStream({ pull: (c) => c.error(new Error("connection reset")) }),
    { status: 200 },
  );
  const { api, sleeps, retries } = scripted([new TypeError("connection refused"), broken, json({ ok: 1 })]);
  deepEqual(await api.call("GET", "/api/stats"), { ok: 1 });
  deepEqual(sleeps, [100, 200]);
  deepEqual(retries, [[1, "connection refused"], [2, "connection reset"]]);
});

Deno.test("Api.call() gives up on an unreachable tracker with tracker_unreachable and the last error", async () => {
  const { api, calls } = scripted([new TypeError("refused 1"), new TypeError("refused 2"), new TypeError("refused 3")]);
  const err = await assertRejectsCode(() => api.call("GET", "/api/stats"), RegisterError, "tracker_unreachable");
  equal(calls.length, 3);
  match(err.message, /after 3 attempts: refused 3/);
});

Deno.test("Api.call() never retries a 4xx: 401/403 are unauthorized, others api_refused with the server's text", async () => {
  for (const status of [401, 403]) {
    const { api, calls } = scripted([json({ error: "no" }, status)]);
    await assertRejectsCode(() => api.call("GET", "/api/stats"), RegisterError, "unauthorized");
    equal(calls.length, 1);
  }
  const { api, calls } = scripted([json({ error: "  bad info hash  " }, 400)]);
  const err = await assertRejectsCode(
    () => api.call("POST", "/api/torrents", { what: "the batch of 3 torrents" }),
    RegisterError,
    "api_refused",
  );
  equal(calls.length, 1);
  match(err.message, /refused the batch of 3 torrents: 400: bad info hash$/);
  // A long plain-text body is quoted cut to its first 300 characters.
  const long = scripted([new Response("x".repeat(1000), { status: 404 })]);
  const cut = await assertRejectsCode(() => long.api.call("GET", "/nope"), RegisterError, "api_refused");
  ok(cut.message.endsWith(`: ${"x".repeat(300)}`), cut.message);
});

Deno.test("Api.call() refuses an answer that is not a JSON object: not a btool tracker", async () => {
  for (const body of ["<html>hello</html>", "42", "null"]) {
    const { api } = scripted([new Response(body, { status: 200 })]);
    const err = await assertRejectsCode(() => api.call("GET", "/api/stats"), RegisterError, "api_refused");
    match(err.message, /is http:\/\/t:6969 a btool tracker\?/);
  }
});
