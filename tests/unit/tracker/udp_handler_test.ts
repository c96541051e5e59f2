// createUdpHandler without sockets: junk and bad connection ids get no reply, refusals get action 3, connection
// id rotation under an injected clock, reply layout and size caps, `ip` and `num_want` rules, the access hook.

import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { seededRandom } from "../../_helpers/random.ts";
import { readU16BE, readU32BE, utf8 } from "../../../lib/bytes.ts";
import { TrackerError } from "../../../lib/errors.ts";
import { TrackerDb } from "../../../lib/persist/db.ts";
import { MemorySwarmStore } from "../../../lib/tracker/swarm_store.ts";
import {
  createConnectionIdIssuer,
  decodeUdpReply,
  encodeUdpRequest,
  UdpEvent,
  type UdpReply,
} from "../../../lib/tracker/udp_codec.ts";
import {
  createUdpHandler,
  encodeUdpAnnounceReply,
  MAX_UDP_PEERS4,
  MAX_UDP_PEERS6,
  MAX_UDP_TRACKER_REPLY_BYTES,
  type UdpAccessRequest,
  udpAnnounceIp,
  type UdpHandlerOptions,
  udpNumWant,
} from "../../../lib/tracker/udp_handler.ts";

const T0 = 1_700_000_000_000;
const PERIOD_MS = 120_000;
const SLACK_MS = 120_000;
const HASH = new Uint8Array(20).fill(0xab);
const V4 = "10.0.0.1";
const V6 = "2001:db8::1";

function setup(options: Partial<UdpHandlerOptions> = {}) {
  const clock = { t: T0 };
  const now = () => clock.t;
  const store = new MemorySwarmStore({ maxPeers: 10_000 });
  const connectionIds = createConnectionIdIssuer({ secret: utf8("test secret"), now });
  const handler = createUdpHandler({ store, connectionIds, now, random: seededRandom(7), ...options });
  return { clock, store, handler, connectionIds };
}

function peerId(n: number): Uint8Array {
  const b = utf8("-BT0001-000000000000");
  b[16] = n >> 8;
  b[19] = n & 0xff;
  return b;
}

function connectPacket(transactionId: number): Uint8Array {
  return encodeUdpRequest({ type: "connect", transactionId });
}

function announcePacket(
  connectionId: Uint8Array,
  n: number,
  fields: Partial<
    { left: number; numWant: number; ip: number; event: UdpEvent; port: number; urlData: string; key: number }
  > = {},
): Uint8Array {
  return encodeUdpRequest({
    type: "announce",
    connectionId,
    transactionId: 1000 + n,
    infoHash: HASH,
    peerId: peerId(n),
    downloaded: 0,
    left: fields.left ?? 100,
    uploaded: 0,
    event: fields.event ?? UdpEvent.Started,
    ip: fields.ip ?? 0,
    key: fields.key ?? 0x1234,
    numWant: fields.numWant ?? -1,
    port: fields.port ?? (6000 + n) % 65536,
    urlData: utf8(fields.urlData ?? ""),
  });
}

function reply(bytes: Uint8Array | null): UdpReply {
  ok(bytes !== null, "expected a reply");
  const r = decodeUdpReply(bytes);
  ok(r !== null);
  return r;
}

function connect(h: ReturnType<typeof setup>, address: string, port = 4000): Uint8Array {
  const r = reply(h.handler.handle(connectPacket(77), address, port));
  equal(r.type, "connect");
  if (r.type !== "connect") throw new Error("unreachable");
  equal(r.transactionId, 77);
  return r.connectionId.slice();
}

function announce(h: ReturnType<typeof setup>, address: string, n: number, fields = {}) {
  const id = h.connectionIds.issue(address, 0);
  const r = reply(h.handler.handle(announcePacket(id, n, fields), address, 4000 + n));
  if (r.type !== "announce") throw new Error(`expected announce, got ${JSON.stringify(r)}`);
  return r;
}

