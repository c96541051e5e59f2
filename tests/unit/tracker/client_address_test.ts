// ClientAddress (issue #19): the socket's peer unless the operator says otherwise; behind --trust-proxy only the
// proxy's own X-Forwarded-For entry; with trusted proxies a walk from the right past them; `ip=` only when allowed.

import { assertThrowsCode, deepEqual } from "../../_helpers/assert.ts";
import { TrackerError } from "../../../lib/errors.ts";
import {
  ClientAddress,
  type HeaderOf,
  MAX_FORWARDED_HOPS,
  proxyPeerTest,
} from "../../../lib/tracker/client_address.ts";

const SOCKET = "127.0.0.1";

function headers(values: Record<string, string>): HeaderOf {
  return (name) => values[name] ?? null;
}

function resolve(a: ClientAddress, h: Record<string, string>, ipParam?: string, host = SOCKET): number[] {
  return [...a.resolve(host, headers(h), ipParam)];
}

Deno.test("ClientAddress without options: the socket's peer; X-Forwarded-For, X-Real-IP and ip= are ignored", () => {
  const a = new ClientAddress();
  deepEqual(resolve(a, { "x-forwarded-for": "10.1.2.3", "x-real-ip": "10.4.4.4" }, "10.9.9.9"), [127, 0, 0, 1]);
  deepEqual(resolve(a, {}, undefined, "::ffff:10.0.0.5"), [10, 0, 0, 5]);
  assertThrowsCode(() => a.resolve("not an address", headers({})), TrackerError, "bad_address");
});

Deno.test("ClientAddress isTrustProxy: the right-most X-Forwarded-For entry only (#19)", () => {
  const a = new ClientAddress({ isTrustProxy: true });
  deepEqual(resolve(a, { "x-forwarded-for": "10.1.2.3, 192.0.2.9" }), [192, 0, 2, 9]);
  deepEqual(resolve(a, { "x-forwarded-for": "10.1.2.3,192.0.2.9 " }), [192, 0, 2, 9]);
  deepEqual(resolve(a, { "x-forwarded-for": "2001:db8::1" }), [0x20, 1, 0x0d, 0xb8, ...new Array(11).fill(0), 1]);
  // A client-chosen entry left of the proxy's, a client-chosen ip= and X-Real-IP are never taken.
  deepEqual(resolve(a, { "x-forwarded-for": "192.0.2.9, junk" }), [127, 0, 0, 1]);
  deepEqual(resolve(a, { "x-real-ip": "10.4.4.4" }, "10.9.9.9"), [127, 0, 0, 1]);
});

Deno.test("ClientAddress trustedProxies: walks from the right past the proxies, only for requests they sent (#19)", () => {
  const a = new ClientAddress({ trustedProxies: ["127.0.0.1", " 192.0.2.9", "2001:db8::9"] });
  const xff = { "x-forwarded-for": "10.6.6.6, 10.1.2.3, 2001:db8::9, 192.0.2.9" };
  deepEqual(resolve(a, xff), [10, 1, 2, 3]);
  // A request straight from a client (not a proxy): its X-Forwarded-For means nothing.
  deepEqual(resolve(a, xff, undefined, "10.7.7.7"), [10, 7, 7, 7]);
  // Every entry a proxy, or too long a chain: the socket's peer.
  deepEqual(resolve(a, { "x-forwarded-for": "192.0.2.9, 127.0.0.1" }), [127, 0, 0, 1]);
  const long = Array.from({ length: MAX_FORWARDED_HOPS + 1 }, () => "192.0.2.9");
  deepEqual(resolve(a, { "x-forwarded-for": ["10.1.1.1", ...long].join(",") }), [127, 0, 0, 1]);
  assertThrowsCode(() => new ClientAddress({ trustedProxies: ["proxy.example"] }), TrackerError, "bad_proxy_address");
});

Deno.test("ClientAddress isIpParamAllowed: honours an ip= literal, ignores a name (#19)", () => {
  const a = new ClientAddress({ isIpParamAllowed: true });
  deepEqual(resolve(a, {}, "10.9.9.9"), [10, 9, 9, 9]);
  deepEqual(resolve(a, {}, "host.example"), [127, 0, 0, 1]);
});

Deno.test("proxyPeerTest: the listed proxies (any spelling of their address), every peer with plain trust, else none", () => {
  const listed = proxyPeerTest({ trustedProxies: ["10.0.0.1", "::1"] });
  deepEqual(
    ["10.0.0.1", "::ffff:10.0.0.1", "::1", "0:0:0:0:0:0:0:1", "10.0.0.2", "not an ip"].map(listed),
    [true, true, true, true, false, false],
  );
  deepEqual(["10.0.0.2", "::1"].map(proxyPeerTest({ isTrustProxy: true })), [true, true]);
  deepEqual(["10.0.0.2", "::1"].map(proxyPeerTest({})), [false, false]);
  assertThrowsCode(() => proxyPeerTest({ trustedProxies: ["proxy.example"] }), TrackerError, "bad_proxy_address");
});
