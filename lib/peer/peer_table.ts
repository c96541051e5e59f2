// The connected peers of one torrent, by id ("p<n>", also the picker's id): who may join (bans, one connection per
// remote peer id, the connection cap) and the lookups the session makes over them. Closes the connections it turns
// away; never reads or writes them. Ids are unique within one table (a choker over several torrents keys by peer).
//
// Invariants: at most `maxPeers` entries; at most one entry per remote peer id once the loser of a crossed dial has
// ended (its connection is closed here; its loop removes it); an entry stays until `remove(id)`.

import { toHex } from "../bytes.ts";
import { Bitfield } from "../wire/bitfield.ts";
import type { PeerConnection } from "./connection.ts";
import type { PeerEntry } from "./peer_messages.ts";
import { createRequestState } from "./request_scheduler.ts";
import { createTransfer } from "./transfer_stats.ts";

/** Options of `PeerTable`. */
export interface PeerTableOptions {
  /** Our 20-byte peer id (decides which of two crossed connections stays). */
  ourPeerId: Uint8Array;
  maxPeers: number;
  pieceCount: number;
  now: () => number;
  /** True when this remote peer id (hex) or address is banned. */
  isBanned(remoteIdHex: string, address: string): boolean;
}

/** One torrent's connected peers. */
export class PeerTable {
  #o: PeerTableOptions;
  #ourIdHex: string;
  #byId = new Map<string, PeerEntry>();
  #nextPeerNumber = 1;

  constructor(options: PeerTableOptions) {
    this.#o = options;
    this.#ourIdHex = toHex(options.ourPeerId);
  }

  /** Every entry by id (what a peer's messages look others up in). */
  get byId(): ReadonlyMap<string, PeerEntry> {
    return this.#byId;
  }

  get size(): number {
    return this.#byId.size;
  }

  values(): IterableIterator<PeerEntry> {
    return this.#byId.values();
  }

  get(id: string): PeerEntry | undefined {
    return this.#byId.get(id);
  }

  remove(id: string): void {
    this.#byId.delete(id);
  }

  /** True when there is room for one more connection besides `pending` ones (dials in progress). */
  hasRoom(pending = 0): boolean {
    return this.#byId.size + pending < this.#o.maxPeers;
  }

  /** True when a connected peer has this address. */
  isConnectedTo(address: string): boolean {
    for (const p of this.#byId.values()) if (p.address === address) return true;
    return false;
  }

  /** Connected peers that have every piece. */
  seedCount(): number {
    let seeds = 0;
    for (const p of this.#byId.values()) if (p.pieces.isComplete) seeds++;
    return seeds;
  }

  /**
   * Take a connection past its handshake, or close it and return null: a banned peer, the connection we drop of two
   * between the same peers, or no room. `isSeeding`: our torrent is complete (for a choker over several torrents).
   */
  admit(conn: PeerConnection, address: string, isIncoming: boolean, isSeeding: boolean): PeerEntry | null {
    const remoteIdHex = toHex(conn.remotePeerId);
    if (this.#o.isBanned(remoteIdHex, address)) {
      conn.close();
      return null;
    }
    for (const other of this.#byId.values()) {
      if (other.remoteIdHex !== remoteIdHex) continue;
      // Both sides dialled each other: keep the connection opened by the peer with the smaller id, so both ends
      // keep the same one.
      const initiator = (incoming: boolean) => incoming ? remoteIdHex : this.#ourIdHex;
      if (initiator(isIncoming) < initiator(other.isIncoming) && isIncoming !== other.isIncoming) {
        other.conn.close();
      } else {
        conn.close();
        return null;
      }
    }
    if (this.#byId.size >= this.#o.maxPeers) {
      conn.close();
      return null;
    }
    const t = this.#o.now();
    const entry: PeerEntry = {
      id: `p${this.#nextPeerNumber++}`,
      conn,
      address,
      remoteIdHex,
      isIncoming,
      connectedAtMs: t,
      pieces: new Bitfield(this.#o.pieceCount),
      ...createTransfer(),
      isSeeding,
      serveQueue: [],
      serving: 0,
      ...createRequestState(t),
    };
    this.#byId.set(entry.id, entry);
    return entry;
  }
}
