// The tracker client against tiny fake trackers on loopback: UDP (BEP 15/41, IPv4 and IPv6) built on our codec,
// and HTTP via Deno.serve. Port 0, everything closed in finally.

import { assertRejectsCode, deepEqual, equal, ok } from "../_helpers/assert.ts";
import { encodeBencode } from "../../lib/bencode.ts";
import { fromUtf8, percentDecode, toHex, toLatin1, utf8 } from "../../lib/bytes.ts";
import { TrackerError } from "../../lib/errors.ts";
import { announce, scrape } from "../../lib/tracker/client.ts";
import { announceToTiers, TrackerTiers } from "../../lib/tracker/tracker_tiers.ts";
import { UdpTrackerSocket } from "../../lib/tracker/udp_tracker_socket.ts";
import {
  createConnectionIdIssuer,
  decodeUdpRequest,
  encodeUdpReply,
  type UdpAnnounceRequest,
  type UdpReply,
} from "../../lib/tracker/udp_codec.ts";
import { connectReply, playUdpTracker, receiveDatagram, type SeenPacket } from "../_helpers/udp.ts";

const INFO_HASH = Uint8Array.from({ length: 20 }, (_, i) => (i * 37 + 0x20) & 0xff);
const OTHER_HASH = new Uint8Array(20).fill(0x2b);
const PEER_ID = utf8("-BT0100-abcdefghijkl");
const REQUEST = { infoHash: INFO_HASH, peerId: PEER_ID, port: 6881, uploaded: 10, downloaded: 20, left: 30 };

interface FakeUdpOptions {
  hostname: string;
  /** Drop this many datagrams before answering anything (exercises retransmission). */
  dropFirst?: number;
  /** Never answer. */
  isSilent?: boolean;
  /** Answer announces with this error message. */
  errorMessage?: string;
}

interface FakeUdpTracker {
  port: number;
  received: { type: string; announce?: UdpAnnounceRequest }[];
  close(): Promise<void>;
}

function startFakeUdpTracker(options: FakeUdpOptions): FakeUdpTracker {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: options.hostname, port: 0 });
  const port = (conn.addr as Deno.NetAddr).port;
  const issuer = createConnectionIdIssuer({ secret: utf8("fake"), now: () => Date.now() });
  const received: FakeUdpTracker["received"] = [];
  const isIPv6 = options.hostname.includes(":");
  let toDrop = options.dropFirst ?? 0;
  const seen = (what: SeenPacket) => {
    if (what === "drop") return;
    if (what === "bad-id") received.push({ type: "bad-id" });
    else if (what.type === "announce") {
      received.push({ type: what.type, announce: { ...what, urlData: what.urlData.slice() } });
    } else received.push({ type: what.type });
  };
  const loop = playUdpTracker(conn, issuer, (r, remote) => {
    if (toDrop > 0) {
      toDrop--;
      return null;
    }
    if (options.isSilent) return null;
    if (r.type === "connect") return connectReply(r, issuer, remote);
    if (r.type === "announce") {
      if (options.errorMessage !== undefined) {
        return { type: "error", transactionId: r.transactionId, message: options.errorMessage };
      }
      const peers = isIPv6
        ? Uint8Array.of(...new Uint8Array(15), 1, 0x1a, 0xe2, 0x20, 0x01, 0x0d, 0xb8, ...new Uint8Array(11), 7, 0, 80)
        : Uint8Array.of(127, 0, 0, 1, 0x1a, 0xe2, 10, 0, 0, 7, 0, 80);
      return { type: "announce", transactionId: r.transactionId, interval: 900, leechers: 4, seeders: 2, peers };
    }
    return {
      type: "scrape",
      transactionId: r.transactionId,
      files: r.infoHashes.map((_, j) => ({ seeders: j + 1, completed: 10 * (j + 1), leechers: 100 * (j + 1) })),
    };
  }, { seen });
  return {
    port,
    received,
    async close() {
      conn.close();
      await loop;
    },
  };
}

