// openPeerListener (lib/peer/peer_listener.ts), the listening port of `btool peer`, on 127.0.0.1: a dialed handshake
// reaches the torrent registered for its info hash, through the listener's own registry; a port in use is
// listen_failed; close() stops accepting. Waits are on events, each bounded.

import { within } from "../../_helpers/wait.ts";
import { assertThrowsCode, deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { BtoolError } from "../../../lib/errors.ts";
import { InfoHash } from "../../../lib/infohash.ts";
import type { AcceptingTorrent } from "../../../lib/peer/acceptor.ts";
import type { PeerConnection } from "../../../lib/peer/connection.ts";
import { openPeerListener } from "../../../lib/peer/peer_listener.ts";
import { createReserved, encodeHandshake, HANDSHAKE_BYTES } from "../../../lib/wire/handshake.ts";

const A = InfoHash.fromHex("0101010101010101010101010101010101010101");
const OUR_ID = new TextEncoder().encode("-BT0100-ourselves000");

Deno.test("openPeerListener() hands a dialed handshake to the torrent registered for its info hash", async () => {
  const listener = openPeerListener({ hostname: "127.0.0.1", now: () => 0 });
  const added = Promise.withResolvers<{ conn: PeerConnection; address: string }>();
  const torrent: AcceptingTorrent = {
    incomingOptions: () => ({
      infoHash: A,
      peerId: OUR_ID,
      geometry: { pieceLength: 16384, pieceCount: 1, totalLength: 16384 },
    }),
    addIncoming: (conn, address) => added.resolve({ conn, address }),
  };
  listener.torrents.add(A, torrent);
  const dialer = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  let peer: PeerConnection | null = null;
  try {
    await dialer.write(encodeHandshake({
      reserved: createReserved({ isFastExtension: true }),
      infoHash: A,
      peerId: new TextEncoder().encode("-XX0001-theirs000000"),
    }));
    const got = await within(added.promise, "the incoming peer");
    peer = got.conn;
    ok(got.conn.infoHash.equals(A));
    equal(got.address, `127.0.0.1:${dialer.localAddr.port}`);
    // Our handshake answers theirs.
    const reply = new Uint8Array(HANDSHAKE_BYTES);
    let n = 0;
    while (n < HANDSHAKE_BYTES) {
      const r = await within(dialer.read(reply.subarray(n)), "our handshake");
      if (r === null) break;
      n += r;
    }
    deepEqual([...reply.subarray(48, 68)], [...OUR_ID]);
  } finally {
    peer?.close();
    dialer.close();
    await listener.close();
  }
});

Deno.test("openPeerListener() on a port in use throws listen_failed; close() stops accepting", async () => {
  const first = openPeerListener({ hostname: "127.0.0.1", now: () => 0 });
  try {
    assertThrowsCode(
      () => openPeerListener({ hostname: "127.0.0.1", port: first.port, now: () => 0 }),
      BtoolError,
      "listen_failed",
    );
  } finally {
    await first.close();
  }
  let refused = false;
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port: first.port })).close();
  } catch (err: unknown) {
    refused = err instanceof Deno.errors.ConnectionRefused;
  }
  ok(refused, "nothing listens after close()");
});
