import { concat, utf8 } from "../../lib/bytes.ts";
import { WireError } from "../../lib/errors.ts";
import { InfoHash } from "../../lib/infohash.ts";
import { PeerConnection, type PeerConnectionOptions } from "../../lib/peer/connection.ts";
import { BLOCK_BYTES } from "../../lib/pieces.ts";
import { Bitfield } from "../../lib/wire/bitfield.ts";
import { createReserved, encodeHandshake } from "../../lib/wire/handshake.ts";
import { MessageDecoder } from "../../lib/wire/message_decoder.ts";
import { encodeMessage, type WireMessage } from "../../lib/wire/messages.ts";
import { assertRejectsCode, deepEqual, equal, ok } from "../_helpers/assert.ts";

const INFO_HASH = InfoHash.fromHex("0102030405060708090a0b0c0d0e0f1011121314");
const OTHER_HASH = InfoHash.fromHex("ffffffffffffffffffffffffffffffffffffffff");
/** 10 pieces of 32 KiB. */
const GEOMETRY = { pieceLength: 2 * BLOCK_BYTES, pieceCount: 10, totalLength: 10 * 2 * BLOCK_BYTES };

function peerId(tag: string): Uint8Array {
  return utf8(`-BT0001-${tag.padEnd(12, "x")}`);
}

function options(tag: string, extra: Partial<PeerConnectionOptions> = {}): PeerConnectionOptions {
  return { infoHash: INFO_HASH, peerId: peerId(tag), geometry: GEOMETRY, ...extra };
}

/** A listener on 127.0.0.1 port 0 and one client socket connected to it. */
async function socketPair(): Promise<{ client: Deno.Conn; server: Deno.Conn; listener: Deno.Listener }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const [client, server] = await Promise.all([Deno.connect({ hostname: "127.0.0.1", port }), listener.accept()]);
  return { client, server, listener };
}

/** Runs `fn` with peers "a" (dialer) and "b" (acceptor) open on a fresh socket pair; closes all of it afterwards. */
async function withOpenPair(fn: (a: PeerConnection, b: PeerConnection) => Promise<void>): Promise<void> {
  const { client, server, listener } = await socketPair();
  let a: PeerConnection | null = null;
  let b: PeerConnection | null = null;
  try {
    [a, b] = await Promise.all([PeerConnection.open(client, options("a")), PeerConnection.open(server, options("b"))]);
    await fn(a, b);
  } finally {
    a?.close();
    b?.close();
    listener.close();
  }
}

