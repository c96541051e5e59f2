import { DatabaseSync } from "node:sqlite";
import {
  PersistError,
  PRUNE_SCAN_ROWS_PER_CALL,
  TrackerDb,
  UNREGISTERED_TORRENT_IDLE_MS,
} from "../../../lib/persist/db.ts";
import { assertThrowsCode, deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { withTempDir } from "../../_helpers/tmp.ts";
import { H1, H2, withDb } from "./_fixtures.ts";

Deno.test("TrackerDb.registerTorrent() adds, is idempotent, and reports updates", () => {
  withDb((db) => {
    const meta = { infoHashHex: H1, name: "Ubuntu", size: 123, pieceLength: 16384, extra: { b: 1, a: [1, "x"] } };
    equal(db.registerTorrent(meta, 1000), "added");
    equal(db.registerTorrent(meta, 2000), "unchanged");
    // Key order in extra does not matter.
    equal(db.registerTorrent({ ...meta, extra: { a: [1, "x"], b: 1 } }, 2000), "unchanged");
    equal(db.registerTorrent({ ...meta, name: "Debian" }, 3000), "updated");
    deepEqual(db.getTorrent(H1), {
      infoHashHex: H1,
      isRegistered: true,
      name: "Debian",
      size: 123,
      pieceLength: 16384,
      extra: { a: [1, "x"], b: 1 },
      firstSeenMs: 1000,
      lastSeenMs: 1000,
      completed: 0,
    });
    // Replace semantics: a field left out is cleared.
    equal(db.registerTorrent({ infoHashHex: H1, name: "Debian" }, 4000), "updated");
    deepEqual(db.getTorrent(H1), {
      infoHashHex: H1,
      isRegistered: true,
      name: "Debian",
      firstSeenMs: 1000,
      lastSeenMs: 1000,
      completed: 0,
    });
  });
});

Deno.test("TrackerDb normalises info hashes to lowercase and rejects malformed ones", () => {
  withDb((db) => {
    equal(db.registerTorrent({ infoHashHex: H1.toUpperCase() }, 1), "added");
    equal(db.getTorrent(H1.toUpperCase())?.infoHashHex, H1);
    equal(db.registerTorrent({ infoHashHex: H1 }, 1), "unchanged");
    assertThrowsCode(() => db.registerTorrent({ infoHashHex: H1.slice(2) }, 1), PersistError, "invalid_info_hash");
    assertThrowsCode(() => db.getTorrent("zz" + H1.slice(2)), PersistError, "invalid_info_hash");
    assertThrowsCode(() => db.registerTorrent({ infoHashHex: H2, size: -1 }, 1), PersistError, "invalid_value");
    assertThrowsCode(() => db.registerTorrent({ infoHashHex: H2, size: 1.5 }, 1), PersistError, "invalid_value");
    assertThrowsCode(() => db.addCompleted(H2, -1, 1), PersistError, "invalid_value");
    assertThrowsCode(() => db.touchTorrents([H2, "nope"], 1), PersistError, "invalid_info_hash");
    equal(db.getTorrent(H2), null, "a rejected batch writes nothing");
  });
});

Deno.test("TrackerDb.registerTorrents() registers a batch atomically", () => {
  withDb((db) => {
    db.registerTorrent({ infoHashHex: H1, name: "a" }, 1);
    deepEqual(db.registerTorrents([{ infoHashHex: H1, name: "a" }, { infoHashHex: H2, name: "b" }], 2), [
      "unchanged",
      "added",
    ]);
    assertThrowsCode(
      () => db.registerTorrents([{ infoHashHex: "1".repeat(40) }, { infoHashHex: "x" }], 3),
      PersistError,
      "invalid_info_hash",
    );
    equal(db.getTorrent("1".repeat(40)), null);
    equal(db.listTorrents().length, 2);
  });
});

Deno.test("TrackerDb.unregisterTorrent() keeps counters; re-registering counts as added", () => {
  withDb((db) => {
    db.registerTorrent({ infoHashHex: H1, name: "x" }, 1);
    db.addCompleted(H1, 3, 5);
    equal(db.unregisterTorrent(H1), true);
    equal(db.unregisterTorrent(H1), false);
    equal(db.unregisterTorrent(H2), false);
    const rec = db.getTorrent(H1);
    equal(rec?.isRegistered, false);
    equal(rec?.completed, 3);
    equal(db.registerTorrent({ infoHashHex: H1, name: "x" }, 9), "added");
    equal(db.getTorrent(H1)?.isRegistered, true);
  });
});

Deno.test("TrackerDb.addCompleted() and touchTorrents() create unregistered rows and track first/last seen", () => {
  withDb((db) => {
    db.addCompleted(H1, 1, 100);
    db.addCompleted(H1, 2, 200);
    db.touchTorrents([H1, H2], 300);
    db.touchTorrents([H2], 250); // last seen never moves back
    db.touchTorrents([], 400);
    deepEqual(db.getTorrent(H1), {
      infoHashHex: H1,
      isRegistered: false,
      firstSeenMs: 100,
      lastSeenMs: 300,
      completed: 3,
    });
    deepEqual(db.getTorrent(H2), {
      infoHashHex: H2,
      isRegistered: false,
      firstSeenMs: 300,
      lastSeenMs: 300,
      completed: 0,
    });
    deepEqual(db.listTorrents().map((t) => t.infoHashHex), [H1, H2]);
    // Registering a seen torrent keeps its history.
    equal(db.registerTorrent({ infoHashHex: H1, name: "n" }, 500), "added");
    equal(db.getTorrent(H1)?.firstSeenMs, 100);
    equal(db.getTorrent(H1)?.completed, 3);
  });
});

Deno.test("TrackerDb.listTorrents({ registeredOnly }) lists only registered torrents", () => {
  withDb((db) => {
    db.registerTorrent({ infoHashHex: H1 }, 1);
    db.touchTorrents([H1, H2], 10);
    deepEqual(db.listTorrents({ registeredOnly: true }).map((t) => t.infoHashHex), [H1]);
    deepEqual(db.listTorrents().map((t) => t.infoHashHex), [H1, H2]);
  });
});

const DAY_MS = 24 * 60 * 60 * 1000;

Deno.test("TrackerDb.pruneIdleTorrents() deletes only unregistered rows idle longer than the limit (#19)", () => {
  withDb((db) => {
    const H3 = "f".repeat(40);
    const H4 = "e".repeat(40);
    const t0 = 1_000 * DAY_MS;
    db.registerTorrent({ infoHashHex: H1, name: "registered, never seen since" }, t0);
    db.touchTorrents([H2], t0); // only seen
    db.addCompleted(H3, 5, t0); // seen with a completed count: opentracker would keep nothing either
    db.touchTorrents([H4], t0 + 2 * DAY_MS); // seen recently
    const nowMs = t0 + UNREGISTERED_TORRENT_IDLE_MS;
    equal(db.pruneIdleTorrents(nowMs), 0, "idle exactly the limit: kept");
    equal(db.pruneIdleTorrents(nowMs + 1), 2);
    deepEqual(db.listTorrents().map((t) => t.infoHashHex), [H1, H4]);
    equal(db.pruneIdleTorrents(nowMs + 100 * DAY_MS, { idleMs: DAY_MS }), 1, "H4 with a shorter limit");
    deepEqual(db.listTorrents().map((t) => t.infoHashHex), [H1], "registered rows are never pruned");
    // Unregistering makes a row prunable; re-seeing it makes it recent again.
    db.unregisterTorrent(H1);
    db.touchTorrents([H1], nowMs);
    equal(db.pruneIdleTorrents(nowMs + 1), 0);
    equal(db.pruneIdleTorrents(nowMs + UNREGISTERED_TORRENT_IDLE_MS + 1), 1);
  });
});

Deno.test("TrackerDb.pruneIdleTorrents() examines at most maxRows rows a call, resuming where it stopped (#19)", () => {
  withDb((db) => {
    const hexes = Array.from({ length: 2_500 }, (_, i) => i.toString(16).padStart(40, "0"));
    db.touchTorrents(hexes, 0);
    const nowMs = 1 + UNREGISTERED_TORRENT_IDLE_MS;
    equal(db.pruneIdleTorrents(nowMs, { maxRows: 1_000 }), 1_000);
    equal(db.getTorrent(hexes[999]!), null);
    ok(db.getTorrent(hexes[1_000]!) !== null, "the next window's rows wait for the next call");
    equal(db.pruneIdleTorrents(nowMs, { maxRows: 1_000 }), 1_000);
    equal(db.pruneIdleTorrents(nowMs, { maxRows: 1_000 }), 500, "the end of the table");
    // The next pass starts over: rows that went idle behind the cursor are found.
    db.touchTorrents([H1, H2], 5);
    equal(db.pruneIdleTorrents(6 + UNREGISTERED_TORRENT_IDLE_MS, { maxRows: 1 }), 1);
    equal(db.getTorrent(H1), null, "H1 sorts first");
    equal(db.pruneIdleTorrents(6 + UNREGISTERED_TORRENT_IDLE_MS, { maxRows: 1 }), 1);
    deepEqual(db.listTorrents(), []);
    // The default window.
    db.touchTorrents(
      Array.from(
        { length: PRUNE_SCAN_ROWS_PER_CALL + 10 },
        (_, i) => hexes[0]!.slice(0, 30) + String(i).padStart(10, "0"),
      ),
      0,
    );
    equal(db.pruneIdleTorrents(nowMs), 0, "they sort before the cursor (H2): this call ends the pass");
    equal(db.pruneIdleTorrents(nowMs), PRUNE_SCAN_ROWS_PER_CALL);
    equal(db.pruneIdleTorrents(nowMs), 10);
  });
});

Deno.test("TrackerDb.pruneIdleTorrents() takes no write lock when nothing is due (#19)", async () => {
  await withTempDir((dir) => {
    const path = `${dir}/prune.db`;
    const db = TrackerDb.open(path, { busyTimeoutMs: 20 });
    const other = new DatabaseSync(path);
    try {
      db.touchTorrents([H1], 10);
      other.exec("BEGIN IMMEDIATE"); // e.g. `btool tracker user add` mid-transaction
      equal(db.pruneIdleTorrents(10 + UNREGISTERED_TORRENT_IDLE_MS), 0);
      assertThrowsCode(() => db.pruneIdleTorrents(11 + UNREGISTERED_TORRENT_IDLE_MS), PersistError, "db_busy");
      other.exec("COMMIT");
      equal(db.pruneIdleTorrents(11 + UNREGISTERED_TORRENT_IDLE_MS), 1);
    } finally {
      other.close();
      db.close();
    }
    return Promise.resolve();
  });
});

Deno.test("TrackerDb.observeCounters() reports committed counter changes until removed", () => {
  withDb((db) => {
    const seen: unknown[] = [];
    const remove = db.observeCounters((change) => seen.push(change));
    db.addCompleted(H1.toUpperCase(), 2, 10);
    db.touchTorrents([H2], 11);
    db.touchTorrents([], 12);
    try {
      db.addCompleted("bad", 1, 13);
    } catch {
      // rejected before writing: not reported
    }
    remove();
    db.addCompleted(H1, 1, 14);
    deepEqual(seen, [
      { type: "completed", infoHashHex: H1, count: 2, nowMs: 10 },
      { type: "seen", infoHashHexes: [H2], nowMs: 11 },
    ]);
  });
});

Deno.test("TrackerDb.listTorrents() returns the same records as getTorrent()", () => {
  withDb((db) => {
    db.registerTorrent({
      infoHashHex: H1,
      name: "full",
      size: 1,
      pieceLength: 2,
      comment: "c",
      createdBy: "b",
      extra: { files: [{ path: ["a"], length: 1 }], isPrivate: true },
    }, 5);
    db.addCompleted(H1, 3, 6);
    db.touchTorrents([H2], 7);
    deepEqual(db.listTorrents(), [db.getTorrent(H1), db.getTorrent(H2)]);
  });
});

Deno.test("TrackerDb.touchTorrents() takes repeated hashes (any case) and large lists in one statement", () => {
  withDb((db) => {
    db.touchTorrents([H1, H1.toUpperCase(), H2], 10);
    db.touchTorrents([H2, H2], 5); // never moves back
    equal(db.getTorrent(H1)?.lastSeenMs, 10);
    equal(db.getTorrent(H2)?.lastSeenMs, 10);
    equal(db.getTorrent(H2)?.firstSeenMs, 10);
    const many = Array.from({ length: 5000 }, (_, i) => i.toString(16).padStart(40, "0"));
    db.touchTorrents(many, 20);
    equal(db.listTorrents().length, 5002);
    equal(db.getTorrent(many[4999]!)?.lastSeenMs, 20);
  });
});

Deno.test("TrackerDb.countedInfoHashes() lists the torrents with a completed count above 0", () => {
  withDb((db) => {
    deepEqual([...db.countedInfoHashes()], []);
    db.registerTorrent({ infoHashHex: H1 }, 1);
    db.touchTorrents([H2], 1);
    deepEqual([...db.countedInfoHashes()], []);
    db.addCompleted(H2.toUpperCase(), 2, 1);
    db.addCompleted(H1, 0, 1);
    deepEqual([...db.countedInfoHashes()], [H2]);
    db.addCompleted(H1, 1, 1);
    deepEqual([...db.countedInfoHashes()].sort(), [H1, H2].sort());
  });
});
