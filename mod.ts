// btool as a library: public re-exports of lib/. No side effects.

export * from "./lib/errors.ts";
export * from "./lib/bytes.ts";
export * from "./lib/bencode.ts";
export * from "./lib/sha1.ts";
export * from "./lib/infohash.ts";
export * from "./lib/metainfo.ts";
export * from "./lib/pieces.ts";
export * from "./lib/file_map.ts";
export * from "./lib/storage/storage.ts";
export * from "./lib/storage/check.ts";
export * from "./lib/tracker/udp_codec.ts";
export * from "./lib/tracker/client.ts";
export * from "./lib/tracker/tracker_url.ts";
export * from "./lib/tracker/tracker_reply.ts";
export * from "./lib/tracker/udp_tracker_socket.ts";
export * from "./lib/tracker/tracker_tiers.ts";
export { formatIPv6 } from "./lib/net_address.ts";
export {
  type AccountingSnapshot,
  type CounterChange,
  PersistError,
  SCHEMA_VERSION,
  type SwarmSnapshot,
  type TorrentMeta,
  type TorrentRecord,
  TrackerDb,
  type TrackerDbOptions,
  type UserDelta,
  type UserRecord,
} from "./lib/persist/db.ts";
export { Registry, SIMILAR_PREFIX_DIGITS, SIMILAR_SUFFIX_DIGITS, type SimilarOptions } from "./lib/tracker/registry.ts";
export { DASHBOARD_HTML } from "./lib/tracker/dashboard.ts";
export * from "./lib/wire/bitfield.ts";
export {
  decodeExtendedHandshake,
  encodeExtendedHandshake,
  type ExtendedHandshake,
  MAX_EXTENDED_HANDSHAKE_BYTES,
  MAX_PEER_REQQ,
} from "./lib/wire/extended_handshake.ts";
export {
  createReserved,
  decodeHandshake,
  encodeHandshake,
  type Handshake,
  HANDSHAKE_BYTES,
  hasExtensionProtocol,
  hasFastExtension,
  PROTOCOL_STRING,
} from "./lib/wire/handshake.ts";
export {
  MAX_EXTENDED_PAYLOAD_BYTES,
  MAX_PIECE_COUNT,
  MAX_UNKNOWN_PAYLOAD_BYTES,
  MessageDecoder,
  type MessageDecoderOptions,
} from "./lib/wire/message_decoder.ts";
export { encodeMessage, encodePieceHeader, MAX_BLOCK_BYTES, MessageId, type WireMessage } from "./lib/wire/messages.ts";
export * from "./lib/peer/picker.ts";
export * from "./lib/peer/choker.ts";
export * from "./lib/peer/connection.ts";
export * from "./lib/create.ts";
export {
  AnnounceEvent,
  type AnnounceRequest,
  type AnnounceResult,
  checkAnnounceFields,
  clampNumWant,
  COMPACT_PEER4_BYTES,
  COMPACT_PEER6_BYTES,
  DEFAULT_INTERVAL_S,
  DEFAULT_MIN_INTERVAL_S,
  DEFAULT_NUMWANT,
  DEFAULT_NUMWANT_MAX,
  DEFAULT_PEER_TIMEOUT_S,
  formatIp,
  jitterInterval,
  parseIp,
  PEER_ID_BYTES,
  type ScrapeEntry,
  type ScrapeResult,
} from "./lib/tracker/announce.ts";
export {
  encodeAnnounceResult,
  encodeFailure,
  encodeScrapeResult,
  parseAnnounceQuery,
  parseScrapeQuery,
} from "./lib/tracker/http_codec.ts";
export {
  MemorySwarmStore,
  SWARM_RECORD_BYTES,
  SWARM_RECORD_FORMAT,
  type SwarmExportCursor,
  SwarmRecordFlag,
  type SwarmStore,
} from "./lib/tracker/swarm_store.ts";
export { createTracker, type Stats, type Tracker, type TrackerOptions } from "./lib/tracker/server.ts";
export {
  AccessControl,
  type AccessUser,
  createPasskey,
  FailedPasskeyLimiter,
  isPasskeyHex,
  LeakDetector,
  passkeyFromQuery,
  PasskeyIndex,
  splitPasskeyPath,
  UNREGISTERED_REASON,
} from "./lib/tracker/access.ts";
export {
  Accounting,
  ACCOUNTING_CHUNK_ENTRIES,
  ACCOUNTING_RECORD_BYTES,
  ACCOUNTING_RECORD_FORMAT,
  type AccountingSave,
} from "./lib/tracker/member_accounting.ts";
export { memberAnnounceUrl, personalizeTorrent, Users } from "./lib/tracker/users.ts";
export { PrivateMode, type StatsUser } from "./lib/tracker/private_mode.ts";
export * from "./lib/register.ts";
export * from "./lib/tracker/udp_server.ts";
export * from "./lib/peer/session.ts";
export * from "./lib/peer/acceptor.ts";
export * from "./lib/peer/ban_policy.ts";
export * from "./lib/peer/block_assembler.ts";
export * from "./lib/peer/dialer.ts";
export * from "./lib/peer/handshake_gate.ts";
export * from "./lib/peer/known_peers.ts";
export * from "./lib/peer/peer_messages.ts";
export * from "./lib/peer/piece_flow.ts";
export * from "./lib/peer/rate_limiter.ts";
export * from "./lib/peer/request_scheduler.ts";
export * from "./lib/peer/torrent_registry.ts";
export * from "./lib/peer/tracker_loop.ts";
export * from "./lib/peer/upload_server.ts";
export * from "./lib/peer/resume.ts";
