// HandshakeGate with a hand-driven clock and fake sockets: its own cap with oldest-first eviction, the deadline,
// and release of sockets whose handshake finished.

import {
  HandshakeGate,
  INCOMING_HANDSHAKE_TIMEOUT_MS,
  MAX_HALF_OPEN_INCOMING,
} from "../../../lib/peer/handshake_gate.ts";
import { deepEqual, equal } from "../../_helpers/assert.ts";
import { manualClock } from "../../_helpers/clock.ts";

class Sock {
  isClosed = false;
  constructor(readonly name: string) {}
  close(): void {
    this.isClosed = true;
  }
}

Deno.test("HandshakeGate closes half-open sockets at their deadline, not before", () => {
  const c = manualClock(1_000_000);
  const gate = new HandshakeGate<Sock>({ now: c.now });
  const a = new Sock("a");
  gate.admit(a);
  c.advance(INCOMING_HANDSHAKE_TIMEOUT_MS / 2);
  const b = new Sock("b");
  gate.admit(b);
  c.advance(INCOMING_HANDSHAKE_TIMEOUT_MS / 2 - 1);
  equal(gate.sweep(), 0);
  c.advance(1);
  equal(gate.sweep(), 1);
  deepEqual([a.isClosed, b.isClosed], [true, false]);
  c.advance(INCOMING_HANDSHAKE_TIMEOUT_MS);
  equal(gate.sweep(), 1);
  equal(b.isClosed, true);
  equal(gate.size, 0);
  equal(gate.closedCount, 2);
});

Deno.test("HandshakeGate evicts the oldest half-open socket when full, so a newcomer always gets in", () => {
  const c = manualClock(1_000_000);
  const gate = new HandshakeGate<Sock>({ now: c.now });
  const silent: Sock[] = [];
  for (let i = 0; i < 3 * MAX_HALF_OPEN_INCOMING; i++) {
    const s = new Sock(`s${i}`);
    silent.push(s);
    gate.admit(s);
    c.advance(1);
    equal(gate.size, Math.min(i + 1, MAX_HALF_OPEN_INCOMING));
  }
  const honest = new Sock("honest");
  gate.admit(honest);
  equal(gate.size, MAX_HALF_OPEN_INCOMING);
  equal(honest.isClosed, false);
  equal(silent.filter((s) => s.isClosed).length, 2 * MAX_HALF_OPEN_INCOMING + 1, "the oldest went first");
  equal(silent.at(-1)!.isClosed, false);
  gate.release(honest); // its handshake finished in time
  c.advance(INCOMING_HANDSHAKE_TIMEOUT_MS);
  gate.sweep();
  equal(honest.isClosed, false, "a released socket is the torrent's, never closed by the gate");
  equal(silent.every((s) => s.isClosed), true);
  equal(gate.size, 0);
});

Deno.test("HandshakeGate honours its options and closeAll()", () => {
  const c = manualClock(1_000_000);
  const gate = new HandshakeGate<Sock>({ now: c.now, maxHalfOpen: 2, timeoutMs: 10 });
  const socks = [new Sock("a"), new Sock("b"), new Sock("c")];
  for (const s of socks) gate.admit(s);
  deepEqual(socks.map((s) => s.isClosed), [true, false, false]);
  c.advance(10);
  gate.admit(new Sock("d")); // admitting sweeps first: b and c are due
  deepEqual(socks.map((s) => s.isClosed), [true, true, true]);
  equal(gate.size, 1);
  gate.closeAll();
  equal(gate.size, 0);
});
