// UdpTrackerSocket (lib/tracker/udp_tracker_socket.ts) against a scripted tracker on 127.0.0.1: what it sends (events,
// defaults, scrape batches), what it takes from the reply (fallback interval, peers), what it ignores (a reply from
// another port), and the error code of each failure. The connection-id cache and the retransmission schedule are
// tested in tests/integration/tracker_client_test.ts. A lost reply ends a test through its bounded timer, never a
// hang; nothing asserts time.

import { assertRejectsCode, deepEqual, equal } from "../../_helpers/assert.ts";
import { toHex, utf8 } from "../../../lib/bytes.ts";
import { TrackerError } from "../../../lib/errors.ts";
import { FALLBACK_INTERVAL_S } from "../../../lib/tracker/tracker_reply.ts";
import {
  decodeUdpRequest,
  encodeUdpReply,
  UDP_MAX_SCRAPE_HASHES,
  UdpEvent,
  type UdpReply,
  type UdpRequest,
} from "../../../lib/tracker/udp_codec.ts";
import { UdpTrackerSocket, type UdpTrackerSocketOptions } from "../../../lib/tracker/udp_tracker_socket.ts";
import { receiveDatagram } from "../../_helpers/udp.ts";

const INFO_HASH = new Uint8Array(20).fill(7);
const REQUEST = {
  infoHash: INFO_HASH,
  peerId: utf8("-BT0100-abcdefghijkl"),
  port: 6881,
  uploaded: 1,
  downloaded: 2,
  left: 3,
};
const CONNECTION_ID = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);

/**
 * A tracker on 127.0.0.1 that records each request and sends what `answer` returns (connects are answered for it
 * unless `answer` handles them). `answer` may also send datagrams of its own first, through `send`.
 */
function scriptedTracker(
  answer: (r: UdpRequest, send: (reply: UdpReply) => Promise<void>, from: Deno.NetAddr) => Promise<UdpReply | null>,
) {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const requests: UdpRequest[] = [];
  const loop = (async () => {
    for (let i = 0; i < 100; i++) {
      const got = await receiveDatagram(conn);
      if (got === null) return;
      const d = decodeUdpRequest(got.data);
      if (d.type !== "request") continue;
      const r = d.request;
      requests.push(r.type === "announce" ? { ...r, urlData: r.urlData.slice() } : r);
      const send = (reply: UdpReply) => conn.send(encodeUdpReply(reply), got.addr).then(() => {});
      const reply = await answer(r, send, got.addr);
      if (reply !== null) await send(reply);
      else if (r.type === "connect") {
        await send({ type: "connect", transactionId: r.transactionId, connectionId: CONNECTION_ID });
      }
    }
  })();
  return {
    port: (conn.addr as Deno.NetAddr).port,
    requests,
    async close() {
      conn.close();
      await loop;
    },
  };
}

/** One attempt, bounded: a reply that never comes ends in tracker_timeout after a real 5 s rather than a hang. */
function socket(options: UdpTrackerSocketOptions = {}): UdpTrackerSocket {
  return new UdpTrackerSocket({
    maxRetryExponent: 0,
    setTimer: (expire) => {
      const t = setTimeout(expire, 5_000);
      return () => clearTimeout(t);
    },
    ...options,
  });
}

function announceReply(transactionId: number, fields: Partial<UdpReply & { type: "announce" }> = {}): UdpReply {
  return {
    type: "announce",
    transactionId,
    interval: 900,
    leechers: 0,
    seeders: 0,
    peers: new Uint8Array(0),
    ...fields,
  };
}

Deno.test("UdpTrackerSocket.announce() sends the event, key, numwant and URL data; a zero interval falls back", async () => {
  const tracker = scriptedTracker((r) =>
    Promise.resolve(
      r.type === "announce"
        ? announceReply(r.transactionId, {
          interval: 0,
          seeders: 2,
          leechers: 5,
          peers: Uint8Array.of(10, 0, 0, 9, 0x1a, 0xe1),
        })
        : null,
    )
  );
  const udp = socket();
  try {
    const target = { hostname: "127.0.0.1", port: tracker.port, urlData: utf8("/announce?passkey=x") };
    const r = await udp.announce(target, { ...REQUEST, event: "completed" });
    deepEqual(r, {
      interval: FALLBACK_INTERVAL_S,
      complete: 2,
      incomplete: 5,
      peers: [{ ip: "10.0.0.9", port: 6881 }],
    });
    await udp.announce(target, { ...REQUEST, key: 77, numWant: 30 });
    const sent = tracker.requests.filter((x) => x.type === "announce");
    deepEqual(sent.map((a) => [a.event, a.key, a.numWant, new TextDecoder().decode(a.urlData)]), [
      [UdpEvent.Completed, 0, -1, "/announce?passkey=x"],
      [UdpEvent.None, 77, 30, "/announce?passkey=x"],
    ]);
    deepEqual(sent[0]!.connectionId, CONNECTION_ID);
  } finally {
    await udp.close();
    await tracker.close();
  }
});

