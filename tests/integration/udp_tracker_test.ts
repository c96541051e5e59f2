// The UDP tracker over real sockets on 127.0.0.1 and ::1: HTTP and UDP peers share swarms, dual-stack `::`, junk
// gets no reply while a bad id gets action 3, and `btool tracker` serves UDP on the HTTP port number by default.
// The socket tests run on both I/O paths: "auto" (on Linux the batched libc path, which must not silently fall back)
// and "deno" (Deno.listenDatagram).

import { assertRejectsCode, deepEqual, equal, ok } from "../_helpers/assert.ts";
import { TrackerError } from "../../lib/errors.ts";
import { percentEncode, readU32BE } from "../../lib/bytes.ts";
import { decodeBencode } from "../../lib/bencode.ts";
import { TrackerDb } from "../../lib/persist/db.ts";
import { announce, scrape } from "../../lib/tracker/client.ts";
import type { AnnounceParams } from "../../lib/tracker/tracker_url.ts";
import { createTracker } from "../../lib/tracker/server.ts";
import { encodeUdpRequest, UdpEvent } from "../../lib/tracker/udp_codec.ts";
import { startUdpTracker } from "../../lib/tracker/udp_server.ts";
import { Users } from "../../lib/tracker/users.ts";

const HASH = new Uint8Array(20).fill(0x5a);
const WAIT_MS = 5_000;
/** Bound on waiting for a receive Worker to start or stop (seconds on a loaded machine). */
const WORKER_WAIT_MS = 20_000;

function peerId(n: number): Uint8Array {
  const b = new TextEncoder().encode("-BT0001-000000000000");
  b[19] = n;
  return b;
}

function params(n: number, extra: Partial<AnnounceParams> = {}): AnnounceParams {
  return {
    infoHash: HASH,
    peerId: peerId(n),
    port: 6000 + n,
    uploaded: 0,
    downloaded: 0,
    left: 1000,
    event: "started",
    ...extra,
  };
}

/**
 * Client options: short UDP retries so a lost datagram costs little, still bounded (15.5 s in all): on a loaded machine
 * the libc path's receive Worker can take seconds to start, and the first test's datagrams wait for it.
 */
const FAST = { udpOptions: { retryBaseMs: 500, maxRetryExponent: 4 } };

/** What "auto" must choose here: the libc path on Linux (CI runs there; a silent fallback would hide a break). */
const AUTO_IO = Deno.build.os === "linux" ? "libc" : "deno";

/** Receive datagrams until `deadline`; returns them (bounded by count). */
async function collect(conn: Deno.DatagramConn, ms: number, max: number): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), ms));
  try {
    while (got.length < max) {
      const next = await Promise.race([conn.receive(), timeout]);
      if (next === null) break;
      got.push(next[0]);
    }
  } finally {
    clearTimeout(timer);
  }
  return got;
}

