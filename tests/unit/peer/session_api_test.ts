// session_api: our peer ids and the pieces of selected files (what a caller prepares before a session).

import { parseMetainfo } from "../../../lib/metainfo.ts";
import { createPeerId, wantedPieces } from "../../../lib/peer/session_api.ts";
import { deepEqual, equal, match } from "../../_helpers/assert.ts";
import { seededRandom } from "../../_helpers/random.ts";
import { buildTorrent } from "../../_helpers/torrent.ts";

Deno.test("createPeerId() is 20 bytes with the -BT0100- prefix, deterministic for a seed", () => {
  const a = createPeerId(seededRandom(1));
  equal(a.length, 20);
  match(new TextDecoder().decode(a), /^-BT0100-[0-9A-Za-z]{12}$/);
  deepEqual(a, createPeerId(seededRandom(1)));
});

Deno.test("wantedPieces() covers every piece touching the chosen files, none for an empty file", async () => {
  const meta = await parseMetainfo(
    buildTorrent({
      pieceLength: 16384,
      files: [
        { path: ["a"], data: new Uint8Array(20000) },
        { path: ["e"], data: new Uint8Array(0) },
        { path: ["b"], data: new Uint8Array(20000) },
        { path: ["c"], data: new Uint8Array(30000) },
      ],
    }).bytes,
  );
  deepEqual([...wantedPieces(meta, new Set([2])).setIndexes()], [1, 2]);
  deepEqual([...wantedPieces(meta, new Set([1])).setIndexes()], []);
  deepEqual([...wantedPieces(meta, new Set([0, 3])).setIndexes()], [0, 1, 2, 3, 4]);
});
