// `btool peer` against strangers on 127.0.0.1 (#19): sockets that connect and never send a handshake must not keep
// an honest peer out, and are closed at the handshake deadline (the seed's clock is driven by hand).

import { parseMetainfo } from "../../lib/metainfo.ts";
import { INCOMING_HANDSHAKE_TIMEOUT_MS, MAX_HALF_OPEN_INCOMING } from "../../lib/peer/handshake_gate.ts";
import { createSession, DEFAULT_MAX_PEERS, type Session } from "../../lib/peer/session.ts";
import { createMemoryStorage } from "../../lib/storage/storage.ts";
import { deepEqual, equal, ok } from "../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";
import { buildTorrent } from "../_helpers/torrent.ts";
import { memorySeed } from "../_helpers/session.ts";

/** Bound on the download and on the sockets' closing. */
const STEP_TIMEOUT_MS = 60_000;
/** More silent sockets than peer slots and than half-open slots. */
const SILENT_SOCKETS = DEFAULT_MAX_PEERS + 10;

/** Resolves once the server closed `conn` (a read sees EOF or an error). */
async function closedByPeer(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(1024);
  for (;;) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) return;
  }
}

function bounded<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

Deno.test("createSession() lets an honest peer in past silent sockets, and closes them at the deadline (#19)", async () => {
  ok(SILENT_SOCKETS > MAX_HALF_OPEN_INCOMING);
  const data = randomBytes(seededRandom(19), 20 * 32768 + 123);
  const meta = await parseMetainfo(buildTorrent({ name: "h", pieceLength: 32768, data }).bytes);
  let seedNow = Date.now();
  const sessions: Session[] = [];
  const silent: Deno.Conn[] = [];
  try {
    const seed = memorySeed(meta, data, {
      now: () => seedNow,
      // Real handshake timers far away: only the injected clock may close the silent sockets.
      handshakeTimeoutMs: 10 * 60_000,
    });
    sessions.push(seed);
    for (let i = 0; i < SILENT_SOCKETS; i++) {
      silent.push(await Deno.connect({ hostname: "127.0.0.1", port: seed.port }));
    }
    const closing = silent.map((c) => closedByPeer(c));

    const done = Promise.withResolvers<void>();
    const storage = createMemoryStorage(meta);
    const leecher = createSession(meta, {
      storage,
      hostname: "127.0.0.1",
      isAnnouncing: false,
      peers: [{ hostname: "127.0.0.1", port: seed.port }],
      onComplete: () => done.resolve(),
    });
    sessions.push(leecher);
    await bounded(done.promise, "the honest peer did not download past the silent sockets");
    deepEqual(await storage.readPiece(0), data.subarray(0, 32768));
    equal(seed.status().uploaded, meta.totalLength);

    // Past the deadline every silent socket is closed (the oldest were already evicted for newcomers).
    seedNow += 10 * 60_000 + INCOMING_HANDSHAKE_TIMEOUT_MS;
    await bounded(Promise.all(closing), "silent sockets were not closed");
  } finally {
    for (const c of silent) {
      try {
        c.close();
      } catch {
        // closed
      }
    }
    await Promise.all(sessions.map((s) => s.stop()));
  }
});