for (const io of ["auto", "deno"] as const) {
  const expectedIo = io === "auto" ? AUTO_IO : "deno";

  Deno.test(`UDP (${io}) and HTTP on one store: each transport's peers are returned to the other`, async () => {
    const db = TrackerDb.open(":memory:");
    const tracker = createTracker({ db, adminToken: "t", sweepIntervalMs: 0, snapshotIntervalS: 0 });
    const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, tracker.handler);
    const udp = startUdpTracker({ store: tracker.store, db, hostname: "127.0.0.1", port: 0, io });
    try {
      equal(udp.io, expectedIo);
      const httpUrl = `http://127.0.0.1:${http.addr.port}/announce`;
      const udpUrl = `udp://127.0.0.1:${udp.port}/announce`;
      const viaHttp = await announce(httpUrl, params(1, { left: 0 }));
      equal(viaHttp.peers.length, 0);
      const viaUdp = await announce(udpUrl, params(2), FAST);
      deepEqual(viaUdp.peers, [{ ip: "127.0.0.1", port: 6001 }]);
      equal(viaUdp.complete, 1);
      equal(viaUdp.incomplete, 1);
      // A second HTTP peer sees both (raw query: also checks the UDP peer landed in the shared store).
      const q = `info_hash=${percentEncode(HASH)}&peer_id=${percentEncode(peerId(3))}&port=6003&uploaded=0` +
        `&downloaded=0&left=5&compact=1`;
      const res = await fetch(`${httpUrl}?${q}`);
      const body = decodeBencode(new Uint8Array(await res.arrayBuffer()));
      ok(body instanceof Map);
      const peers = body.get("peers");
      ok(peers instanceof Uint8Array);
      const ports = [];
      for (let i = 0; i < peers.length; i += 6) ports.push((peers[i + 4]! << 8) | peers[i + 5]!);
      deepEqual(ports.sort(), [6001, 6002]);
      // UDP completed → persisted like HTTP's; UDP scrape counts every peer.
      await announce(udpUrl, params(2, { event: "completed", left: 0 }), FAST);
      const counts = await scrape(udpUrl, [HASH], FAST);
      deepEqual(counts.get("5a".repeat(20)), { complete: 2, downloaded: 1, incomplete: 1 });
      equal(db.listTorrents().find((t) => t.infoHashHex === "5a".repeat(20))?.completed, 1);
    } finally {
      await udp.close();
      tracker.close();
      await http.shutdown();
      db.close();
    }
  });

  Deno.test(`startUdpTracker(${io}) on :: serves IPv6 (18-byte peers) and IPv4 (6-byte peers) on one port`, async () => {
    const db = TrackerDb.open(":memory:");
    const tracker = createTracker({ db, adminToken: "t", sweepIntervalMs: 0, snapshotIntervalS: 0 });
    const udp = startUdpTracker({ store: tracker.store, hostname: "::", port: 0, io });
    try {
      ok(udp.addrs.length >= 1);
      const v6 = `udp://[::1]:${udp.port}/announce`;
      const v4 = `udp://127.0.0.1:${udp.port}/announce`;
      await announce(v6, params(1), FAST);
      await announce(v4, params(2), FAST);
      const a6 = await announce(v6, params(3), FAST);
      deepEqual(a6.peers, [{ ip: "::1", port: 6001 }]);
      equal(a6.incomplete, 3);
      const a4 = await announce(v4, params(4), FAST);
      deepEqual(a4.peers, [{ ip: "127.0.0.1", port: 6002 }]);
    } finally {
      await udp.close();
      tracker.close();
      db.close();
    }
  });

  Deno.test(`startUdpTracker(${io}) answers junk and a bad connection id with nothing (#19)`, async () => {
    const db = TrackerDb.open(":memory:");
    const tracker = createTracker({ db, adminToken: "t", sweepIntervalMs: 0, snapshotIntervalS: 0 });
    const udp = startUdpTracker({ store: tracker.store, hostname: "127.0.0.1", port: 0, io });
    const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: udp.port };
    try {
      const badAnnounce = encodeUdpRequest({
        type: "announce",
        connectionId: new Uint8Array(8).fill(9),
        transactionId: 0xcafe,
        infoHash: HASH,
        peerId: peerId(1),
        downloaded: 0,
        left: 0,
        uploaded: 0,
        event: UdpEvent.Started,
        ip: 0,
        key: 0,
        numWant: -1,
        port: 6001,
        urlData: new Uint8Array(0),
      });
      const junk = [new Uint8Array(3), new Uint8Array(16), badAnnounce.subarray(0, 60), new Uint8Array(4000)];
      for (const j of junk) await client.send(j, to);
      await client.send(badAnnounce, to);
      // Then a connect: its reply must be the first one (junk and the bad id, sent before it, got nothing, #19); the
      // handler's counters below show no reply was made for them at all.
      await client.send(encodeUdpRequest({ type: "connect", transactionId: 42 }), to);
      const replies = await collect(client, WAIT_MS, 1);
      equal(replies.length, 1);
      const connect = replies[0]!;
      equal(readU32BE(connect, 0), 0);
      equal(readU32BE(connect, 4), 42);
      equal(connect.length, 16);
      equal(udp.stats.dropped, junk.length + 1);
      equal(udp.stats.errors, 0);
    } finally {
      client.close();
      await udp.close();
      tracker.close();
      db.close();
    }
  });

  Deno.test(`startUdpTracker(${io}) answers a burst of several batches, each datagram once, and frees its port`, async () => {
    const db = TrackerDb.open(":memory:");
    const tracker = createTracker({ db, adminToken: "t", sweepIntervalMs: 0, snapshotIntervalS: 0 });
    const udp = startUdpTracker({ store: tracker.store, hostname: "127.0.0.1", port: 0, io });
    const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: udp.port };
    const port = udp.port;
    const burst = 150; // more than two batches (UDP_BATCH 64), and within the default socket buffers
    try {
      const sends = [];
      for (let t = 0; t < burst; t++) {
        sends.push(client.send(encodeUdpRequest({ type: "connect", transactionId: t }), to));
      }
      await Promise.all(sends);
      const replies = await collect(client, WAIT_MS, burst);
      const ids = new Set(replies.map((r) => readU32BE(r, 4)));
      equal(replies.length, burst);
      equal(ids.size, burst);
      equal(udp.stats.connects, burst);
    } finally {
      client.close();
      await udp.close();
      tracker.close();
      db.close();
    }
    // Closed for real: the same port can be bound again at once.
    const again = startUdpTracker({ store: tracker.store, hostname: "127.0.0.1", port, io });
    equal(again.port, port);
    await again.close();
  });

  Deno.test(`startUdpTracker(${io}) on a port in use fails with udp_listen_failed`, async () => {
    const db = TrackerDb.open(":memory:");
    const tracker = createTracker({ db, adminToken: "t", sweepIntervalMs: 0, snapshotIntervalS: 0 });
    const udp = startUdpTracker({ store: tracker.store, hostname: "127.0.0.1", port: 0, io });
    try {
      const err = (() => {
        try {
          startUdpTracker({ store: tracker.store, hostname: "127.0.0.1", port: udp.port, io });
        } catch (e: unknown) {
          return e;
        }
        return null;
      })();
      ok(err instanceof TrackerError, `expected a TrackerError, got ${err}`);
      equal(err.code, "udp_listen_failed");
    } finally {
      await udp.close();
      tracker.close();
      db.close();
    }
  });
}

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

