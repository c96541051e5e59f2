// The shared libc helpers (lib/tracker/_libc.ts) that need no socket: sockaddr building and parsing (IPv4, IPv6,
// IPv4-mapped), the sender cache, int options, and openBoundSocket's error path over a fake library.

import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { TrackerError } from "../../../lib/errors.ts";
import {
  AF_INET,
  AF_INET6,
  createSenderCache,
  formatSender,
  intOption,
  openBoundSocket,
  sockaddrOf,
} from "../../../lib/tracker/_libc.ts";

Deno.test("sockaddrOf() lays out sockaddr_in and sockaddr_in6 (family little-endian, port big-endian)", () => {
  const v4 = sockaddrOf(Uint8Array.of(192, 0, 2, 7), 6969);
  deepEqual([...v4.subarray(0, 8)], [AF_INET, 0, 0x1b, 0x39, 192, 0, 2, 7]);
  const ip6 = new Uint8Array(16);
  ip6[15] = 1;
  const v6 = sockaddrOf(ip6, 443);
  deepEqual([...v6.subarray(0, 4)], [AF_INET6, 0, 1, 0xbb]);
  deepEqual([...v6.subarray(8, 24)], [...ip6]);
});

Deno.test("formatSender() reads back what sockaddrOf() wrote; an IPv4-mapped IPv6 peer reads as IPv4", () => {
  const cache = createSenderCache();
  ok(formatSender(sockaddrOf(Uint8Array.of(10, 1, 2, 3), 51413), 0, cache));
  deepEqual([cache.hostname, cache.port], ["10.1.2.3", 51413]);
  const mapped = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1);
  ok(formatSender(sockaddrOf(mapped, 80), 0, cache));
  deepEqual([cache.hostname, cache.port], ["127.0.0.1", 80]);
  const v6 = new Uint8Array(16);
  v6[15] = 1;
  ok(formatSender(sockaddrOf(v6, 81), 0, cache));
  equal(cache.hostname, "0:0:0:0:0:0:0:1");
  const unix = new Uint8Array(28);
  unix[0] = 1;
  equal(formatSender(unix, 0, cache), false);
});

Deno.test("intOption() is a 4-byte little-endian int", () => {
  deepEqual([...intOption(1)], [1, 0, 0, 0]);
  deepEqual([...intOption(-1)], [255, 255, 255, 255]);
});

Deno.test("openBoundSocket(): a failed bind closes the socket and the library and throws the caller's code", () => {
  const closed: string[] = [];
  const lib = {
    symbols: {
      socket: () => 42,
      setsockopt: () => 0,
      bind: () => -1,
      getsockname: () => 0,
      close: (fd: number) => {
        closed.push(`fd ${fd}`);
        return 0;
      },
      __errno_location: () => null,
    },
    close: () => void closed.push("lib"),
  };
  let err: unknown;
  try {
    openBoundSocket(lib, {
      hostname: "127.0.0.1",
      ip: Uint8Array.of(127, 0, 0, 1),
      port: 1,
      type: 1,
      code: "x_failed",
      label: "",
    });
  } catch (e: unknown) {
    err = e;
  }
  ok(err instanceof TrackerError);
  equal(err.code, "x_failed");
  deepEqual(closed, ["fd 42", "lib"]);
  // No socket at all: null, the library closed (the caller falls back).
  const none = { ...lib, symbols: { ...lib.symbols, socket: () => -1 } };
  closed.length = 0;
  equal(
    openBoundSocket(none, { hostname: "::", ip: new Uint8Array(16), port: 0, type: 1, code: "c", label: "" }),
    null,
  );
  deepEqual(closed, ["lib"]);
});
