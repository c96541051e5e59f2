// Which address an HTTP announce is recorded under (issue #19, INTEROP.md 7): the socket's peer, or behind a trusted
// reverse proxy the entry that proxy appended to X-Forwarded-For; a client-chosen `ip=` only when the operator allows
// it. Pure over values: headers come in as a function; no I/O.

import { TrackerError } from "../errors.ts";
import { parseIp } from "./announce.ts";
import { type IpKey, ipKey } from "./access.ts";

/** Cap on remembered socket address parses (cleared when full). */
export const MAX_IP_CACHE = 65_536;
/** Cap on X-Forwarded-For entries walked from the right past trusted proxies. */
export const MAX_FORWARDED_HOPS = 16;

/** A request header by lower-case name (as Headers.get). */
export type HeaderOf = (lowerName: string) => string | null;

/** Options of ClientAddress. */
export interface ClientAddressOptions {
  /**
   * Behind a reverse proxy: the client is the right-most X-Forwarded-For entry (the one the proxy appended; entries
   * left of it are whatever the client sent). Without X-Forwarded-For the socket's peer is used.
   */
  isTrustProxy?: boolean;
  /**
   * The proxies' own addresses (implies isTrustProxy): X-Forwarded-For is read only when the socket's peer is one of
   * them, and walked from the right past every one of them (a chain of proxies); other peers are taken as they are.
   */
  trustedProxies?: readonly string[];
  /** Honour the announce's `ip=` (BEP 3 allows it; it lets a client put any address in a swarm). Default false. */
  isIpParamAllowed?: boolean;
}

/** The trusted proxies by ipKey(); null for none. @throws {TrackerError} bad_proxy_address */
function proxyKeys(proxies: readonly string[]): Set<IpKey> | null {
  return proxies.length === 0 ? null : new Set(proxies.map((p) => {
    const ip = parseIp(p.trim());
    if (ip === null) throw new TrackerError("bad_proxy_address", `Invalid proxy address: "${p}"`);
    return ipKey(ip);
  }));
}

/**
 * Whether a socket peer is one of the operator's reverse proxies: the listed ones with trustedProxies, every peer with
 * plain isTrustProxy, none otherwise. The HTTP stacks exempt a proxy from per-address caps: all its clients share it.
 * @throws {TrackerError} bad_proxy_address when a trusted proxy is not an IP address
 */
export function proxyPeerTest(options: ClientAddressOptions): (host: string) => boolean {
  const proxies = proxyKeys(options.trustedProxies ?? []);
  if (proxies === null) return options.isTrustProxy === true ? () => true : () => false;
  return (host) => {
    const ip = parseIp(host);
    return ip !== null && proxies.has(ipKey(ip));
  };
}

/** Resolves the address of an HTTP client; one per tracker (it caches socket address parses). */
export class ClientAddress {
  readonly isTrustProxy: boolean;
  readonly isIpParamAllowed: boolean;
  /** Trusted proxies by `ipKey()`; null: any socket peer is the proxy (plain isTrustProxy). */
  readonly #proxies: Set<IpKey> | null;
  // Socket address text → bytes; the store copies the bytes, so sharing one array per address is safe.
  readonly #cache = new Map<string, Uint8Array>();

  /** @throws {TrackerError} bad_proxy_address when a trusted proxy is not an IP address */
  constructor(options: ClientAddressOptions = {}) {
    this.#proxies = proxyKeys(options.trustedProxies ?? []);
    this.isTrustProxy = options.isTrustProxy === true || this.#proxies !== null;
    this.isIpParamAllowed = options.isIpParamAllowed === true;
  }

  /**
   * The client's address (4 or 16 bytes; shared: do not mutate) for a request from socket peer `host`.
   * @param ipParam the announce's `ip=`, used only when allowed and an IP literal
   * @throws {TrackerError} bad_address when `host` is not an address
   */
  resolve(host: string, header: HeaderOf, ipParam?: string): Uint8Array {
    if (ipParam !== undefined && this.isIpParamAllowed) {
      const ip = parseIp(ipParam);
      if (ip !== null) return ip;
    }
    const socketIp = this.#socketIp(host);
    if (!this.isTrustProxy) return socketIp;
    if (this.#proxies !== null && !this.#proxies.has(ipKey(socketIp))) return socketIp;
    const forwarded = header("x-forwarded-for");
    return forwarded === null ? socketIp : this.#fromForwarded(forwarded) ?? socketIp;
  }

  /** The client entry of X-Forwarded-For, walked from the right; null when there is none that parses. */
  #fromForwarded(forwarded: string): Uint8Array | null {
    let end = forwarded.length;
    for (let hop = 0; hop < MAX_FORWARDED_HOPS && end > 0; hop++) {
      const comma = forwarded.lastIndexOf(",", end - 1);
      const ip = parseIp(forwarded.slice(comma + 1, end).trim());
      if (ip === null) return null;
      // Plain isTrustProxy: the right-most entry is the one our proxy wrote; nothing left of it is trusted.
      if (this.#proxies === null || !this.#proxies.has(ipKey(ip))) return ip;
      end = comma < 0 ? 0 : comma;
    }
    return null;
  }

  #socketIp(host: string): Uint8Array {
    let ip = this.#cache.get(host);
    if (ip === undefined) {
      const parsed = parseIp(host);
      if (parsed === null) throw new TrackerError("bad_address", "Cannot determine your address");
      if (this.#cache.size >= MAX_IP_CACHE) this.#cache.clear();
      this.#cache.set(host, parsed);
      ip = parsed;
    }
    return ip;
  }
}
