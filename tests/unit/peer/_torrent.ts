// A small in-memory torrent for the pure peer tests: `pieces` pieces of 2 blocks each, random data.

import { type Metainfo, parseMetainfo } from "../../../lib/metainfo.ts";
import { BLOCK_BYTES } from "../../../lib/pieces.ts";
import { randomBytes, seededRandom } from "../../_helpers/random.ts";
import { buildTorrent } from "../../_helpers/torrent.ts";

export const PIECE_BYTES = 2 * BLOCK_BYTES;

export async function smallTorrent(pieces = 4, seed = 5): Promise<{ meta: Metainfo; data: Uint8Array }> {
  const data = randomBytes(seededRandom(seed), pieces * PIECE_BYTES - 1000);
  return { meta: await parseMetainfo(buildTorrent({ name: "t", pieceLength: PIECE_BYTES, data }).bytes), data };
}