/** Drains a connection's messages in the background (as a session would) so refusals happen without a reader. */
class Inbox {
  #items: WireMessage[] = [];
  #waiters: (() => void)[] = [];
  #isDone = false;
  readonly done: Promise<void>;
  constructor(conn: PeerConnection) {
    this.done = (async () => {
      for await (const m of conn.messages()) {
        this.#items.push(m);
        this.#waiters.shift()?.();
      }
      this.#isDone = true;
      for (const w of this.#waiters.splice(0)) w();
    })();
  }
  /** The next message, or null once the connection has ended. */
  async next(): Promise<WireMessage | null> {
    while (this.#items.length === 0 && !this.#isDone) await new Promise<void>((r) => this.#waiters.push(r));
    return this.#items.shift() ?? null;
  }
}

/** Next message of an inbox, failing on end. */
async function nextOf(inbox: Inbox): Promise<WireMessage> {
  const m = await inbox.next();
  if (m === null) throw new Error("connection ended");
  return m;
}

/** Read raw bytes until `decoder` yields a message (or the socket ends: null). */
async function rawNext(conn: Deno.Conn, decoder: MessageDecoder): Promise<WireMessage | null> {
  for (;;) {
    const m = decoder.next();
    if (m !== null) return m;
    const buf = new Uint8Array(65536);
    const n = await conn.read(buf).catch(() => null);
    if (n === null) return null;
    decoder.push(buf.slice(0, n));
  }
}

/** Read raw bytes until EOF (bounded by the peer's own timeouts). */
async function readToEnd(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(65536);
  while ((await conn.read(buf).catch(() => null)) !== null) {
    // discard
  }
}

Deno.test("PeerConnection: two peers handshake, exchange state and a block", () =>
  withOpenPair(async (a, b) => {
    ok(a.isFastExtension && b.isFastExtension);
    deepEqual(a.remotePeerId, peerId("b"));
    deepEqual(b.remotePeerId, peerId("a"));
    const toA = new Inbox(a);
    const toB = new Inbox(b);

    const have = new Bitfield(10);
    have.set(3);
    await b.send({ type: "bitfield", bytes: have.toBytes() });
    const bf = await nextOf(toA);
    ok(bf.type === "bitfield");
    equal(Bitfield.fromBytes(bf.bytes, 10).has(3), true);

    await a.send({ type: "interested" });
    deepEqual(await nextOf(toB), { type: "interested" });
    ok(b.peerInterested && a.amInterested);

    await b.send({ type: "unchoke" });
    deepEqual(await nextOf(toA), { type: "unchoke" });
    equal(a.peerChoking, false);

    const request = { pieceIndex: 3, begin: BLOCK_BYTES, length: BLOCK_BYTES };
    await a.send({ type: "request", ...request });
    deepEqual(await nextOf(toB), { type: "request", ...request });
    ok(b.isRequestPending(request));
    const block = Uint8Array.from({ length: BLOCK_BYTES }, (_, i) => i % 251);
    equal(await b.sendPiece(request, block), true);
    equal(await b.sendPiece(request, block), false, "a request is answered once");
    const piece = await nextOf(toA);
    ok(piece.type === "piece");
    deepEqual(piece.block, block);
    equal(b.uploadedBytes, BLOCK_BYTES);
    equal(a.downloadedBytes, BLOCK_BYTES);
    equal((a.remoteAddr as Deno.NetAddr).hostname, "127.0.0.1");

    a.close();
    equal(await toA.next(), null);
    equal(await toB.next(), null, "the other side sees the close");
    equal(a.closeReason, null);
  }));

Deno.test("PeerConnection refuses oversized, out-of-range and choked requests with BEP 6 reject", () =>
  withOpenPair(async (a, b) => {
    const toA = new Inbox(a);
    const toB = new Inbox(b);
    const refused = [
      { pieceIndex: 1, begin: 0, length: BLOCK_BYTES }, // while choked
    ];
    await a.send({ type: "request", ...refused[0]! });
    deepEqual(await nextOf(toA), { type: "reject", ...refused[0]! });
    await b.send({ type: "unchoke" });
    await nextOf(toA);
    const bad = [
      { pieceIndex: 1, begin: 0, length: BLOCK_BYTES + 1 }, // over 16 KiB
      { pieceIndex: 10, begin: 0, length: BLOCK_BYTES }, // no such piece
      { pieceIndex: 1, begin: BLOCK_BYTES, length: BLOCK_BYTES + 1 }, // past the piece end
      { pieceIndex: 1, begin: 0, length: 0 },
    ];
    for (const r of bad) {
      await a.send({ type: "request", ...r });
      deepEqual(await nextOf(toA), { type: "reject", ...r });
    }
    equal(b.pendingRequests, 0);
    const good = { pieceIndex: 1, begin: 0, length: BLOCK_BYTES };
    await a.send({ type: "request", ...good });
    deepEqual(await nextOf(toB), { type: "request", ...good });
    // Choking rejects what is pending (BEP 6).
    await b.send({ type: "choke" });
    deepEqual(await nextOf(toA), { type: "choke" });
    deepEqual(await nextOf(toA), { type: "reject", ...good });
    equal(await b.sendPiece(good, new Uint8Array(BLOCK_BYTES)), false);
    a.close();
    await Promise.all([toA.done, toB.done]);
  }));

Deno.test("PeerConnection.open() refuses another torrent and ourselves", async () => {
  {
    const { client, server, listener } = await socketPair();
    try {
      const results = await Promise.allSettled([
        PeerConnection.open(client, options("a")),
        PeerConnection.open(server, options("b", { infoHash: OTHER_HASH })),
      ]);
      for (const r of results) {
        ok(r.status === "rejected" && r.reason instanceof WireError);
      }
      const codes = results.map((r) => r.status === "rejected" ? (r.reason as WireError).code : "");
      ok(codes.includes("info_hash_mismatch"), codes.join());
    } finally {
      listener.close();
    }
  }
  {
    const { client, server, listener } = await socketPair();
    try {
      const results = await Promise.allSettled([
        PeerConnection.open(client, options("same")),
        PeerConnection.open(server, options("same")),
      ]);
      for (const r of results) {
        ok(r.status === "rejected" && r.reason instanceof WireError && r.reason.code === "self_connection");
      }
    } finally {
      listener.close();
    }
  }
});

/**
 * A raw sender handshakes as `name` (no BEP 6), then sends `bytes`: what our side read before it closed, and why.
 * `onClient` runs on the sender's socket after our side has closed.
 */
async function receiveRaw(
  name: string,
  bytes: Uint8Array,
  onClient?: (client: Deno.Conn) => Promise<unknown>,
): Promise<{ seen: WireMessage[]; closeReason: unknown; isFastExtension: boolean }> {
  const { client, server, listener } = await socketPair();
  let b: PeerConnection | null = null;
  try {
    const hs = encodeHandshake({ reserved: createReserved(), infoHash: INFO_HASH, peerId: peerId(name) });
    const opening = PeerConnection.open(server, options("b"));
    await client.write(concat([hs, bytes]));
    b = await opening;
    const seen: WireMessage[] = [];
    for await (const m of b.messages()) seen.push(m);
    await onClient?.(client);
    return { seen, closeReason: b.closeReason, isFastExtension: b.isFastExtension };
  } finally {
    b?.close();
    client.close();
    listener.close();
  }
}

Deno.test("PeerConnection drops a hostile sender's huge length prefix before buffering it", async () => {
  const r = await receiveRaw("evil", new Uint8Array([0xff, 0xff, 0xff, 0xf0, 7, 0, 0, 0]), readToEnd);
  deepEqual(r.seen, []);
  ok(r.closeReason instanceof WireError);
  equal((r.closeReason as WireError).code, "message_too_long");
});

Deno.test("PeerConnection closes on a bitfield with spare bits set or a have out of range", async () => {
  const cases: [Uint8Array, string][] = [
    [encodeMessage({ type: "bitfield", bytes: new Uint8Array([0, 0x01]) }), "bitfield_spare_bits"],
    [encodeMessage({ type: "have", pieceIndex: 10 }), "piece_range"],
  ];
  for (const [bytes, code] of cases) {
    const r = await receiveRaw("evil", bytes);
    equal((r.closeReason as WireError).code, code);
  }
});

Deno.test("PeerConnection refuses fast messages when BEP 6 was not negotiated", async () => {
  const r = await receiveRaw("old", encodeMessage({ type: "haveAll" }));
  equal(r.isFastExtension, false);
  equal((r.closeReason as WireError).code, "fast_not_negotiated");
});

Deno.test("PeerConnection sends keep-alives and drops a silent peer after the idle timeout", async () => {
  const { client, server, listener } = await socketPair();
  let b: PeerConnection | null = null;
  try {
    const hs = encodeHandshake({ reserved: createReserved(), infoHash: INFO_HASH, peerId: peerId("quiet") });
    const opening = PeerConnection.open(server, options("b", { keepAliveIntervalMs: 20, idleTimeoutMs: 400 }));
    await client.write(hs);
    b = await opening;
    const iterating = (async () => {
      for await (const _ of b.messages()) {
        // the silent peer sends nothing
      }
    })();
    const decoder = new MessageDecoder();
    const theirHandshake = new Uint8Array(68);
    let got = 0;
    while (got < 68) {
      const n = await client.read(theirHandshake.subarray(got));
      ok(n !== null);
      got += n;
    }
    deepEqual(await rawNext(client, decoder), { type: "keepAlive" });
    await iterating;
    equal((b.closeReason as WireError).code, "idle_timeout");
    await readToEnd(client);
  } finally {
    b?.close();
    client.close();
    listener.close();
  }
});

Deno.test("PeerConnection.open() times out a peer that never sends its handshake", async () => {
  const { client, server, listener } = await socketPair();
  try {
    await assertRejectsCode(
      () => PeerConnection.open(server, options("b", { handshakeTimeoutMs: 50 })),
      WireError,
      "handshake_timeout",
    );
    await readToEnd(client);
  } finally {
    client.close();
    listener.close();
  }
});

Deno.test("PeerConnection.open() drops a non-BitTorrent sender at once", async () => {
  const { client, server, listener } = await socketPair();
  try {
    const opening = PeerConnection.open(server, options("b"));
    await client.write(utf8("GET / HTTP/1.1\r\n\r\n"));
    await assertRejectsCode(() => opening, WireError, "handshake_protocol");
    await readToEnd(client);
  } finally {
    client.close();
    listener.close();
  }
});

Deno.test("PeerConnection drops a peer that stops reading (write timeout)", async () => {
  const { client, server, listener } = await socketPair();
  let b: PeerConnection | null = null;
  let ticker: ReturnType<typeof setInterval> | undefined;
  try {
    const hs = encodeHandshake({ reserved: createReserved(), infoHash: INFO_HASH, peerId: peerId("deaf") });
    const opening = PeerConnection.open(server, options("b", { idleTimeoutMs: 300 }));
    await client.write(hs);
    b = await opening;
    // The deaf peer keeps talking (so it is not idle) but never reads what we send.
    ticker = setInterval(() => client.write(encodeMessage({ type: "keepAlive" })).catch(() => {}), 50);
    const inbox = new Inbox(b);
    // One send at a time keeps the queue under MAX_WRITE_QUEUE_BYTES: the write itself stalls once the kernel's
    // buffers are full (a few MiB on loopback).
    const payload = new Uint8Array(1024 * 1024);
    let isFailed = false;
    for (let i = 0; i < 64 && !isFailed; i++) {
      await b.send({ type: "extended", extendedId: 1, payload }).catch(() => isFailed = true);
    }
    ok(isFailed, "the stalled write fails once the connection is dropped");
    await inbox.done;
    equal((b.closeReason as WireError).code, "write_timeout");
  } finally {
    clearInterval(ticker);
    b?.close();
    client.close();
    listener.close();
  }
});

Deno.test("PeerConnection.sendMany() delivers several requests in order with one promise", () =>
  withOpenPair(async (a, b) => {
    const toA = new Inbox(a);
    const toB = new Inbox(b);
    await b.send({ type: "unchoke" });
    deepEqual(await nextOf(toA), { type: "unchoke" });
    const requests = [0, 1, 2].map((i) => ({ type: "request" as const, pieceIndex: i, begin: 0, length: BLOCK_BYTES }));
    await a.sendMany([...requests, { type: "have", pieceIndex: 7 }]);
    await a.sendMany([]);
    for (const r of requests) deepEqual(await nextOf(toB), r);
    deepEqual(await nextOf(toB), { type: "have", pieceIndex: 7 });
    equal(b.pendingRequests, 3);
    a.close();
    equal(await toB.next(), null);
  }));
