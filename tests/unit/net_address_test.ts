// net_address: host:port text and IPv4-mapped addresses, shared by the tracker and the peer.

import { formatHostPort, unmapIPv4 } from "../../lib/net_address.ts";
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
