// Hash-check a torrent's data on disk: per-file verdicts and the verified pieces, for `btool verify` and for
// `btool peer`'s first check. Reads through a read-only Storage; never prints (progress via onProgress).

import type { Metainfo } from "../metainfo.ts";
import { pieceSegments } from "../file_map.ts";
import { pieceSize } from "../pieces.ts";
import { createFsStorage, dataPath } from "./storage.ts";

/** What `btool verify` found for one file. */
export interface FileVerdict {
  path: string;
  length: number;
  /** `ok`, `bad` (some pieces touching it fail), `missing`, `wrong_size` (size differs from the torrent's). */
  status: "ok" | "bad" | "missing" | "wrong_size";
  /** Failing pieces that hold bytes of this file (a piece straddling two files counts for both). */
  badPieces: number;
  /** Size on disk, null when missing. */
  actualSize: number | null;
}

/** The outcome of checking a torrent's data. */
export interface VerifyReport {
  files: FileVerdict[];
  goodPieces: number;
  pieceCount: number;
  goodBytes: number;
  totalLength: number;
  isComplete: boolean;
}

/**
 * Check every piece of `meta` against the data below `dir` (a read-only Storage). Pieces that touch a missing file are counted bad
 * without reading. `onProgress(doneBytes)` is called after each piece.
 * @throws {StorageError} io (an unreadable file that exists)
 */
export async function checkData(
  meta: Metainfo,
  dir: string,
  options: { onProgress?: (doneBytes: number) => void } = {},
): Promise<VerifyReport> {
  const files: FileVerdict[] = [];
  for (const f of meta.files) {
    const path = dataPath(dir, f);
    let actualSize: number | null = f.isPadding ? f.length : null;
    if (!f.isPadding) {
      try {
        const st = await Deno.stat(path);
        actualSize = st.isFile ? st.size : null;
      } catch (err: unknown) {
        if (!(err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory)) throw err;
      }
    }
    files.push({
      path: f.path.join("/"),
      length: f.length,
      status: actualSize === null ? "missing" : actualSize !== f.length ? "wrong_size" : "ok",
      badPieces: 0,
      actualSize,
    });
  }
  const storage = createFsStorage(meta, dir, { isReadOnly: true });
  let goodPieces = 0;
  let goodBytes = 0;
  let doneBytes = 0;
  try {
    for (let i = 0; i < meta.pieceCount; i++) {
      const segments = pieceSegments(meta, i);
      const isReadable = segments.every((s) => files[s.fileIndex]!.status !== "missing");
      const size = pieceSize(meta, i);
      if (isReadable && await storage.verifyPiece(i)) {
        goodPieces++;
        goodBytes += size;
      } else {
        for (const s of segments) files[s.fileIndex]!.badPieces++;
      }
      doneBytes += size;
      options.onProgress?.(doneBytes);
    }
  } finally {
    await storage.close();
  }
  for (const f of files) if (f.status === "ok" && f.badPieces > 0) f.status = "bad";
  return {
    // BEP 47 padding files are not on disk, so they get no verdict of their own.
    files: files.filter((_, i) => !meta.files[i]!.isPadding),
    goodPieces,
    pieceCount: meta.pieceCount,
    goodBytes,
    totalLength: meta.totalLength,
    isComplete: goodPieces === meta.pieceCount && files.every((f) => f.status === "ok"),
  };
}
