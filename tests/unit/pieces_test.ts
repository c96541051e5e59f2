import { BtoolError } from "../../lib/errors.ts";
import {
  BLOCK_BYTES,
  blockCount,
  blockSpan,
  blockSpans,
  isPieceIndex,
  isValidRequest,
  pieceCountFor,
  pieceHash,
  pieceOffset,
  pieceSize,
} from "../../lib/pieces.ts";
import { assertThrowsCode, deepEqual, equal } from "../_helpers/assert.ts";

const META = { pieceLength: 65536, totalLength: 65536 * 2 + 20000, pieceCount: 3 };

Deno.test("pieceSize() is pieceLength except for a short last piece", () => {
  equal(pieceSize(META, 0), 65536);
  equal(pieceSize(META, 1), 65536);
  equal(pieceSize(META, 2), 20000);
  equal(pieceSize({ pieceLength: 16384, totalLength: 32768, pieceCount: 2 }, 1), 16384);
  equal(pieceOffset(META, 2), 131072);
  equal(pieceCountFor(META.totalLength, META.pieceLength), 3);
  equal(pieceCountFor(1, 16384), 1);
});

Deno.test("pieceSize() rejects indexes outside the torrent", () => {
  for (const bad of [-1, 3, 1.5, NaN]) assertThrowsCode(() => pieceSize(META, bad), BtoolError, "piece_range");
  equal(isPieceIndex(META, 2), true);
  equal(isPieceIndex(META, 3), false);
});

Deno.test("blockSpan() splits pieces in 16 KiB blocks with a short last block", () => {
  equal(blockCount(META, 0), 4);
  equal(blockCount(META, 2), 2);
  deepEqual(blockSpan(META, 0, 3), { begin: 3 * BLOCK_BYTES, length: BLOCK_BYTES });
  deepEqual(blockSpan(META, 2, 1), { begin: BLOCK_BYTES, length: 20000 - BLOCK_BYTES });
  assertThrowsCode(() => blockSpan(META, 2, 2), BtoolError, "piece_range");
  assertThrowsCode(() => blockSpan(META, 0, -1), BtoolError, "piece_range");
  deepEqual(blockSpans(META, 2), [{ begin: 0, length: BLOCK_BYTES }, { begin: BLOCK_BYTES, length: 3616 }]);
  equal(blockSpans(META, 1).reduce((n, s) => n + s.length, 0), 65536);
});

Deno.test("isValidRequest() accepts requests inside a piece and refuses the rest", () => {
  equal(isValidRequest(META, { index: 0, begin: 0, length: BLOCK_BYTES }), true);
  equal(isValidRequest(META, { index: 2, begin: 16384, length: 3616 }), true);
  equal(isValidRequest(META, { index: 2, begin: 16384, length: 3617 }), false);
  equal(isValidRequest(META, { index: 0, begin: 0, length: BLOCK_BYTES + 1 }), false);
  equal(isValidRequest(META, { index: 0, begin: 0, length: 32768 }, { maxLength: 32768 }), true);
  equal(isValidRequest(META, { index: 0, begin: -1, length: 1 }), false);
  equal(isValidRequest(META, { index: 0, begin: 0, length: 0 }), false);
  equal(isValidRequest(META, { index: 3, begin: 0, length: 1 }), false);
});

Deno.test("pieceHash() returns the 20 hash bytes of a piece", () => {
  const hashes = Uint8Array.from({ length: 60 }, (_, i) => i);
  deepEqual(pieceHash({ pieceHashes: hashes, pieceCount: 3 }, 1), hashes.subarray(20, 40));
  assertThrowsCode(() => pieceHash({ pieceHashes: hashes, pieceCount: 3 }, 3), BtoolError, "piece_range");
});
