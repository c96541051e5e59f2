// createHttpAnswers without sockets or Requests: the text path and the libc byte path give the same replies; a full
// scrape needs the admin check; refusals are bencoded failure bodies with the retry hint; an unknown error is reported
// to the operator and the client only reads "internal error".

import { deepEqual, equal, match, ok } from "../../_helpers/assert.ts";
import { percentEncode, toLatin1 } from "../../../lib/bytes.ts";
import { type BencodeDict, decodeBencode } from "../../../lib/bencode.ts";
import { TrackerDb } from "../../../lib/persist/db.ts";
import type { AdminCheck } from "../../../lib/tracker/admin_auth.ts";
import { ClientAddress } from "../../../lib/tracker/client_address.ts";
import { createHttpAnswers, FAILURE_RETRY_S } from "../../../lib/tracker/http_answers.ts";
import { PrivateMode } from "../../../lib/tracker/private_mode.ts";
import { Registry } from "../../../lib/tracker/registry.ts";
import { MemorySwarmStore } from "../../../lib/tracker/swarm_store.ts";

const T0 = 1_700_000_000_000;
const HASH = new Uint8Array(20).fill(0x5a);
const NO_HEADERS = () => null;

function setup(check: AdminCheck = "none") {
  const db = TrackerDb.open(":memory:");
  const registry = new Registry(db);
  const store = new MemorySwarmStore();
  const warnings: string[] = [];
  const privateMode = new PrivateMode({
    db,
    registry,
    peerTimeoutS: 1800,
    now: () => T0,
    onWarning: () => {},
    pollIntervalMs: 0,
  });
  const answers = createHttpAnswers({
    db,
    store,
    registry,
    privateMode,
    addresses: new ClientAddress(),
    stats: { fullScrape: () => new TextEncoder().encode("d5:filesdee") },
    adminCheck: () => check,
    intervalS: 1800,
    minIntervalS: 60,
    numWantMax: 50,
    similar: {},
    now: () => T0,
    random: () => 0.5,
    onWarning: (m) => warnings.push(m),
  });
  return {
    answers,
    store,
    warnings,
    close() {
      privateMode.close();
      db.close();
    },
  };
}

function query(n: number, extra = ""): string {
  const id = new Uint8Array(20).fill(n);
  return `info_hash=${percentEncode(HASH)}&peer_id=${percentEncode(id)}&port=${6000 + n}&uploaded=0&downloaded=0` +
    `&left=${n}&compact=1${extra}`;
}

function dict(body: Uint8Array | null): BencodeDict {
  ok(body !== null);
  const d = decodeBencode(body);
  ok(d instanceof Map);
  return d;
}

Deno.test("createHttpAnswers(): the text path and the byte path give the same announce reply", () => {
  const a = setup();
  const b = setup();
  try {
    for (let n = 1; n <= 3; n++) {
      const url = `/announce?${query(n)}`;
      const text = a.answers.announceOrScrape(url, 0, "10.0.0.1", NO_HEADERS)!.slice();
      const bytes = new TextEncoder().encode(`GET ${url} HTTP/1.1`);
      const fast = b.answers.fast(bytes, 4, 4 + url.length, "10.0.0.1", NO_HEADERS)!.slice();
      deepEqual(fast, text);
    }
    equal(dict(a.answers.announceOrScrape(`/announce?${query(4)}`, 0, "10.0.0.1", NO_HEADERS)).get("incomplete"), 4);
    // `/` with announce parameters is an announce; other paths are not ours.
    equal(dict(a.answers.announceOrScrape(`/?${query(5)}`, 0, "10.0.0.1", NO_HEADERS)).get("incomplete"), 5);
    equal(a.answers.announceOrScrape("/stats", 0, "10.0.0.1", NO_HEADERS), null);
    equal(a.answers.fast(new TextEncoder().encode("/stats"), 0, 6, "10.0.0.1", NO_HEADERS), null);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("createHttpAnswers(): a scrape counts the swarm; a full scrape needs the admin check", () => {
  const open = setup("none");
  const admin = setup("admin");
  const limited = setup("limited");
  try {
    open.answers.announceOrScrape(`/announce?${query(1)}`, 0, "10.0.0.1", NO_HEADERS);
    const files = dict(open.answers.scrape(NO_HEADERS, "10.0.0.1", `info_hash=${percentEncode(HASH)}`)).get("files");
    ok(files instanceof Map);
    const e = files.get(toLatin1(HASH)) as BencodeDict;
    deepEqual([e.get("complete"), e.get("incomplete"), e.get("downloaded")], [0, 1, 0]);
    match(
      new TextDecoder().decode(open.answers.fast(new TextEncoder().encode("/scrape"), 0, 7, "h", NO_HEADERS)!),
      /admin token/,
    );
    deepEqual(admin.answers.scrape(NO_HEADERS, "10.0.0.1", ""), new TextEncoder().encode("d5:filesdee"));
    match(
      new TextDecoder().decode(
        limited.answers.fast(new TextEncoder().encode("/scrape"), 0, 7, "10.0.0.1", NO_HEADERS)!,
      ),
      /Too many wrong admin tokens/,
    );
  } finally {
    open.close();
    admin.close();
    limited.close();
  }
});

Deno.test("createHttpAnswers(): refusals carry the retry hint; an internal error names nothing to the client", () => {
  const s = setup();
  try {
    const bad = dict(s.answers.fast(new TextEncoder().encode("/announce?info_hash=x"), 0, 20, "10.0.0.1", NO_HEADERS));
    ok(bad.has("failure reason"));
    equal(bad.get("interval"), FAILURE_RETRY_S);
    s.store.announce = () => {
      throw new Error("secret detail");
    };
    const body = new TextDecoder().decode(
      s.answers.fast(new TextEncoder().encode(`/announce?${query(1)}`), 0, 200, "10.0.0.1", NO_HEADERS)!,
    );
    match(body, /internal error/);
    ok(!body.includes("secret detail"));
    ok(s.warnings.some((w) => w.includes("secret detail")));
  } finally {
    s.close();
  }
});
