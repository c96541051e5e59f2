// IPv6 between btool sessions: a seed on the default dual-stack listener serves one leecher over ::1 and one over
// 127.0.0.1 (reported as plain IPv4, not ::ffff:), and two sessions bound to ::1 only trade with each other.

import { parseMetainfo } from "../../lib/metainfo.ts";
import { createSession, type Session } from "../../lib/peer/session.ts";
import { createMemoryStorage, type Storage } from "../../lib/storage/storage.ts";
import { Bitfield } from "../../lib/wire/bitfield.ts";
import { deepEqual, ok } from "../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";
import { buildTorrent } from "../_helpers/torrent.ts";

/** Bound on each download. */
const DOWNLOAD_TIMEOUT_MS = 30_000;

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out: ${what}`)), DOWNLOAD_TIMEOUT_MS);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function readAll(storage: Storage): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < storage.meta.pieceCount; i++) parts.push(await storage.readPiece(i));
  const out = new Uint8Array(storage.meta.totalLength);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

Deno.test("createSession() seeds over a dual-stack listener to ::1 and 127.0.0.1, and between ::1-only peers", async () => {
  const { bytes, data } = buildTorrent({ data: randomBytes(seededRandom(6), 300_000), pieceLength: 32768 });
  const meta = await parseMetainfo(bytes);
  const full = new Bitfield(meta.pieceCount, { isFull: true });
  const storages = [createMemoryStorage(meta, { data }), createMemoryStorage(meta), createMemoryStorage(meta)];
  const sessions: Session[] = [];
  const seedAddresses: string[] = [];
  try {
    const seed = createSession(meta, {
      storage: storages[0]!,
      have: full,
      isAnnouncing: false,
      onEvent: (e) => {
        if (e.type === "connected") seedAddresses.push(e.address);
      },
    });
    sessions.push(seed);
    const done6 = Promise.withResolvers<void>();
    const leecher6 = createSession(meta, {
      storage: storages[1]!,
      hostname: "::1",
      isAnnouncing: false,
      peers: [{ hostname: "::1", port: seed.port }],
      onComplete: done6.resolve,
    });
    sessions.push(leecher6);
    const done4 = Promise.withResolvers<void>();
    const leecher4 = createSession(meta, {
      storage: storages[2]!,
      hostname: "127.0.0.1",
      isAnnouncing: false,
      peers: [{ hostname: "127.0.0.1", port: seed.port }],
      onComplete: done4.resolve,
    });
    sessions.push(leecher4);
    await withTimeout(Promise.all([done6.promise, done4.promise]), "leechers of the dual-stack seed");
    deepEqual(await readAll(storages[1]!), data);
    deepEqual(await readAll(storages[2]!), data);
    ok(seedAddresses.some((a) => a.startsWith("[::1]:")), `an IPv6 peer among ${seedAddresses.join(", ")}`);
    ok(seedAddresses.some((a) => a.startsWith("127.0.0.1:")), `a plain IPv4 peer among ${seedAddresses.join(", ")}`);
    await seed.stop();

    // ::1 only: the IPv6 leecher, now complete, seeds a fresh session.
    const storage = createMemoryStorage(meta);
    storages.push(storage);
    const done = Promise.withResolvers<void>();
    sessions.push(createSession(meta, {
      storage,
      hostname: "::1",
      isAnnouncing: false,
      peers: [{ hostname: "::1", port: leecher6.port }],
      onComplete: done.resolve,
    }));
    await withTimeout(done.promise, "::1 to ::1");
    deepEqual(await readAll(storage), data);
  } finally {
    for (const s of sessions) await s.stop();
    for (const s of storages) await s.close();
  }
});
