// An in-memory Deno.Conn for pure connection tests: the test pushes what the peer sends and sees what we write.
// Writes can be made to block forever (a peer that does not read). FakeListener hands such sockets to an accept
// loop. openFakePeer opens a connection over one. No sockets, no timers.

import type { Metainfo } from "../../../lib/metainfo.ts";
import { PeerConnection } from "../../../lib/peer/connection.ts";
import { createReserved, encodeHandshake } from "../../../lib/wire/handshake.ts";

/** A scripted peer on the other end of a fake Deno.Conn. */
export class FakeConn {
  /** Bytes we wrote (only those the peer "read": none while `isBlocked`). */
  readonly written: Uint8Array[] = [];
  /** Writes never complete (the peer does not read). */
  isBlocked = false;
  isClosed = false;
  #inbox: Uint8Array[] = [];
  #isEnded = false;
  #readWaiter: (() => void) | null = null;
  #writeWaiters: (() => void)[] = [];
  readonly conn: Deno.Conn;

  constructor(hostname = "127.0.0.1", port = 6881) {
    const addr: Deno.NetAddr = { transport: "tcp", hostname, port };
    this.conn = {
      read: (p: Uint8Array) => this.#read(p),
      write: (p: Uint8Array) => this.#write(p),
      close: () => this.#close(),
      localAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
      remoteAddr: addr,
    } as unknown as Deno.Conn;
  }

  /** The peer sends `bytes`. */
  push(bytes: Uint8Array): void {
    this.#inbox.push(bytes);
    this.#wake();
  }

  /** The peer closes its side (our reads see EOF). */
  end(): void {
    this.#isEnded = true;
    this.#wake();
  }

  #wake(): void {
    const w = this.#readWaiter;
    this.#readWaiter = null;
    w?.();
  }

  async #read(p: Uint8Array): Promise<number | null> {
    while (this.#inbox.length === 0 && !this.#isEnded && !this.isClosed) {
      await new Promise<void>((resolve) => this.#readWaiter = resolve);
    }
    if (this.isClosed) throw new Deno.errors.BadResource("closed");
    const head = this.#inbox[0];
    if (head === undefined) return null;
    const n = Math.min(p.length, head.length);
    p.set(head.subarray(0, n));
    if (n === head.length) this.#inbox.shift();
    else this.#inbox[0] = head.subarray(n);
    return n;
  }

  async #write(p: Uint8Array): Promise<number> {
    if (this.isClosed) throw new Deno.errors.BadResource("closed");
    if (this.isBlocked) {
      await new Promise<void>((resolve) => this.#writeWaiters.push(resolve));
      throw new Deno.errors.BadResource("closed");
    }
    this.written.push(p.slice());
    return p.length;
  }

  #close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.#wake();
    for (const w of this.#writeWaiters.splice(0)) w();
  }
}

/** A Deno.Listener fed by the test (`arrive`); cast it where a Deno.Listener is wanted. */
export class FakeListener {
  #queue: Deno.Conn[] = [];
  #waiter: ((c: Deno.Conn | null) => void) | null = null;
  #isClosed = false;
  arrive(conn: Deno.Conn): void {
    const w = this.#waiter;
    this.#waiter = null;
    if (w !== null) w(conn);
    else this.#queue.push(conn);
  }
  accept(): Promise<Deno.Conn> {
    if (this.#isClosed) return Promise.reject(new Deno.errors.BadResource("closed"));
    const c = this.#queue.shift();
    if (c !== undefined) return Promise.resolve(c);
    return new Promise((resolve, reject) => {
      this.#waiter = (conn) => conn === null ? reject(new Deno.errors.BadResource("closed")) : resolve(conn);
    });
  }
  close(): void {
    this.#isClosed = true;
    this.#waiter?.(null);
  }
}

/** Our PeerConnection over a FakeConn whose peer `-XX0001-<tag padded with x to 12>` sent its handshake (BEP 6). */
export async function openFakePeer(meta: Metainfo, tag: string): Promise<{ fake: FakeConn; conn: PeerConnection }> {
  const fake = new FakeConn();
  fake.push(encodeHandshake({
    reserved: createReserved({ isFastExtension: true }),
    infoHash: meta.infoHash,
    peerId: new TextEncoder().encode(`-XX0001-${tag.padEnd(12, "x")}`),
  }));
  const conn = await PeerConnection.open(fake.conn, {
    infoHash: meta.infoHash,
    peerId: new TextEncoder().encode("-BT0100-ourselves000"),
    geometry: meta,
  });
  return { fake, conn };
}