Deno.test("createUdpHandler() answers connect with an id for the sender's address (any source port)", () => {
  const h = setup();
  const id = connect(h, V4, 4000);
  // libtorrent shares connection ids among the sessions of one process (different source ports), as opentracker allows.
  equal(reply(h.handler.handle(announcePacket(id, 1), V4, 4001)).type, "announce");
  equal(reply(h.handler.handle(announcePacket(id, 2), V4, 4002)).type, "announce");
  equal(h.handler.handle(announcePacket(id, 3), "10.0.0.2", 4000), null);
});

Deno.test("createUdpHandler() sends nothing for junk (short, unknown action, bad magic, truncated)", () => {
  const h = setup();
  const id = h.connectionIds.issue(V4, 0);
  const good = announcePacket(id, 1);
  const connectBadMagic = connectPacket(1);
  connectBadMagic[3] = connectBadMagic[3]! ^ 1;
  const unknownAction = good.slice();
  unknownAction[11] = 5;
  const errorAction = good.slice(0, 16);
  errorAction[11] = 3;
  const badEvent = good.slice();
  badEvent[83] = 9;
  const badOption = new Uint8Array([...good, 2, 50, 1, 2]); // URL data claims 50 bytes, 2 follow
  const scrape = encodeUdpRequest({ type: "scrape", connectionId: id, transactionId: 5, infoHashes: [HASH, HASH] });
  const cases: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)],
    ["15 bytes", new Uint8Array(15)],
    ["connect with a bad magic", connectBadMagic],
    ["unknown action", unknownAction],
    ["action 3 from a client", errorAction],
    ["announce cut at 97 bytes", good.subarray(0, 97)],
    ["announce with an unknown event", badEvent],
    ["announce with a truncated BEP 41 option", badOption],
    ["scrape with no hash", scrape.subarray(0, 16)],
    ["scrape cut inside a hash", scrape.subarray(0, 16 + 20 + 7)],
  ];
  for (const [name, packet] of cases) equal(h.handler.handle(packet, V4, 4000), null, name);
  equal(h.handler.stats.dropped, cases.length);
  equal(h.handler.stats.errors, 0);
  equal(h.store.totals().peers, 0);
});

Deno.test("createUdpHandler() sends nothing to a wrong connection id: no reflection towards a spoofed source (#19)", () => {
  const h = setup();
  const id = h.connectionIds.issue("10.0.0.9", 0);
  const wrong = id.slice();
  wrong[0] = wrong[0]! ^ 0xff;
  const tooMany = Array.from({ length: 75 }, () => HASH);
  const packets = [
    announcePacket(wrong, 1),
    announcePacket(id, 1), // issued to another address
    encodeUdpRequest({ type: "scrape", connectionId: wrong, transactionId: 0xdeadbeef, infoHashes: [HASH] }),
    encodeUdpRequest({ type: "scrape", connectionId: wrong, transactionId: 1, infoHashes: tooMany }),
  ];
  let replies = 0;
  for (const packet of packets) if (h.handler.handle(packet, V4, 4000) !== null) replies++;
  equal(replies, 0);
  equal(h.handler.stats.dropped, packets.length);
  equal(h.handler.stats.errors, 0);
  equal(h.store.totals().peers, 0);
  // The right id for this address is answered (so the silence above was the id's doing).
  const good = h.connectionIds.issue(V4, 0);
  equal(reply(h.handler.handle(announcePacket(good, 1), V4, 4000)).type, "announce");
});

Deno.test("createUdpHandler() accepts an id for the current and previous period plus slack, then refuses it", () => {
  const h = setup();
  h.clock.t = T0 - (T0 % PERIOD_MS) + PERIOD_MS - 1; // the last millisecond of a period: the shortest life
  const id = connect(h, V4, 4001);
  const at = h.clock.t;
  for (const dt of [0, 1, PERIOD_MS, PERIOD_MS + SLACK_MS]) {
    h.clock.t = at + dt;
    equal(reply(h.handler.handle(announcePacket(id, 1), V4, 4001)).type, "announce", `after ${dt} ms`);
  }
  h.clock.t = at + 2 * PERIOD_MS + SLACK_MS + 1;
  equal(h.handler.handle(announcePacket(id, 1), V4, 4001), null);
  // A fresh connect after rotation works again.
  const fresh = connect(h, V4, 4001);
  equal(reply(h.handler.handle(announcePacket(fresh, 1), V4, 4001)).type, "announce");
});

