// createHttpRoutes called as a function with a Request and stand-in answers and stats: which path goes where, the
// admin checks' statuses, method checks, and that errors reach a client only as bencoded failures without detail.

import { deepEqual, equal, match, ok } from "../../_helpers/assert.ts";
import { TrackerError } from "../../../lib/errors.ts";
import { TrackerDb } from "../../../lib/persist/db.ts";
import type { AdminCheck } from "../../../lib/tracker/admin_auth.ts";
import type { HttpAnswers } from "../../../lib/tracker/http_answers.ts";
import { createHttpRoutes } from "../../../lib/tracker/http_routes.ts";
import { Registry } from "../../../lib/tracker/registry.ts";
import type { Stats } from "../../../lib/tracker/stats.ts";

const enc = (s: string) => new TextEncoder().encode(s);

function setup(check: AdminCheck = "none") {
  const db = TrackerDb.open(":memory:");
  const calls: string[] = [];
  const answers: HttpAnswers = {
    announceOrScrape: (url, pathStart) => {
      const path = url.slice(pathStart).split("?")[0];
      if (path === "/announce") return enc("d8:intervali60ee");
      if (path === "/boom") throw new TrackerError("refused", "No thanks");
      if (path === "/crash") throw new Error("secret detail");
      return null;
    },
    announce: (_h, _host, _url, _q, passkey) => {
      calls.push(`announce ${passkey}`);
      return enc("de");
    },
    scrape: (_h, _host, _q, passkey) => {
      calls.push(`scrape ${passkey}`);
      return enc("de");
    },
    fast: () => null,
    failureBody: (reason) => enc(`d14:failure reason${reason.length}:${reason}e`),
    internalErrorBody: () => enc("d14:failure reason14:internal errore"),
  };
  const stats = {
    publicJson: () => enc(`{"public":true}`),
    stats: (isAdmin: boolean) => ({ isAdmin } as unknown as Stats),
  };
  const handler = createHttpRoutes({
    answers,
    stats,
    adminCheck: () => check,
    registry: new Registry(db),
    privateMode: { handleApi: () => Promise.resolve(new Response("api")) },
    snapshot: () => 7,
    now: () => 0,
  });
  const call = async (path: string, method = "GET") => {
    const res = await handler(new Request(`http://t${path}`, { method }), { remoteAddr: { hostname: "10.0.0.1" } });
    return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
  };
  return { call, calls, close: () => db.close() };
}

Deno.test("createHttpRoutes(): announce, dashboard, public /stats, passkey paths, 404", async () => {
  const s = setup("none");
  try {
    deepEqual(await s.call("/announce?x=1"), { status: 200, type: "text/plain", text: "d8:intervali60ee" });
    const page = await s.call("/");
    match(page.text, /<html/i);
    deepEqual(await s.call("/stats"), { status: 200, type: "application/json", text: `{"public":true}` });
    await s.call(`/announce/${"a".repeat(32)}?q`);
    await s.call(`/scrape/${"b".repeat(32)}`);
    deepEqual(s.calls, [`announce ${"a".repeat(32)}`, `scrape ${"b".repeat(32)}`]);
    const unknown = await s.call("/nope");
    equal(unknown.status, 404);
    match(unknown.text, /Unknown path/);
  } finally {
    s.close();
  }
});

Deno.test("createHttpRoutes(): admin calls by check and method: 200, 401, 429, 405", async () => {
  const admin = setup("admin");
  const refused = setup("refused");
  const limited = setup("limited");
  try {
    deepEqual(JSON.parse((await admin.call("/stats")).text), { isAdmin: true });
    deepEqual(JSON.parse((await admin.call("/save_state")).text), { ok: true, peers: 7 });
    equal((await admin.call("/save_state", "POST")).status, 405);
    equal((await admin.call("/api/info")).text, "api");
    for (const path of ["/stats", "/save_state", "/api/info"]) {
      equal((await refused.call(path)).status, 401, path);
      equal((await limited.call(path)).status, 429, path);
    }
    equal((await refused.call("/shutdown", "POST")).status, 401);
    equal((await limited.call("/add_torrent_info", "POST")).status, 429);
  } finally {
    admin.close();
    refused.close();
    limited.close();
  }
});

Deno.test("createHttpRoutes(): a TrackerError is a 200 failure reason; anything else says only internal error", async () => {
  const s = setup();
  try {
    deepEqual(await s.call("/boom"), { status: 200, type: "text/plain", text: "d14:failure reason9:No thankse" });
    const crash = await s.call("/crash");
    equal(crash.status, 200);
    match(crash.text, /internal error/);
    ok(!crash.text.includes("secret"));
  } finally {
    s.close();
  }
});
