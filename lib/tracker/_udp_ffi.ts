// UDP sockets over libc through Deno's FFI (Linux): a Worker blocks in recvmmsg and hands batches of datagrams to the
// main thread through one SharedArrayBuffer; the main thread answers the whole batch with one sendmmsg.
// Why: Deno.listenDatagram costs one async op per datagram each way, about 12 µs per reply on this machine; a batch
// costs one wake-up and two system calls for up to UDP_BATCH datagrams (measured with a fixed-reply responder:
// 190-200k replies/s against 90k/s for Deno.listenDatagram, opentracker 110-125k/s).
// Only Linux on x86_64 or aarch64 (the struct layouts below are glibc's there; see _libc.ts), only with --allow-ffi, only for IP
// literals; createFfiUdpSocket returns null otherwise and the caller uses Deno.listenDatagram.
// Invariants: the Worker writes the shared batch only while ctl[CTL_READY] is 0 and the main thread hands it back by
// storing 0; the socket's fd is closed only after the Worker has said it stopped (a reused fd number must never be
// read by a Worker that outlived its socket).

import { parseIp } from "./announce.ts";
import { addressOf, EAGAIN, EINTR, errno, openBoundSocket, openLibrary, sockaddrOf, SOL_SOCKET } from "./_libc.ts";

export { addressOf, createSenderCache, errno, formatSender, type SenderCache } from "./_libc.ts";

/** Datagrams per batch (one recvmmsg, one sendmmsg). */
export const UDP_BATCH = 64;
/** Bytes of one sockaddr slot (sockaddr_in6 is 28). */
export const UDP_NAME_BYTES = 32;
/** How long the Worker's recvmmsg blocks before it looks at the stop flag (SO_RCVTIMEO). */
export const UDP_RECEIVE_TIMEOUT_MS = 250;

/** Indexes of the control words at the start of the shared buffer. */
export const CTL_READY = 0;
export const CTL_STOP = 1;
/** Control words (Int32) before the data. */
export const CTL_WORDS = 16;

/** glibc on Linux x86_64/aarch64. */
export const MSGHDR_BYTES = 64; // struct mmsghdr: msghdr (56) + msg_len (u32) + padding
export const MSG_LEN_OFFSET = 56;
export const IOVEC_BYTES = 16;
const SOCK_DGRAM = 2;
const SO_RCVTIMEO = 20;
const MSG_DONTWAIT = 0x40;
export const MSG_WAITFORONE = 0x10000;

/** The libc symbols both threads use. */
export const LIBC_SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "pointer"], result: "i32" },
  sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** The opened C library. */
export type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>;

/** The C library, or null where this path does not apply (another OS or CPU, no FFI permission, no glibc). */
export function openLibc(): Libc | null {
  return openLibrary(LIBC_SYMBOLS);
}

/** An array of `n` mmsghdr, each with one iovec over slot i of `data` and name slot i of `names`. */
export interface MessageVector {
  msgs: Uint8Array;
  msgView: DataView;
  iovs: Uint8Array;
  iovView: DataView;
}

/** Build a MessageVector over `data` (n slots of `slotBytes`) and `names` (n slots of UDP_NAME_BYTES). */
export function createMessageVector(n: number, slotBytes: number, data: Uint8Array, names: Uint8Array): MessageVector {
  const msgs = new Uint8Array(n * MSGHDR_BYTES);
  const iovs = new Uint8Array(n * IOVEC_BYTES);
  const msgView = new DataView(msgs.buffer);
  const iovView = new DataView(iovs.buffer);
  const dataAt = addressOf(data), namesAt = addressOf(names), iovsAt = addressOf(iovs);
  for (let i = 0; i < n; i++) {
    iovView.setBigUint64(i * IOVEC_BYTES, dataAt + BigInt(i * slotBytes), true);
    iovView.setBigUint64(i * IOVEC_BYTES + 8, BigInt(slotBytes), true);
    msgView.setBigUint64(i * MSGHDR_BYTES, namesAt + BigInt(i * UDP_NAME_BYTES), true); // msg_name
    msgView.setUint32(i * MSGHDR_BYTES + 8, 28, true); // msg_namelen
    msgView.setBigUint64(i * MSGHDR_BYTES + 16, iovsAt + BigInt(i * IOVEC_BYTES), true); // msg_iov
    msgView.setBigUint64(i * MSGHDR_BYTES + 24, 1n, true); // msg_iovlen
  }
  return { msgs, msgView, iovs, iovView };
}

/** Set message `i`'s sockaddr length and its one iovec's length (both below 2^32; iov_len's high word stays 0). */
export function setMessageLengths(v: MessageVector, i: number, nameBytes: number, dataBytes: number): void {
  v.msgView.setUint32(i * MSGHDR_BYTES + 8, nameBytes, true);
  v.iovView.setUint32(i * IOVEC_BYTES + 8, dataBytes, true);
}

