// Connection id cost on the UDP hot path (issue #7): btool's issuer (HalfSipHash-2-4 under a per-period key)
// against the obvious alternative, HMAC-SHA1 through node:crypto, plus decoding one announce for scale.
// Run: deno run -A bench/udp_connection_id.ts   (bounded: a few seconds; median of 3; the machine may be shared)

import { createHmac } from "node:crypto";
import { createConnectionIdIssuer, decodeUdpRequest, encodeUdpRequest } from "../lib/tracker/udp_codec.ts";

const ROUNDS = 3;
const N_FAST = 300_000;
const N_HMAC = 30_000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function nsPerOp(n: number, fn: (i: number) => void): number {
  const runs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn(i);
    runs.push(((performance.now() - t0) * 1e6) / n);
  }
  return median(runs);
}

const secret = crypto.getRandomValues(new Uint8Array(32));
const issuer = createConnectionIdIssuer({ secret, now: Date.now });
const id = issuer.issue("127.0.0.1", 40000);
let sink = 0;

const verifyNs = nsPerOp(N_FAST, () => {
  if (issuer.verify(id, "127.0.0.1", 40000)) sink++;
});
const badNs = nsPerOp(N_FAST, () => {
  if (issuer.verify(id, "127.0.0.2", 40000)) sink++;
});
const hmacNs = nsPerOp(N_HMAC, (i) => {
  const mac = createHmac("sha1", secret).update(`127.0.0.1:40000:${i & 7}`).digest();
  sink += mac[0]!;
});
const packet = encodeUdpRequest({
  type: "announce",
  connectionId: id,
  transactionId: 1,
  infoHash: new Uint8Array(20),
  peerId: new Uint8Array(20),
  downloaded: 0,
  left: 100,
  uploaded: 0,
  event: 2,
  ip: 0,
  key: 1,
  numWant: -1,
  port: 6881,
  urlData: new Uint8Array(0),
});
const decodeNs = nsPerOp(N_FAST, () => {
  if (decodeUdpRequest(packet, { connectionIds: issuer, address: "127.0.0.1", port: 40000 }).type === "request") sink++;
});

console.log(`verify, good id (HalfSipHash):       ${verifyNs.toFixed(0)} ns`);
console.log(`verify, bad id (3 periods tried):    ${badNs.toFixed(0)} ns`);
console.log(
  `HMAC-SHA1 via node:crypto, one id:   ${hmacNs.toFixed(0)} ns   (${(hmacNs / verifyNs).toFixed(1)}x verify)`,
);
console.log(`decode announce + verify:            ${decodeNs.toFixed(0)} ns`);
console.log(`(median of ${ROUNDS}; sink ${sink > 0 ? "ok" : "?"})`);