for (const hostname of ["127.0.0.1", "::1"]) {
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  Deno.test(`announce() over UDP on ${hostname}: connect, announce with BEP 41 URL data, peers by family`, async () => {
    const tracker = startFakeUdpTracker({ hostname });
    try {
      const r = await announce(`udp://${host}:${tracker.port}/announce?passkey=0a1b`, {
        ...REQUEST,
        event: "started",
        numWant: 25,
        key: 0xfeedbeef,
      });
      equal(r.interval, 900);
      equal(r.complete, 2);
      equal(r.incomplete, 4);
      deepEqual(
        r.peers,
        hostname === "::1"
          ? [{ ip: "::1", port: 6882 }, { ip: "2001:db8::7", port: 80 }]
          : [{ ip: "127.0.0.1", port: 6882 }, { ip: "10.0.0.7", port: 80 }],
      );
      deepEqual(tracker.received.map((x) => x.type), ["connect", "announce"]);
      const a = tracker.received[1]!.announce!;
      equal(fromUtf8(a.urlData), "/announce?passkey=0a1b");
      equal(toHex(a.infoHash), toHex(INFO_HASH));
      equal(a.event, 2);
      equal(a.numWant, 25);
      equal(a.key, 0xfeedbeef);
      deepEqual([a.downloaded, a.left, a.uploaded, a.port], [20, 30, 10, 6881]);
    } finally {
      await tracker.close();
    }
  });

  Deno.test(`scrape() over UDP on ${hostname} returns counts per info hash`, async () => {
    const tracker = startFakeUdpTracker({ hostname });
    try {
      const m = await scrape(`udp://${host}:${tracker.port}`, [INFO_HASH, OTHER_HASH]);
      deepEqual(m.get(toHex(INFO_HASH)), { complete: 1, downloaded: 10, incomplete: 100 });
      deepEqual(m.get(toHex(OTHER_HASH)), { complete: 2, downloaded: 20, incomplete: 200 });
    } finally {
      await tracker.close();
    }
  });
}

Deno.test("UdpTrackerSocket reuses a connection id within a minute and reconnects after", async () => {
  const tracker = startFakeUdpTracker({ hostname: "127.0.0.1" });
  let t = 1_000_000;
  const udp = new UdpTrackerSocket({ now: () => t });
  try {
    const url = `udp://127.0.0.1:${tracker.port}/announce`;
    await announce(url, REQUEST, { udp });
    t += 30_000;
    await announce(url, { ...REQUEST, event: "completed" }, { udp });
    await scrape(url, [INFO_HASH], { udp });
    t += 60_000;
    await announce(url, REQUEST, { udp });
    deepEqual(tracker.received.map((x) => x.type), [
      "connect",
      "announce",
      "announce",
      "scrape",
      "connect",
      "announce",
    ]);
  } finally {
    await udp.close();
    await tracker.close();
  }
});

Deno.test("UdpTrackerSocket waits base·2^n per attempt (BEP 15 schedule) and resends until the tracker answers", async () => {
  // The tracker drops the first two connects. An injected timer records every wait and expires exactly the first two
  // at once (the others are cancelled by their replies), so the schedule is asserted without real time passing.
  const tracker = startFakeUdpTracker({ hostname: "127.0.0.1", dropFirst: 2 });
  const waits: number[] = [];
  let cancelled = 0;
  const setTimer = (expire: () => void, ms: number) => {
    waits.push(ms);
    const t = waits.length <= 2 ? setTimeout(expire, 0) : undefined;
    return () => {
      clearTimeout(t);
      cancelled++;
    };
  };
  const udp = new UdpTrackerSocket({ retryBaseMs: 15_000, maxRetryExponent: 3, setTimer });
  try {
    const r = await announce(`udp://127.0.0.1:${tracker.port}/announce`, REQUEST, { udp });
    equal(r.peers.length, 2);
    // Attempt n waits 15 s · 2^n for its connect and, once connected, for its announce.
    deepEqual(waits, [15_000, 30_000, 60_000, 60_000]);
    equal(cancelled, 4);
    deepEqual(tracker.received.map((x) => x.type), ["connect", "connect", "connect", "announce"]);
  } finally {
    await udp.close();
    await tracker.close();
  }
});

