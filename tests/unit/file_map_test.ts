import { BtoolError, MetainfoError } from "../../lib/errors.ts";
import { filePieces, mapRange, pieceSegments, safeRelativePath } from "../../lib/file_map.ts";
import type { TorrentFile } from "../../lib/metainfo.ts";
import { assertThrowsCode, deepEqual, equal } from "../_helpers/assert.ts";
import { seededRandom } from "../_helpers/random.ts";

function filesOf(lengths: number[]): TorrentFile[] {
  let offset = 0;
  return lengths.map((length, i) => {
    const f = { path: ["t", `f${i}`], length, offset };
    offset += length;
    return f;
  });
}

const FILES = filesOf([10, 0, 5, 0, 0, 20]);

Deno.test("mapRange() splits a range across files and skips zero-length ones", () => {
  deepEqual(mapRange(FILES, 0, 35), [
    { fileIndex: 0, fileOffset: 0, length: 10 },
    { fileIndex: 2, fileOffset: 0, length: 5 },
    { fileIndex: 5, fileOffset: 0, length: 20 },
  ]);
  deepEqual(mapRange(FILES, 8, 4), [{ fileIndex: 0, fileOffset: 8, length: 2 }, {
    fileIndex: 2,
    fileOffset: 0,
    length: 2,
  }]);
  deepEqual(mapRange(FILES, 15, 3), [{ fileIndex: 5, fileOffset: 0, length: 3 }]);
  deepEqual(mapRange(FILES, 34, 1), [{ fileIndex: 5, fileOffset: 19, length: 1 }]);
  deepEqual(mapRange(FILES, 35, 0), []);
});

Deno.test("mapRange() refuses ranges outside the data", () => {
  assertThrowsCode(() => mapRange(FILES, 30, 6), BtoolError, "file_range");
  assertThrowsCode(() => mapRange(FILES, -1, 1), BtoolError, "file_range");
  assertThrowsCode(() => mapRange(FILES, 0, -1), BtoolError, "file_range");
});

Deno.test("mapRange() covers every byte exactly once (seeded)", () => {
  const seed = 11;
  const random = seededRandom(seed);
  for (let round = 0; round < 200; round++) {
    const files = filesOf(Array.from({ length: 1 + Math.floor(random() * 6) }, () => Math.floor(random() * 4) * 7));
    const total = files.reduce((n, f) => n + f.length, 0);
    const offset = Math.floor(random() * (total + 1));
    const length = Math.floor(random() * (total - offset + 1));
    const segs = mapRange(files, offset, length);
    let at = offset;
    for (const s of segs) {
      const f = files[s.fileIndex]!;
      equal(f.offset + s.fileOffset, at, `seed ${seed} round ${round}`);
      equal(s.length > 0 && s.fileOffset + s.length <= f.length, true, `seed ${seed} round ${round}`);
      at += s.length;
    }
    equal(at, offset + length, `seed ${seed} round ${round}`);
  }
});

Deno.test("pieceSegments() and filePieces() relate pieces and files", () => {
  const meta = { files: filesOf([20000, 0, 30000]), pieceLength: 16384, totalLength: 50000, pieceCount: 4 };
  deepEqual(pieceSegments(meta, 1), [
    { fileIndex: 0, fileOffset: 16384, length: 3616 },
    { fileIndex: 2, fileOffset: 0, length: 12768 },
  ]);
  deepEqual(pieceSegments(meta, 3), [{ fileIndex: 2, fileOffset: 49152 - 20000, length: 848 }]);
  deepEqual(filePieces(meta, 0), { first: 0, last: 1 });
  equal(filePieces(meta, 1), null);
  deepEqual(filePieces(meta, 2), { first: 1, last: 3 });
  assertThrowsCode(() => filePieces(meta, 3), BtoolError, "file_range");
});

Deno.test("safeRelativePath() joins safe components and refuses escapes and unsafe names", () => {
  equal(safeRelativePath(["name", "a", "b.txt"]), "name/a/b.txt");
  equal(safeRelativePath(["..a", ".hidden"]), "..a/.hidden");
  const unsafe = [["..."], ["CON"], ["a:b"], ["x\x1b"], ["dot."], ["e\u202e"]];
  for (
    const bad of [[], [""], [".."], ["."], ["a", ".."], ["/abs"], ["a/b"], ["a\\b"], ["C:\\x"], ["a\0"], ...unsafe]
  ) {
    assertThrowsCode(() => safeRelativePath(bad), MetainfoError, "unsafe_path");
  }
});
