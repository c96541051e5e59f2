// BEP 10 between a btool session and a hand-driven PeerConnection seed on 127.0.0.1: the session sends its
// extended handshake (v, p, reqq) and never queues more requests than the seed's `reqq`.

import { utf8 } from "../../lib/bytes.ts";
import { parseMetainfo } from "../../lib/metainfo.ts";
import { PeerConnection } from "../../lib/peer/connection.ts";
import { CLIENT_NAME } from "../../lib/peer/peer_messages.ts";
import { createSession } from "../../lib/peer/session.ts";
import { createMemoryStorage } from "../../lib/storage/storage.ts";
import {
  decodeExtendedHandshake,
  encodeExtendedHandshake,
  type ExtendedHandshake,
} from "../../lib/wire/extended_handshake.ts";
import { equal, ok } from "../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";
import { buildTorrent } from "../_helpers/torrent.ts";

/** Bound on the whole exchange. */
const TEST_TIMEOUT_MS = 30_000;
/** The seed's advertised request queue: well under the session's MIN_QUEUE_BLOCKS (16). */
const SEED_REQQ = 3;

Deno.test("createSession() sends a BEP 10 handshake and caps its requests at the peer's reqq", async () => {
  const { bytes, data } = buildTorrent({ data: randomBytes(seededRandom(10), 8 * 32768), pieceLength: 32768 });
  const meta = await parseMetainfo(bytes);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const seedPort = (listener.addr as Deno.NetAddr).port;
  const storage = createMemoryStorage(meta);
  const { promise: complete, resolve: onComplete } = Promise.withResolvers<void>();
  const session = createSession(meta, {
    storage,
    isAnnouncing: false,
    hostname: "127.0.0.1",
    peers: [{ hostname: "127.0.0.1", port: seedPort }],
    onComplete,
  });
  let theirs: ExtendedHandshake | null = null;
  let maxPending = 0;
  let seed: PeerConnection | null = null;
  const timer = setTimeout(() => seed?.close(), TEST_TIMEOUT_MS);
  try {
    const conn = await listener.accept();
    seed = await PeerConnection.open(conn, {
      infoHash: meta.infoHash,
      peerId: utf8("-XX0001-extseedpeer1"),
      geometry: meta,
      isExtensionProtocol: true,
    });
    ok(seed.isExtensionProtocol, "both sides set the BEP 10 bit");
    const s = seed;
    const payload = encodeExtendedHandshake({ extensions: new Map(), clientName: "test seed", maxRequests: SEED_REQQ });
    void s.send({ type: "extended", extendedId: 0, payload }).catch(() => {});
    void s.send({ type: "haveAll" }).catch(() => {});
    // Serve requests in batches after the current read is processed, so unanswered ones pile up if over-sent.
    const batch: { pieceIndex: number; begin: number; length: number }[] = [];
    let isScheduled = false;
    const serving = (async () => {
      for await (const msg of s.messages()) {
        if (msg.type === "extended" && msg.extendedId === 0) theirs = decodeExtendedHandshake(msg.payload);
        else if (msg.type === "interested") void s.send({ type: "unchoke" }).catch(() => {});
        else if (msg.type === "request") {
          maxPending = Math.max(maxPending, s.pendingRequests);
          batch.push(msg);
          if (!isScheduled) {
            isScheduled = true;
            setTimeout(() => {
              isScheduled = false;
              for (const r of batch.splice(0)) {
                const start = r.pieceIndex * meta.pieceLength + r.begin;
                void s.sendPiece(r, data.slice(start, start + r.length)).catch(() => {});
              }
            }, 0);
          }
        }
      }
    })();
    await complete;
    s.close();
    await serving;
    const got = theirs as ExtendedHandshake | null;
    ok(got !== null, "the session sent an extended handshake");
    equal(got.clientName, CLIENT_NAME);
    equal(got.listenPort, session.port);
    ok((got.maxRequests ?? 0) > 0);
    ok(maxPending > 0 && maxPending <= SEED_REQQ, `at most ${SEED_REQQ} requests pending, saw ${maxPending}`);
    equal(session.status().havePieces, meta.pieceCount);
  } finally {
    clearTimeout(timer);
    seed?.close();
    listener.close();
    await session.stop();
    await storage.close();
  }
});
