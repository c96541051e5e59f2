// What a connected peer's messages do (BEP 3, 6, 10): interest, requests through the scheduler, blocks into the
// piece flow, requests to the upload server. Functions over a PeerContext (the session's parts), so they are tested
// without sockets; the session owns the peer table and the connection loops.

import type { Metainfo } from "../metainfo.ts";
import { Bitfield } from "../wire/bitfield.ts";
import { decodeExtendedHandshake, encodeExtendedHandshake } from "../wire/extended_handshake.ts";
import type { WireMessage } from "../wire/messages.ts";
import type { Choker } from "./choker.ts";
import { MAX_PEER_REQUESTS, type PeerConnection } from "./connection.ts";
import { WireError } from "../errors.ts";
import type { PiecePicker } from "./picker.ts";
import type { PieceFlow } from "./piece_flow.ts";
import type { RequestScheduler, SchedulerPeer } from "./request_scheduler.ts";
import { countDownloaded, type Transfer } from "./transfer_stats.ts";
import type { UploadPeer, UploadServer } from "./upload_server.ts";

/** Our client name and version, sent as `v` in the BEP 10 extended handshake (matches the peer id prefix). */
export const CLIENT_NAME = "btool 0.1.0";

/** One connected peer of a torrent. */
export interface PeerEntry extends SchedulerPeer, UploadPeer, Transfer {
  address: string;
  remoteIdHex: string;
  isIncoming: boolean;
  connectedAtMs: number;
  pieces: Bitfield;
  /** Its torrent is complete here (for a choker shared by several torrents). */
  isSeeding: boolean;
}

/** The parts of a session a peer's messages act on. */
export interface PeerContext {
  meta: Metainfo;
  picker: PiecePicker;
  scheduler: RequestScheduler;
  uploads: UploadServer;
  flow: PieceFlow;
  choker: Choker;
  /** Every connected peer of the torrent, by id. */
  peers: ReadonlyMap<string, PeerEntry>;
  /** Our listening port (sent in the BEP 10 handshake). */
  listenPort: number;
  isStopping(): boolean;
  /** Payload bytes received (the session's counters). */
  countDown(bytes: number): void;
  /** Top up every peer's requests but `except`'s. */
  refill(except: PeerEntry | null): void;
}

/** BEP 10 extended handshake first (we offer no extensions; `reqq` is our request cap), then what we have. */
export function greet(ctx: PeerContext, conn: PeerConnection): void {
  if (conn.isExtensionProtocol) {
    const payload = encodeExtendedHandshake({
      extensions: new Map(),
      clientName: CLIENT_NAME,
      listenPort: ctx.listenPort,
      maxRequests: MAX_PEER_REQUESTS,
    });
    void conn.send({ type: "extended", extendedId: 0, payload }).catch(() => {});
  }
  const have = ctx.picker.haveBitfield();
  if (conn.isFastExtension && have.isComplete) void conn.send({ type: "haveAll" }).catch(() => {});
  else if (conn.isFastExtension && have.isEmpty) void conn.send({ type: "haveNone" }).catch(() => {});
  else if (!have.isEmpty) void conn.send({ type: "bitfield", bytes: have.toBytes() }).catch(() => {});
}

/** Act on one message from a connected peer (the connection has checked it). */
export function handlePeerMessage(ctx: PeerContext, entry: PeerEntry, msg: WireMessage): void {
  const picker = ctx.picker;
  switch (msg.type) {
    case "bitfield":
      entry.pieces = Bitfield.fromBytes(msg.bytes, ctx.meta.pieceCount);
      picker.peerBitfield(entry.id, entry.pieces);
      return updateInterest(ctx, entry);
    case "haveAll":
      entry.pieces = new Bitfield(ctx.meta.pieceCount, { isFull: true });
      picker.peerHaveAll(entry.id);
      return updateInterest(ctx, entry);
    case "haveNone":
      entry.pieces = new Bitfield(ctx.meta.pieceCount);
      picker.peerBitfield(entry.id, entry.pieces);
      return updateInterest(ctx, entry);
    case "have":
      entry.pieces.set(msg.pieceIndex);
      if (picker.peerHave(entry.id, msg.pieceIndex) && !entry.conn.amInterested) updateInterest(ctx, entry);
      else if (entry.conn.amInterested) ctx.scheduler.fill(entry);
      if (picker.isComplete && entry.pieces.isComplete && !entry.conn.peerInterested) entry.conn.close();
      return;
    case "choke":
      return ctx.scheduler.releaseAll(entry);
    case "unchoke":
      return ctx.scheduler.fill(entry);
    case "interested":
      if (entry.conn.amChoking && !ctx.isStopping() && ctx.choker.hasFreeSlot(ctx.peers.values())) {
        send(entry, { type: "unchoke" });
      }
      return;
    case "notInterested":
      if (picker.isComplete && entry.pieces.isComplete) entry.conn.close();
      return;
    case "request":
      return ctx.uploads.request(entry, msg);
    case "piece":
      return receiveBlock(ctx, entry, msg);
    case "reject":
      // Do not immediately re-ask the same peer in a loop: others get it on their next fill.
      if (ctx.scheduler.rejected(entry, msg)) ctx.refill(entry);
      return;
    case "extended":
      if (msg.extendedId === 0 && entry.conn.isExtensionProtocol) {
        entry.maxRequests = decodeExtendedHandshake(msg.payload).maxRequests ?? null;
      }
      return;
    case "cancel":
    case "keepAlive":
    case "port":
    case "suggest":
    case "allowedFast":
    case "unknown":
      return;
    default: {
      const never: never = msg;
      throw new WireError("unexpected", `Unexpected message ${String(never)}`);
    }
  }
}

function updateInterest(ctx: PeerContext, entry: PeerEntry): void {
  const isInteresting = ctx.picker.isInteresting(entry.id);
  if (isInteresting && !entry.conn.amInterested) send(entry, { type: "interested" });
  else if (!isInteresting && entry.conn.amInterested) send(entry, { type: "notInterested" });
  if (isInteresting) ctx.scheduler.fill(entry);
  // Two finished peers have nothing to trade.
  if (ctx.picker.isComplete && entry.pieces.isComplete) entry.conn.close();
}

function receiveBlock(
  ctx: PeerContext,
  entry: PeerEntry,
  msg: { pieceIndex: number; begin: number; block: Uint8Array },
): void {
  ctx.scheduler.blockArrived(entry, msg);
  const length = msg.block.length;
  countDownloaded(entry, length);
  ctx.countDown(length);
  const result = ctx.picker.blockReceived(entry.id, { pieceIndex: msg.pieceIndex, begin: msg.begin, length });
  if (result.type === "accepted") {
    for (const c of result.cancel) {
      const other = ctx.peers.get(c.peerId);
      if (other !== undefined) ctx.scheduler.cancel(other, c.request);
    }
    ctx.flow.block(entry.id, msg.pieceIndex, msg.begin, msg.block, result.isPieceComplete);
  }
  ctx.scheduler.fill(entry);
}

function send(entry: PeerEntry, msg: WireMessage): void {
  entry.conn.send(msg).catch(() => {});
}