Deno.test("UdpTrackerSocket ignores a reply with the right transaction id from another port", async () => {
  const impostor = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const tracker = scriptedTracker(async (r, send, from) => {
    if (r.type !== "announce") return null;
    // The impostor's reply arrives first; the client must wait for the tracker's own.
    await impostor.send(encodeUdpReply(announceReply(r.transactionId, { seeders: 99 })), from);
    await send(announceReply(r.transactionId, { seeders: 1 }));
    return null;
  });
  const udp = socket();
  try {
    const r = await udp.announce({ hostname: "127.0.0.1", port: tracker.port, urlData: new Uint8Array(0) }, REQUEST);
    equal(r.complete, 1);
  } finally {
    await udp.close();
    await tracker.close();
    impostor.close();
  }
});

Deno.test("UdpTrackerSocket.scrape() sends UDP_MAX_SCRAPE_HASHES per packet and keys the counts by hex", async () => {
  const hashes = Array.from({ length: UDP_MAX_SCRAPE_HASHES + 6 }, (_, i) => new Uint8Array(20).fill(i));
  const tracker = scriptedTracker((r) =>
    Promise.resolve(
      r.type === "scrape"
        ? {
          type: "scrape" as const,
          transactionId: r.transactionId,
          files: r.infoHashes.map((h) => ({ seeders: h[0]!, completed: 1000 + h[0]!, leechers: 2 })),
        }
        : null,
    )
  );
  const udp = socket();
  try {
    const counts = await udp.scrape({ hostname: "127.0.0.1", port: tracker.port }, hashes);
    deepEqual(
      tracker.requests.filter((x) => x.type === "scrape").map((s) => s.infoHashes.length),
      [UDP_MAX_SCRAPE_HASHES, 6],
    );
    equal(counts.size, hashes.length);
    deepEqual(counts.get(toHex(hashes[79]!)), { complete: 79, downloaded: 1079, incomplete: 2 });
  } finally {
    await udp.close();
    await tracker.close();
  }
});

Deno.test("UdpTrackerSocket: an error reply is tracker_failure with its message; a wrong reply type is bad_response", async () => {
  const tracker = scriptedTracker((r) => {
    if (r.type === "connect") return Promise.resolve(null);
    if (r.type === "scrape") return Promise.resolve({ type: "error", transactionId: r.transactionId, message: "" });
    const id = r.transactionId;
    return Promise.resolve(
      r.port === 1
        ? { type: "error", transactionId: id, message: "Unregistered torrent" }
        : { type: "connect", transactionId: id, connectionId: CONNECTION_ID },
    );
  });
  const udp = socket();
  try {
    const target = { hostname: "127.0.0.1", port: tracker.port, urlData: new Uint8Array(0) };
    const refused = await assertRejectsCode(
      () => udp.announce(target, { ...REQUEST, port: 1 }),
      TrackerError,
      "tracker_failure",
    );
    equal(refused.reason, "Unregistered torrent");
    await assertRejectsCode(() => udp.announce(target, REQUEST), TrackerError, "tracker_bad_response");
    const empty = await assertRejectsCode(() => udp.scrape(target, [INFO_HASH]), TrackerError, "tracker_failure");
    equal(empty.reason, "UDP tracker error");
  } finally {
    await udp.close();
    await tracker.close();
  }
});

Deno.test("UdpTrackerSocket resolves host names through its resolver; a failed or non-IP answer is tracker_network", async () => {
  const tracker = scriptedTracker((r) =>
    Promise.resolve(r.type === "announce" ? announceReply(r.transactionId) : null)
  );
  const asked: string[] = [];
  const udp = socket({
    resolve: (host) => {
      asked.push(host);
      if (host === "tracker.test") return Promise.resolve("127.0.0.1");
      if (host === "odd.test") return Promise.resolve("not an address");
      return Promise.reject(new Error("NXDOMAIN"));
    },
  });
  try {
    const target = (hostname: string) => ({ hostname, port: tracker.port, urlData: new Uint8Array(0) });
    equal((await udp.announce(target("tracker.test"), REQUEST)).interval, 900);
    await udp.announce(target("127.0.0.1"), REQUEST); // a literal is never resolved
    await assertRejectsCode(() => udp.announce(target("gone.test"), REQUEST), TrackerError, "tracker_network");
    await assertRejectsCode(() => udp.announce(target("odd.test"), REQUEST), TrackerError, "tracker_network");
    deepEqual(asked, ["tracker.test", "gone.test", "odd.test"]);
  } finally {
    await udp.close();
    await tracker.close();
  }
  await assertRejectsCode(
    () => udp.announce({ hostname: "127.0.0.1", port: tracker.port, urlData: new Uint8Array(0) }, REQUEST),
    TrackerError,
    "tracker_network",
  );
});
