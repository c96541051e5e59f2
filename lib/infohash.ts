// InfoHash: exactly 20 bytes, the SHA-1 of a torrent's raw info dict (BEP 3). Hex is for display and keys.

import { fromHex, toHex } from "./bytes.ts";
import { BtoolError } from "./errors.ts";
import { sha1 } from "./sha1.ts";

/** Length of a v1 info hash in bytes. */
export const INFO_HASH_BYTES = 20;

/** A v1 info hash. */
export class InfoHash {
  readonly bytes: Uint8Array;
  #hex: string | null = null;

  /** @throws {BtoolError} info_hash_length when `bytes` is not 20 bytes long */
  constructor(bytes: Uint8Array) {
    if (bytes.length !== INFO_HASH_BYTES) {
      throw new BtoolError("info_hash_length", `Invalid info hash: expected 20 bytes, got ${bytes.length}`);
    }
    this.bytes = bytes;
  }

  /** SHA-1 of the raw info bytes, exactly as they appear in the file. */
  static async fromInfoBytes(rawInfo: Uint8Array): Promise<InfoHash> {
    return new InfoHash(await sha1(rawInfo));
  }

  /** @throws {BtoolError} info_hash_hex when `hex` is not 40 hex digits */
  static fromHex(hex: string): InfoHash {
    const bytes = hex.length === 2 * INFO_HASH_BYTES ? fromHex(hex) : null;
    if (bytes === null) throw new BtoolError("info_hash_hex", `Invalid info hash: "${hex}" is not 40 hex digits`);
    return new InfoHash(bytes);
  }

  /** Lower-case hex, 40 digits. */
  get hex(): string {
    return this.#hex ??= toHex(this.bytes);
  }

  equals(other: InfoHash): boolean {
    for (let i = 0; i < INFO_HASH_BYTES; i++) if (this.bytes[i] !== other.bytes[i]) return false;
    return true;
  }

  toString(): string {
    return this.hex;
  }
}
