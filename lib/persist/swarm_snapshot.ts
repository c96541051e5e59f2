// The swarm snapshot in the db: the tracker's live peers as chunks of opaque records (chunks.ts), with the record
// format, peer count and save time stored beside the current generation. The record format is the swarm store's.

import type { SqlContext } from "./_sql.ts";
import { ChunkStore } from "./chunks.ts";

/** The current swarm snapshot: chunks of records written by `writeSwarmChunk`, made current by `commitSwarmSnapshot`. */
export interface SwarmSnapshot {
  generation: number;
  /** The record format the writer named (the db stores records as opaque bytes). */
  format: string;
  peers: number;
  savedMs: number;
  chunkCount: number;
  /** The chunks in order, read one at a time (valid while the db is open and this snapshot is current). */
  chunks(): Iterable<Uint8Array>;
}

/** What a committed snapshot records beside its chunks. */
export interface SwarmSnapshotMeta {
  nowMs: number;
  peers: number;
  format: string;
}

const SWARM_CHUNKS = { table: "swarm_chunks", generationKey: "swarm_snapshot_generation", what: "swarm snapshot" };
const FORMAT_KEY = "swarm_snapshot_format";
const PEERS_KEY = "swarm_snapshot_peers";
const SAVED_MS_KEY = "swarm_snapshot_ms";

/** The swarm snapshot of one open TrackerDb (see `TrackerDb.beginSwarmSnapshot` and the rest). */
export class SwarmSnapshotStore
  extends ChunkStore<SwarmSnapshotMeta, Pick<SwarmSnapshot, "format" | "peers" | "savedMs">> {
  constructor(sql: SqlContext) {
    super(sql, SWARM_CHUNKS);
  }

  protected commitInside(meta: SwarmSnapshotMeta): void {
    this.sql.setSettingInside(FORMAT_KEY, meta.format);
    this.sql.setSettingInside(PEERS_KEY, String(meta.peers));
    this.sql.setSettingInside(SAVED_MS_KEY, String(meta.nowMs));
  }

  protected loadInside(): Pick<SwarmSnapshot, "format" | "peers" | "savedMs"> {
    return {
      format: this.sql.getSetting(FORMAT_KEY) ?? "",
      peers: Number(this.sql.getSetting(PEERS_KEY) ?? 0),
      savedMs: Number(this.sql.getSetting(SAVED_MS_KEY) ?? 0),
    };
  }
}
