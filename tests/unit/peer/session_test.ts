// createSession wired to a listener shared by several torrents (SessionOptions.sharedListener): no socket of its
// own; the acceptor (over a fake listener) hands each handshake to the session its info hash names. Downloads
// between real sockets are in tests/integration/peer*_test.ts.

import { type AcceptingTorrent, startAcceptor } from "../../../lib/peer/acceptor.ts";
import { RateLimiter } from "../../../lib/peer/rate_limiter.ts";
import { createSession, type Session } from "../../../lib/peer/session.ts";
import { TorrentRegistry } from "../../../lib/peer/torrent_registry.ts";
import { createMemoryStorage } from "../../../lib/storage/storage.ts";
import { Bitfield } from "../../../lib/wire/bitfield.ts";
import { createReserved, encodeHandshake } from "../../../lib/wire/handshake.ts";
import { equal, ok } from "../../_helpers/assert.ts";
import { FakeConn, FakeListener } from "./_fake_conn.ts";
import { smallTorrent } from "./_torrent.ts";

Deno.test("createSession() with a shared listener serves its torrent through the registry, with shared limiters", async () => {
  const one = await smallTorrent(4, 1);
  const two = await smallTorrent(4, 2);
  const torrents = new TorrentRegistry<AcceptingTorrent>();
  const listener = new FakeListener();
  const acceptor = startAcceptor(listener as unknown as Deno.Listener, { torrents, now: () => 0 });
  const upload = new RateLimiter(1e9);
  const sessions: Session[] = [];
  try {
    for (const t of [one, two]) {
      sessions.push(createSession(t.meta, {
        storage: createMemoryStorage(t.meta, { data: t.data }),
        have: new Bitfield(t.meta.pieceCount, { isFull: true }),
        sharedListener: { torrents, port: 7000 },
        uploadLimiter: upload,
        isAnnouncing: false,
      }));
    }
    equal(torrents.size, 2);
    equal(sessions[1]!.port, 7000);
    const peer = new FakeConn("::ffff:10.0.0.5", 5000);
    peer.push(encodeHandshake({
      reserved: createReserved({ isFastExtension: true }),
      infoHash: two.meta.infoHash,
      peerId: new TextEncoder().encode("-XX0001-theirs000000"),
    }));
    listener.arrive(peer.conn);
    for (let i = 0; i < 200 && sessions[1]!.status().peers === 0; i++) await Promise.resolve();
    equal(sessions[0]!.status().peers, 0);
    equal(sessions[1]!.status().peers, 1);
    ok(peer.written.length > 0, "the session answered the handshake");
  } finally {
    await Promise.all(sessions.map((s) => s.stop()));
    await acceptor.close();
    upload.close();
  }
  equal(torrents.size, 0, "a stopped session leaves the registry");
});
