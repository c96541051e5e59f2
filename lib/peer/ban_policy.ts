// Who gets banned for bad data: strikes per connection (a piece from a single peer that fails its hash is one), and
// for pieces with several sources the per-block hashes, compared once the piece passes (smart ban). Banned peer
// ids and addresses are remembered for the session. Pure over values: piece bytes come in through `read`.

import { toHex } from "../bytes.ts";
import { BLOCK_BYTES } from "../pieces.ts";
import { sha1 } from "../sha1.ts";

/** Strikes (hash failures attributed to a peer) before it is banned. */
export const BAN_STRIKES = 2;
/** Failed pieces with several sources remembered for smart banning (per-block hashes compared once it passes). */
export const MAX_SUSPECT_PIECES = 256;
/** Banned peer ids and addresses remembered; past this the oldest are forgiven. */
export const MAX_BANNED = 10_000;

/** A connected peer as the policy sees it. */
export interface Suspect {
  /** The session's id of this connection. */
  id: string;
  remoteIdHex: string;
  address: string;
}

/** Strikes from one hash failure: a piece from a single peer convicts it; mixed pieces wait for smart banning. */
export function isSoleSource(sources: readonly string[]): boolean {
  return new Set(sources).size === 1;
}

/** Strikes, bans and smart-ban evidence of one session. */
export class BanPolicy {
  #bannedIds = new Set<string>();
  #bannedAddresses = new Set<string>();
  #strikes = new Map<string, number>();
  /** Failed mixed-source pieces: per block, (source id, SHA-1 hex of what it sent). */
  #suspects = new Map<number, { source: string | null; hashHex: string }[]>();

  /** Peers banned so far. */
  get bannedCount(): number {
    return this.#bannedIds.size;
  }

  /** Pieces held as smart-ban evidence. */
  get suspectPieces(): number {
    return this.#suspects.size;
  }

  isBanned(remoteIdHex: string, address: string): boolean {
    return this.#bannedIds.has(remoteIdHex) || this.#bannedAddresses.has(address);
  }

  isAddressBanned(address: string): boolean {
    return this.#bannedAddresses.has(address);
  }

  /** One strike against `peer`; true when this strike bans it (the caller closes the connection). */
  strike(peer: Suspect): boolean {
    if (this.isBanned(peer.remoteIdHex, peer.address)) return false;
    const n = (this.#strikes.get(peer.id) ?? 0) + 1;
    this.#strikes.set(peer.id, n);
    if (n < BAN_STRIKES) return false;
    addCapped(this.#bannedIds, peer.remoteIdHex);
    addCapped(this.#bannedAddresses, peer.address);
    this.#strikes.delete(peer.id);
    return true;
  }

  /** The connection `id` ended: its strikes go with it (a ban stays). */
  forget(id: string): void {
    this.#strikes.delete(id);
  }

  /**
   * Piece `index` failed its hash. `ids` are the peers that sent it (one entry per block), `sources` the sender of
   * each block. Returns the ids to strike now: the sender of a single-source piece. Mixed pieces are remembered
   * (per-block hashes of `read()`) until `piecePassed` shows who lied.
   */
  async pieceFailed(
    index: number,
    ids: readonly string[],
    sources: readonly (string | null)[],
    read: () => Promise<Uint8Array>,
  ): Promise<string[]> {
    if (ids.length > 0 && isSoleSource(ids)) return [ids[0]!];
    if (this.#suspects.size >= MAX_SUSPECT_PIECES || sources.length === 0) return [];
    try {
      const hashes = await blockHashes(await read(), sources.length);
      this.#suspects.set(index, sources.map((source, b) => ({ source, hashHex: toHex(hashes[b]!) })));
    } catch {
      // unreadable: no smart ban for this piece
    }
    return [];
  }

  /** Piece `index` passed: the ids whose blocks differed from the good ones when it failed before. */
  async piecePassed(index: number, read: () => Promise<Uint8Array>): Promise<string[]> {
    const suspect = this.#suspects.get(index);
    if (suspect === undefined) return [];
    this.#suspects.delete(index);
    let data: Uint8Array;
    try {
      data = await read();
    } catch {
      return [];
    }
    const hashes = await blockHashes(data, suspect.length);
    const guilty = new Set<string>();
    suspect.forEach((s, b) => {
      if (s.source !== null && toHex(hashes[b]!) !== s.hashHex) guilty.add(s.source);
    });
    return [...guilty];
  }
}

function addCapped(set: Set<string>, value: string): void {
  if (set.size >= MAX_BANNED) set.delete(set.values().next().value!);
  set.add(value);
}

function blockHashes(piece: Uint8Array, count: number): Promise<Uint8Array[]> {
  return Promise.all(
    Array.from({ length: count }, (_, b) => sha1(piece.subarray(b * BLOCK_BYTES, (b + 1) * BLOCK_BYTES))),
  );
}
