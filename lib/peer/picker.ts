// Piece picker (BEP 3 download strategy): which 16 KiB blocks to request from which peer. Partial pieces first,
// a few random pieces to get started, then rarest first with random ties, and endgame duplicates at the end.
// Pure bookkeeping: no sockets, no clocks, randomness injected. It never verifies data: the session reports results.
// Availability and the rarest-first scan are lib/peer/piece_rarity.ts; this file owns pieces, blocks and requests.
//
// Invariants (the picker owns this state):
// - #pieceState[i] is MISSING, PARTIAL (then #partials has i) or HAVE; HAVE pieces are verified.
// - A block of a partial piece is FREE, REQUESTED (primary requester set, maybe endgame extras) or RECEIVED.
// - A peer's #inflight holds exactly the blocks whose requesters include that peer.
// - #freeBlocks counts FREE blocks of wanted, not-HAVE pieces (pieces not started count all their blocks).

import { BLOCK_BYTES, type PieceGeometry } from "../pieces.ts";
import { Bitfield } from "../wire/bitfield.ts";
import { PieceRarity } from "./piece_rarity.ts";

/** Pieces picked at random (not rarest) until we have this many, so we have something to trade soon. */
export const RANDOM_FIRST_PIECES = 4;

/** One block request: a span inside a piece. */
export interface BlockRequest {
  pieceIndex: number;
  begin: number;
  length: number;
}

/** Another peer that asked for a block that has just arrived: send it a cancel. */
export interface PeerCancel {
  peerId: string;
  request: BlockRequest;
}

/** What `blockReceived` made of a block. */
export type BlockResult =
  /** Not needed: piece already had or not started, block already received, or the span is not one of our blocks. */
  | { type: "ignored"; reason: "have" | "not_started" | "duplicate" | "bad_span" }
  /** Stored: when `isPieceComplete`, hash it and call `pieceVerified` or `pieceFailed`. */
  | { type: "accepted"; isPieceComplete: boolean; cancel: PeerCancel[] };

/** Options of `PiecePicker`. */
export interface PiecePickerOptions {
  /** Injected randomness in [0, 1) (tie breaks, random first pieces). */
  random: () => number;
  /** Pieces already verified (e.g. from resume data); copied. */
  have?: Bitfield;
  /** Pieces to download (`--only`); null or absent means every piece. Copied. */
  wanted?: Bitfield | null;
  /** Random pieces before switching to rarest first (default RANDOM_FIRST_PIECES). */
  randomFirstPieces?: number;
}

const MISSING = 0;
const PARTIAL = 1;
const HAVE = 2;

const FREE = 0;
const REQUESTED = 1;
const RECEIVED = 2;

interface Partial {
  index: number;
  blocks: Uint8Array;
  /** Primary requester of each REQUESTED block. */
  requester: (string | null)[];
  /** Endgame duplicates: block → other requesters. */
  extra: Map<number, Set<string>>;
  /** Which peer delivered each RECEIVED block (for banning after a hash failure). */
  source: (string | null)[];
  received: number;
}

interface PeerState {
  bitfield: Bitfield;
  /** Keys (pieceIndex * blocksPerPiece + block) of blocks this peer was asked for. */
  inflight: Set<number>;
}

/**
 * Block-level download planner for one torrent. Peers are named by an opaque string id chosen by the session.
 * Picking a new piece costs one pass over the pieces (typed arrays, early exit at availability 1).
 */
export class PiecePicker {
  #pieceCount: number;
  #pieceLength: number;
  #totalLength: number;
  #blocksPerPiece: number;
  #random: () => number;
  #randomFirstPieces: number;
  #pieceState: Uint8Array;
  #wanted: Bitfield | null;
  /** Counts the MISSING wanted pieces by availability. */
  #rarity: PieceRarity;
  #partials = new Map<number, Partial>();
  #peers = new Map<string, PeerState>();
  #haveCount = 0;
  #wantedMissing = 0;
  #freeBlocks = 0;

