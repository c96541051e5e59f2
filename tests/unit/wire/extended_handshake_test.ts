import { encodeBencode } from "../../../lib/bencode.ts";
import { WireError } from "../../../lib/errors.ts";
import { utf8 } from "../../../lib/bytes.ts";
import {
  decodeExtendedHandshake,
  encodeExtendedHandshake,
  MAX_EXTENDED_HANDSHAKE_BYTES,
  MAX_PEER_REQQ,
} from "../../../lib/wire/extended_handshake.ts";
import { assertThrowsCode, deepEqual, equal } from "../../_helpers/assert.ts";

Deno.test("encodeExtendedHandshake() writes the golden BEP 10 dict with sorted keys", () => {
  const bytes = encodeExtendedHandshake({
    extensions: new Map(),
    clientName: "btool 0.1.0",
    listenPort: 6881,
    maxRequests: 2000,
  });
  equal(new TextDecoder().decode(bytes), "d1:mde1:pi6881e4:reqqi2000e1:v11:btool 0.1.0e");
});

Deno.test("decodeExtendedHandshake() round-trips and reads a libtorrent-style dict", () => {
  const ours = { extensions: new Map(), clientName: "btool 0.1.0", listenPort: 6881, maxRequests: 2000 };
  deepEqual(decodeExtendedHandshake(encodeExtendedHandshake(ours)), ours);
  const theirs = encodeBencode({
    m: { ut_metadata: 2, ut_pex: 1, upload_only: 3 },
    metadata_size: 1234,
    p: 51413,
    reqq: 500,
    v: utf8("libtorrent 2.0.8"),
    yourip: new Uint8Array([127, 0, 0, 1]),
  });
  const hs = decodeExtendedHandshake(theirs);
  equal(hs.maxRequests, 500);
  equal(hs.listenPort, 51413);
  equal(hs.clientName, "libtorrent 2.0.8");
  equal(hs.extensions.get("ut_pex"), 1);
});

Deno.test("decodeExtendedHandshake() treats wrongly typed or out-of-range fields as absent and clamps reqq", () => {
  const hs = decodeExtendedHandshake(encodeBencode({ m: 5, p: 70000, reqq: utf8("lots"), v: 7 }));
  deepEqual(hs, { extensions: new Map() });
  equal(decodeExtendedHandshake(encodeBencode({ reqq: 10 ** 9 })).maxRequests, MAX_PEER_REQQ);
  equal(decodeExtendedHandshake(encodeBencode({ reqq: 0 })).maxRequests, undefined);
  // Unsorted keys from a careless encoder are accepted.
  equal(decodeExtendedHandshake(utf8("d4:reqqi7e1:mdee")).maxRequests, 7);
});

Deno.test("decodeExtendedHandshake() refuses non-dicts, bad bencode and oversize payloads", () => {
  for (const bad of [utf8("i3e"), utf8("d1:m"), utf8("le"), new Uint8Array(0)]) {
    assertThrowsCode(() => decodeExtendedHandshake(bad), WireError, "extended_handshake");
  }
  const huge = encodeBencode({ v: new Uint8Array(MAX_EXTENDED_HANDSHAKE_BYTES) });
  assertThrowsCode(() => decodeExtendedHandshake(huge), WireError, "extended_handshake");
});
