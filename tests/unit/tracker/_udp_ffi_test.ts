// The batched libc UDP path (lib/tracker/_udp_ffi.ts): sender addresses out of sockaddr bytes (IPv4, IPv4-mapped
// IPv6, IPv6, unknown families) through the one-entry cache, the message vector's C layout, the shared buffer's
// layout, sendMessages' retries over a scripted sendmmsg; and, where libc applies (Linux x86_64/aarch64; else skipped
// with the reason printed), a real socket on 127.0.0.1 sending and receiving through that layout.

import { assertThrowsCode, deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { TrackerError } from "../../../lib/errors.ts";
import { EAGAIN, EINTR, sockaddrOf } from "../../../lib/tracker/_libc.ts";
import {
  createFfiUdpSocket,
  createMessageVector,
  createSenderCache,
  CTL_WORDS,
  type FfiUdpSocket,
  formatSender,
  IOVEC_BYTES,
  isTransientReceiveError,
  type Libc,
  MSG_LEN_OFFSET,
  MSG_WAITFORONE,
  MSGHDR_BYTES,
  openLibc,
  sendMessages,
  setMessageLengths,
  sharedLayout,
  UDP_NAME_BYTES,
  wakeReceiver,
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

Deno.test("sharedLayout() puts data after the control words, then the names, then the length pairs", () => {
  const l = sharedLayout(3, 100);
  deepEqual(l, {
    dataAt: CTL_WORDS * 4,
    namesAt: CTL_WORDS * 4 + 300,
    lensAt: CTL_WORDS * 4 + 300 + 3 * UDP_NAME_BYTES,
    totalBytes: CTL_WORDS * 4 + 300 + 3 * UDP_NAME_BYTES + 24,
  });
  equal(l.lensAt % 4, 0, "the Int32 pairs are aligned");
});

Deno.test("isTransientReceiveError() is true for the receive timeout and a signal only", () => {
  deepEqual([EAGAIN, EINTR, 9, 104, 0].map(isTransientReceiveError), [true, true, false, false, false]);
});

/** A libc whose sendmmsg answers from `script` (a count, or -1 with that errno) and records (first message, count). */
function scriptedSend(script: [number, number][]): { lib: Libc; calls: [number, number][] } {
  const err = new Int32Array(1);
  const calls: [number, number][] = [];
  const lib = {
    symbols: {
      sendmmsg: (_fd: number, msgs: Uint8Array, n: number) => {
        calls.push([msgs.byteOffset / MSGHDR_BYTES, n]);
        const [r, code] = script.shift() ?? [-1, EAGAIN];
        err[0] = code;
        return r;
      },
      __errno_location: () => Deno.UnsafePointer.of(err),
    },
  } as unknown as Libc;
  return { lib, calls };
}

Deno.test("sendMessages() resumes after a partial send, retries EAGAIN, skips a message that fails otherwise", () => {
  const v = createMessageVector(5, 16, new Uint8Array(80), new Uint8Array(5 * UDP_NAME_BYTES));
  const { lib, calls } = scriptedSend([[2, 0], [-1, EAGAIN], [-1, 111], [2, 0]]);
  sendMessages(lib, 3, v, 5);
  // 2 sent; a full buffer: the same 3 again; ECONNREFUSED: message 2 skipped; the last 2 sent.
  deepEqual(calls, [[0, 5], [2, 3], [2, 3], [3, 2]]);
  // A socket that stays full is tried count + 4 times at most.
  const full = scriptedSend([]);
  sendMessages(full.lib, 3, v, 2);
  equal(full.calls.length, 6);
});

Deno.test("createFfiUdpSocket() leaves host names and scoped addresses to Deno.listenDatagram", () => {
  equal(createFfiUdpSocket("localhost", 0), null);
  equal(createFfiUdpSocket("fe80::1%lo", 0), null);
});

const LIBC = openLibc();
if (LIBC === null) {
  console.log("_udp_ffi_test: no libc path here (not Linux x86_64/aarch64, or no --allow-ffi): socket tests skipped");
}
LIBC?.close();

function closeSocket(sock: FfiUdpSocket): void {
  sock.lib.symbols.close(sock.fd);
  sock.lib.close();
}

Deno.test({
  name: "createFfiUdpSocket() binds 127.0.0.1: sendMessages and recvmmsg carry datagrams through the vector's layout",
  ignore: LIBC === null,
  fn: async () => {
    const sock = createFfiUdpSocket("127.0.0.1", 0)!;
    const peer = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      ok(sock.port > 0);
      deepEqual(sock.addr, { transport: "udp", hostname: "127.0.0.1", port: sock.port });
      const peerPort = (peer.addr as Deno.NetAddr).port;
      const data = new Uint8Array(2 * 64);
      const names = new Uint8Array(2 * UDP_NAME_BYTES);
      const v = createMessageVector(2, 64, data, names);
      // Send: slot 0 holds "hi!" for the peer.
      data.set([104, 105, 33], 0);
      names.set(sockaddrOf(Uint8Array.of(127, 0, 0, 1), peerPort), 0);
      setMessageLengths(v, 0, 16, 3);
      sendMessages(sock.lib, sock.fd, v, 1);
      const [got, from] = await peer.receive();
      deepEqual([...got], [104, 105, 33]);
      equal((from as Deno.NetAddr).port, sock.port);
      // Receive: the peer's datagram lands in slot 0 with its sender's sockaddr and length.
      data.fill(0);
      names.fill(0);
      await peer.send(Uint8Array.of(1, 2, 3, 4), { transport: "udp", hostname: "127.0.0.1", port: sock.port });
      for (let i = 0; i < 2; i++) setMessageLengths(v, i, 28, 64);
      equal(sock.lib.symbols.recvmmsg(sock.fd, v.msgs, 2, MSG_WAITFORONE, null), 1);
      equal(v.msgView.getUint32(MSG_LEN_OFFSET, true), 4);
      deepEqual([...data.subarray(0, 4)], [1, 2, 3, 4]);
      const cache = createSenderCache();
      ok(formatSender(names, 0, cache));
      deepEqual([cache.hostname, cache.port], ["127.0.0.1", peerPort]);
    } finally {
      peer.close();
      closeSocket(sock);
    }
  },
});

Deno.test({
  name: "createFfiUdpSocket(): a wildcard socket wakes itself through loopback; a port in use is udp_listen_failed",
  ignore: LIBC === null,
  fn: () => {
    const any = createFfiUdpSocket("0.0.0.0", 0)!;
    try {
      const cache = createSenderCache();
      ok(formatSender(any.self, 0, cache));
      deepEqual([cache.hostname, cache.port], ["127.0.0.1", any.port]);
      wakeReceiver(any);
      const data = new Uint8Array(64);
      const names = new Uint8Array(UDP_NAME_BYTES);
      const v = createMessageVector(1, 64, data, names);
      equal(any.lib.symbols.recvmmsg(any.fd, v.msgs, 1, MSG_WAITFORONE, null), 1, "the wake-up datagram arrived");
      equal(v.msgView.getUint32(MSG_LEN_OFFSET, true), 1);
      assertThrowsCode(() => createFfiUdpSocket("127.0.0.1", any.port), TrackerError, "udp_listen_failed");
    } finally {
      closeSocket(any);
    }
  },
});
