// From accepted blocks to verified pieces (BEP 3): blocks go into the BlockAssembler (or straight to disk), whole
// pieces are verified and written by the PieceWriter, and the verdict goes to the picker, the ban policy and the
// session. Owns the count of bytes waiting to be written, which pauses reading from peers when it lags.

import type { Metainfo } from "../metainfo.ts";
import type { PieceVerdict, PieceWriter } from "../storage/piece_writer.ts";
import type { Storage } from "../storage/storage.ts";
import type { BanPolicy } from "./ban_policy.ts";
import type { BlockAssembler } from "./block_assembler.ts";
import type { PiecePicker } from "./picker.ts";

/** Written-but-unflushed block bytes held before reading from peers pauses. */
export const MAX_PENDING_WRITE_BYTES = 16 * 1024 * 1024;

/** What the piece flow needs of its session. */
export interface PieceFlowHost {
  picker: PiecePicker;
  storage: Storage;
  pieceWriter: PieceWriter;
  assembler: BlockAssembler;
  bans: BanPolicy;
  /** Keep a task until shutdown. */
  track: (task: Promise<unknown>) => void;
  /** A storage error: stop the session. */
  fatal: (err: unknown) => void;
  /** Piece `index` passed its hash and is on disk (picker already told). */
  pieceVerified: (index: number) => void;
  /** Piece `index` failed its hash; `ids` sent its blocks (picker already told). */
  hashFailed: (index: number, ids: string[]) => void;
  /** Count a strike against peer `id`. */
  strike: (id: string, reason: string) => void;
  /** Requests were released: top up every peer's pipeline. */
  refillAll: () => void;
}

/** Assembly, verification and writing of one torrent's downloaded pieces. */
export class PieceFlow {
  #h: PieceFlowHost;
  #meta: Metainfo;
  #pendingWriteBytes = 0;
  #drained: PromiseWithResolvers<void> | null = null;

  constructor(meta: Metainfo, host: PieceFlowHost) {
    this.#meta = meta;
    this.#h = host;
  }

  /** Bytes handed to storage or the piece writer and not yet written. */
  get pendingWriteBytes(): number {
    return this.#pendingWriteBytes;
  }

  /** Reading should pause: too many bytes wait to be written. */
  get isBehind(): boolean {
    return this.#pendingWriteBytes > MAX_PENDING_WRITE_BYTES;
  }

  /** Resolves once pending writes fell to half of MAX_PENDING_WRITE_BYTES. */
  waitForWrites(): Promise<void> {
    this.#drained ??= Promise.withResolvers<void>();
    return this.#drained.promise;
  }

  /** A block the picker accepted from peer `source` (the block is lent: copied here if kept). */
  block(source: string, index: number, begin: number, block: Uint8Array, isPieceComplete: boolean): void {
    const placed = this.#h.assembler.add(index, begin, block, source, isPieceComplete);
    if (placed.type === "buffered") {
      if (placed.complete !== null) this.#h.track(this.#finishBuffered(index, placed.complete));
      return;
    }
    const length = block.length;
    this.#pendingWriteBytes += length;
    const done = this.#h.storage.writeBlock(index, begin, block.slice()).then(
      () => {
        if (isPieceComplete) return this.#finishOnDisk(index);
      },
      (err: unknown) => this.#h.fatal(err),
    ).finally(() => this.#writeDone(length));
    this.#h.track(done);
  }

  #writeDone(length: number): void {
    this.#pendingWriteBytes -= length;
    if (this.#pendingWriteBytes <= MAX_PENDING_WRITE_BYTES / 2 && this.#drained !== null) {
      this.#drained.resolve();
      this.#drained = null;
    }
  }

  async #finishBuffered(index: number, buffer: Uint8Array): Promise<void> {
    const size = buffer.length;
    let data: Uint8Array | null = null;
    try {
      // Hashed and written off the JS thread (`buffer` is handed over; `data` comes back); counted as pending
      // writes so that reading pauses when that lags.
      this.#pendingWriteBytes += size;
      let verdict: PieceVerdict["verdict"];
      try {
        const ranges = this.#h.assembler.selectedRanges(index) ?? undefined;
        ({ verdict, data } = await this.#h.pieceWriter.verifyAndWrite(index, buffer, ranges));
      } catch (err: unknown) {
        this.#h.fatal(err);
        return;
      } finally {
        this.#writeDone(size);
      }
      if (verdict === "written") this.#good(index, data);
      else if (verdict === "bad") await this.#bad(index, data);
      else this.#lost(index);
    } finally {
      this.#h.assembler.release(size, data);
    }
  }

  async #finishOnDisk(index: number): Promise<void> {
    let ok: boolean;
    try {
      ok = await this.#h.storage.verifyPiece(index);
    } catch (err: unknown) {
      this.#h.fatal(err);
      return;
    }
    if (ok) this.#good(index, null);
    else await this.#bad(index, null);
  }

  /** The bytes of a complete piece were lost with a failed piece Worker: fetch it again (nobody is to blame). */
  #lost(index: number): void {
    this.#h.assembler.takeSources(index);
    this.#h.picker.pieceFailed(index);
    this.#h.refillAll();
  }

  #good(index: number, data: Uint8Array | null): void {
    this.#h.assembler.takeSources(index);
    const read = this.#reader(index, data);
    this.#h.track(
      this.#h.bans.piecePassed(index, read).then((guilty) => {
        for (const id of guilty) this.#h.strike(id, `sent bad blocks in piece ${index}`);
      }),
    );
    this.#h.picker.pieceVerified(index);
    this.#h.pieceVerified(index);
  }

  async #bad(index: number, data: Uint8Array | null): Promise<void> {
    const sources = this.#h.assembler.takeSources(index);
    const ids = this.#h.picker.pieceFailed(index);
    this.#h.hashFailed(index, ids);
    const convicted = await this.#h.bans.pieceFailed(index, ids, sources, this.#reader(index, data));
    for (const id of convicted) this.#h.strike(id, `sent piece ${index} with a bad hash`);
    this.#h.refillAll();
  }

  #reader(index: number, data: Uint8Array | null): () => Promise<Uint8Array> {
    // `data` goes back to the buffer pool when this piece's flow ends, but it is only overwritten by blocks read
    // from sockets (a later task), and BanPolicy hashes it (WebCrypto copies) before then.
    return () => data !== null ? Promise.resolve(data) : this.#h.storage.readPiece(index);
  }
}
