// Peer sessions for integration tests.

import type { Metainfo } from "../../lib/metainfo.ts";
import { createSession } from "../../lib/peer/session.ts";
import type { Session, SessionOptions } from "../../lib/peer/session_api.ts";
import { createMemoryStorage } from "../../lib/storage/storage.ts";
import { Bitfield } from "../../lib/wire/bitfield.ts";

/** A session on 127.0.0.1 serving `data` from memory, with every piece unless `options.have`; no tracker. */
export function memorySeed(meta: Metainfo, data: Uint8Array, options: Partial<SessionOptions> = {}): Session {
  return createSession(meta, {
    storage: createMemoryStorage(meta, { data }),
    have: new Bitfield(meta.pieceCount, { isFull: true }),
    hostname: "127.0.0.1",
    isAnnouncing: false,
    ...options,
  });
}
