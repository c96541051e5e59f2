// admin_api: /add_torrent_info validation (table-driven), its status codes, the refusals of non-admin requests, and
// the one json() reply helper.

import { deepEqual, equal } from "../../_helpers/assert.ts";
import { TrackerDb } from "../../../lib/persist/db.ts";
import {
  addTorrentInfo,
  ADMIN_LIMITED_REASON,
  ADMIN_REQUIRED_REASON,
  json,
  notAdmin,
  toTorrentMeta,
} from "../../../lib/tracker/admin_api.ts";
import { maxBodyBytesFor } from "../../../lib/tracker/http_limits.ts";
import { Registry } from "../../../lib/tracker/registry.ts";

const HEX = "AB".repeat(20);
const T0 = 1_700_000_000_000;

Deno.test("toTorrentMeta() maps both spellings, keeps unknown fields in extra, refuses bad values", () => {
  deepEqual(toTorrentMeta({ info_hash: HEX, name: "n", length: 5, piece_length: 16384, created_by: "x", z: 1 }), {
    infoHashHex: HEX.toLowerCase(),
    name: "n",
    size: 5,
    pieceLength: 16384,
    createdBy: "x",
    extra: { z: 1 },
  });
  const bad: [unknown, string][] = [
    [[], "Each entry must be a JSON object"],
    [null, "Each entry must be a JSON object"],
    [{ info_hash: "ab" }, "info_hash must be 40 hex digits"],
    [{ infoHash: HEX, size: -1 }, "size must be a non-negative integer"],
    [{ infoHash: HEX, pieceLength: 1.5 }, "pieceLength must be a non-negative integer"],
    [{ infoHash: HEX, name: 5 }, "name must be a string"],
  ];
  for (const [item, error] of bad) equal(toTorrentMeta(item), error, JSON.stringify(item));
});

Deno.test("addTorrentInfo() registers one or many, 400 for bad JSON or fields, 413 past the cap", async () => {
  const db = TrackerDb.open(":memory:");
  try {
    const registry = new Registry(db);
    const post = (body: string) => new Request("http://t/add_torrent_info", { method: "POST", body });
    let res = await addTorrentInfo(post(JSON.stringify({ info_hash: HEX, name: "one" })), registry, T0);
    deepEqual(await res.json(), {
      results: [{ infoHash: HEX.toLowerCase(), status: "added" }],
      infoHash: HEX.toLowerCase(),
      status: "added",
    });
    equal(registry.get(HEX.toLowerCase())?.name, "one");
    res = await addTorrentInfo(
      post(JSON.stringify([{ info_hash: HEX }, { info_hash: "cd".repeat(20) }])),
      registry,
      T0,
    );
    equal((await res.json()).results.length, 2);
    res = await addTorrentInfo(post("{"), registry, T0);
    equal(res.status, 400);
    await res.body?.cancel();
    res = await addTorrentInfo(post(JSON.stringify([{ info_hash: "ef".repeat(20) }, { size: 1 }])), registry, T0);
    equal(res.status, 400);
    equal(registry.has("ef".repeat(20)), false, "nothing of a refused list is registered");
    const tooLarge = String(maxBodyBytesFor("/add_torrent_info") + 1);
    const declared = new Request("http://t/add_torrent_info", {
      method: "POST",
      body: "{}",
      headers: { "content-length": tooLarge },
    });
    res = await addTorrentInfo(declared, registry, T0);
    equal(res.status, 413);
    await res.body?.cancel();
  } finally {
    db.close();
  }
});

Deno.test("notAdmin() is 401 without the token and 429 once limited; json() sets its type", async () => {
  const a = notAdmin("none");
  equal(a.status, 401);
  deepEqual(await a.json(), { error: ADMIN_REQUIRED_REASON });
  const r = notAdmin("refused");
  equal(r.status, 401);
  await r.body?.cancel();
  const b = notAdmin("limited");
  equal(b.status, 429);
  deepEqual(await b.json(), { error: ADMIN_LIMITED_REASON });
  const c = json({ x: 1 }, 201);
  equal(c.status, 201);
  equal(c.headers.get("content-type"), "application/json");
  deepEqual(await c.json(), { x: 1 });
});
