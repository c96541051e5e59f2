// One contract for both kinds of chunked generation (lib/persist/chunks.ts): the swarm snapshot and accounting.
import { PersistError, type TrackerDb } from "../../../lib/persist/db.ts";
import { assertThrowsCode, deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { FORMAT, withDb } from "./_fixtures.ts";

interface Kind {
  name: string;
  begin(db: TrackerDb): number;
  write(db: TrackerDb, generation: number, seq: number, records: Uint8Array): void;
  commit(db: TrackerDb, generation: number): void;
  prune(db: TrackerDb, maxChunks?: number): number;
  /** The current generation's number and chunks, or null. */
  load(db: TrackerDb): { generation: number; chunks: Uint8Array[] } | null;
}

const KINDS: Kind[] = [
  {
    name: "swarm snapshot",
    begin: (db) => db.beginSwarmSnapshot(),
    write: (db, g, seq, records) => db.writeSwarmChunk(g, seq, records),
    commit: (db, g) => db.commitSwarmSnapshot(g, { nowMs: g, peers: 0, format: FORMAT }),
    prune: (db, max) => db.pruneSwarmChunks(max),
    load: (db) => {
      const snap = db.loadSwarmSnapshot();
      return snap === null ? null : { generation: snap.generation, chunks: [...snap.chunks()] };
    },
  },
  {
    name: "accounting",
    begin: (db) => db.beginAccounting(),
    write: (db, g, seq, records) => db.writeAccountingChunk(g, seq, records),
    commit: (db, g) => db.commitAccounting(g, [], FORMAT),
    prune: (db, max) => db.pruneAccountingChunks(max),
    load: (db) => {
      const acc = db.loadAccounting();
      return acc === null ? null : { generation: acc.generation, chunks: [...acc.chunks()] };
    },
  },
];

const fill = (bytes: number, value: number) => new Uint8Array(bytes).fill(value);

for (const kind of KINDS) {
  Deno.test(`chunked generations (${kind.name}): the old one stays current until the new one is committed`, () => {
    withDb((db) => {
      equal(kind.load(db), null);
      const old = kind.begin(db);
      kind.write(db, old, 0, fill(4, 1));
      kind.commit(db, old);
      const gen = kind.begin(db);
      ok(gen > old);
      kind.write(db, gen, 0, fill(10, 7));
      // A chunk is copied at write: a view of a larger buffer stores just its bytes.
      const big = fill(64, 8);
      kind.write(db, gen, 1, big.subarray(16, 26));
      big.fill(0);
      deepEqual(kind.load(db), { generation: old, chunks: [fill(4, 1)] }, "mid-write, the previous one is current");
      equal(kind.prune(db), 0, "the generation being written is not pruned");
      kind.commit(db, gen);
      deepEqual(kind.load(db), { generation: gen, chunks: [fill(10, 7), fill(10, 8)] });
      equal(kind.prune(db), 1, "the previous generation's chunk");
      equal(kind.prune(db), 0);
    });
  });

  Deno.test(`chunked generations (${kind.name}): beginning another abandons the one being written`, () => {
    withDb((db) => {
      const a = kind.begin(db);
      kind.write(db, a, 0, fill(3, 1));
      kind.write(db, a, 1, fill(3, 2));
      const b = kind.begin(db);
      ok(b > a);
      assertThrowsCode(() => kind.write(db, a, 2, fill(3, 3)), PersistError, "generation_abandoned");
      assertThrowsCode(() => kind.commit(db, a), PersistError, "generation_abandoned");
      equal(kind.load(db), null, "nothing was committed");
      equal(kind.prune(db, 1), 1, "a limited prune deletes at most that many chunks");
      equal(kind.prune(db, 5), 1);
      // Chunks come back in seq order, whatever order they were written in; an empty generation is not "none".
      kind.write(db, b, 1, fill(2, 9));
      kind.write(db, b, 0, fill(2, 8));
      kind.commit(db, b);
      deepEqual(kind.load(db), { generation: b, chunks: [fill(2, 8), fill(2, 9)] });
      const empty = kind.begin(db);
      kind.commit(db, empty);
      deepEqual(kind.load(db), { generation: empty, chunks: [] });
    });
  });
}

Deno.test("chunked generations: the swarm snapshot and accounting number and prune their generations apart", () => {
  withDb((db) => {
    const s = db.beginSwarmSnapshot();
    db.writeSwarmChunk(s, 0, fill(1, 1));
    const a = db.beginAccounting();
    db.writeAccountingChunk(a, 0, fill(1, 2));
    db.commitAccounting(a, [], FORMAT);
    equal(db.pruneSwarmChunks(), 0, "accounting's begin did not abandon the snapshot being written");
    db.commitSwarmSnapshot(s, { nowMs: 1, peers: 1, format: FORMAT });
    deepEqual([...db.loadSwarmSnapshot()!.chunks()], [fill(1, 1)]);
    deepEqual([...db.loadAccounting()!.chunks()], [fill(1, 2)]);
  });
});

Deno.test("chunked generations: a begin that wrote nothing is still abandoned by the next begin", () => {
  withDb((db) => {
    const stale = db.beginSwarmSnapshot();
    const fresh = db.beginSwarmSnapshot();
    ok(fresh > stale, "each begin gets its own number");
    assertThrowsCode(() => db.writeSwarmChunk(stale, 0, fill(1, 1)), PersistError, "generation_abandoned");
    db.writeSwarmChunk(fresh, 0, fill(1, 2));
    db.commitSwarmSnapshot(fresh, { nowMs: 1, peers: 1, format: FORMAT });
    deepEqual([...db.loadSwarmSnapshot()!.chunks()], [fill(1, 2)]);
  });
});
