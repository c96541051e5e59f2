// The pure parts of the batched libc UDP path: sender addresses out of sockaddr bytes (IPv4, IPv4-mapped IPv6, IPv6,
// unknown families) through the one-entry cache, and the message vector's C layout. Sockets: tests/integration.

import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import {
  createMessageVector,
  createSenderCache,
  formatSender,
  IOVEC_BYTES,
  MSGHDR_BYTES,
  setMessageLengths,
  UDP_NAME_BYTES,
} from "../../../lib/tracker/_udp_ffi.ts";

/** A sockaddr_in (4 address bytes: family 2) or sockaddr_in6 (16: family 10) at `at` of a names buffer: family
 * little-endian, port big-endian, the address at 4 or 8. */
function sockaddr(names: Uint8Array, at: number, ip: number[], port: number): void {
  const isV6 = ip.length === 16;
  names.fill(0, at, at + UDP_NAME_BYTES);
  names[at] = isV6 ? 10 : 2;
  names[at + 2] = port >> 8;
  names[at + 3] = port & 0xff;
  names.set(ip, at + (isV6 ? 8 : 4));
}

Deno.test("formatSender() reads IPv4, IPv4-mapped IPv6 (as IPv4) and IPv6 senders, and refuses other families", () => {
  const names = new Uint8Array(4 * UDP_NAME_BYTES);
  sockaddr(names, 0, [192, 168, 1, 20], 6881);
  const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 7];
  sockaddr(names, UDP_NAME_BYTES, mapped, 51413);
  sockaddr(names, 2 * UDP_NAME_BYTES, [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 443);
  names[3 * UDP_NAME_BYTES] = 1; // AF_UNIX: not a UDP sender
  const cache = createSenderCache();
  ok(formatSender(names, 0, cache));
  deepEqual([cache.hostname, cache.port], ["192.168.1.20", 6881]);
  ok(formatSender(names, UDP_NAME_BYTES, cache));
  deepEqual([cache.hostname, cache.port], ["10.0.0.7", 51413]);
  ok(formatSender(names, 2 * UDP_NAME_BYTES, cache));
  deepEqual([cache.hostname, cache.port], ["2001:db8:0:0:0:0:0:1", 443]);
  equal(formatSender(names, 3 * UDP_NAME_BYTES, cache), false);
});

Deno.test("formatSender() follows each sender through its cache: a new port, address or family", () => {
  const names = new Uint8Array(2 * UDP_NAME_BYTES);
  const cache = createSenderCache();
  sockaddr(names, 0, [127, 0, 0, 1], 1000);
  formatSender(names, 0, cache);
  equal(cache.hostname, "127.0.0.1");
  // Same address, another port: the cached text stays right and the port follows.
  sockaddr(names, 0, [127, 0, 0, 1], 2000);
  formatSender(names, 0, cache);
  equal(cache.hostname, "127.0.0.1");
  equal(cache.port, 2000);
  sockaddr(names, 0, [127, 0, 0, 2], 2000);
  formatSender(names, 0, cache);
  equal(cache.hostname, "127.0.0.2");
  // An IPv6 address whose last four bytes equal the cached IPv4 one is not mistaken for it.
  sockaddr(names, UDP_NAME_BYTES, [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 127, 0, 0, 2], 2000);
  formatSender(names, UDP_NAME_BYTES, cache);
  equal(cache.hostname, "fe80:0:0:0:0:0:7f00:2");
  sockaddr(names, 0, [127, 0, 0, 2], 2000);
  formatSender(names, 0, cache);
  equal(cache.hostname, "127.0.0.2");
});

Deno.test("createMessageVector() lays out mmsghdr entries with one iovec each over their slots", () => {
  const slot = 100;
  const data = new Uint8Array(3 * slot);
  const names = new Uint8Array(3 * UDP_NAME_BYTES);
  const v = createMessageVector(3, slot, data, names);
  equal(v.msgs.length, 3 * MSGHDR_BYTES);
  equal(v.iovs.length, 3 * IOVEC_BYTES);
  const base = (i: number) => v.iovView.getBigUint64(i * IOVEC_BYTES, true);
  for (let i = 0; i < 3; i++) {
    equal(base(i) - base(0), BigInt(i * slot)); // iov_base: slot i of data
    equal(v.iovView.getBigUint64(i * IOVEC_BYTES + 8, true), BigInt(slot)); // iov_len
    const name = v.msgView.getBigUint64(i * MSGHDR_BYTES, true);
    const name0 = v.msgView.getBigUint64(0, true);
    equal(name - name0, BigInt(i * UDP_NAME_BYTES)); // msg_name: slot i of names
    equal(v.msgView.getUint32(i * MSGHDR_BYTES + 8, true), 28); // msg_namelen: a sockaddr_in6
    equal(v.msgView.getBigUint64(i * MSGHDR_BYTES + 24, true), 1n); // msg_iovlen
  }
  // A reply's lengths: the sockaddr's, and the iovec's as a whole 64-bit size_t.
  setMessageLengths(v, 1, 16, 314);
  equal(v.msgView.getUint32(MSGHDR_BYTES + 8, true), 16);
  equal(v.iovView.getBigUint64(IOVEC_BYTES + 8, true), 314n);
  equal(v.iovView.getBigUint64(8, true), BigInt(slot)); // the others untouched
});
