// HTTP tracker replies: compact golden bytes, the dictionary model with and without peer ids, failures counted in
// UTF-8 bytes, scrapes sorted by raw hash, every count width exact, and a reused ReplyScratch writing the same bytes.

import { deepEqual, equal } from "../../_helpers/assert.ts";
import { utf8 } from "../../../lib/bytes.ts";
import { decodeBencode } from "../../../lib/bencode.ts";
import {
  encodeAnnounceResult,
  encodeFailure,
  encodeScrapeResult,
  ReplyScratch,
} from "../../../lib/tracker/http_reply_codec.ts";
import type { AnnounceResult } from "../../../lib/tracker/announce.ts";

const text = (b: Uint8Array) => new TextDecoder("latin1").decode(b);

const RESULT: AnnounceResult = {
  complete: 2,
  incomplete: 1,
  interval: 1800,
  minInterval: 900,
  peers4: new Uint8Array([127, 0, 0, 1, 0x1a, 0xe1]),
  peers6: new Uint8Array(0),
};

Deno.test("encodeAnnounceResult() writes compact golden bytes", () => {
  equal(
    text(encodeAnnounceResult(RESULT, { isCompact: true })),
    "d8:completei2e10:incompletei1e8:intervali1800e12:min intervali900e5:peers6:\x7f\x00\x00\x01\x1a\xe1e",
  );
  equal(
    text(encodeAnnounceResult({ ...RESULT, peers4: new Uint8Array(0) }, { isCompact: true })),
    "d8:completei2e10:incompletei1e8:intervali1800e12:min intervali900e5:peers0:e",
  );
  const v6 = new Uint8Array(18);
  v6[15] = 1;
  v6[16] = 0x1a;
  v6[17] = 0xe1;
  equal(
    text(encodeAnnounceResult({ ...RESULT, peers6: v6, warning: "é" }, { isCompact: true })),
    "d8:completei2e10:incompletei1e8:intervali1800e12:min intervali900e5:peers6:\x7f\x00\x00\x01\x1a\xe1" +
      `6:peers618:${"\x00".repeat(15)}\x01\x1a\xe115:warning message2:\xc3\xa9e`,
  );
});

Deno.test("encodeAnnounceResult() writes the dictionary model with and without peer ids", () => {
  const ids = utf8("-AR1234-000000000000");
  const v6 = new Uint8Array(18);
  v6[15] = 1;
  v6[17] = 80;
  const withIds = encodeAnnounceResult(
    { ...RESULT, peers6: v6, peerIds4: ids, peerIds6: ids },
    { isCompact: false },
  );
  equal(
    text(withIds),
    "d8:completei2e10:incompletei1e8:intervali1800e12:min intervali900e5:peersl" +
      "d2:ip9:127.0.0.17:peer id20:-AR1234-0000000000004:porti6881ee" +
      "d2:ip15:0:0:0:0:0:0:0:17:peer id20:-AR1234-0000000000004:porti80ee" +
      "ee",
  );
  const noIds = decodeBencode(
    encodeAnnounceResult({ ...RESULT, peerIds4: ids }, { isCompact: false, isNoPeerId: true }),
  );
  equal(
    text(encodeAnnounceResult({ ...RESULT, peerIds4: ids }, { isCompact: false, isNoPeerId: true })).includes(
      "peer id",
    ),
    false,
  );
  equal(noIds instanceof Map, true);
});

Deno.test("encodeFailure() counts UTF-8 bytes and adds retry intervals", () => {
  equal(text(encodeFailure("Torrent é")), "d14:failure reason10:Torrent \xc3\xa9e");
  equal(text(encodeFailure("x", { retryS: 300 })), "d14:failure reason1:x8:intervali300e12:min intervali300ee");
});

Deno.test("encodeScrapeResult() sorts files by raw hash", () => {
  const a = new Uint8Array(20).fill(0x61);
  const b = new Uint8Array(20).fill(0x42);
  const body = encodeScrapeResult({
    files: [
      { infoHash: a, entry: { complete: 1, downloaded: 2, incomplete: 3 } },
      { infoHash: b, entry: { complete: 0, downloaded: 0, incomplete: 0 } },
    ],
  });
  equal(
    text(body),
    `d5:filesd20:${"B".repeat(20)}d8:completei0e10:downloadedi0e10:incompletei0ee` +
      `20:${"a".repeat(20)}d8:completei1e10:downloadedi2e10:incompletei3eeee`,
  );
});

Deno.test("encodeAnnounceResult() writes every count width exactly (matches encodeBencode)", () => {
  const wide = [2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1];
  for (const n of [0, 1, 9, 10, 99, 100, 999, 1000, 9999, 10_000, 99_999, 100_000, 123_456_789, ...wide]) {
    const result: AnnounceResult = {
      complete: n,
      incomplete: n,
      interval: n,
      minInterval: n,
      peers4: new Uint8Array(6),
      peers6: new Uint8Array(0),
    };
    const decoded = decodeBencode(encodeAnnounceResult(result, { isCompact: true })) as Map<string, unknown>;
    equal(decoded.get("complete"), n);
    equal(decoded.get("min interval"), n);
  }
});

Deno.test("encodeAnnounceResult() with a ReplyScratch writes the same bytes, reusing one buffer", () => {
  const scratch = new ReplyScratch();
  const peers = (n: number) => Uint8Array.from({ length: n * 6 }, (_, i) => (i * 37 + n) & 0xff);
  const results = [RESULT, { ...RESULT, peers4: peers(50), warning: "w" }, { ...RESULT, peers4: peers(50) }];
  // Longer than the scratch (4 KiB): fresh memory, still exact.
  results.push({ ...RESULT, complete: 123456, peers4: peers(1000) });
  const seen: Uint8Array[] = [];
  for (const r of results) {
    const expected = encodeAnnounceResult(r, { isCompact: true });
    const got = encodeAnnounceResult(r, { isCompact: true, scratch });
    deepEqual(got, expected);
    seen.push(got);
  }
  // The first three start at the scratch's first byte (each reply is valid until the next); the long one does not.
  for (const i of [1, 2]) {
    equal(seen[i]!.buffer, seen[0]!.buffer);
    equal(seen[i]!.byteOffset, seen[0]!.byteOffset);
  }
  equal(seen[3]!.buffer === seen[0]!.buffer, false);
  // The same length again: the same view, holding the new reply.
  const again = encodeAnnounceResult({ ...RESULT, complete: 3 }, { isCompact: true, scratch });
  equal(again, seen[0]);
  equal(text(again).startsWith("d8:completei3e"), true);
});
