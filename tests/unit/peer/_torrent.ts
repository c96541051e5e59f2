// A small in-memory torrent for the pure peer tests: `pieces` pieces of 2 blocks each, random data; and a PieceFlow
// over it with in-process parts.

import { type Metainfo, parseMetainfo } from "../../../lib/metainfo.ts";
import { BanPolicy } from "../../../lib/peer/ban_policy.ts";
import { BlockAssembler } from "../../../lib/peer/block_assembler.ts";
import type { PiecePicker } from "../../../lib/peer/picker.ts";
import { PieceFlow, type PieceFlowHost } from "../../../lib/peer/piece_flow.ts";
import { BLOCK_BYTES } from "../../../lib/pieces.ts";
import { PieceWriter } from "../../../lib/storage/piece_writer.ts";
import type { Storage } from "../../../lib/storage/storage.ts";
import { randomBytes, seededRandom } from "../../_helpers/random.ts";
import { buildTorrent } from "../../_helpers/torrent.ts";

export const PIECE_BYTES = 2 * BLOCK_BYTES;

export async function smallTorrent(pieces = 4, seed = 5): Promise<{ meta: Metainfo; data: Uint8Array }> {
  const data = randomBytes(seededRandom(seed), pieces * PIECE_BYTES - 1000);
  return { meta: await parseMetainfo(buildTorrent({ name: "t", pieceLength: PIECE_BYTES, data }).bytes), data };
}

/**
 * A PieceFlow over `picker` and `storage` with an in-process PieceWriter, an assembler without a cap and a fresh ban
 * policy; `hooks` are the session's callbacks (no-ops unless given).
 */
export function memoryPieceFlow(
  meta: Metainfo,
  picker: PiecePicker,
  storage: Storage,
  hooks: Partial<Omit<PieceFlowHost, "picker" | "storage">> & Pick<PieceFlowHost, "track">,
): PieceFlow {
  return new PieceFlow(meta, {
    picker,
    storage,
    pieceWriter: new PieceWriter(storage),
    assembler: new BlockAssembler(meta, null),
    bans: new BanPolicy(),
    fatal: () => {},
    pieceVerified: () => {},
    hashFailed: () => {},
    strike: () => {},
    refillAll: () => {},
    ...hooks,
  });
}
