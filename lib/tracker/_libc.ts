// What both libc socket paths share (lib/tracker/_udp_ffi.ts for UDP, lib/tracker/_http_ffi.ts for TCP): opening
// libc through Deno's FFI, errno, buffer addresses, sockaddr building and parsing. Linux on x86_64 or aarch64 only
// (glibc's struct layouts); openLibrary returns null elsewhere and without --allow-ffi, and callers fall back to
// Deno's own sockets.

import { TrackerError } from "../errors.ts";
import { formatHostPort, formatIp } from "./announce.ts";

export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOL_SOCKET = 1;
export const IPPROTO_IPV6 = 41;
export const IPV6_V6ONLY = 26;
export const EAGAIN = 11;
export const EINTR = 4;

/** Whether this system has the struct layouts the libc paths assume (glibc on Linux, x86_64 or aarch64). */
function isLibcPlatform(): boolean {
  return Deno.build.os === "linux" && (Deno.build.arch === "x86_64" || Deno.build.arch === "aarch64");
}

/** libc with `symbols`, or null where the libc paths do not apply (another OS or CPU, no FFI permission, no glibc). */
export function openLibrary<S extends Deno.ForeignLibraryInterface>(symbols: S): Deno.DynamicLibrary<S> | null {
  if (!isLibcPlatform()) return null;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
    return Deno.dlopen("libc.so.6", symbols);
  } catch {
    return null;
  }
}

/** The calling thread's errno (read right after a failed call). */
export function errno(lib: { symbols: { __errno_location(): Deno.PointerValue } }): number {
  const p = lib.symbols.__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

/** The address of a buffer's first byte, for the pointers inside C structs. */
export function addressOf(bytes: Uint8Array): bigint {
  const p = Deno.UnsafePointer.of(bytes as Uint8Array<ArrayBuffer>);
  if (p === null) throw new TrackerError("libc", "Cannot take the address of an empty buffer");
  return BigInt(Deno.UnsafePointer.value(p));
}

/** A sockaddr_in (4-byte `ip`) or sockaddr_in6 (16) for `port`, in a buffer large enough for either. */
export function sockaddrOf(ip: Uint8Array, port: number): Uint8Array {
  const sa = new Uint8Array(64);
  const view = new DataView(sa.buffer);
  view.setUint16(0, ip.length === 16 ? AF_INET6 : AF_INET, true);
  view.setUint16(2, port, false);
  sa.set(ip, ip.length === 16 ? 8 : 4);
  return sa;
}

/**
 * The peer of a socket (a datagram's sender, an accepted connection) from its sockaddr (`names[at, at + 28)`): IPv4 text for AF_INET and for
 * IPv4-mapped IPv6, IPv6 text otherwise; `cache` holds the last address seen (a busy client repeats its own).
 */
export function formatSender(names: Uint8Array, at: number, cache: SenderCache): boolean {
  const family = names[at]! | (names[at + 1]! << 8);
  cache.port = (names[at + 2]! << 8) | names[at + 3]!;
  if (family === AF_INET) return setV4(cache, names, at + 4);
  if (family !== AF_INET6) return false;
  const a = at + 8;
  let isMapped = names[a + 10] === 0xff && names[a + 11] === 0xff;
  for (let i = 0; i < 10 && isMapped; i++) if (names[a + i] !== 0) isMapped = false;
  if (isMapped) return setV4(cache, names, a + 12);
  let same = cache.isV6;
  for (let i = 0; i < 16 && same; i++) if (cache.v6[i] !== names[a + i]) same = false;
  if (!same) {
    cache.v6.set(names.subarray(a, a + 16));
    cache.isV6 = true;
    cache.hostname = formatIp(cache.v6);
  }
  return true;
}

/** The last sender seen by formatSender. */
export interface SenderCache {
  hostname: string;
  port: number;
  isV6: boolean;
  v4: number;
  v6: Uint8Array;
}

/** An empty SenderCache. */
export function createSenderCache(): SenderCache {
  return { hostname: "", port: 0, isV6: false, v4: -1, v6: new Uint8Array(16) };
}

function setV4(cache: SenderCache, names: Uint8Array, at: number): boolean {
  const v = ((names[at]! << 24) | (names[at + 1]! << 16) | (names[at + 2]! << 8) | names[at + 3]!) >>> 0;
  if (cache.isV6 || cache.v4 !== v) {
    cache.v4 = v;
    cache.isV6 = false;
    cache.hostname = formatIp(names.subarray(at, at + 4));
  }
  return true;
}

/** The socket calls openBoundSocket makes. */
type SocketLib = {
  symbols: {
    socket(domain: number, type: number, protocol: number): number;
    setsockopt(fd: number, level: number, name: number, value: Uint8Array, length: number): number;
    bind(fd: number, sa: Uint8Array, length: number): number;
    getsockname(fd: number, sa: Uint8Array, length: Uint8Array): number;
    close(fd: number): number;
    __errno_location(): Deno.PointerValue;
  };
  close(): void;
};

/** A bound socket of openBoundSocket; `fail` closes it and the library, then throws. */
export interface BoundSocket {
  fd: number;
  isV6: boolean;
  port: number;
  fail(what: string): never;
}

/** A little-endian int as a setsockopt value. */
export function intOption(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v, true);
  return b;
}

/**
 * Open a socket of `type` on the IP literal `ip` (`hostname` "::" is made dual-stack), let `configure` set options
 * before bind, bind it to `port` (0: any) and read the port back.
 * @returns null when the socket cannot be created (the library is closed; the caller falls back to Deno's sockets)
 * @throws {TrackerError} `code`, "Cannot listen on LABEL host:port: ...", when an option, bind or getsockname fails
 */
export function openBoundSocket(
  lib: SocketLib,
  o: { hostname: string; ip: Uint8Array; port: number; type: number; code: string; label: string },
  configure: (s: BoundSocket) => void = () => {},
): BoundSocket | null {
  const isV6 = o.ip.length === 16;
  const fd = lib.symbols.socket(isV6 ? AF_INET6 : AF_INET, o.type, 0);
  if (fd < 0) {
    lib.close();
    return null;
  }
  const s: BoundSocket = {
    fd,
    isV6,
    port: 0,
    fail: (what: string): never => {
      const code = errno(lib);
      lib.symbols.close(fd);
      lib.close();
      throw new TrackerError(o.code, `Cannot listen on ${o.label}${formatHostPort(o.hostname, o.port)}: ${what}`, {
        cause: new Error(`errno ${code}`),
      });
    },
  };
  // Dual-stack whatever the system default (net.ipv6.bindv6only): IPv4 peers arrive as ::ffff:a.b.c.d.
  if (isV6 && o.hostname === "::" && lib.symbols.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, intOption(0), 4) !== 0) {
    s.fail("IPV6_V6ONLY");
  }
  configure(s);
  const sa = sockaddrOf(o.ip, o.port);
  if (lib.symbols.bind(fd, sa, isV6 ? 28 : 16) !== 0) s.fail("address in use or not available");
  if (lib.symbols.getsockname(fd, sa, intOption(28)) !== 0) s.fail("getsockname");
  s.port = (sa[2]! << 8) | sa[3]!;
  return s;
}