/** Where each part of the shared buffer starts (bytes) for `batch` datagrams of at most `slotBytes`. */
export interface SharedLayout {
  /** Received datagrams, `slotBytes` each (after the CTL_WORDS control words). */
  dataAt: number;
  /** Their senders' sockaddrs, UDP_NAME_BYTES each. */
  namesAt: number;
  /** Int32 pairs (datagram length, sockaddr length). */
  lensAt: number;
  totalBytes: number;
}

/** The shared buffer's layout, for the receive Worker and the main thread alike. */
export function sharedLayout(batch: number, slotBytes: number): SharedLayout {
  const dataAt = CTL_WORDS * 4;
  const namesAt = dataAt + batch * slotBytes;
  const lensAt = namesAt + batch * UDP_NAME_BYTES;
  return { dataAt, namesAt, lensAt, totalBytes: lensAt + batch * 8 };
}

/**
 * Send the first `count` messages of `v` with sendmmsg, which stops at the first failure: a full socket buffer
 * (EAGAIN) is retried a few times, any other failing message (e.g. ICMP reported on that destination) is skipped; a
 * lost reply is retried by its client.
 */
export function sendMessages(lib: Libc, fd: number, v: MessageVector, count: number): void {
  let sent = 0;
  for (let tries = 0; sent < count && tries < count + 4; tries++) {
    const at = sent * MSGHDR_BYTES;
    const r = lib.symbols.sendmmsg(fd, at === 0 ? v.msgs : v.msgs.subarray(at), count - sent, MSG_DONTWAIT);
    if (r > 0) sent += r;
    else if (r < 0 && errno(lib) !== EAGAIN) sent++;
  }
}

/** A bound socket. */
export interface FfiUdpSocket {
  lib: Libc;
  fd: number;
  /** AF_INET sockets give IPv4 senders only; AF_INET6 ones (dual-stack for "::") give both. */
  isV6: boolean;
  port: number;
  /** The bound address, as Deno reports one. */
  addr: Deno.NetAddr;
  /** A sockaddr of this socket to send to (loopback for a wildcard address), to wake a blocked receive. */
  self: Uint8Array;
}

/**
 * Open and bind a UDP socket on `hostname` (an IP literal; "::" is dual-stack) and `port` (0: any).
 * @returns null when the FFI path does not apply here (the caller falls back to Deno.listenDatagram)
 * @throws {TrackerError} udp_listen_failed when the port cannot be bound
 */
export function createFfiUdpSocket(hostname: string, port: number): FfiUdpSocket | null {
  // Names and scoped addresses (fe80::1%eth0) are left to Deno.listenDatagram.
  const ip = hostname.includes("%") ? null : parseIp(hostname);
  if (ip === null) return null;
  const lib = openLibc();
  if (lib === null) return null;
  const sock = openBoundSocket(lib, {
    hostname,
    ip,
    port,
    type: SOCK_DGRAM,
    code: "udp_listen_failed",
    label: "UDP ",
  });
  if (sock === null) return null;
  const { fd, isV6, fail } = sock;
  const boundPort = sock.port;
  // The Worker's blocking receive wakes up this often to look at the stop flag.
  const tv = new Uint8Array(64);
  const tvView = new DataView(tv.buffer);
  tvView.setBigInt64(0, BigInt(Math.floor(UDP_RECEIVE_TIMEOUT_MS / 1000)), true);
  tvView.setBigInt64(8, BigInt((UDP_RECEIVE_TIMEOUT_MS % 1000) * 1000), true);
  if (lib.symbols.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16) !== 0) fail("SO_RCVTIMEO");
  // A wildcard address is reached through loopback (::1 also reaches a dual-stack "::").
  const isWildcard = ip.every((b) => b === 0);
  const loopback = isV6 ? Uint8Array.from({ length: 16 }, (_, i) => i === 15 ? 1 : 0) : Uint8Array.of(127, 0, 0, 1);
  return {
    lib,
    fd,
    isV6,
    port: boundPort,
    addr: { transport: "udp", hostname, port: boundPort },
    self: sockaddrOf(isWildcard ? loopback : ip, boundPort),
  };
}

/** Send one byte to the socket's own address, so that a receive blocked on it returns at once (else: its timeout). */
export function wakeReceiver(sock: FfiUdpSocket): void {
  const length = sock.isV6 ? 28 : 16;
  sock.lib.symbols.sendto(sock.fd, new Uint8Array(64), 1n, MSG_DONTWAIT, sock.self, length);
}

/** A receive failure that only means "nothing yet" (the SO_RCVTIMEO timeout or a signal). */
export function isTransientReceiveError(code: number): boolean {
  return code === EAGAIN || code === EINTR;
}