Deno.test("btool tracker serves UDP on the HTTP port number and prints the udp:// URL", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, "tracker", "--host", "127.0.0.1", "--port", "0", "--db", ":memory:"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const kill = setTimeout(() => child.kill("SIGKILL"), 30_000);
  let out = "";
  try {
    while (!/udp:\/\/127\.0\.0\.1:\d+\/announce/.test(out)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`btool tracker exited early: ${out}`);
      out += value;
    }
    const httpPort = Number(/http:\/\/127\.0\.0\.1:(\d+)\/announce/.exec(out)![1]);
    const udpUrl = /(udp:\/\/127\.0\.0\.1:\d+\/announce)/.exec(out)![1]!;
    equal(udpUrl, `udp://127.0.0.1:${httpPort}/announce`);
    await announce(`http://127.0.0.1:${httpPort}/announce`, params(1), {});
    const r = await announce(udpUrl, params(2), FAST);
    deepEqual(r.peers, [{ ip: "127.0.0.1", port: 6001 }]);
    child.kill("SIGTERM");
    equal((await child.status).code, 0);
  } finally {
    clearTimeout(kill);
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await child.status;
    await reader.cancel();
    await child.stderr.cancel();
  }
});

Deno.test("UDP in private mode: the BEP 41 passkey is checked like HTTP's; none or a wrong one is refused", async () => {
  const db = TrackerDb.open(":memory:");
  const user = new Users(db).add("alice", Date.now());
  const tracker = createTracker({
    db,
    adminToken: "t",
    sweepIntervalMs: 0,
    snapshotIntervalS: 0,
    isPrivate: true,
  });
  // The same wiring as cli/tracker.ts.
  const udp = startUdpTracker({
    store: tracker.store,
    db,
    hostname: "127.0.0.1",
    port: 0,
    access: (r) => tracker.privateMode.checkUdp(r),
  });
  try {
    const base = `udp://127.0.0.1:${udp.port}`;
    const good = await announce(`${base}/announce?passkey=${user.passkeyHex}`, params(1), FAST);
    equal(good.incomplete, 1);
    const torrust = await announce(`${base}/announce/${user.passkeyHex}`, params(2), FAST);
    deepEqual(torrust.peers, [{ ip: "127.0.0.1", port: 6001 }]);
    for (const url of [`${base}/announce`, `${base}/announce?passkey=${"0".repeat(32)}`]) {
      await assertRejectsCode(() => announce(url, params(3), FAST), TrackerError, "tracker_failure");
    }
    equal(tracker.store.totals().peers, 2);
  } finally {
    await udp.close();
    tracker.close();
    db.close();
  }
});

Deno.test({
  name: "startUdpTracker(auto): when the receive Worker stops, the port moves to Deno.listenDatagram and still answers",
  ignore: AUTO_IO !== "libc",
  fn: async () => {
    const db = TrackerDb.open(":memory:");
    const tracker = createTracker({ db, adminToken: "t", sweepIntervalMs: 0, snapshotIntervalS: 0 });
    const warnings: string[] = [];
    const udp = startUdpTracker({
      store: tracker.store,
      hostname: "127.0.0.1",
      port: 0,
      receiveWorkerUrl: new URL("./_udp_dying_worker.ts", import.meta.url),
      onWarning: (m) => warnings.push(m),
    });
    const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: udp.port };
    try {
      const deadline = Date.now() + WORKER_WAIT_MS;
      while (udp.io !== "deno" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      equal(udp.io, "deno");
      ok(warnings.some((w) => /Deno\.listenDatagram/.test(w)), warnings.join("; "));
      await client.send(encodeUdpRequest({ type: "connect", transactionId: 77 }), to);
      const [reply] = await collect(client, WAIT_MS, 1);
      ok(reply !== undefined, "no reply after the fallback");
      equal(readU32BE(reply, 4), 77);
    } finally {
      client.close();
      await udp.close();
      tracker.close();
      db.close();
    }
  },
});
