// net_address: host:port text, IPv4-mapped addresses and RFC 5952 IPv6 text, shared by the tracker and the peer.

import { fromHex } from "../../lib/bytes.ts";
import { formatHostPort, formatIPv6, unmapIPv4 } from "../../lib/net_address.ts";
import { equal } from "../_helpers/assert.ts";

Deno.test("formatHostPort() brackets IPv6 hosts only", () => {
  equal(formatHostPort("10.0.0.1", 6881), "10.0.0.1:6881");
  equal(formatHostPort("::1", 6881), "[::1]:6881");
  equal(formatHostPort("example.org", 80), "example.org:80");
});

Deno.test("unmapIPv4() turns IPv4-mapped IPv6 into dotted IPv4 and leaves other hosts alone", () => {
  equal(unmapIPv4("::ffff:10.0.0.1"), "10.0.0.1");
  equal(unmapIPv4("::FFFF:127.0.0.1"), "127.0.0.1");
  equal(unmapIPv4("::ffff:a00:1"), "::ffff:a00:1");
  equal(unmapIPv4("2001:db8::1"), "2001:db8::1");
  equal(unmapIPv4("10.0.0.1"), "10.0.0.1");
  equal(unmapIPv4("::1"), "::1");
});

const IPV6: [string, string][] = [
  ["00000000000000000000000000000000", "::"],
  ["00000000000000000000000000000001", "::1"],
  ["20010db8000000000000000000000001", "2001:db8::1"],
  ["20010db8000000010000000000000001", "2001:db8:0:1::1"],
  ["20010db8000100000001000100010001", "2001:db8:1:0:1:1:1:1"],
  ["fe800000000000000000000000000000", "fe80::"],
  ["20010000000000010000000000000000", "2001:0:0:1::"],
  ["00000000000000000000ffff7f000001", "::ffff:127.0.0.1"],
];
for (const [bytes, text] of IPV6) {
  Deno.test(`formatIPv6() writes ${text}`, () => equal(formatIPv6(fromHex(bytes)!), text));
}
