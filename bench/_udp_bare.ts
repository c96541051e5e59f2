// The bare Deno UDP responder for bench/tracker_udp.ts: answers BEP 15 connect and announce with fixed valid packets
// (transaction id echoed, 50 fixed IPv4 peers) and nothing else, using the same receive/send machinery as
// lib/tracker/udp_server.ts (same loop count and send cap), so the ratio measures the tracker's own logic.
// With --ffi it answers the same packets through startUdpServer's batched libc path (lib/tracker/_udp_ffi.ts), the
// I/O the tracker uses there, so that btool / bare compares the tracker's logic over one I/O machinery.
// Run: deno run --allow-net bench/_udp_bare.ts PORT [LOOPS] | deno run -A bench/_udp_bare.ts PORT --ffi.
// Never use it as a tracker.

import { allocBytes } from "../lib/bytes.ts";
import {
  DEFAULT_UDP_RECEIVE_LOOPS,
  MAX_UDP_PENDING_SENDS,
  startUdpServer,
  UDP_RECEIVE_BUFFER_BYTES,
  type UdpHandler,
} from "../lib/tracker/udp_server.ts";

const PEERS = 50;

function fixedAnnounceReply(): Uint8Array {
  const out = new Uint8Array(20 + 6 * PEERS);
  const v = new DataView(out.buffer);
  v.setUint32(0, 1);
  v.setUint32(8, 1800);
  v.setUint32(12, 40);
  v.setUint32(16, 10);
  for (let i = 20; i < out.length; i++) out[i] = (i * 37) & 0xff;
  return out;
}

async function serve(conn: Deno.DatagramConn, state: { pending: number; waiters: (() => void)[] }) {
  const handler = fixedHandler();
  const buf = new Uint8Array(UDP_RECEIVE_BUFFER_BYTES);
  const done = () => {
    state.pending--;
    if (state.waiters.length > 0 && state.pending < MAX_UDP_PENDING_SENDS) state.waiters.splice(0).forEach((w) => w());
  };
  for (;;) {
    let data: Uint8Array;
    let remote: Deno.Addr;
    try {
      [data, remote] = await conn.receive(buf);
    } catch {
      return;
    }
    const reply = handler.handle(data, "", 0);
    if (reply === null) continue;
    state.pending++;
    conn.send(reply, remote).then(done, done);
    if (state.pending >= MAX_UDP_PENDING_SENDS) await new Promise<void>((r) => state.waiters.push(r));
  }
}

/**
 * Fixed replies to connect and announce (the transaction id echoed), nothing for anything else. Replies are fresh
 * arrays carved from a slab (allocBytes), as the tracker's are: the fastest a reply can be made.
 */
function fixedHandler(): UdpHandler {
  const announce = fixedAnnounceReply();
  const connect = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
  const stats = { received: 0, connects: 0, announces: 0, scrapes: 0, errors: 0, dropped: 0 };
  return {
    stats,
    handle(data) {
      if (data.length < 16) return null;
      const action = data[11];
      let reply: Uint8Array;
      if (action === 0) reply = allocBytes(connect.length);
      else if (action === 1 && data.length >= 98) reply = allocBytes(announce.length);
      else return null;
      reply.set(action === 0 ? connect : announce);
      reply.set(data.subarray(12, 16), 4);
      return reply;
    },
  };
}

if (import.meta.main && Deno.args.includes("--ffi")) {
  const udp = startUdpServer(fixedHandler(), { hostname: "127.0.0.1", port: Number(Deno.args[0] ?? "0") });
  if (udp.io !== "libc") throw new Error("The libc path is not available here (Linux with --allow-ffi only)");
  console.log(`listening ${udp.port}`);
} else if (import.meta.main) {
  const port = Number(Deno.args[0] ?? "0");
  const loops = Number(Deno.args[1] ?? String(DEFAULT_UDP_RECEIVE_LOOPS));
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port });
  console.log(`listening ${(conn.addr as Deno.NetAddr).port}`);
  const state = { pending: 0, waiters: [] as (() => void)[] };
  await Promise.all(Array.from({ length: loops }, () => serve(conn, state)));
}
