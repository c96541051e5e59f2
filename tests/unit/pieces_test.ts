import { BtoolError } from "../../lib/errors.ts";
import { BLOCK_BYTES, isPieceIndex, isValidRequest, pieceHash, pieceOffset, pieceSize } from "../../lib/pieces.ts";
import { assertThrowsCode, deepEqual, equal } from "../_helpers/assert.ts";

const META = { pieceLength: 65536, totalLength: 65536 * 2 + 20000, pieceCount: 3 };

Deno.test("pieceSize() is pieceLength except for a short last piece", () => {
  equal(pieceSize(META, 0), 65536);
  equal(pieceSize(META, 1), 65536);
  equal(pieceSize(META, 2), 20000);
  equal(pieceSize({ pieceLength: 16384, totalLength: 32768, pieceCount: 2 }, 1), 16384);
  equal(pieceOffset(META, 2), 131072);
});

Deno.test("pieceSize() rejects indexes outside the torrent", () => {
  for (const bad of [-1, 3, 1.5, NaN]) assertThrowsCode(() => pieceSize(META, bad), BtoolError, "piece_range");
  equal(isPieceIndex(META, 2), true);
  equal(isPieceIndex(META, 3), false);
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
