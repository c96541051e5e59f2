import { fromLatin1 } from "../../../lib/bytes.ts";
import { deepEqual, equal, notEqual } from "../../_helpers/assert.ts";
import { assertThrowsCode } from "../../_helpers/assert.ts";
import { seededRandom } from "../../_helpers/random.ts";
import { TrackerError } from "../../../lib/errors.ts";
import {
  checkAnnounceFields,
  clampNumWant,
  DEFAULT_NUMWANT,
  formatIp,
  jitterInterval,
  keyFromBytes,
  parseIp,
} from "../../../lib/tracker/announce.ts";

Deno.test("clampNumWant() uses the default when absent or negative and caps large values", () => {
  equal(clampNumWant(undefined), DEFAULT_NUMWANT);
  equal(clampNumWant(-1), DEFAULT_NUMWANT);
  equal(clampNumWant(0), 0);
  equal(clampNumWant(80), 80);
  equal(clampNumWant(1e12), 200);
  equal(clampNumWant(1e12, 30), 30);
  equal(clampNumWant(undefined, 10), 10);
});

Deno.test("jitterInterval() stays within ±5% and is deterministic for a seed", () => {
  const random = seededRandom(1);
  for (let i = 0; i < 1000; i++) {
    const v = jitterInterval(1800, random);
    equal(v >= 1710 && v <= 1890, true);
  }
  equal(jitterInterval(1800, () => 0), 1710);
  equal(jitterInterval(1800, () => 0.999999), 1890);
  equal(jitterInterval(10, () => 0.5), 10);
});

Deno.test("parseIp() reads IPv4, IPv6 and IPv4-mapped IPv6", () => {
  deepEqual(parseIp("127.0.0.1"), new Uint8Array([127, 0, 0, 1]));
  deepEqual(parseIp("::ffff:10.1.2.3"), new Uint8Array([10, 1, 2, 3]));
  const loop6 = new Uint8Array(16);
  loop6[15] = 1;
  deepEqual(parseIp("::1"), loop6);
  deepEqual(parseIp("[::1]"), loop6);
  const v6 = parseIp("2001:db8::8a2e:370:7334")!;
  equal(formatIp(v6), "2001:db8:0:0:0:8a2e:370:7334");
  for (const bad of ["", "1.2.3", "1.2.3.256", "1.2.3.4.5", "a.b.c.d", "1:2:3", "::1::", "12345::", "1..2.3"]) {
    equal(parseIp(bad), null, bad);
  }
});

Deno.test("formatIp() prints IPv4 and IPv6", () => {
  equal(formatIp(new Uint8Array([192, 168, 0, 9])), "192.168.0.9");
  equal(formatIp(parseIp("fe80::1")!), "fe80:0:0:0:0:0:0:1");
});

Deno.test("checkAnnounceFields() refuses wrong hash and id lengths and bad ports", () => {
  const h = new Uint8Array(20);
  checkAnnounceFields(h, h, 6881);
  assertThrowsCode(() => checkAnnounceFields(new Uint8Array(19), h, 1), TrackerError, "invalid_info_hash");
  assertThrowsCode(() => checkAnnounceFields(h, new Uint8Array(21), 1), TrackerError, "invalid_peer_id");
  assertThrowsCode(() => checkAnnounceFields(h, h, 0), TrackerError, "invalid_port");
  assertThrowsCode(() => checkAnnounceFields(h, h, 65536), TrackerError, "invalid_port");
});

Deno.test("keyFromBytes() reads up to 8 hex digits as their value and hashes any other key text (#19)", () => {
  const key = (text: string) => keyFromBytes(fromLatin1(text), 0, text.length);
  // What btool's client, libtorrent and Transmission send over HTTP is the UDP key in hex: one key on both.
  equal(key("deadbeef"), 0xdeadbeef);
  equal(key("DEADBEEF"), 0xdeadbeef);
  equal(key("00000000"), 0);
  equal(key("7"), 7);
  // Anything else is hashed: nine digits, non-hex text; different texts give different keys.
  notEqual(key("123456789"), 0x23456789);
  notEqual(key("k1"), key("k2"));
  equal(key("k1"), key("k1"));
  // A raw byte >= 0x80 is the key its escape is (what the URL text path sees).
  equal(key("k\xe9y"), key("k%E9y"));
  // Only [start, end) counts.
  equal(keyFromBytes(fromLatin1("x=ab12&"), 2, 6), 0xab12);
});
