import { parseMetainfo } from "../../../lib/metainfo.ts";
import { decodeResume, encodeResume, type FileStamp, isResumeFresh, resumePath } from "../../../lib/peer/resume.ts";
import { Bitfield } from "../../../lib/wire/bitfield.ts";
import { utf8 } from "../../../lib/bytes.ts";
import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { buildTorrent } from "../../_helpers/torrent.ts";

const META = await parseMetainfo(
  buildTorrent({
    name: "r",
    pieceLength: 16384,
    files: [
      { path: ["a"], data: new Uint8Array(20000) },
      { path: ["empty"], data: new Uint8Array(0) },
      { path: ["d", "b"], data: new Uint8Array(30000) },
    ],
  }).bytes,
);
const STAMPS: (FileStamp | null)[] = [{ size: 20000, mtimeMs: 1700000000123 }, null, { size: 30000, mtimeMs: 5 }];

function have(): Bitfield {
  const b = new Bitfield(META.pieceCount);
  b.set(0);
  b.set(2);
  return b;
}

Deno.test("encodeResume() and decodeResume() round-trip the bitfield and stamps", () => {
  const back = decodeResume(encodeResume({ infoHash: META.infoHash.bytes, have: have(), files: STAMPS }), META);
  ok(back !== null);
  deepEqual([...back.have.setIndexes()], [0, 2]);
  deepEqual(back.files, STAMPS);
});

Deno.test("decodeResume() refuses garbage, another torrent and another file count", () => {
  equal(decodeResume(utf8("not bencode"), META), null);
  equal(decodeResume(utf8("de"), META), null);
  const other = new Uint8Array(20).fill(7);
  equal(decodeResume(encodeResume({ infoHash: other, have: have(), files: STAMPS }), META), null);
  equal(decodeResume(encodeResume({ infoHash: META.infoHash.bytes, have: have(), files: [null] }), META), null);
  // A bitfield of the wrong length (spare bits or size) is refused too.
  const bad = encodeResume({ infoHash: META.infoHash.bytes, have: new Bitfield(META.pieceCount + 9), files: STAMPS });
  equal(decodeResume(bad, META), null);
});

Deno.test("isResumeFresh() needs every size and mtime to match", () => {
  const data = { infoHash: META.infoHash.bytes, have: have(), files: STAMPS };
  ok(isResumeFresh(data, STAMPS));
  ok(!isResumeFresh(data, [{ size: 20000, mtimeMs: 1700000000124 }, null, STAMPS[2]!]));
  ok(!isResumeFresh(data, [STAMPS[0]!, { size: 0, mtimeMs: 1 }, STAMPS[2]!]));
  ok(!isResumeFresh(data, [STAMPS[0]!, null, { size: 29999, mtimeMs: 5 }]));
  ok(!isResumeFresh(data, [STAMPS[0]!, null]));
});

Deno.test("resumePath() lives in DIR/.btool named by the info hash", () => {
  equal(resumePath(META, "/x/dl/"), `/x/dl/.btool/${META.infoHash.hex}.resume`);
});