  constructor(geometry: PieceGeometry, options: PiecePickerOptions) {
    this.#pieceCount = geometry.pieceCount;
    this.#pieceLength = geometry.pieceLength;
    this.#totalLength = geometry.totalLength;
    this.#blocksPerPiece = Math.ceil(geometry.pieceLength / BLOCK_BYTES);
    this.#random = options.random;
    this.#randomFirstPieces = options.randomFirstPieces ?? RANDOM_FIRST_PIECES;
    this.#pieceState = new Uint8Array(this.#pieceCount);
    this.#wanted = options.wanted ? options.wanted.clone() : null;
    if (options.have) {
      for (const i of options.have.setIndexes()) {
        if (i < this.#pieceCount) this.#pieceState[i] = HAVE;
      }
    }
    this.#rarity = new PieceRarity(this.#pieceCount, {
      random: this.#random,
      isCounted: (i) => this.#pieceState[i] === MISSING && this.#isWanted(i),
      isVerified: (i) => this.#pieceState[i] === HAVE,
    });
    this.#recount();
  }

  /** Verified pieces. */
  get haveCount(): number {
    return this.#haveCount;
  }

  /** True when every wanted piece is verified. */
  get isComplete(): boolean {
    return this.#wantedMissing === 0;
  }

  /**
   * True when every missing block that any connected peer can give us is already requested or received: new
   * requests duplicate others' (endgame). Pieces nobody has do not hold endgame back. Costs a pass over the pieces
   * unless no block is free at all.
   */
  get isEndgame(): boolean {
    if (this.#wantedMissing === 0) return false;
    return this.#freeBlocks === 0 || !this.#hasFreeAvailableBlock();
  }

  /** How many connected peers have piece `index`. */
  availability(index: number): number {
    return this.#rarity.availability(index);
  }

  /** True when piece `index` is wanted and not verified yet. */
  isPieceWanted(index: number): boolean {
    return this.#isWanted(index) && this.#pieceState[index] !== HAVE;
  }

  /** True when we have piece `index` verified. */
  hasPiece(index: number): boolean {
    return this.#pieceState[index] === HAVE;
  }

  /** Our verified pieces as a bitfield (to send to peers). */
  haveBitfield(): Bitfield {
    const f = new Bitfield(this.#pieceCount);
    for (let i = 0; i < this.#pieceCount; i++) if (this.#pieceState[i] === HAVE) f.set(i);
    return f;
  }

  /** Replace the wanted mask (`--only`); null means every piece. */
  setWanted(wanted: Bitfield | null): void {
    this.#wanted = wanted ? wanted.clone() : null;
    this.#recount();
  }

  /** Register a peer that has nothing yet. Re-adding a known id first removes it. */
  addPeer(peerId: string): void {
    if (this.#peers.has(peerId)) this.removePeer(peerId);
    this.#peers.set(peerId, { bitfield: new Bitfield(this.#pieceCount), inflight: new Set() });
  }

  /** Forget a peer (disconnect): its availability goes, its requested blocks become free again. */
  removePeer(peerId: string): BlockRequest[] {
    const peer = this.#peers.get(peerId);
    if (!peer) return [];
    const released = this.releasePeer(peerId);
    for (const i of peer.bitfield.setIndexes()) this.#rarity.add(i, -1);
    this.#peers.delete(peerId);
    return released;
  }

  /**
   * The peer sent a bitfield (or have-all / have-none): replace what it has. Returns whether it is interesting.
   * The bitfield must be for this torrent's piece count (Bitfield.fromBytes checked it).
   */
  peerBitfield(peerId: string, bitfield: Bitfield): boolean {
    const peer = this.#peer(peerId);
    for (const i of peer.bitfield.setIndexes()) this.#rarity.add(i, -1);
    peer.bitfield = bitfield.clone();
    for (const i of peer.bitfield.setIndexes()) this.#rarity.add(i, 1);
    return this.isInteresting(peerId);
  }

  /** The peer sent have-all (BEP 6). Returns whether it is interesting. */
  peerHaveAll(peerId: string): boolean {
    return this.peerBitfield(peerId, new Bitfield(this.#pieceCount, { isFull: true }));
  }

  /** The peer announced piece `index`. Returns true when we want that piece (so the peer is interesting). */
  peerHave(peerId: string, index: number): boolean {
    const peer = this.#peer(peerId);
    if (index < 0 || index >= this.#pieceCount) return false;
    if (peer.bitfield.set(index)) this.#rarity.add(index, 1);
    return this.isPieceWanted(index);
  }

  /** True when the peer has a piece we want and do not have. */
  isInteresting(peerId: string): boolean {
    const peer = this.#peers.get(peerId);
    if (!peer) return false;
    for (const i of peer.bitfield.setIndexes()) if (this.isPieceWanted(i)) return true;
    return false;
  }

  /** Blocks currently requested from this peer. */
  inflightCount(peerId: string): number {
    return this.#peers.get(peerId)?.inflight.size ?? 0;
  }

  /**
   * Up to `max` new block requests for this peer, from pieces it has: partial pieces first (strict priority),
   * then a new piece (random while we have fewer than `randomFirstPieces`, else rarest first, ties at random),
   * and in endgame blocks already requested from others (never twice from the same peer).
   */
  nextRequests(peerId: string, max: number): BlockRequest[] {
    const peer = this.#peer(peerId);
    const out: BlockRequest[] = [];
    if (max <= 0) return out;
    for (const partial of this.#partials.values()) {
      if (out.length >= max) return out;
      if (peer.bitfield.has(partial.index)) this.#takeFree(peerId, peer, partial, out, max);
    }
    while (out.length < max && this.#freeBlocks > 0) {
      const index = this.#pickNewPiece(peer);
      if (index < 0) break;
      const partial = this.#startPiece(index);
      this.#takeFree(peerId, peer, partial, out, max);
    }
    if (out.length < max && this.isEndgame) this.#takeEndgame(peerId, peer, out, max);
    return out;
  }

  /** Forget one outstanding request (rejected, timed out, or cancelled by us): the block is free again. */
  releaseRequest(peerId: string, request: BlockRequest): void {
    const peer = this.#peers.get(peerId);
    const partial = this.#partials.get(request.pieceIndex);
    if (!peer || !partial || request.begin % BLOCK_BYTES !== 0) return;
    const block = request.begin / BLOCK_BYTES;
    const key = request.pieceIndex * this.#blocksPerPiece + block;
    if (!peer.inflight.delete(key)) return;
    this.#unrequest(peerId, partial, block);
  }

  /** Forget every outstanding request of this peer (it choked us). Returns them. */
  releasePeer(peerId: string): BlockRequest[] {
    const peer = this.#peers.get(peerId);
    if (!peer) return [];
    const released: BlockRequest[] = [];
    for (const key of peer.inflight) {
      const index = Math.floor(key / this.#blocksPerPiece);
      const block = key - index * this.#blocksPerPiece;
      const partial = this.#partials.get(index);
      if (!partial) continue;
      this.#unrequest(peerId, partial, block);
      released.push(this.#request(index, block));
    }
    peer.inflight.clear();
    return released;
  }

  /** A block arrived from `peerId`. See `BlockResult`. */
  blockReceived(peerId: string, request: BlockRequest): BlockResult {
    const { pieceIndex, begin, length } = request;
    if (this.#pieceState[pieceIndex] === HAVE) return { type: "ignored", reason: "have" };
    const partial = this.#partials.get(pieceIndex);
    if (!partial) return { type: "ignored", reason: "not_started" };
    const block = begin / BLOCK_BYTES;
    if (!Number.isInteger(block) || block >= partial.blocks.length || length !== this.#blockLength(pieceIndex, block)) {
      return { type: "ignored", reason: "bad_span" };
    }
    const key = pieceIndex * this.#blocksPerPiece + block;
    this.#peers.get(peerId)?.inflight.delete(key);
    const state = partial.blocks[block]!;
    if (state === RECEIVED) return { type: "ignored", reason: "duplicate" };
    const cancel: PeerCancel[] = [];
    const others = [partial.requester[block], ...(partial.extra.get(block) ?? [])];
    for (const other of others) {
      if (other === null || other === undefined || other === peerId) continue;
      this.#peers.get(other)?.inflight.delete(key);
      cancel.push({ peerId: other, request: { pieceIndex, begin, length } });
    }
    if (state === FREE && this.#isWanted(pieceIndex)) this.#freeBlocks--;
    partial.blocks[block] = RECEIVED;
    partial.requester[block] = null;
    partial.extra.delete(block);
    partial.source[block] = peerId;
    partial.received++;
    return { type: "accepted", isPieceComplete: partial.received === partial.blocks.length, cancel };
  }

  /** The complete piece `index` hashed correctly (or was found on disk): we have it. */
  pieceVerified(index: number): void {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.#pieceCount) return;
    if (this.#pieceState[index] === HAVE) return;
    const partial = this.#partials.get(index);
    if (this.#isWanted(index)) {
      this.#freeBlocks -= partial ? partial.blocks.filter((s) => s === FREE).length : this.#blockCount(index);
    }
    if (partial) this.#dropPartial(partial);
    else this.#rarity.leave(index);
    this.#pieceState[index] = HAVE;
    this.#haveCount++;
    if (this.#isWanted(index)) this.#wantedMissing--;
  }

  /**
   * Piece `index` failed its hash: every block becomes free again. Returns the peers that sent its blocks
   * (so the session can count failures and ban repeat offenders).
   */
  pieceFailed(index: number): string[] {
    const partial = this.#partials.get(index);
    if (!partial) return [];
    const sources = new Set<string>();
    for (const s of partial.source) if (s !== null) sources.add(s);
    if (this.#isWanted(index)) this.#freeBlocks += partial.blocks.filter((s) => s !== FREE).length;
    this.#dropPartial(partial);
    this.#pieceState[index] = MISSING;
    this.#rarity.enter(index);
    return [...sources];
  }

  #peer(peerId: string): PeerState {
    let peer = this.#peers.get(peerId);
    if (!peer) {
      peer = { bitfield: new Bitfield(this.#pieceCount), inflight: new Set() };
      this.#peers.set(peerId, peer);
    }
    return peer;
  }

  #isWanted(index: number): boolean {
    return this.#wanted === null ? index >= 0 && index < this.#pieceCount : this.#wanted.has(index);
  }

  #blockCount(index: number): number {
    if (index < this.#pieceCount - 1) return this.#blocksPerPiece;
    return Math.ceil((this.#totalLength - (this.#pieceCount - 1) * this.#pieceLength) / BLOCK_BYTES);
  }

  #blockLength(index: number, block: number): number {
    const size = index < this.#pieceCount - 1
      ? this.#pieceLength
      : this.#totalLength - (this.#pieceCount - 1) * this.#pieceLength;
    return Math.min(BLOCK_BYTES, size - block * BLOCK_BYTES);
  }

  #request(index: number, block: number): BlockRequest {
    return { pieceIndex: index, begin: block * BLOCK_BYTES, length: this.#blockLength(index, block) };
  }

  #recount(): void {
    this.#rarity.recount();
    this.#wantedMissing = 0;
    this.#freeBlocks = 0;
    this.#haveCount = 0;
    for (let i = 0; i < this.#pieceCount; i++) {
      if (this.#pieceState[i] === HAVE) {
        this.#haveCount++;
        continue;
      }
      if (!this.#isWanted(i)) continue;
      this.#wantedMissing++;
      const partial = this.#partials.get(i);
      if (!partial) {
        this.#freeBlocks += this.#blockCount(i);
        continue;
      }
      for (const state of partial.blocks) if (state === FREE) this.#freeBlocks++;
    }
  }

  #hasFreeAvailableBlock(): boolean {
    for (const partial of this.#partials.values()) {
      if (this.#rarity.availability(partial.index) === 0 || !this.#isWanted(partial.index)) continue;
      if (partial.blocks.includes(FREE)) return true;
    }
    return this.#rarity.hasAvailable();
  }

  #pickNewPiece(peer: PeerState): number {
    const isCandidate = (i: number) => this.#pieceState[i] === MISSING && peer.bitfield.has(i) && this.#isWanted(i);
    if (this.#haveCount < this.#randomFirstPieces) return this.#rarity.randomPiece(isCandidate);
    return this.#rarity.rarestPiece(isCandidate);
  }

  #startPiece(index: number): Partial {
    const count = this.#blockCount(index);
    const partial: Partial = {
      index,
      blocks: new Uint8Array(count),
      requester: new Array<string | null>(count).fill(null),
      extra: new Map(),
      source: new Array<string | null>(count).fill(null),
      received: 0,
    };
    this.#partials.set(index, partial);
    this.#rarity.leave(index);
    this.#pieceState[index] = PARTIAL;
    return partial;
  }

  /** Remove a partial piece and its blocks from every peer's inflight set (callers adjust #freeBlocks). */
  #dropPartial(partial: Partial): void {
    for (let b = 0; b < partial.blocks.length; b++) {
      const key = partial.index * this.#blocksPerPiece + b;
      const r = partial.requester[b];
      if (r !== null && r !== undefined) this.#peers.get(r)?.inflight.delete(key);
      for (const e of partial.extra.get(b) ?? []) this.#peers.get(e)?.inflight.delete(key);
    }
    this.#partials.delete(partial.index);
  }

  #takeFree(peerId: string, peer: PeerState, partial: Partial, out: BlockRequest[], max: number): void {
    if (!this.#isWanted(partial.index)) return;
    for (let b = 0; b < partial.blocks.length && out.length < max; b++) {
      if (partial.blocks[b] !== FREE) continue;
      partial.blocks[b] = REQUESTED;
      partial.requester[b] = peerId;
      peer.inflight.add(partial.index * this.#blocksPerPiece + b);
      this.#freeBlocks--;
      out.push(this.#request(partial.index, b));
    }
  }

  #takeEndgame(peerId: string, peer: PeerState, out: BlockRequest[], max: number): void {
    for (const partial of this.#partials.values()) {
      if (!peer.bitfield.has(partial.index) || !this.#isWanted(partial.index)) continue;
      for (let b = 0; b < partial.blocks.length; b++) {
        if (out.length >= max) return;
        if (partial.blocks[b] !== REQUESTED) continue;
        const key = partial.index * this.#blocksPerPiece + b;
        if (peer.inflight.has(key)) continue;
        let extra = partial.extra.get(b);
        if (!extra) partial.extra.set(b, extra = new Set());
        extra.add(peerId);
        peer.inflight.add(key);
        out.push(this.#request(partial.index, b));
      }
    }
  }

  #unrequest(peerId: string, partial: Partial, block: number): void {
    if (partial.blocks[block] !== REQUESTED) return;
    const extra = partial.extra.get(block);
    if (partial.requester[block] === peerId) {
      const next = extra?.values().next();
      if (extra && next && !next.done) {
        partial.requester[block] = next.value;
        extra.delete(next.value);
      } else {
        partial.requester[block] = null;
        partial.blocks[block] = FREE;
        if (this.#isWanted(partial.index)) this.#freeBlocks++;
      }
    } else {
      extra?.delete(peerId);
    }
    if (extra && extra.size === 0) partial.extra.delete(block);
  }
}
