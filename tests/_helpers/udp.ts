// UDP helpers for tests that play a tracker on a real datagram socket.

import { decodeUdpRequest, encodeUdpReply, type UdpReply, type UdpRequest } from "../../lib/tracker/udp_codec.ts";
import type { ConnectionIdIssuer } from "../../lib/tracker/udp_connection_ids.ts";

/** The next datagram on `conn` with its sender, or null once `conn` is closed (which ends a test's receive loop). */
export async function receiveDatagram(
  conn: Deno.DatagramConn,
): Promise<{ data: Uint8Array; addr: Deno.NetAddr } | null> {
  try {
    const [data, addr] = await conn.receive();
    return { data, addr: addr as Deno.NetAddr };
  } catch {
    return null;
  }
}

/** What playUdpTracker saw of one datagram: a request, junk ("drop"), or a connection id it did not issue ("bad-id"). */
export type SeenPacket = UdpRequest | "drop" | "bad-id";

/**
 * A BEP 15 tracker played by a test on `conn`, for at most `maxPackets` datagrams or until `conn` closes: each is
 * decoded with `issuer`'s connection ids and reported to `seen`; junk gets nothing, a bad id its action-3 error, a
 * request what `answer` returns (null: nothing). connectReply() is the usual answer to a connect.
 */
export async function playUdpTracker(
  conn: Deno.DatagramConn,
  issuer: ConnectionIdIssuer,
  answer: (r: UdpRequest, from: Deno.NetAddr) => UdpReply | null,
  options: { maxPackets?: number; seen?: (what: SeenPacket, from: Deno.NetAddr) => void } = {},
): Promise<void> {
  for (let i = 0; i < (options.maxPackets ?? 1000); i++) {
    const got = await receiveDatagram(conn);
    if (got === null) return;
    const { data, addr } = got;
    const d = decodeUdpRequest(data, { connectionIds: issuer, address: addr.hostname, port: addr.port });
    if (d.type === "drop") {
      options.seen?.("drop", addr);
      continue;
    }
    if (d.type === "error") {
      options.seen?.("bad-id", addr);
      await conn.send(encodeUdpReply({ type: "error", transactionId: d.transactionId, message: d.message }), addr);
      continue;
    }
    options.seen?.(d.request, addr);
    const reply = answer(d.request, addr);
    if (reply !== null) await conn.send(encodeUdpReply(reply), addr);
  }
}

/** The connect reply to `r` from `from`: a connection id `issuer` made for that address. */
export function connectReply(r: UdpRequest, issuer: ConnectionIdIssuer, from: Deno.NetAddr): UdpReply {
  return { type: "connect", transactionId: r.transactionId, connectionId: issuer.issue(from.hostname, from.port) };
}
