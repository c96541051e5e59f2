// Choker (BEP 3 "Choking and Optimistic Unchoking"): every 10 s unchoke the 4 interested peers with the best rate
// (download rate while leeching, our upload rate to them while seeding), plus one optimistic unchoke rotated every
// 30 s. A pure decision over peer stats, and the `Choker` that applies it to connections; the session owns the
// timers and the rates. The peers of one round may come from several torrents (ids must then be unique).

/** How often the session should call `decideChokes`. */
export const CHOKE_INTERVAL_MS = 10_000;
/** How long an optimistic unchoke lasts before it rotates. */
export const OPTIMISTIC_INTERVAL_MS = 30_000;
/** Regular (tit-for-tat) unchoke slots; the optimistic one comes on top. */
export const UNCHOKE_SLOTS = 4;
/** Peers connected for less than this are "new" and 3 times as likely to be the optimistic unchoke (mainline). */
export const NEW_PEER_MS = 3 * CHOKE_INTERVAL_MS;
/** Weight of a new peer in the optimistic draw. */
export const NEW_PEER_WEIGHT = 3;

/** What the choker knows about one connected peer. */
export interface PeerStats {
  id: string;
  /** The peer is interested in what we have. */
  isInterested: boolean;
  /** Bytes/s we receive from this peer (recent average). */
  downloadRate: number;
  /** Bytes/s we send to this peer (recent average). */
  uploadRate: number;
  /** When the connection was established (ms, the same clock as `now`). */
  connectedAtMs: number;
  /** Its torrent is complete here: rank it by our upload rate (default: the round's `isSeeding`). */
  isSeeding?: boolean;
}

/** Choker memory between rounds: the current optimistic unchoke and when it was chosen. */
export interface ChokerState {
  optimistic: string | null;
  optimisticSinceMs: number;
}

/** The outcome of one round: every peer in `unchoke` is unchoked, every other peer choked. */
export interface ChokeDecision {
  unchoke: Set<string>;
  optimistic: string | null;
  /** Pass this to the next round. */
  state: ChokerState;
}

/** Options of `decideChokes`. */
export interface ChokeOptions {
  now: number;
  random: () => number;
  /** Seeding: rank by our upload rate to the peer instead of its rate to us. */
  isSeeding: boolean;
  /** Regular slots (default UNCHOKE_SLOTS). */
  slots?: number;
}

/** The state before the first round. */
export function createChokerState(): ChokerState {
  return { optimistic: null, optimisticSinceMs: -Infinity };
}

/**
 * One choking round. Only interested peers are unchoked. The best `slots` by rate get regular slots (ties broken
 * at random); the optimistic unchoke stays for OPTIMISTIC_INTERVAL_MS unless it left, lost interest or earned a
 * regular slot, then a new one is drawn among the remaining interested peers, new peers weighted ×3.
 */
export function decideChokes(peers: readonly PeerStats[], state: ChokerState, options: ChokeOptions): ChokeDecision {
  const { now, random, isSeeding } = options;
  const slots = options.slots ?? UNCHOKE_SLOTS;
  const interested = peers.filter((p) => p.isInterested);
  const rateOf = (p: PeerStats) => (p.isSeeding ?? isSeeding) ? p.uploadRate : p.downloadRate;
  const ranked = interested.map((p) => ({ p, rate: rateOf(p), tie: random() }));
  ranked.sort((a, b) => b.rate - a.rate || a.tie - b.tie);
  const unchoke = new Set<string>();
  for (const { p } of ranked.slice(0, slots)) unchoke.add(p.id);

  const rest = interested.filter((p) => !unchoke.has(p.id));
  const current = state.optimistic === null ? undefined : rest.find((p) => p.id === state.optimistic);
  let optimistic: string | null = null;
  let optimisticSinceMs = state.optimisticSinceMs;
  if (current !== undefined && now - state.optimisticSinceMs < OPTIMISTIC_INTERVAL_MS) {
    optimistic = current.id;
  } else {
    optimistic = drawOptimistic(rest, now, random, state.optimistic);
    optimisticSinceMs = now;
  }
  if (optimistic !== null) unchoke.add(optimistic);
  return { unchoke, optimistic, state: { optimistic, optimisticSinceMs } };
}

/** A connection the Choker may choke or unchoke, with the stats of its peer. */
export interface ChokablePeer extends Omit<PeerStats, "isInterested"> {
  conn: {
    readonly peerInterested: boolean;
    readonly amChoking: boolean;
    send(msg: { type: "choke" | "unchoke" }): Promise<void>;
  };
}

/** Runs choke rounds over connected peers (of one torrent or several) and sends the choke/unchoke messages. */
export class Choker {
  #state = createChokerState();
  #now: () => number;
  #random: () => number;

  constructor(options: { now: () => number; random: () => number }) {
    this.#now = options.now;
    this.#random = options.random;
  }

  /** One round (every CHOKE_INTERVAL_MS); `isSeeding` applies to peers that do not say. */
  round(peers: Iterable<ChokablePeer>, isSeeding: boolean): void {
    const list = [...peers];
    const decision = decideChokes(
      list.map((p) => ({ ...p, isInterested: p.conn.peerInterested })),
      this.#state,
      { now: this.#now(), random: this.#random, isSeeding },
    );
    this.#state = decision.state;
    for (const p of list) {
      const isUnchoked = decision.unchoke.has(p.id);
      if (isUnchoked && p.conn.amChoking) p.conn.send({ type: "unchoke" }).catch(() => {});
      else if (!isUnchoked && !p.conn.amChoking) p.conn.send({ type: "choke" }).catch(() => {});
    }
  }

  /** A regular slot is free now, so a newly interested peer may be unchoked before the next round. */
  hasFreeSlot(peers: Iterable<ChokablePeer>): boolean {
    let n = 0;
    for (const p of peers) if (!p.conn.amChoking) n++;
    return n < UNCHOKE_SLOTS;
  }
}

/** A weighted random choice (new peers ×3), avoiding the previous optimistic peer when there is another choice. */
function drawOptimistic(
  candidates: readonly PeerStats[],
  now: number,
  random: () => number,
  previous: string | null,
): string | null {
  const pool = candidates.length > 1 ? candidates.filter((p) => p.id !== previous) : candidates;
  if (pool.length === 0) return null;
  const weight = (p: PeerStats) => now - p.connectedAtMs < NEW_PEER_MS ? NEW_PEER_WEIGHT : 1;
  let total = 0;
  for (const p of pool) total += weight(p);
  let pick = random() * total;
  for (const p of pool) {
    pick -= weight(p);
    if (pick < 0) return p.id;
  }
  return pool[pool.length - 1]!.id;
}
