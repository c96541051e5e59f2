// node:crypto's SHA-1 for create's piece hashes (issue #18's exception; lib/sha1.ts says why). Imported only by
// create's hashers, lib/create_hashing.ts and lib/_hash_worker.ts (tests/unit/sha1_test.ts checks).

import type { createHash as CreateHash } from "node:crypto";
import type { SyncSha1 } from "./sha1.ts";

/**
 * node:crypto's createHash, loaded at first use: an import would load the runtime's Node layer (~10-20 ms) at the
 * start of every command, not only of `create`. getBuiltinModule reads a built-in of the runtime, never a file.
 */
let createHash: typeof CreateHash | null = null;

/** SHA-1 of `data` into `out[at, at + 20)`, synchronously, by node:crypto (OpenSSL inside the runtime). */
export const nodeSha1: SyncSha1 = (data, out, at) => {
  createHash ??=
    (globalThis as unknown as { process: { getBuiltinModule(id: "node:crypto"): { createHash: typeof CreateHash } } })
      .process.getBuiltinModule("node:crypto").createHash;
  out.set(createHash("sha1").update(data).digest(), at);
};
