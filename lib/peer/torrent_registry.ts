// The torrents one listening port serves, by info hash: the acceptor hands each incoming handshake to the torrent
// it names. A session registers itself; a client serving many torrents would register each one here.

import type { InfoHash } from "../infohash.ts";

/** Torrents by info hash (hex key). */
export class TorrentRegistry<T> {
  #byHash = new Map<string, T>();

  /** Serve `torrent` for `infoHash`. */
  add(infoHash: InfoHash, torrent: T): void {
    this.#byHash.set(infoHash.hex, torrent);
  }

  /** Stop serving `infoHash`. */
  remove(infoHash: InfoHash): void {
    this.#byHash.delete(infoHash.hex);
  }

  /** The torrent for `infoHash`, or null when we do not serve it. */
  get(infoHash: InfoHash): T | null {
    return this.#byHash.get(infoHash.hex) ?? null;
  }

  get size(): number {
    return this.#byHash.size;
  }
}
