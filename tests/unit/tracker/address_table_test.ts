// The per-address table of both HTTP stacks (lib/tracker/address_table.ts): the connection cap per address, the byte
// caps per address and in all, and entries that leave once they hold nothing.

import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { AddressTable } from "../../../lib/tracker/address_table.ts";

Deno.test("AddressTable: maxPerAddress connections per address; entries leave when they hold nothing", () => {
  const t = new AddressTable({ maxPerAddress: 2, maxAddressBytes: 100, maxBufferedBytes: 150 });
  ok(t.open("a"));
  ok(t.open("a"));
  equal(t.open("a"), false);
  ok(t.open("b"));
  deepEqual([t.connectionsOf("a"), t.connectionsOf("b"), t.size], [2, 1, 2]);
  t.close("a");
  ok(t.open("a"));
  t.close("a");
  t.close("a");
  t.close("b");
  equal(t.size, 0, "no entry for an address with nothing open");
});

Deno.test("AddressTable.hold(): an address past maxAddressBytes, or all past maxBufferedBytes, is reported", () => {
  const t = new AddressTable({ maxPerAddress: 9, maxAddressBytes: 100, maxBufferedBytes: 150 });
  t.open("a");
  equal(t.hold("a", 100), "");
  equal(t.hold("a", 1), "address");
  equal(t.hold("a", -101), "");
  t.open("b");
  equal(t.hold("a", 90), "");
  equal(t.hold("b", 90), "total");
  equal(t.bytes, 180);
  t.hold("b", -90);
  t.hold("a", -90);
  t.close("a");
  t.close("b");
  deepEqual([t.bytes, t.size], [0, 0]);
});

Deno.test("AddressTable: an uncapped address passes maxPerAddress and maxAddressBytes, not maxBufferedBytes", () => {
  const t = new AddressTable({
    maxPerAddress: 1,
    maxAddressBytes: 100,
    maxBufferedBytes: 150,
    isUncapped: (host) => host === "proxy",
  });
  ok(t.open("proxy"));
  ok(t.open("proxy"));
  equal(t.connectionsOf("proxy"), 2);
  equal(t.hold("proxy", 120), "", "past maxAddressBytes");
  equal(t.hold("proxy", 40), "total");
  ok(t.open("a"));
  equal(t.open("a"), false, "others are still capped");
});
