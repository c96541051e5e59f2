// What the UDP handler sends back to a spoofable source (issue #19): 10,000 junk datagrams, 10,000 announces and
// 10,000 over-long scrapes with bad connection ids, through createUdpHandler (no socket). With --baseline DIR it also
// runs DIR's handler (an older checkout). Run: deno run -A bench/tracker_udp_reflection.ts [--baseline DIR]

import { parseArgs } from "node:util";

async function measure(dir: string) {
  const { createUdpHandler } = await import(`${dir}/lib/tracker/udp_server.ts`);
  const { MemorySwarmStore } = await import(`${dir}/lib/tracker/swarm_store.ts`);
  const { encodeUdpRequest } = await import(`${dir}/lib/tracker/udp_codec.ts`);
  const handler = createUdpHandler({ store: new MemorySwarmStore(), now: () => 1_700_000_000_000 });
  let replies = 0;
  let replyBytes = 0;
  let sentBytes = 0;
  const send = (packet: Uint8Array) => {
    sentBytes += packet.length;
    const reply = handler.handle(packet, "198.51.100.7", 4000);
    if (reply === null) return;
    replies++;
    replyBytes += reply.length;
  };
  for (let i = 0; i < 10_000; i++) {
    const junk = new Uint8Array(16 + (i % 80));
    junk[11] = i % 7;
    send(junk);
  }
  for (let i = 0; i < 10_000; i++) {
    const connectionId = new Uint8Array(8).fill(i & 0xff);
    send(encodeUdpRequest({
      type: "announce",
      connectionId,
      transactionId: i,
      infoHash: new Uint8Array(20).fill(1),
      peerId: new Uint8Array(20).fill(2),
      downloaded: 0,
      left: 0,
      uploaded: 0,
      event: 2,
      ip: 0,
      key: 0,
      numWant: -1,
      port: 6881,
      urlData: new Uint8Array(0),
    }));
    const infoHashes = Array.from({ length: 75 }, () => new Uint8Array(20));
    send(encodeUdpRequest({ type: "scrape", connectionId, transactionId: i, infoHashes }));
  }
  return { replies, replyBytes, sentBytes };
}

const { values } = parseArgs({ args: Deno.args, options: { baseline: { type: "string" } } });
const runs: [string, string][] = [["this tree", new URL("..", import.meta.url).pathname.replace(/\/$/, "")]];
if (values.baseline !== undefined) runs.push(["baseline", values.baseline.replace(/\/$/, "")]);
for (const [name, dir] of runs) {
  const r = await measure(dir);
  console.log(`${name}: 30,000 datagrams (${r.sentBytes} bytes) -> ${r.replies} replies (${r.replyBytes} bytes)`);
}
