// The tracker db's schema as an append-only list of migrations (applied by TrackerDb.open). No code runs here.

/**
 * Schema migrations; `PRAGMA user_version` = how many have been applied. Append only: never edit a released
 * entry. A fresh file gets every entry in order.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE torrents (
     info_hash     TEXT PRIMARY KEY NOT NULL CHECK (length(info_hash) = 40),
     is_registered INTEGER NOT NULL DEFAULT 0,
     name          TEXT,
     size          INTEGER,
     piece_length  INTEGER,
     comment       TEXT,
     created_by    TEXT,
     extra         TEXT,
     registered_ms INTEGER,
     first_seen_ms INTEGER NOT NULL,
     last_seen_ms  INTEGER NOT NULL,
     completed     INTEGER NOT NULL DEFAULT 0
   ) WITHOUT ROWID;
   CREATE TABLE settings (
     key   TEXT PRIMARY KEY NOT NULL,
     value TEXT NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE swarm_snapshot (
     info_hash    TEXT NOT NULL,
     peer_id      TEXT NOT NULL,
     ip           TEXT NOT NULL,
     port         INTEGER NOT NULL,
     left_bytes   INTEGER NOT NULL,
     uploaded     INTEGER NOT NULL,
     downloaded   INTEGER NOT NULL,
     last_seen_ms INTEGER NOT NULL
   );`,
  // 2 (issue #6): members of a private tracker and per-user accounting. A revoked user keeps its row (and totals);
  // user_peers holds the last uploaded/downloaded each (user, torrent, peer) announced, so deltas survive restarts.
  `CREATE TABLE users (
     id          INTEGER PRIMARY KEY,
     name        TEXT NOT NULL UNIQUE,
     passkey     TEXT NOT NULL UNIQUE CHECK (length(passkey) = 32),
     created_ms  INTEGER NOT NULL,
     revoked_ms  INTEGER,
     rotated_ms  INTEGER,
     uploaded    INTEGER NOT NULL DEFAULT 0,
     downloaded  INTEGER NOT NULL DEFAULT 0
   );
   CREATE TABLE user_peers (
     user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
     info_hash       TEXT NOT NULL,
     peer_id         TEXT NOT NULL,
     last_uploaded   INTEGER NOT NULL,
     last_downloaded INTEGER NOT NULL,
     last_seen_ms    INTEGER NOT NULL,
     PRIMARY KEY (user_id, info_hash, peer_id)
   ) WITHOUT ROWID;`,
  // 3: the swarm snapshot as chunks of fixed-size binary records (about 1 MiB each, written one per event-loop turn)
  // by generation; settings.swarm_snapshot_generation names the complete one (migration 5 drops swarm_snapshot).
  `CREATE TABLE swarm_chunks (
     generation INTEGER NOT NULL,
     seq        INTEGER NOT NULL,
     records    BLOB NOT NULL,
     PRIMARY KEY (generation, seq)
   );`,
  // 4 (issue #6): accounting's last counters as chunks of binary records by generation, like the swarm snapshot;
  // settings.accounting_generation names the complete one, committed in the same transaction as the users' deltas.
  // One random-key upsert per peer into user_peers was too slow (docs/PERFORMANCE.md); migration 5 drops it.
  `CREATE TABLE accounting_chunks (
     generation INTEGER NOT NULL,
     seq        INTEGER NOT NULL,
     records    BLOB NOT NULL,
     PRIMARY KEY (generation, seq)
   );`,
  // 5: drop the row formats of schema versions 1-2 (swarm_snapshot, user_peers: no installed base reads them).
  `DROP TABLE IF EXISTS swarm_snapshot;
   DROP TABLE user_peers;`,
];

/** The schema version this build writes. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;