Deno.test("createUdpHandler() ids from another secret (a restarted tracker) are refused", () => {
  const a = setup();
  const b = setup({ connectionIds: createConnectionIdIssuer({ secret: utf8("other"), now: () => T0 }) });
  const id = connect(a, V4, 4001);
  equal(b.handler.handle(announcePacket(id, 1), V4, 4001), null);
});

Deno.test("createUdpHandler() announce reply: interval, leechers, seeders, then 6-byte peers for IPv4", () => {
  const h = setup();
  announce(h, V4, 1, { left: 0 });
  announce(h, V4, 2);
  const bytes = h.handler.handle(announcePacket(h.connectionIds.issue(V4, 0), 3), V4, 4003)!;
  equal(readU32BE(bytes, 0), 1);
  equal(readU32BE(bytes, 4), 1003);
  ok(readU32BE(bytes, 8) >= 1700 && readU32BE(bytes, 8) <= 1900, "interval 1800 ± 5%");
  equal(readU32BE(bytes, 12), 2, "leechers (2 and 3)");
  equal(readU32BE(bytes, 16), 1, "seeders");
  equal(bytes.length, 20 + 2 * 6);
  const ports = [readU16BE(bytes, 24), readU16BE(bytes, 30)].sort();
  deepEqual(ports, [6001, 6002]);
  deepEqual([...bytes.subarray(20, 24)], [10, 0, 0, 1]);
});

Deno.test("createUdpHandler() gives IPv6 askers 18-byte IPv6 peers and IPv4 askers 6-byte IPv4 peers", () => {
  const h = setup();
  announce(h, V4, 1);
  announce(h, V6, 2);
  const v6 = announce(h, V6, 3);
  equal(v6.peers.length, 18);
  equal(v6.peers[0], 0x20);
  equal((v6.peers[16]! << 8) | v6.peers[17]!, 6002);
  equal(v6.leechers, 3);
  const v4 = announce(h, V4, 4);
  equal(v4.peers.length, 6);
  equal((v4.peers[4]! << 8) | v4.peers[5]!, 6001);
});

Deno.test("createUdpHandler() num_want -1 means the default, 0 means none, big asks fit 1,200 bytes", () => {
  const h = setup();
  for (let n = 1; n <= 260; n++) announce(h, V4, n, { numWant: 0 });
  for (let n = 1; n <= 80; n++) announce(h, V6, 1000 + n, { numWant: 0 });
  equal(announce(h, V4, 1, { numWant: -1 }).peers.length, 50 * 6);
  equal(announce(h, V4, 1, { numWant: 0 }).peers.length, 0);
  equal(announce(h, V4, 1, { numWant: 7 }).peers.length, 7 * 6);
  const big4 = h.handler.handle(announcePacket(h.connectionIds.issue(V4, 0), 1, { numWant: 100_000 }), V4, 4001)!;
  ok(big4.length <= MAX_UDP_TRACKER_REPLY_BYTES && (big4.length - 20) / 6 <= MAX_UDP_PEERS4, `${big4.length} bytes`);
  ok((big4.length - 20) / 6 >= 100, "still a useful number of peers");
  const big6 = h.handler.handle(announcePacket(h.connectionIds.issue(V6, 0), 1001, { numWant: 1000 }), V6, 5001)!;
  ok(big6.length <= MAX_UDP_TRACKER_REPLY_BYTES && (big6.length - 20) / 18 <= MAX_UDP_PEERS6, `${big6.length} bytes`);
  // 80 of 340 peers are IPv6: a store sample of numWantMax (200) holds about 47 of them.
  ok((big6.length - 20) / 18 >= 30, "the mixed swarm was oversampled for the IPv6 asker");
});