Deno.test("announce() over UDP gives up with tracker_timeout after the capped retries", async () => {
  const tracker = startFakeUdpTracker({ hostname: "127.0.0.1", isSilent: true });
  try {
    await assertRejectsCode(
      () =>
        announce(`udp://127.0.0.1:${tracker.port}/announce`, REQUEST, {
          udpOptions: { retryBaseMs: 5, maxRetryExponent: 2 },
        }),
      TrackerError,
      "tracker_timeout",
    );
    equal(tracker.received.length, 3);
  } finally {
    await tracker.close();
  }
});

Deno.test("announce() over UDP turns an error reply into tracker_failure with its message", async () => {
  const tracker = startFakeUdpTracker({ hostname: "127.0.0.1", errorMessage: "Unregistered torrent" });
  try {
    const err = await assertRejectsCode(
      () => announce(`udp://127.0.0.1:${tracker.port}/announce`, REQUEST),
      TrackerError,
      "tracker_failure",
    );
    equal(err.reason, "Unregistered torrent");
  } finally {
    await tracker.close();
  }
});

/**
 * A responder on `port` with a fresh issuer (a restarted tracker): a bad connection id gets an error reply when
 * `isAnsweringBadIds` (as some trackers do), or nothing (as ours does, #19). Records what it saw in `types`.
 */
function restartedTracker(port: number, isAnsweringBadIds: boolean) {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port });
  const issuer = createConnectionIdIssuer({ secret: utf8("restarted"), now: () => Date.now() });
  const types: string[] = [];
  const loop = (async () => {
    for (let i = 0; i < 10; i++) {
      const got = await receiveDatagram(conn);
      if (got === null) return;
      const { data, addr } = got;
      const d = decodeUdpRequest(data, { connectionIds: issuer, address: addr.hostname, port: addr.port });
      if (d.type !== "request") {
        types.push("bad-id");
        const plain = decodeUdpRequest(data);
        if (isAnsweringBadIds && plain.type === "request" && plain.request.type !== "connect") {
          const transactionId = plain.request.transactionId;
          await conn.send(encodeUdpReply({ type: "error", transactionId, message: "Connection ID mismatch" }), addr);
        }
        continue;
      }
      types.push(d.request.type);
      const reply: UdpReply = d.request.type === "connect"
        ? {
          type: "connect",
          transactionId: d.request.transactionId,
          connectionId: issuer.issue(addr.hostname, addr.port),
        }
        : {
          type: "announce",
          transactionId: d.request.transactionId,
          interval: 60,
          leechers: 0,
          seeders: 0,
          peers: new Uint8Array(0),
        };
      await conn.send(encodeUdpReply(reply), addr);
    }
  })();
  return {
    types,
    async close() {
      conn.close();
      await loop;
    },
  };
}

for (const isAnsweringBadIds of [true, false]) {
  const how = isAnsweringBadIds ? "refused with an error" : "met with silence (#19)";
  Deno.test(`UdpTrackerSocket reconnects once when a cached connection id is ${how}`, async () => {
    // Two fake trackers cannot share a port, so simulate a tracker restart: a new issuer refuses old ids.
    const first = startFakeUdpTracker({ hostname: "127.0.0.1" });
    const udp = new UdpTrackerSocket({ retryBaseMs: 100, maxRetryExponent: 3 });
    try {
      const url = `udp://127.0.0.1:${first.port}/announce`;
      await announce(url, REQUEST, { udp });
      await first.close();
      const restarted = restartedTracker(first.port, isAnsweringBadIds);
      try {
        const r = await announce(url, REQUEST, { udp });
        equal(r.interval, 60);
        deepEqual(restarted.types, ["bad-id", "connect", "announce"]);
      } finally {
        await restarted.close();
      }
    } finally {
      await udp.close();
    }
  });
}

