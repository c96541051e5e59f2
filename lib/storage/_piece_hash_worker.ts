// Piece Worker for `PieceWriter` (lib/storage/piece_writer.ts): checks a downloaded piece's SHA-1 and, when it
// matches, writes the piece's ranges to their files, so neither hashing nor file writes run on the session's JS
// thread. Jobs are handled one at a time in arrival order. The piece's ArrayBuffer is transferred here (no copy) and
// transferred back with the verdict, for reuse. Loaded only by piece_writer.ts via a static
// `new URL(..., import.meta.url)`; never prints.

import { equals } from "../bytes.ts";
import { errorText } from "../errors.ts";
import { sha1 } from "../sha1.ts";

/** One file range to write: `length` bytes of the piece from `at`, to `path` at `fileOffset`. */
export interface PieceWrite {
  path: string;
  fileOffset: number;
  at: number;
  length: number;
}

/** What the main thread posts: a piece to check and write, or the request to close every file. */
export type PieceRequest =
  | { type: "job"; id: number; data: Uint8Array<ArrayBuffer>; expected: Uint8Array; writes: PieceWrite[] }
  | { type: "close" };

/**
 * What the worker posts back, with the job's bytes transferred back: the verdict on a job (written when `ok`), or a
 * failed write; or that files are closed.
 */
export type PieceReply =
  | { type: "done"; id: number; ok: boolean; data: Uint8Array<ArrayBuffer> }
  | { type: "error"; id: number; message: string; data: Uint8Array<ArrayBuffer> }
  | { type: "closed" };

/** Files kept open at once; the least recently used is closed first. */
const MAX_OPEN_FILES = 64;

interface WorkerScope {
  onmessage: ((e: MessageEvent<PieceRequest>) => void) | null;
  postMessage(message: PieceReply, transfer?: Transferable[]): void;
}

const scope = self as unknown as WorkerScope;
const files = new Map<string, Deno.FsFile>(); // insertion order = least recently used first

function open(path: string): Deno.FsFile {
  const cached = files.get(path);
  if (cached !== undefined) {
    files.delete(path);
    files.set(path, cached);
    return cached;
  }
  while (files.size >= MAX_OPEN_FILES) {
    const [oldest, f] = files.entries().next().value as [string, Deno.FsFile];
    files.delete(oldest);
    f.close();
  }
  const cut = path.lastIndexOf("/");
  if (cut > 0) Deno.mkdirSync(path.slice(0, cut), { recursive: true });
  const file = Deno.openSync(path, { write: true, create: true });
  files.set(path, file);
  return file;
}

// Jobs are handled in arrival order through one chain; each digest starts when its job arrives (sha1 copies the
// bytes), so several hash at once while writes and the close keep their order.
let chain: Promise<void> = Promise.resolve();

scope.onmessage = (e) => {
  const m = e.data;
  const digest = m.type === "job" ? sha1(m.data) : null;
  chain = chain.then(async () => handle(m, digest === null ? null : await digest));
};

function handle(m: PieceRequest, digest: Uint8Array | null): void {
  if (m.type === "close") {
    for (const f of files.values()) f.close();
    files.clear();
    scope.postMessage({ type: "closed" });
    return;
  }
  const { id, data, expected, writes } = m;
  if (digest === null || !equals(digest, expected)) {
    scope.postMessage({ type: "done", id, ok: false, data }, [data.buffer]);
    return;
  }
  let path = "";
  try {
    for (const w of writes) {
      path = w.path;
      const file = open(w.path);
      file.seekSync(w.fileOffset, Deno.SeekMode.Start);
      let done = 0;
      while (done < w.length) done += file.writeSync(data.subarray(w.at + done, w.at + w.length));
    }
  } catch (err: unknown) {
    const f = files.get(path);
    if (f !== undefined) {
      files.delete(path);
      try {
        f.close();
      } catch {
        // already closed
      }
    }
    const message = `Cannot write "${path}": ${errorText(err)}`;
    scope.postMessage({ type: "error", id, message, data }, [data.buffer]);
    return;
  }
  scope.postMessage({ type: "done", id, ok: true, data }, [data.buffer]);
}
