import { PersistError, TrackerDb } from "../../../lib/persist/db.ts";
import { Registry } from "../../../lib/tracker/registry.ts";
import { assertThrowsCode, deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { seededRandom } from "../../_helpers/random.ts";

const H1 = "0123456789abcdef0123456789abcdef01234567";

function withRegistry(fn: (reg: Registry, db: TrackerDb) => void): void {
  const db = TrackerDb.open(":memory:");
  try {
    fn(new Registry(db), db);
  } finally {
    db.close();
  }
}

/** Replace the hex digit at `i` with a different one. */
function mutate(hex: string, i: number): string {
  const c = hex[i] === "0" ? "1" : "0";
  return hex.slice(0, i) + c + hex.slice(i + 1);
}

Deno.test("Registry.register() writes through to the db and caches the record", () => {
  withRegistry((reg, db) => {
    equal(reg.has(H1), false);
    equal(reg.register({ infoHashHex: H1, name: "a" }, 1), "added");
    ok(reg.has(H1));
    ok(reg.has(H1.toUpperCase()));
    equal(reg.get(H1)?.name, "a");
    equal(db.getTorrent(H1)?.isRegistered, true);
    equal(reg.register({ infoHashHex: H1, name: "a" }, 2), "unchanged");
    equal(reg.register({ infoHashHex: H1, name: "b" }, 3), "updated");
    equal(reg.get(H1)?.name, "b");
    equal(reg.size, 1);
    assertThrowsCode(() => reg.register({ infoHashHex: "abc" }, 1), PersistError, "invalid_info_hash");
  });
});

Deno.test("Registry loads registered torrents from the db, not merely seen ones", () => {
  withRegistry((_reg, db) => {
    db.registerTorrent({ infoHashHex: H1, name: "kept" }, 1);
    db.touchTorrents(["f".repeat(40)], 2);
    const again = new Registry(db);
    deepEqual(again.all().map((t) => t.name), ["kept"]);
    equal(again.has("f".repeat(40)), false);
  });
});

Deno.test("Registry.unregister() removes from cache and db; all() is sorted", () => {
  withRegistry((reg, db) => {
    const H2 = "f".repeat(40);
    const H3 = "a".repeat(40);
    reg.register({ infoHashHex: H2 }, 1);
    reg.register({ infoHashHex: H1 }, 1);
    reg.register({ infoHashHex: H3 }, 1);
    deepEqual(reg.all().map((t) => t.infoHashHex), [H1, H3, H2]);
    equal(reg.unregister(H3.toUpperCase()), true);
    equal(reg.unregister(H3), false);
    equal(reg.has(H3), false);
    equal(db.getTorrent(H3)?.isRegistered, false);
    equal(reg.findSimilar(mutate(H3, 20)), null, "unregistered torrents are no hint");
    deepEqual(reg.all().map((t) => t.infoHashHex), [H1, H2]);
  });
});

Deno.test("Registry.registerMany() registers a batch and caches it", () => {
  withRegistry((reg) => {
    reg.register({ infoHashHex: H1 }, 1);
    deepEqual(reg.registerMany([{ infoHashHex: H1 }, { infoHashHex: "e".repeat(40), name: "e" }], 2), [
      "unchanged",
      "added",
    ]);
    equal(reg.get("e".repeat(40))?.name, "e");
    assertThrowsCode(
      () => reg.registerMany([{ infoHashHex: "d".repeat(40) }, { infoHashHex: "zz" }], 3),
      PersistError,
      "invalid_info_hash",
    );
    equal(reg.has("d".repeat(40)), false);
  });
});

Deno.test("Registry.findSimilar() matches the same first 10 and last 5 digits, never the hash itself", () => {
  withRegistry((reg) => {
    reg.register({ infoHashHex: H1, name: "ubuntu" }, 1);
    equal(reg.findSimilar(mutate(H1, 20))?.name, "ubuntu");
    equal(reg.findSimilar(mutate(H1, 10))?.name, "ubuntu"); // 11th digit may differ
    equal(reg.findSimilar(mutate(H1, 34))?.name, "ubuntu"); // 35th digit may differ
    equal(reg.findSimilar(mutate(H1, 20).toUpperCase())?.name, "ubuntu");
    equal(reg.findSimilar(mutate(H1, 9)), null);
    equal(reg.findSimilar(mutate(H1, 35)), null);
    equal(reg.findSimilar(H1), null);
    equal(reg.findSimilar("xyz"), null);
    equal(reg.findSimilar("g".repeat(40)), null);
  });
});

Deno.test("Registry.findSimilar() honours custom tolerances, including below the index width", () => {
  withRegistry((reg) => {
    reg.register({ infoHashHex: H1, name: "x" }, 1);
    equal(reg.findSimilar(mutate(H1, 12), { prefixDigits: 14 }), null);
    equal(reg.findSimilar(mutate(H1, 12), { prefixDigits: 12 })?.name, "x");
    equal(reg.findSimilar(mutate(H1, 2), { prefixDigits: 2 })?.name, "x");
    equal(reg.findSimilar(mutate(H1, 0), { prefixDigits: 0, suffixDigits: 0 })?.name, "x");
    equal(reg.findSimilar(mutate(H1, 38), { suffixDigits: 1 })?.name, "x");
    equal(reg.findSimilar(mutate(H1, 39), { suffixDigits: 1 }), null);
    equal(reg.findSimilar(mutate(H1, 20), { prefixDigits: 99, suffixDigits: -3 }), null, "clamped to 40");
  });
});

Deno.test("Registry.findSimilar() prefers the candidate sharing the most digits", () => {
  withRegistry((reg) => {
    const asked = H1;
    const near = mutate(asked, 20);
    const far = mutate(mutate(mutate(asked, 21), 22), 23);
    reg.register({ infoHashHex: far, name: "far" }, 1);
    reg.register({ infoHashHex: near, name: "near" }, 1);
    equal(reg.findSimilar(asked)?.name, "near");
  });
});

Deno.test("Registry.findSimilar() agrees with a brute-force scan (seeded)", () => {
  const seed = 4;
  const random = seededRandom(seed);
  const hexOf = () => Array.from({ length: 40 }, () => "0123"[Math.floor(random() * 4)]).join("");
  withRegistry((reg) => {
    const hashes = new Set<string>();
    for (let i = 0; i < 300; i++) hashes.add(hexOf());
    reg.registerMany([...hashes].map((infoHashHex) => ({ infoHashHex })), 1);
    let hits = 0;
    for (let q = 0; q < 200; q++) {
      const asked = hexOf();
      for (const [prefixDigits, suffixDigits] of [[10, 5], [6, 2], [3, 3], [7, 0]] as const) {
        const matches = [...hashes].filter((h) =>
          h !== asked && h.startsWith(asked.slice(0, prefixDigits)) && h.endsWith(asked.slice(40 - suffixDigits))
        );
        const got = reg.findSimilar(asked, { prefixDigits, suffixDigits });
        equal(got === null, matches.length === 0, `seed ${seed}, ${asked} ${prefixDigits}/${suffixDigits}`);
        if (got !== null) ok(matches.includes(got.infoHashHex), `seed ${seed}`);
        if (got !== null) hits++;
      }
    }
    ok(hits > 0, "the seeded queries exercise matches");
  });
});

Deno.test("Registry keeps cached completed/last-seen counters live with the db's writes", () => {
  withRegistry((reg, db) => {
    reg.register({ infoHashHex: H1, name: "x" }, 100);
    db.addCompleted(H1.toUpperCase(), 2, 150);
    db.addCompleted("e".repeat(40), 5, 160); // not registered: not cached
    db.touchTorrents([H1], 200);
    db.touchTorrents([H1], 120); // never moves back
    equal(reg.get(H1)?.completed, 2);
    equal(reg.get(H1)?.lastSeenMs, 200);
    equal(reg.all()[0]?.completed, 2);
    equal(reg.has("e".repeat(40)), false);
    deepEqual(reg.get(H1), db.getTorrent(H1));
  });
});

Deno.test("Registry.all() returns a fresh array each time", () => {
  withRegistry((reg) => {
    reg.register({ infoHashHex: H1 }, 1);
    const first = reg.all();
    first.pop();
    equal(reg.all().length, 1);
    reg.register({ infoHashHex: "0".repeat(40) }, 1);
    deepEqual(reg.all().map((t) => t.infoHashHex), ["0".repeat(40), H1]);
  });
});

Deno.test("Registry.reload() picks up changes made through another handle of the db (#6)", () => {
  const db = TrackerDb.open(":memory:");
  try {
    const reg = new Registry(db);
    db.registerTorrent({ infoHashHex: "cd".repeat(20), name: "x" }, 1);
    equal(reg.has("cd".repeat(20)), false);
    reg.reload();
    equal(reg.get("cd".repeat(20))?.name, "x");
    db.unregisterTorrent("cd".repeat(20));
    reg.reload();
    equal(reg.size, 0);
  } finally {
    db.close();
  }
});

Deno.test("Registry.hasInfoHash() follows register, unregister and reload (#6)", () => {
  withRegistry((reg) => {
    const bytes = Uint8Array.from({ length: 20 }, (_, i) => i);
    const hex = "000102030405060708090a0b0c0d0e0f10111213";
    equal(reg.hasInfoHash(bytes), false);
    reg.register({ infoHashHex: hex.toUpperCase() }, 1);
    equal(reg.hasInfoHash(bytes), true);
    equal(reg.hasInfoHash(bytes.subarray(0, 19)), false);
    reg.reload();
    equal(reg.hasInfoHash(bytes), true);
    reg.unregister(hex);
    equal(reg.hasInfoHash(bytes), false);
  });
});
