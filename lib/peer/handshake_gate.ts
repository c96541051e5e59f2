// The acceptor's gate for incoming connections that have not finished their handshake (half-open): a cap of their
// own, a short deadline each, and the oldest evicted when a newcomer finds the gate full. Counted apart from our
// outgoing dials and from established peers, so silent sockets cannot keep honest peers out. Time comes in (`now`).

/** An incoming connection must finish its handshake this soon after it was accepted. */
export const INCOMING_HANDSHAKE_TIMEOUT_MS = 5_000;
/** Incoming connections held before their handshake; a newcomer past this evicts the oldest. */
export const MAX_HALF_OPEN_INCOMING = 32;

/** What the gate needs of a socket. */
export interface Closable {
  close(): void;
}

/** Options of `HandshakeGate`. */
export interface HandshakeGateOptions {
  now: () => number;
  /** Default MAX_HALF_OPEN_INCOMING. */
  maxHalfOpen?: number;
  /** Default INCOMING_HANDSHAKE_TIMEOUT_MS. */
  timeoutMs?: number;
}

/**
 * Half-open incoming connections, oldest first. `admit` each accepted socket, `release` it once its handshake
 * finished or failed, and call `sweep` now and then: it closes the ones past their deadline.
 */
export class HandshakeGate<C extends Closable> {
  /** Socket → deadline (ms); insertion order is arrival order. */
  #deadlines = new Map<C, number>();
  #now: () => number;
  #maxHalfOpen: number;
  #timeoutMs: number;
  /** Sockets closed by the gate (evicted or timed out), for status and tests. */
  closedCount = 0;

  constructor(options: HandshakeGateOptions) {
    this.#now = options.now;
    this.#maxHalfOpen = Math.max(1, options.maxHalfOpen ?? MAX_HALF_OPEN_INCOMING);
    this.#timeoutMs = options.timeoutMs ?? INCOMING_HANDSHAKE_TIMEOUT_MS;
  }

  /** Half-open connections held now. */
  get size(): number {
    return this.#deadlines.size;
  }

  /** Start the clock on a newly accepted socket; the oldest half-open one is closed if the gate is full. */
  admit(conn: C): void {
    this.sweep();
    while (this.#deadlines.size >= this.#maxHalfOpen) {
      const oldest = this.#deadlines.keys().next().value!;
      this.#closeOne(oldest);
    }
    this.#deadlines.set(conn, this.#now() + this.#timeoutMs);
  }

  /** The socket's handshake finished (either way): the gate forgets it and does not close it. */
  release(conn: C): void {
    this.#deadlines.delete(conn);
  }

  /** Close every socket past its deadline; returns how many. */
  sweep(): number {
    const t = this.#now();
    let n = 0;
    for (const [conn, deadline] of this.#deadlines) {
      if (deadline > t) break; // deadlines grow with arrival order
      this.#closeOne(conn);
      n++;
    }
    return n;
  }

  /** Close every half-open socket (shutdown). */
  closeAll(): void {
    for (const conn of [...this.#deadlines.keys()]) this.#closeOne(conn);
  }

  #closeOne(conn: C): void {
    this.#deadlines.delete(conn);
    this.closedCount++;
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}