Deno.test("announce() over UDP stops at once when its signal aborts", async () => {
  const tracker = startFakeUdpTracker({ hostname: "127.0.0.1", isSilent: true });
  const controller = new AbortController();
  try {
    const pending = announce(`udp://127.0.0.1:${tracker.port}/announce`, REQUEST, { signal: controller.signal });
    const outcome = pending.then(() => "resolved", (err: unknown) => err);
    // Abort while the client waits for the connect reply (the default first wait is 15 s).
    for (let i = 0; i < 500 && tracker.received.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    equal(tracker.received.length, 1);
    controller.abort();
    const err = await outcome;
    ok(err instanceof TrackerError, String(err));
    equal(err.code, "tracker_aborted");
  } finally {
    await tracker.close();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// HTTP

interface FakeHttp {
  url: string;
  queries: string[];
  close(): Promise<void>;
}

function startFakeHttpTracker(
  handler: (path: string, query: string) => Response | Promise<Response>,
  hostname = "127.0.0.1",
): FakeHttp {
  const queries: string[] = [];
  const server = Deno.serve({ hostname, port: 0, onListen: () => {} }, (req) => {
    const u = new URL(req.url);
    queries.push(u.pathname + u.search);
    return handler(u.pathname, u.search.slice(1));
  });
  return {
    url: `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${server.addr.port}`,
    queries,
    async close() {
      await server.shutdown();
    },
  };
}

function params(query: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of query.split("&")) {
    const [k, v = ""] = part.split("=");
    out.set(k!, [...(out.get(k!) ?? []), v]);
  }
  return out;
}

function bencoded(value: Parameters<typeof encodeBencode>[0], status = 200): Response {
  return new Response(encodeBencode(value) as Uint8Array<ArrayBuffer>, {
    status,
    headers: { "content-type": "text/plain" },
  });
}

Deno.test("announce() over HTTP sends a byte-exact passkey query and reads compact peers and peers6", async () => {
  const http = startFakeHttpTracker(() =>
    bencoded({
      complete: 1,
      incomplete: 2,
      interval: 1800,
      "min interval": 60,
      peers: Uint8Array.of(127, 0, 0, 1, 0x1a, 0xe1),
      peers6: Uint8Array.of(...new Uint8Array(15), 1, 0x1a, 0xe2),
      "warning message": "Be nice",
    })
  );
  try {
    const r = await announce(`${http.url}/announce?passkey=00ff`, { ...REQUEST, event: "started" });
    deepEqual(r.peers, [{ ip: "127.0.0.1", port: 6881 }, { ip: "::1", port: 6882 }]);
    equal(r.warning, "Be nice");
    deepEqual([r.interval, r.minInterval, r.complete, r.incomplete], [1800, 60, 1, 2]);
    const q = http.queries[0]!;
    ok(q.startsWith("/announce?passkey=00ff&info_hash="), q);
    ok(!q.includes("+"), q);
    const p = params(q.split("?")[1]!);
    equal(toHex(percentDecode(p.get("info_hash")![0]!)!), toHex(INFO_HASH));
    equal(fromUtf8(percentDecode(p.get("peer_id")![0]!)!), "-BT0100-abcdefghijkl");
    deepEqual(p.get("compact"), ["1"]);
    deepEqual(p.get("event"), ["started"]);
  } finally {
    await http.close();
  }
});

Deno.test("announce() over HTTP reads the dictionary model", async () => {
  const http = startFakeHttpTracker(() =>
    bencoded({ interval: 120, peers: [{ ip: "127.0.0.1", port: 7000, "peer id": PEER_ID }] })
  );
  try {
    const r = await announce(`${http.url}/announce`, REQUEST);
    deepEqual(r.peers, [{ ip: "127.0.0.1", port: 7000, peerId: PEER_ID }]);
  } finally {
    await http.close();
  }
});

Deno.test("announce() over HTTP: failure reason (status 200 or not) is tracker_failure, other statuses are not", async () => {
  const http = startFakeHttpTracker((path) => {
    if (path === "/a200") return bencoded({ "failure reason": "Unregistered torrent" });
    if (path === "/a400") return bencoded({ "failure reason": "Bad compact" }, 400);
    return new Response("Not found", { status: 404 });
  });
  try {
    const e1 = await assertRejectsCode(() => announce(`${http.url}/a200`, REQUEST), TrackerError, "tracker_failure");
    equal(e1.reason, "Unregistered torrent");
    const e2 = await assertRejectsCode(() => announce(`${http.url}/a400`, REQUEST), TrackerError, "tracker_failure");
    equal(e2.reason, "Bad compact");
    await assertRejectsCode(() => announce(`${http.url}/nope`, REQUEST), TrackerError, "tracker_http_status");
  } finally {
    await http.close();
  }
});

Deno.test("announce() over HTTP caps the reply size", async () => {
  const big = new Uint8Array(300_000).fill(0x61);
  const http = startFakeHttpTracker(() => {
    // Streamed, without content-length, so the cap is enforced while reading.
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 4; i++) c.enqueue(big);
        c.close();
      },
    });
    return new Response(body);
  });
  try {
    await assertRejectsCode(
      () => announce(`${http.url}/announce`, REQUEST, { maxResponseBytes: 100_000 }),
      TrackerError,
      "tracker_too_large",
    );
  } finally {
    await http.close();
  }
});

