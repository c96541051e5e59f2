// Connections and bytes held per client address, for both HTTP stacks (the libc server of lib/tracker/_http_ffi.ts and
// the Deno.serve front of lib/tracker/http_front.ts): the table behind maxPerAddress, maxAddressBytes and
// maxBufferedBytes. An address leaves it when it holds nothing, so strangers cannot fill it for good.

import type { HttpLimits } from "./http_limits.ts";

/** Connections and held bytes per client address; an address leaves the table when it has neither. */
export class AddressTable {
  readonly #by = new Map<string, { connections: number; bytes: number }>();
  #bytes = 0;

  constructor(
    readonly limits:
      & Pick<HttpLimits, "maxPerAddress" | "maxAddressBytes" | "maxBufferedBytes">
      & Partial<Pick<HttpLimits, "isUncapped">>,
  ) {}

  /** Addresses in the table. */
  get size(): number {
    return this.#by.size;
  }

  /** Bytes held by all addresses. */
  get bytes(): number {
    return this.#bytes;
  }

  connectionsOf(host: string): number {
    return this.#by.get(host)?.connections ?? 0;
  }

  bytesOf(host: string): number {
    return this.#by.get(host)?.bytes ?? 0;
  }

  /** Count one more connection of `host`; false (nothing counted) when it has maxPerAddress already (and is capped). */
  open(host: string): boolean {
    let a = this.#by.get(host);
    if (a === undefined) this.#by.set(host, a = { connections: 0, bytes: 0 });
    if (a.connections >= this.limits.maxPerAddress && this.limits.isUncapped?.(host) !== true) return false;
    a.connections++;
    return true;
  }

  /** One connection of `host` is gone. */
  close(host: string): void {
    const a = this.#by.get(host);
    if (a === undefined) return;
    a.connections--;
    if (a.connections <= 0 && a.bytes <= 0) this.#by.delete(host);
  }

  /**
   * Change what `host` holds by `delta` bytes.
   * @returns "" when within the caps, else which cap a growth passes ("address" or "total"); the change is made anyway
   *   (the caller closes the connection, which gives it back)
   */
  hold(host: string, delta: number): "" | "address" | "total" {
    let a = this.#by.get(host);
    if (a === undefined) this.#by.set(host, a = { connections: 0, bytes: 0 });
    a.bytes += delta;
    this.#bytes += delta;
    if (a.bytes <= 0 && a.connections <= 0) this.#by.delete(host);
    if (delta <= 0) return "";
    if (a.bytes > this.limits.maxAddressBytes && this.limits.isUncapped?.(host) !== true) return "address";
    if (this.#bytes > this.limits.maxBufferedBytes) return "total";
    return "";
  }
}
