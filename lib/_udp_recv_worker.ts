// Worker entry of the FFI UDP path (lib/tracker/_udp_ffi.ts, started by lib/tracker/udp_server.ts): blocks in
// recvmmsg on the tracker's socket, copies each batch into the shared buffer once the main thread has handed the
// previous one back, and wakes the main thread with a message. It never touches the store and never sends.
// Messages in: { fd, sab, batch, slotBytes }. Out: a batch size (number), then "stopped" once, after which the fd
// is no longer read.

import {
  createMessageVector,
  CTL_READY,
  CTL_STOP,
  CTL_WORDS,
  errno,
  isTransientReceiveError,
  MSG_LEN_OFFSET,
  MSG_WAITFORONE,
  MSGHDR_BYTES,
  openLibc,
  sharedLayout,
  UDP_NAME_BYTES,
} from "./tracker/_udp_ffi.ts";

/** Consecutive hard receive errors after which the Worker stops (no busy spin on a broken socket). */
const MAX_RECEIVE_FAILURES = 100;

interface Start {
  fd: number;
  sab: SharedArrayBuffer;
  batch: number;
  slotBytes: number;
}

const worker = self as unknown as Worker & { close(): void };

worker.onmessage = (e: MessageEvent<Start>) => {
  const { fd, sab, batch, slotBytes } = e.data;
  const lib = openLibc();
  if (lib === null) {
    worker.postMessage("stopped");
    return;
  }
  const ctl = new Int32Array(sab, 0, CTL_WORDS);
  const { dataAt, namesAt, lensAt } = sharedLayout(batch, slotBytes);
  const shared = new Uint8Array(sab);
  const lens = new Int32Array(sab, lensAt, batch * 2);
  // The kernel writes into private buffers, so the next batch is received while the main thread answers this one.
  const data = new Uint8Array(batch * slotBytes);
  const names = new Uint8Array(batch * UDP_NAME_BYTES);
  const v = createMessageVector(batch, slotBytes, data, names);
  let failures = 0;
  try {
    while (Atomics.load(ctl, CTL_STOP) === 0) {
      for (let i = 0; i < batch; i++) v.msgView.setUint32(i * MSGHDR_BYTES + 8, 28, true);
      const got = lib.symbols.recvmmsg(fd, v.msgs, batch, MSG_WAITFORONE, null);
      if (got <= 0) {
        if (got < 0 && !isTransientReceiveError(errno(lib)) && ++failures >= MAX_RECEIVE_FAILURES) break;
        continue;
      }
      failures = 0;
      // Wait for the main thread to hand the shared batch back (it stores 0 and notifies), or for the stop flag.
      while (Atomics.load(ctl, CTL_READY) !== 0 && Atomics.load(ctl, CTL_STOP) === 0) {
        Atomics.wait(ctl, CTL_READY, Atomics.load(ctl, CTL_READY), 100);
      }
      if (Atomics.load(ctl, CTL_STOP) !== 0) break;
      for (let i = 0; i < got; i++) {
        const len = v.msgView.getUint32(i * MSGHDR_BYTES + MSG_LEN_OFFSET, true);
        shared.set(data.subarray(i * slotBytes, i * slotBytes + Math.min(len, slotBytes)), dataAt + i * slotBytes);
        shared.set(names.subarray(i * UDP_NAME_BYTES, (i + 1) * UDP_NAME_BYTES), namesAt + i * UDP_NAME_BYTES);
        lens[i * 2] = len;
        lens[i * 2 + 1] = v.msgView.getUint32(i * MSGHDR_BYTES + 8, true);
      }
      Atomics.store(ctl, CTL_READY, got);
      worker.postMessage(got);
    }
  } finally {
    lib.close();
    worker.postMessage("stopped");
  }
};