Deno.test("announce() over HTTP times out through its AbortSignal", async () => {
  const { promise: release, resolve } = Promise.withResolvers<void>();
  const http = startFakeHttpTracker(async () => {
    await release;
    return bencoded({ interval: 1, peers: "" });
  });
  try {
    await assertRejectsCode(
      () => announce(`${http.url}/announce`, REQUEST, { timeoutMs: 50 }),
      TrackerError,
      "tracker_timeout",
    );
  } finally {
    resolve();
    await http.close();
  }
});

Deno.test("scrape() over HTTP derives the scrape URL and repeats info_hash", async () => {
  const http = startFakeHttpTracker((path, query) => {
    if (path !== "/scrape") return new Response("no", { status: 404 });
    const files = new Map<string, unknown>();
    for (const h of params(query).get("info_hash") ?? []) {
      const raw = percentDecode(h)!;
      files.set(toLatin1(raw), new Map([["complete", 3], ["downloaded", 5], ["incomplete", raw[0]!]]));
    }
    return bencoded(new Map([["files", files]]) as never);
  });
  try {
    const m = await scrape(`${http.url}/announce?passkey=ab`, [INFO_HASH, OTHER_HASH]);
    deepEqual(m.get(toHex(INFO_HASH)), { complete: 3, downloaded: 5, incomplete: INFO_HASH[0] });
    deepEqual(m.get(toHex(OTHER_HASH)), { complete: 3, downloaded: 5, incomplete: 0x2b });
    ok(http.queries[0]!.startsWith("/scrape?passkey=ab&info_hash="), http.queries[0]);
    await assertRejectsCode(() => scrape(`${http.url}/tracker`, [INFO_HASH]), TrackerError, "tracker_no_scrape");
  } finally {
    await http.close();
  }
});

Deno.test("announce() over HTTP works with an IPv6 literal tracker on ::1", async () => {
  const http = startFakeHttpTracker(() => bencoded({ interval: 60, peers: "", peers6: new Uint8Array(0) }), "::1");
  try {
    const r = await announce(`${http.url}/announce`, REQUEST);
    equal(r.interval, 60);
    deepEqual(r.peers, []);
  } finally {
    await http.close();
  }
});

Deno.test("announceToTiers() skips a silent UDP tracker and a refusing one, then moves the working one forward", async () => {
  const silent = startFakeUdpTracker({ hostname: "127.0.0.1", isSilent: true });
  const http = startFakeHttpTracker((path) =>
    path === "/refuse/announce"
      ? bencoded({ "failure reason": "Unregistered torrent" })
      : bencoded({ interval: 600, peers: Uint8Array.of(127, 0, 0, 1, 0, 99) })
  );
  const udp = new UdpTrackerSocket({ retryBaseMs: 5, maxRetryExponent: 1 });
  try {
    const dead = `udp://127.0.0.1:${silent.port}/announce`;
    const refusing = `${http.url}/refuse/announce`;
    const working = `${http.url}/announce`;
    // random() = 0.999 keeps each tier in its written order.
    const tiers = new TrackerTiers([[dead, refusing, working], [`${http.url}/backup/announce`]], {
      random: () => 0.999,
    });
    const warnings: string[] = [];
    const { url, response } = await announceToTiers(tiers, REQUEST, {
      udp,
      onWarning: (u, err) => warnings.push(`${u === dead ? "dead" : "refusing"}:${err.code}`),
    });
    equal(url, working);
    deepEqual(response.peers, [{ ip: "127.0.0.1", port: 99 }]);
    deepEqual(warnings, ["dead:tracker_timeout", "refusing:tracker_failure"]);
    deepEqual(tiers.tiers[0], [working, dead, refusing]);
    equal(http.queries.length, 2);
  } finally {
    await udp.close();
    await silent.close();
    await http.close();
  }
});
