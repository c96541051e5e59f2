// BlockAssembler: blocks assembled into whole pieces with their senders, the buffer pool, and --only ranges.

import { BlockAssembler, MAX_PIECE_BUFFER_BYTES } from "../../../lib/peer/block_assembler.ts";
import { parseMetainfo } from "../../../lib/metainfo.ts";
import { BLOCK_BYTES } from "../../../lib/pieces.ts";
import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { buildTorrent } from "../../_helpers/torrent.ts";
import { PIECE_BYTES, smallTorrent } from "./_torrent.ts";

Deno.test("BlockAssembler assembles a piece from blocks of two peers and names each sender", async () => {
  const { meta, data } = await smallTorrent();
  const asm = new BlockAssembler(meta, null);
  const second = asm.add(1, BLOCK_BYTES, data.subarray(PIECE_BYTES + BLOCK_BYTES, 2 * PIECE_BYTES), "p2", false);
  deepEqual(second, { type: "buffered", complete: null });
  const first = asm.add(1, 0, data.subarray(PIECE_BYTES, PIECE_BYTES + BLOCK_BYTES), "p1", true);
  ok(first.type === "buffered" && first.complete !== null);
  deepEqual(first.complete, data.subarray(PIECE_BYTES, 2 * PIECE_BYTES));
  equal(asm.bufferedBytes, PIECE_BYTES);
  deepEqual(asm.takeSources(1), ["p1", "p2"]);
  deepEqual(asm.takeSources(1), [], "dropped once taken");
  asm.release(PIECE_BYTES, first.complete);
  equal(asm.bufferedBytes, 0);
  // The pooled buffer is reused for the next full-size piece.
  const next = asm.add(2, 0, new Uint8Array(BLOCK_BYTES), "p1", false);
  ok(next.type === "buffered");
  equal(asm.bufferedBytes, PIECE_BYTES);
});

Deno.test("BlockAssembler sends pieces past MAX_PIECE_BUFFER_BYTES to disk block by block", async () => {
  const pieceLength = 4 * 1024 * 1024;
  const pieces = MAX_PIECE_BUFFER_BYTES / pieceLength + 2;
  const { bytes } = buildTorrent({ name: "big", pieceLength, data: new Uint8Array(pieces * pieceLength) });
  const meta = await parseMetainfo(bytes);
  const asm = new BlockAssembler(meta, null);
  const kinds: string[] = [];
  for (let i = 0; i < pieces; i++) kinds.push(asm.add(i, 0, new Uint8Array(BLOCK_BYTES), "p1", false).type);
  equal(kinds.filter((k) => k === "buffered").length, MAX_PIECE_BUFFER_BYTES / pieceLength);
  equal(kinds.at(-1), "direct");
  ok(asm.bufferedBytes <= MAX_PIECE_BUFFER_BYTES);
});

Deno.test("BlockAssembler.selectedRanges() gives the selected files' spans of a shared piece (--only)", async () => {
  const files = [
    { path: ["a"], data: new Uint8Array(20_000) },
    { path: ["b"], data: new Uint8Array(30_000) },
  ];
  const meta = await parseMetainfo(buildTorrent({ name: "m", pieceLength: PIECE_BYTES, files }).bytes);
  const asm = new BlockAssembler(meta, new Set([1]));
  ok(!asm.isWholePieceSelected(0));
  deepEqual(asm.selectedRanges(0), [{ begin: 20_000, length: PIECE_BYTES - 20_000 }]);
  ok(asm.isWholePieceSelected(1));
  equal(asm.selectedRanges(1), null);
  equal(new BlockAssembler(meta, null).selectedRanges(0), null);
  // A piece shared with an unselected file is assembled in memory whatever the caps.
  equal(asm.add(0, 0, new Uint8Array(BLOCK_BYTES), "p1", false).type, "buffered");
});
