// startUdpServer (lib/tracker/udp_server.ts), the UDP tracker's I/O, with a scripted handler on 127.0.0.1, on both
// paths ("auto": batched libc on Linux; "deno": Deno.listenDatagram): each datagram reaches the handler with its
// sender, the reply goes back to that sender, a null reply sends nothing, a datagram that fills the receive buffer is
// dropped and counted, and close() frees the port. The real handler over these sockets: tests/integration. Waits
// are bounded (a reply that never comes fails the test); nothing asserts time.

import { deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { fromUtf8, utf8 } from "../../../lib/bytes.ts";
import { startUdpServer, UDP_RECEIVE_BUFFER_BYTES, type UdpHandler } from "../../../lib/tracker/udp_server.ts";
import { receiveDatagram } from "../../_helpers/udp.ts";
import { within } from "../../_helpers/wait.ts";

const AUTO_IO = Deno.build.os === "linux" ? "libc" : "deno";

/** A handler that answers "echo:<text>" (after `seen` records the sender), nothing to "quiet", and throws on "boom". */
function echoHandler(): UdpHandler & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    stats: { received: 0, connects: 0, announces: 0, scrapes: 0, errors: 0, dropped: 0 },
    handle(packet, hostname, port) {
      const text = fromUtf8(packet);
      seen.push(`${text} from ${hostname}:${port}`);
      if (text === "boom") throw new Error("handler bug");
      return text === "quiet" ? null : utf8(`echo:${text}`);
    },
  };
}

/** The next datagram's text (null once closed); a reply that never comes fails the test. */
async function nextReply(conn: Deno.DatagramConn): Promise<string | null> {
  const got = await within(receiveDatagram(conn), "a reply");
  return got === null ? null : fromUtf8(got.data);
}

for (const io of ["auto", "deno"] as const) {
  const expectedIo = io === "auto" ? AUTO_IO : "deno";

  Deno.test(`startUdpServer(${io}) answers each sender through the handler; null sends nothing; oversize is dropped`, async () => {
    const handler = echoHandler();
    const server = startUdpServer(handler, { hostname: "127.0.0.1", port: 0, io });
    const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const clientPort = (client.addr as Deno.NetAddr).port;
    const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: server.port };
    try {
      equal(server.io, expectedIo);
      deepEqual(server.addrs.map((a) => `${a.transport} ${a.hostname}:${a.port}`), [`udp 127.0.0.1:${server.port}`]);
      await client.send(utf8("quiet"), to);
      await client.send(new Uint8Array(UDP_RECEIVE_BUFFER_BYTES).fill(0x61), to); // may have been cut: dropped
      await client.send(utf8("hello"), to);
      equal(await nextReply(client), "echo:hello", "the first reply is hello's: quiet and the oversize got none");
      deepEqual(handler.seen, [`quiet from 127.0.0.1:${clientPort}`, `hello from 127.0.0.1:${clientPort}`]);
      deepEqual([handler.stats.received, handler.stats.dropped], [1, 1], "the oversize datagram, counted");
    } finally {
      client.close();
      await server.close();
    }
  });

  Deno.test(`startUdpServer(${io}).close() is idempotent and frees the port`, async () => {
    const server = startUdpServer(echoHandler(), { hostname: "127.0.0.1", port: 0, io });
    await server.close();
    await server.close();
    const again = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: server.port });
    again.close();
  });
}

Deno.test({
  name: "startUdpServer(auto): a handler that throws is warned about, and the rest of the batch is answered",
  ignore: AUTO_IO !== "libc",
  fn: async () => {
    const warnings: string[] = [];
    const server = startUdpServer(echoHandler(), {
      hostname: "127.0.0.1",
      port: 0,
      onWarning: (m) => warnings.push(m),
    });
    const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port: server.port };
    try {
      await client.send(utf8("boom"), to);
      await client.send(utf8("after"), to);
      equal(await nextReply(client), "echo:after");
      ok(warnings.some((w) => w.includes("handler bug")), warnings.join("; "));
    } finally {
      client.close();
      await server.close();
    }
  },
});
