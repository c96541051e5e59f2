// SHA-1, one-shot and incremental: the only file that decides how SHA-1 is computed (node:crypto).

import { createHash } from "node:crypto";

/** SHA-1 digest (20 bytes) of `data`. */
export function sha1(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha1").update(data).digest());
}

/** Incremental SHA-1: feed with `update`, finish with `digest`. */
export interface Sha1 {
  update(data: Uint8Array): Sha1;
  digest(): Uint8Array;
}

/** Start an incremental SHA-1. */
export function createSha1(): Sha1 {
  const h = createHash("sha1");
  const api: Sha1 = {
    update(data) {
      h.update(data);
      return api;
    },
    digest() {
      return new Uint8Array(h.digest());
    },
  };
  return api;
}
