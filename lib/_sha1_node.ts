// node:crypto's SHA-1 for create's piece hashes (issue #18's exception; lib/sha1.ts says why). Imported only by
// create's hashers, lib/create_hashing.ts and lib/_hash_worker.ts (tests/unit/sha1_test.ts checks).

import { createHash } from "node:crypto";
import type { SyncSha1 } from "./sha1.ts";

/** SHA-1 of `data` into `out[at, at + 20)`, synchronously, by node:crypto (OpenSSL inside the runtime). */
export const nodeSha1: SyncSha1 = (data, out, at) => {
  out.set(createHash("sha1").update(data).digest(), at);
};
