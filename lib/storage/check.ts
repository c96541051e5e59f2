// Hash-check a torrent's data: per-file verdicts for `btool verify` (checkData, on disk) and the verified pieces of
// a Storage for `btool peer`'s first check (checkPieces). Never writes, never prints (progress via onProgress).

import type { Metainfo } from "../metainfo.ts";
import { pieceSegments } from "../file_map.ts";
import { pieceSize } from "../pieces.ts";
import { Bitfield } from "../wire/bitfield.ts";
import { createFsStorage, dataPath, type Storage } from "./storage.ts";

/** Pieces verified at once: one is read while the others hash (each holds a copy of its piece while it does). */
export const MAX_VERIFIES_IN_FLIGHT = 4;
/** …and at most this many bytes of pieces (at least one piece). */
export const MAX_VERIFY_BYTES_IN_FLIGHT = 64 * 1024 * 1024;

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
  const maxInFlight = Math.max(
    1,
    Math.min(MAX_VERIFIES_IN_FLIGHT, Math.floor(MAX_VERIFY_BYTES_IN_FLIGHT / meta.pieceLength)),
  );
  const inFlight: Promise<boolean>[] = [];
  let next = 0;
  try {
    // Verdicts are taken in piece order, so progress stays monotonic.
    for (let i = 0; i < meta.pieceCount; i++) {
      for (; next < meta.pieceCount && next - i < maxInFlight; next++) {
        const isReadable = pieceSegments(meta, next).every((s) => files[s.fileIndex]!.status !== "missing");
        inFlight.push(isReadable ? storage.verifyPiece(next) : Promise.resolve(false));
      }
      const size = pieceSize(meta, i);
      if (await inFlight.shift()!) {
        goodPieces++;
        goodBytes += size;
      } else {
        for (const s of pieceSegments(meta, i)) files[s.fileIndex]!.badPieces++;
      }
      doneBytes += size;
      options.onProgress?.(doneBytes);
    }
  } finally {
    await Promise.allSettled(inFlight);
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

/**
 * Check which pieces of `storage` are already there (SHA-1 of each piece against the torrent).
 * `onProgress(checkedBytes)` after each piece.
 * @throws {StorageError} io
 */
export async function checkPieces(
  storage: Storage,
  options: { onProgress?: (checkedBytes: number) => void; only?: Bitfield | null } = {},
): Promise<Bitfield> {
  const meta = storage.meta;
  const have = new Bitfield(meta.pieceCount);
  // A piece whose files are absent or too short cannot pass: skip it without a read (a fresh download's check).
  const sizes = await storage.fileSizes?.() ?? null;
  const isOnDisk = (i: number) =>
    sizes === null ||
    pieceSegments(meta, i).every((seg) => (sizes[seg.fileIndex] ?? -1) >= seg.fileOffset + seg.length);
  let done = 0;
  for (let i = 0; i < meta.pieceCount; i++) {
    if (isOnDisk(i) && await storage.verifyPiece(i)) have.set(i);
    done += pieceSize(meta, i);
    options.onProgress?.(done);
  }
  return have;
}
