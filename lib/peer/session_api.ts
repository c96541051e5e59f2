// The public contract of a `btool peer` session (lib/peer/session.ts): its options, status and events, and what a
// caller prepares before starting one (our peer id, the pieces of selected files). Types and pure helpers only.

import type { Metainfo } from "../metainfo.ts";
import { filePieces } from "../file_map.ts";
import type { PieceWriterOptions } from "../storage/piece_writer.ts";
import type { Storage } from "../storage/storage.ts";
import type { ClientAnnounceEvent as AnnounceEvent } from "../tracker/tracker_url.ts";
import { Bitfield } from "../wire/bitfield.ts";
import type { AcceptingTorrent } from "./acceptor.ts";
import type { RateLimiter } from "./rate_limiter.ts";
import type { TorrentRegistry } from "./torrent_registry.ts";

/** Default connection cap (`--max-peers`). */
export const DEFAULT_MAX_PEERS = 50;

/** One status report (sent once per TICK_MS through onProgress and on demand by `status()`). */
export interface SessionStatus {
  /** Verified pieces (of all pieces). */
  havePieces: number;
  pieceCount: number;
  /** Bytes of verified pieces. */
  haveBytes: number;
  totalBytes: number;
  /** Payload bytes received / sent this session. */
  downloaded: number;
  uploaded: number;
  /** Bytes per second (recent average). */
  downloadRate: number;
  uploadRate: number;
  peers: number;
  /** Connected peers that have every piece. */
  seeds: number;
  isComplete: boolean;
  /** Peers banned for sending data that failed the hash. */
  banned: number;
}

/** What a session reports besides progress. */
export type SessionEvent =
  | { type: "listening"; port: number }
  | { type: "announced"; url: string; event: AnnounceEvent | "none"; peers: number; interval: number }
  | { type: "connected"; address: string; isIncoming: boolean }
  | { type: "pieceVerified"; pieceIndex: number }
  | { type: "hashFailed"; pieceIndex: number; peers: string[] }
  | { type: "banned"; address: string; reason: string }
  | { type: "complete" };

/** Options of `createSession`. */
export interface SessionOptions {
  /** Where the data lives (already created by the caller). */
  storage: Storage;
  /** Pieces already verified (from a hash check or a resume file). Copied. */
  have?: Bitfield;
  /** Pieces to download; null/absent = every piece. */
  wanted?: Bitfield | null;
  /**
   * Files to keep (`--only`), as indexes into meta.files; absent = all. Only pieces touching them are fetched, and
   * only their bytes are written (pieces shared with other files are assembled in memory and written in part).
   */
  selectedFiles?: ReadonlySet<number>;
  /** Upload cap in bytes per second (absent: none). */
  uploadLimit?: number;
  /** Download cap in bytes per second (absent: none); reading from peers pauses when it is reached. */
  downloadLimit?: number;
  /** A shared upload limiter (several torrents of one process), instead of `uploadLimit`. Not closed by `stop()`. */
  uploadLimiter?: RateLimiter;
  /** A shared download limiter, instead of `downloadLimit`. Not closed by `stop()`. */
  downloadLimiter?: RateLimiter;
  /** Our 20-byte peer id (default: "-BT0100-" + 12 random characters). */
  peerId?: Uint8Array;
  /** TCP port to listen on (0 = any free port). */
  port?: number;
  /**
   * Serve incoming peers through a listener shared by several torrents instead of listening ourselves: the session
   * registers itself in `torrents` under its info hash and announces `port`.
   */
  sharedListener?: { torrents: TorrentRegistry<AcceptingTorrent>; port: number };
  /** Address to listen on (default "::", dual-stack IPv6 + IPv4, or 0.0.0.0 where IPv6 is unavailable). */
  hostname?: string;
  /** Cap on connections (default DEFAULT_MAX_PEERS). */
  maxPeers?: number;
  /** Trackers to announce to (default: meta.announceList; BEP 27 private torrents only ever use their own). */
  announceList?: string[][];
  /** Extra peers to connect to (host, port), besides tracker peers. */
  peers?: { hostname: string; port: number }[];
  /** Announce to trackers at all (default true). */
  isAnnouncing?: boolean;
  /** Stop seeding once uploaded / totalLength reaches this ratio (onSeedRatio is called). */
  seedRatio?: number;
  /** Clock in ms (default Date.now). */
  now?: () => number;
  /** Uniform [0, 1) (default Math.random). */
  random?: () => number;
  onProgress?: (status: SessionStatus) => void;
  onEvent?: (event: SessionEvent) => void;
  /** Non-fatal problems: tracker failures and warnings, dropped peers worth mentioning. */
  onWarning?: (message: string) => void;
  /** Every wanted piece is verified and written. */
  onComplete?: () => void;
  /** The seed ratio was reached. */
  onSeedRatio?: () => void;
  /** A fatal storage error: the session stops itself and reports it here. */
  onFatal?: (err: unknown) => void;
  /** Handshake deadline: outgoing (default HANDSHAKE_TIMEOUT_MS) and incoming (default INCOMING_HANDSHAKE_TIMEOUT_MS). */
  handshakeTimeoutMs?: number;
  /** Incoming connections held before their handshake (default MAX_HALF_OPEN_INCOMING). */
  maxHalfOpen?: number;
  /** How downloaded pieces are verified and written (Worker on/off, and for tests its module and stall bound). */
  pieceWriter?: Omit<PieceWriterOptions, "onWarning">;
}

/** A running session. */
export interface Session {
  readonly meta: Metainfo;
  readonly peerId: Uint8Array;
  /** The TCP port we listen on. */
  readonly port: number;
  status(): SessionStatus;
  /** Verified pieces now. */
  haveBitfield(): Bitfield;
  /** Add a peer address to connect to. */
  addPeer(hostname: string, port: number): void;
  /** Stop: announce `stopped` (bounded), close every connection and the listener. Idempotent. */
  stop(): Promise<void>;
  /** Resolves when the session has stopped. */
  readonly stopped: Promise<void>;
}

/** A BEP 20 style peer id: "-BT0100-" then 12 random alphanumerics. */
export function createPeerId(random: () => number): Uint8Array {
  const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  let s = "-BT0100-";
  while (s.length < 20) s += alphabet[Math.floor(random() * alphabet.length)];
  return new TextEncoder().encode(s);
}

/** The pieces holding bytes of the selected files (indexes into meta.files). */
export function wantedPieces(meta: Metainfo, selectedFiles: ReadonlySet<number>): Bitfield {
  const wanted = new Bitfield(meta.pieceCount);
  for (const f of selectedFiles) {
    const range = filePieces(meta, f);
    if (range === null) continue;
    for (let i = range.first; i <= range.last; i++) wanted.set(i);
  }
  return wanted;
}