Deno.test("createUdpHandler() ignores the ip field unless isIpParamAllowed (#19)", () => {
  const spoof = (192 << 24 | 0 << 16 | 2 << 8 | 99) >>> 0;
  const open = setup();
  announce(open, V4, 1, { ip: spoof });
  deepEqual([...open.store.peersOf(HASH)[0]!.ip], [10, 0, 0, 1]);
  const proxied = setup({ isIpParamAllowed: true });
  announce(proxied, V4, 1, { ip: spoof });
  deepEqual([...proxied.store.peersOf(HASH)[0]!.ip], [192, 0, 2, 99]);
});

Deno.test("createUdpHandler() stopped removes the peer; completed is persisted once", () => {
  const db = TrackerDb.open(":memory:");
  try {
    const h = setup({ db });
    announce(h, V4, 1);
    announce(h, V4, 1, { event: UdpEvent.Completed, left: 0 });
    announce(h, V4, 1, { event: UdpEvent.Completed, left: 0 });
    equal(db.listTorrents().find((t) => t.infoHashHex === "ab".repeat(20))?.completed, 1);
    const r = announce(h, V4, 1, { event: UdpEvent.Stopped });
    equal(r.seeders + r.leechers, 0);
    equal(h.store.totals().peers, 0);
  } finally {
    db.close();
  }
});

Deno.test("createUdpHandler() binds a peer to its key: another key cannot stop or complete it, the same key moves it (#19)", () => {
  const h = setup();
  const elsewhere = "10.0.0.9";
  announce(h, V4, 1);
  // The attack: the same peer id from another address with event=stopped (and its own key) removes nobody.
  equal(announce(h, elsewhere, 1, { event: UdpEvent.Stopped, key: 0x9999 }).leechers, 1);
  const completed = reply(
    h.handler.handle(
      announcePacket(h.connectionIds.issue(elsewhere, 0), 1, { event: UdpEvent.Completed, left: 0, key: 0x9999 }),
      elsewhere,
      4001,
    ),
  );
  equal(completed.type, "error");
  if (completed.type === "error") equal(completed.message, "Peer id is in use by another client");
  const third = announce(h, V4, 3);
  equal(third.leechers, 2);
  equal(third.seeders, 0);
  deepEqual([...third.peers.subarray(0, 4)], [10, 0, 0, 1]);
  // The client itself, with its key, from a new network: the entry follows it.
  announce(h, elsewhere, 1);
  deepEqual([...h.store.peersOf(HASH).find((p) => p.port === 6001)!.ip], [10, 0, 0, 9]);
  equal(h.store.totals().peers, 2);
});

Deno.test("createUdpHandler() port 0 and a full store are action-3 errors, not silence", () => {
  const h = setup({ store: new MemorySwarmStore({ maxPeers: 1 }) });
  equal(
    reply(h.handler.handle(announcePacket(h.connectionIds.issue(V4, 0), 1, { port: 0 }), V4, 4001)).type,
    "error",
  );
  announce(h, V4, 1);
  const full = reply(h.handler.handle(announcePacket(h.connectionIds.issue(V4, 0), 2), V4, 4002));
  equal(full.type, "error");
  if (full.type === "error") ok(full.message.length > 0);
});

Deno.test("createUdpHandler() scrape: seeders, completed, leechers per hash in request order; 75 hashes refused", () => {
  const h = setup();
  announce(h, V4, 1, { left: 0 });
  announce(h, V4, 2);
  const other = new Uint8Array(20).fill(1);
  const id = h.connectionIds.issue(V4, 0);
  const r = reply(h.handler.handle(
    encodeUdpRequest({ type: "scrape", connectionId: id, transactionId: 9, infoHashes: [other, HASH] }),
    V4,
    4000,
  ));
  deepEqual(r, {
    type: "scrape",
    transactionId: 9,
    files: [{ seeders: 0, completed: 0, leechers: 0 }, { seeders: 1, completed: 0, leechers: 1 }],
  });
  const many = Array.from({ length: 74 }, () => HASH);
  const ok74 = h.handler.handle(
    encodeUdpRequest({ type: "scrape", connectionId: id, transactionId: 10, infoHashes: many }),
    V4,
    4000,
  )!;
  equal(ok74.length, 8 + 74 * 12);
  ok(ok74.length <= MAX_UDP_TRACKER_REPLY_BYTES);
  const tooMany = reply(h.handler.handle(
    encodeUdpRequest({ type: "scrape", connectionId: id, transactionId: 11, infoHashes: [...many, HASH] }),
    V4,
    4000,
  ));
  equal(tooMany.type, "error");
  equal(tooMany.transactionId, 11);
});

