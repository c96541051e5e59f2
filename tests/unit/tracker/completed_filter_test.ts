// The filter of counted torrents: no false negatives (after the start-up read and after addCompleted), few false
// positives, and no db read for a hash never completed, through createCompletedOf and through a tracker's scrape.

import { decodeBencode } from "../../../lib/bencode.ts";
import { percentEncode, toHex, toLatin1 } from "../../../lib/bytes.ts";
import { TrackerDb } from "../../../lib/persist/db.ts";
import { MAX_SCRAPE_HASHES } from "../../../lib/tracker/announce.ts";
import { CompletedFilter, createCompletedOf } from "../../../lib/tracker/completed_filter.ts";
import { Registry } from "../../../lib/tracker/registry.ts";
import { createTracker } from "../../../lib/tracker/server.ts";
import { equal, ok } from "../../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../../_helpers/random.ts";

const T0 = 1_700_000_000_000;

/** An in-memory db whose getTorrent calls are counted. */
function spiedDb(): { db: TrackerDb; reads: () => number } {
  const db = TrackerDb.open(":memory:");
  const getTorrent = db.getTorrent.bind(db);
  let reads = 0;
  db.getTorrent = (hex) => {
    reads++;
    return getTorrent(hex);
  };
  return { db, reads: () => reads };
}

function hashes(seed: number, n: number): Uint8Array[] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, () => randomBytes(random, 20));
}

Deno.test("CompletedFilter: every added hash is found, by bytes or hex; an empty filter finds none", () => {
  const filter = new CompletedFilter();
  const added = hashes(1, 20_000);
  for (const h of hashes(2, 1000)) equal(filter.mayHave(h), false);
  added.forEach((h, i) => i % 2 === 0 ? filter.add(h) : filter.addHex(toHex(h)));
  for (const h of added) ok(filter.mayHave(h));
  equal(filter.added, 20_000);
});

Deno.test("CompletedFilter: few false positives with 20,000 hashes added", () => {
  const filter = new CompletedFilter();
  for (const h of hashes(3, 20_000)) filter.add(h);
  const falsePositives = hashes(4, 100_000).filter((h) => filter.mayHave(h)).length;
  // (1 - e^(-2n/m))^2 with n = 20,000 and m = 2^24: about 0.0006%, under 1 in 100,000 here.
  ok(falsePositives <= 5, `${falsePositives} false positives`);
});

Deno.test("createCompletedOf() reads the db only for counted hashes (start-up read, then addCompleted)", () => {
  const { db, reads } = spiedDb();
  try {
    const counted = hashes(5, 300);
    counted.forEach((h, i) => db.addCompleted(toHex(h), i + 1, T0));
    db.touchTorrents([toHex(hashes(6, 1)[0]!)], T0); // seen, never completed
    const completedOf = createCompletedOf(db);
    for (const h of [...hashes(6, 1), ...hashes(7, 2000)]) equal(completedOf(h), 0);
    equal(reads(), 0);
    counted.forEach((h, i) => equal(completedOf(h), i + 1));
    equal(reads(), 300);
    // A count added after the start is found too (no false negative), and a zero count adds nothing.
    const later = hashes(8, 2);
    db.addCompleted(toHex(later[0]!), 2, T0);
    db.addCompleted(toHex(later[1]!), 0, T0);
    equal(completedOf(later[0]!), 2);
    equal(completedOf(later[1]!), 0);
    equal(reads(), 301);
  } finally {
    db.close();
  }
});

Deno.test("createCompletedOf() takes a registered torrent's count from the registry, not the db", () => {
  const { db, reads } = spiedDb();
  try {
    const [h] = hashes(9, 1);
    const hex = toHex(h!);
    const registry = new Registry(db);
    registry.register({ infoHashHex: hex, name: "a" }, T0);
    db.addCompleted(hex, 4, T0);
    const completedOf = createCompletedOf(db, { registry });
    const readsBefore = reads(); // the registry's own (register reads its row back)
    equal(completedOf(h!), 4);
    db.addCompleted(hex, 1, T0);
    equal(completedOf(h!), 5);
    equal(reads(), readsBefore);
  } finally {
    db.close();
  }
});

Deno.test("createTracker(): a scrape of unknown hashes reads no db row; counted hashes keep their counts", async () => {
  const { db, reads } = spiedDb();
  // Counts stored before the tracker starts: only the start-up read can have put them in its filter.
  const counted = hashes(10, 50);
  counted.forEach((h, i) => db.addCompleted(toHex(h), i + 7, T0));
  const tracker = createTracker({
    db,
    adminToken: "t",
    sweepIntervalMs: 0,
    snapshotIntervalS: 0,
    privatePollIntervalMs: 0,
    accountingFlushIntervalMs: 0,
    now: () => T0,
  });
  const scrape = async (list: Uint8Array[]) => {
    const query = list.map((h) => `info_hash=${percentEncode(h)}`).join("&");
    const res = await tracker.handler(new Request(`http://tracker/scrape?${query}`), {
      remoteAddr: { hostname: "10.0.0.1" },
    });
    const body = decodeBencode(new Uint8Array(await res.arrayBuffer())) as Map<string, unknown>;
    const files = body.get("files") as Map<string, Map<string, number>>;
    return list.map((h) => files.get(toLatin1(h))?.get("downloaded"));
  };
  try {
    const unknown = await scrape(hashes(11, MAX_SCRAPE_HASHES));
    equal(unknown.length, MAX_SCRAPE_HASHES);
    ok(unknown.every((d) => d === 0));
    equal(reads(), 0);
    equal((await scrape(counted)).join(), counted.map((_, i) => i + 7).join());
  } finally {
    tracker.close();
    db.close();
  }
});
