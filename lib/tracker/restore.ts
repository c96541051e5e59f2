// What a starting tracker loads from its db into the swarm store: the swarm snapshot's live peers, up to the store's
// caps. Completed counts are not loaded: the store reads them when a swarm is made (completedOf), and start-up keeps
// of them only a fixed-size filter of the counted hashes (completed_filter.ts), whatever the db holds (issue #19).
// No timers, no sockets.

import { errorText, TrackerError } from "../errors.ts";
import type { TrackerDb } from "../persist/db.ts";
import { SWARM_RECORD_FORMAT, type SwarmStore } from "./swarm_store.ts";

/** Options of restoreSnapshot. */
export interface RestoreOptions {
  /** Peers last seen before this are not restored. */
  minLastSeenMs: number;
  onWarning?: (message: string) => void;
}

/**
 * Put the db's swarm snapshot back into `store`, keeping last-seen times and completion flags. Past the store's caps
 * (a smaller --max-peers than the snapshot's) it keeps what fits and warns; an unknown record format is skipped with a
 * warning.
 * @returns peers restored
 */
export function restoreSnapshot(
  db: Pick<TrackerDb, "loadSwarmSnapshot">,
  store: SwarmStore,
  options: RestoreOptions,
): number {
  const onWarning = options.onWarning ?? (() => {});
  const saved = db.loadSwarmSnapshot();
  if (saved === null) return 0;
  if (saved.format !== SWARM_RECORD_FORMAT) {
    onWarning(`Not restoring the swarm snapshot: unknown record format "${saved.format}"`);
    return 0;
  }
  let peers = 0;
  try {
    for (const chunk of saved.chunks()) peers += store.importRecords(chunk, { minLastSeenMs: options.minLastSeenMs });
  } catch (err: unknown) {
    if (!(err instanceof TrackerError)) throw err;
    onWarning(`Restored ${peers} peers of the swarm snapshot, then: ${errorText(err)}`);
    peers = store.totals().peers;
  }
  return peers;
}
