// Payload byte counters and their rates (exponential averages per tick), for one peer, one torrent or, summed the
// same way, a whole process. Pure: the caller's timer calls `tickTransfer` once per tick.

/** Weight of the newest tick in the exponential rate averages. */
export const RATE_ALPHA = 0.4;

/** Bytes moved and the recent rates (a PeerEntry is one; a session keeps one for the torrent). */
export interface Transfer {
  /** Payload bytes received / sent so far. */
  downloaded: number;
  uploaded: number;
  /** Bytes counted in the current tick. */
  tickDown: number;
  tickUp: number;
  /** Bytes per second, recent average. */
  downloadRate: number;
  uploadRate: number;
}

/** A Transfer at zero. */
export function createTransfer(): Transfer {
  return { downloaded: 0, uploaded: 0, tickDown: 0, tickUp: 0, downloadRate: 0, uploadRate: 0 };
}

/** Count `bytes` received. */
export function countDownloaded(t: Transfer, bytes: number): void {
  t.downloaded += bytes;
  t.tickDown += bytes;
}

/** Count `bytes` sent. */
export function countUploaded(t: Transfer, bytes: number): void {
  t.uploaded += bytes;
  t.tickUp += bytes;
}

/** End a tick of `seconds`: fold its bytes into the rates and start the next at zero. */
export function tickTransfer(t: Transfer, seconds: number): void {
  t.downloadRate = t.downloadRate * (1 - RATE_ALPHA) + (t.tickDown / seconds) * RATE_ALPHA;
  t.uploadRate = t.uploadRate * (1 - RATE_ALPHA) + (t.tickUp / seconds) * RATE_ALPHA;
  t.tickDown = t.tickUp = 0;
}
