// The addresses `btool peer` may dial (from trackers, --peer and addPeer), with retry backoff per address, and the
// addresses found to be ourselves. Pure policy: time comes in (`now`); the dialer and the session act on it.

import { formatHostPort, unmapIPv4 } from "../net_address.ts";

/** Wait this long before re-trying an address that failed, doubled per failure up to MAX_RETRY_MS. */
export const RETRY_BASE_MS = 5_000;
/** Longest wait before re-trying a failed address. */
export const MAX_RETRY_MS = 10 * 60_000;
/** Addresses remembered from trackers and configuration. */
export const MAX_KNOWN_PEERS = 2_000;

/** One dialable address. */
export interface KnownPeer {
  /** "host:port" (formatHostPort), the key. */
  address: string;
  hostname: string;
  port: number;
  failures: number;
  nextTryMs: number;
  isConnecting: boolean;
}

/** Options of `KnownPeers`. */
export interface KnownPeersOptions {
  now: () => number;
  /** Our own listening port: a loopback or wildcard address with it is ourselves. */
  ownPort: number;
}

/** Known peer addresses, in the order they were learnt, at most MAX_KNOWN_PEERS. */
export class KnownPeers {
  #peers = new Map<string, KnownPeer>();
  #self = new Set<string>();
  #now: () => number;
  #ownPort: number;

  constructor(options: KnownPeersOptions) {
    this.#now = options.now;
    this.#ownPort = options.ownPort;
  }

  get size(): number {
    return this.#peers.size;
  }

  /** The entry for `address`, if known. */
  get(address: string): KnownPeer | undefined {
    return this.#peers.get(address);
  }

  /** Learn an address; false when it is refused (ourselves, bad port, known, or the list is full). */
  add(host: string, port: number): boolean {
    const hostname = unmapIPv4(host);
    const address = formatHostPort(hostname, port);
    if (this.#peers.has(address) || this.#peers.size >= MAX_KNOWN_PEERS || this.#self.has(address)) return false;
    if (!Number.isInteger(port) || port <= 0 || port > 65535) return false;
    if (port === this.#ownPort && isLoopbackOrAny(hostname)) return false;
    this.#peers.set(address, { address, hostname, port, failures: 0, nextTryMs: 0, isConnecting: false });
    return true;
  }

  /** `address` is ourselves (a self connection, or our peer id in a tracker reply): never dial it. */
  markSelf(host: string, port: number): void {
    const address = formatHostPort(unmapIPv4(host), port);
    this.#peers.delete(address);
    this.#self.add(address);
  }

  /**
   * Up to `limit` addresses due for a dial, skipping those `isSkipped` names (banned, already connected); each is
   * marked connecting until `connected` or `failed`.
   */
  takeDue(limit: number, isSkipped: (address: string) => boolean): KnownPeer[] {
    const t = this.#now();
    const out: KnownPeer[] = [];
    for (const k of this.#peers.values()) {
      if (out.length >= limit) break;
      if (k.isConnecting || k.nextTryMs > t || isSkipped(k.address)) continue;
      k.isConnecting = true;
      out.push(k);
    }
    return out;
  }

  /** The dial of `k` produced a connection. */
  connected(k: KnownPeer): void {
    k.isConnecting = false;
    k.failures = 0;
  }

  /** The dial of `k` failed: back off, doubling per failure. */
  failed(k: KnownPeer): void {
    k.isConnecting = false;
    k.failures++;
    k.nextTryMs = this.#now() + Math.min(MAX_RETRY_MS, RETRY_BASE_MS * 2 ** Math.min(16, k.failures - 1));
  }

  /** A connection to `address` ended; two finished peers have nothing to trade (`isUseless`): not again soon. */
  disconnected(address: string, isUseless: boolean): void {
    const k = this.#peers.get(address);
    if (k !== undefined) k.nextTryMs = this.#now() + (isUseless ? MAX_RETRY_MS : RETRY_BASE_MS);
  }
}

function isLoopbackOrAny(host: string): boolean {
  return host.startsWith("127.") || host === "::1" || host === "0.0.0.0" || host === "::" || host === "localhost";
}
