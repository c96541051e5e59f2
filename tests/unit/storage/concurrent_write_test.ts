import { concat } from "../../../lib/bytes.ts";
import { parseMetainfo } from "../../../lib/metainfo.ts";
import { createFsStorage, MAX_CONCURRENT_WRITES } from "../../../lib/storage/storage.ts";
import { deepEqual, ok } from "../../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../../_helpers/random.ts";
import { withTempDir } from "../../_helpers/tmp.ts";
import { blockSpans, buildTorrent } from "../../_helpers/torrent.ts";

const random = seededRandom(11);
// Straddling pieces of 16 KiB over three files.
const FILES = [
  { path: ["a.bin"], data: randomBytes(random, 50_000) },
  { path: ["d", "b.bin"], data: randomBytes(random, 70_001) },
  { path: ["c.bin"], data: randomBytes(random, 9_999) },
];
const TORRENT = buildTorrent({ name: "many", files: FILES });
const META = await parseMetainfo(TORRENT.bytes);

Deno.test("createFsStorage() writeBlock: many concurrent writes (positional, own handles) land byte-exact", async () => {
  ok(MAX_CONCURRENT_WRITES > 1);
  await withTempDir(async (dir) => {
    const storage = createFsStorage(META, dir);
    try {
      // Out of order and all at once: more writes than write slots, across file boundaries.
      const writes: Promise<void>[] = [];
      const spans = [];
      for (let i = 0; i < META.pieceCount; i++) {
        for (const s of blockSpans(META, i)) spans.push({ index: i, begin: s.begin, length: s.length });
      }
      spans.reverse();
      for (const s of spans) {
        const start = s.index * META.pieceLength + s.begin;
        writes.push(storage.writeBlock(s.index, s.begin, TORRENT.data.subarray(start, start + s.length)));
      }
      await Promise.all(writes);
      for (let i = 0; i < META.pieceCount; i++) ok(await storage.verifyPiece(i), `piece ${i}`);
    } finally {
      await storage.close();
    }
    const files = await Promise.all(FILES.map((f) => Deno.readFile(`${dir}/many/${f.path.join("/")}`)));
    deepEqual(concat(files), TORRENT.data);
  });
});
