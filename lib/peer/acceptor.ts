// Incoming peers on one listening socket: each accepted socket waits in the HandshakeGate (own cap and deadline,
// apart from outgoing dials and peer slots) until its handshake names a torrent of the TorrentRegistry, which then
// gets the established connection. Owns the accept loop and the half-open sockets; never the peers it hands over.

import { errorText } from "../errors.ts";
import type { InfoHash } from "../infohash.ts";
import { formatHostPort, unmapIPv4 } from "../net_address.ts";
import { PeerConnection, type PeerConnectionOptions } from "./connection.ts";
import { HandshakeGate, type HandshakeGateOptions } from "./handshake_gate.ts";
import type { TorrentRegistry } from "./torrent_registry.ts";

/** How often the gate closes half-open sockets past their deadline. */
export const GATE_SWEEP_MS = 1_000;

/** A torrent as the acceptor sees it. */
export interface AcceptingTorrent {
  /** Connection options for this torrent, or null when it takes no incoming peer now (stopping, full). */
  incomingOptions(): PeerConnectionOptions | null;
  /** Take an established incoming connection (the torrent owns and closes it from now on). */
  addIncoming(conn: PeerConnection, address: string): void;
}

/** Options of `startAcceptor`. */
export interface AcceptorOptions extends Partial<HandshakeGateOptions> {
  torrents: TorrentRegistry<AcceptingTorrent>;
  onWarning?: (message: string) => void;
}

/** A running accept loop. */
export interface Acceptor {
  /** Half-open sockets now and closed by the gate so far. */
  readonly gate: HandshakeGate<Deno.Conn>;
  /** Stop accepting, close half-open sockets and wait for the loop and pending handshakes. */
  close(): Promise<void>;
}

/** Accept on `listener` until `close()`. */
export function startAcceptor(listener: Deno.Listener, options: AcceptorOptions): Acceptor {
  const gate = new HandshakeGate<Deno.Conn>({
    now: options.now ?? Date.now,
    ...(options.maxHalfOpen === undefined ? {} : { maxHalfOpen: options.maxHalfOpen }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
  const handshakes = new Set<Promise<void>>();
  let isClosing = false;
  const sweepTimer = setInterval(() => gate.sweep(), GATE_SWEEP_MS);

  const resolve = (infoHash: InfoHash) => options.torrents.get(infoHash)?.incomingOptions() ?? null;

  async function handshake(conn: Deno.Conn, address: string): Promise<void> {
    let pc: PeerConnection;
    try {
      pc = await PeerConnection.accept(conn, resolve);
    } catch {
      return; // a failed handshake costs only this socket (accept closed it)
    } finally {
      gate.release(conn);
    }
    const torrent = isClosing ? null : options.torrents.get(pc.infoHash);
    if (torrent === null) pc.close();
    else torrent.addIncoming(pc, address);
  }

  async function loop(): Promise<void> {
    while (!isClosing) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (err: unknown) {
        if (isClosing || err instanceof Deno.errors.BadResource) return;
        options.onWarning?.(`Accept failed: ${errorText(err)}`);
        continue;
      }
      if (isClosing) {
        conn.close();
        return;
      }
      const remote = conn.remoteAddr as Deno.NetAddr;
      gate.admit(conn);
      const task = handshake(conn, formatHostPort(unmapIPv4(remote.hostname), remote.port));
      handshakes.add(task);
      void task.finally(() => handshakes.delete(task));
    }
  }

  const loopTask = loop();
  let closing: Promise<void> | null = null;
  return {
    gate,
    close() {
      closing ??= (async () => {
        isClosing = true;
        clearInterval(sweepTimer);
        try {
          listener.close();
        } catch {
          // already closed
        }
        await loopTask;
        gate.closeAll();
        while (handshakes.size > 0) await Promise.allSettled([...handshakes]);
      })();
      return closing;
    },
  };
}

/**
 * Listen on `hostname`, or by default on `::` — dual-stack on Linux (IPv4 peers arrive as ::ffff:a.b.c.d) — falling
 * back to 0.0.0.0 where IPv6 is unavailable.
 */
export function listenTcp(hostname: string | undefined, port: number): Deno.Listener {
  if (hostname !== undefined) return Deno.listen({ hostname, port, transport: "tcp" });
  try {
    return Deno.listen({ hostname: "::", port, transport: "tcp" });
  } catch {
    return Deno.listen({ hostname: "0.0.0.0", port, transport: "tcp" });
  }
}
