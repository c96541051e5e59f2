// The listening port of `btool peer`: one TCP listener, its acceptor and the registry of the torrents it serves. A
// session opens its own unless it is given one (SessionOptions.sharedListener); a process serving many torrents opens
// one and registers each session in it. Owns the listener socket; never the peers the acceptor hands over.

import { BtoolError, errorText } from "../errors.ts";
import { type AcceptingTorrent, type Acceptor, listenTcp, startAcceptor } from "./acceptor.ts";
import { TorrentRegistry } from "./torrent_registry.ts";

/** Options of `openPeerListener`. */
export interface PeerListenerOptions {
  /** Address to listen on (default: dual-stack "::", or 0.0.0.0 where IPv6 is unavailable). */
  hostname?: string | undefined;
  /** TCP port (0 or absent: any free port). */
  port?: number | undefined;
  now: () => number;
  onWarning?: (message: string) => void;
  /** Incoming connections held before their handshake (default MAX_HALF_OPEN_INCOMING). */
  maxHalfOpen?: number | undefined;
  /** Incoming handshake deadline (default INCOMING_HANDSHAKE_TIMEOUT_MS). */
  handshakeTimeoutMs?: number | undefined;
}

/** A listening port and the torrents it serves (the part a session needs is `{ port, torrents }`). */
export interface PeerListener {
  readonly port: number;
  readonly torrents: TorrentRegistry<AcceptingTorrent>;
  readonly acceptor: Acceptor;
  /** Stop accepting and close the half-open sockets (registered torrents keep their peers). */
  close(): Promise<void>;
}

/**
 * Listen and accept until `close()`; each handshake goes to the torrent of `torrents` it names.
 * @throws {BtoolError} listen_failed when the port cannot be bound
 */
export function openPeerListener(options: PeerListenerOptions): PeerListener {
  const port = options.port ?? 0;
  let listener: Deno.Listener;
  try {
    listener = listenTcp(options.hostname, port);
  } catch (err: unknown) {
    throw new BtoolError("listen_failed", `Cannot listen on port ${port}: ${errorText(err)}`, { cause: err });
  }
  const torrents = new TorrentRegistry<AcceptingTorrent>();
  const acceptor = startAcceptor(listener, {
    torrents,
    now: options.now,
    ...(options.onWarning === undefined ? {} : { onWarning: options.onWarning }),
    ...(options.maxHalfOpen === undefined ? {} : { maxHalfOpen: options.maxHalfOpen }),
    ...(options.handshakeTimeoutMs === undefined ? {} : { timeoutMs: options.handshakeTimeoutMs }),
  });
  return {
    port: (listener.addr as Deno.NetAddr).port,
    torrents,
    acceptor,
    close: () => acceptor.close(),
  };
}
