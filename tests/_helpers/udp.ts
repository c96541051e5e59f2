// UDP helpers for tests that play a tracker on a real datagram socket.

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