Deno.test("createUdpHandler() access hook sees BEP 41 URL data; a refusal is an action-3 reason", () => {
  const seen: UdpAccessRequest[] = [];
  const h = setup({
    access: (req) => {
      seen.push({ ...req, urlData: req.urlData.slice() });
      const text = new TextDecoder().decode(req.urlData);
      if (!text.includes("passkey=good")) throw new TrackerError("passkey_invalid", "Invalid passkey");
    },
  });
  const refused = reply(h.handler.handle(announcePacket(h.connectionIds.issue(V4, 0), 1), V4, 4001));
  deepEqual(refused, { type: "error", transactionId: 1001, message: "Invalid passkey" });
  const allowed = announce(h, V4, 2, { urlData: "/announce?passkey=good" });
  equal(allowed.leechers, 1);
  equal(seen.length, 2);
  equal(new TextDecoder().decode(seen[1]!.urlData), "/announce?passkey=good");
  deepEqual([...seen[1]!.ip], [10, 0, 0, 1]);
  equal(seen[1]!.type, "announce");
  equal(h.store.totals().peers, 1);
});

Deno.test("udpAnnounceIp() uses the ip field only when allowed and non-zero", () => {
  const sender = new Uint8Array([10, 0, 0, 1]);
  equal(udpAnnounceIp(0xc0a80102, sender, false), sender);
  equal(udpAnnounceIp(0, sender, true), sender);
  deepEqual([...udpAnnounceIp(0xc0a80102, sender, true)], [192, 168, 1, 2]);
  deepEqual([...udpAnnounceIp(0xffffffff, sender, true)], [255, 255, 255, 255]);
});

Deno.test("udpNumWant() applies the default and the operator cap, then the 1,200-byte cap of the family", () => {
  equal(udpNumWant(-1, 200, false), 50);
  equal(udpNumWant(0, 200, false), 0);
  equal(udpNumWant(30, 20, false), 20);
  equal(udpNumWant(10_000, 10_000, false), MAX_UDP_PEERS4);
  equal(udpNumWant(10_000, 10_000, true), MAX_UDP_PEERS6);
  equal(udpNumWant(MAX_UDP_PEERS6 + 1, 200, true), MAX_UDP_PEERS6);
  equal(udpNumWant(MAX_UDP_PEERS6 - 1, 200, true), MAX_UDP_PEERS6 - 1);
});

Deno.test("encodeUdpAnnounceReply() writes the BEP 15 header and at most numWant peers", () => {
  const peers = new Uint8Array(6 * 5).map((_, i) => i);
  const header = { transactionId: 0xdeadbeef, intervalS: 1800, leechers: 3, seeders: 70_000 };
  const bytes = encodeUdpAnnounceReply(header, peers, { numWant: 3, peerBytes: 6 });
  equal(bytes.length, 20 + 18);
  deepEqual(reply(bytes), {
    type: "announce",
    transactionId: 0xdeadbeef,
    interval: 1800,
    leechers: 3,
    seeders: 70_000,
    peers: peers.subarray(0, 18),
  });
  const all = encodeUdpAnnounceReply(header, peers, { numWant: 50, peerBytes: 6 });
  deepEqual(all.subarray(20), peers);
  equal(encodeUdpAnnounceReply(header, new Uint8Array(0), { numWant: 50, peerBytes: 18 }).length, 20);
});
