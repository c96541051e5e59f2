// Worker entry of the libc HTTP server (lib/tracker/_http_ffi.ts): blocks in epoll_wait on the server's epoll set
// while the main thread is idle, and wakes it with a message when something is ready. It reads and writes no
// socket: the main thread does all of that. Messages in: { epollFd, sab }. Out: 1 per wake-up, then "stopped" once.
// Protocol (Int32 words of `sab`): the main thread stores WAIT_ARMED = 1 when it is done with the set; the Worker
// stores 0 before it posts, so the two never wait on the set at once. WAIT_STOP = 1 (with a write to the server's
// eventfd, which is in the set) ends the Worker.

import { EINTR, errno, openLibrary } from "./_libc.ts";
import { EPOLL_EVENT_BYTES, WAIT_ARMED, WAIT_STOP, WAIT_SYMBOLS } from "./_http_epoll.ts";

/** Consecutive failed waits after which the Worker stops (the server then polls; no busy spin on a broken set). */
const MAX_WAIT_FAILURES = 100;

interface Start {
  epollFd: number;
  sab: SharedArrayBuffer;
}

const worker = self as unknown as Worker & { close(): void };

worker.onmessage = (e: MessageEvent<Start>) => {
  const { epollFd, sab } = e.data;
  const lib = openLibrary(WAIT_SYMBOLS);
  if (lib === null) {
    worker.postMessage("stopped");
    return;
  }
  const ctl = new Int32Array(sab);
  const events = new Uint8Array(EPOLL_EVENT_BYTES);
  let failures = 0;
  try {
    for (;;) {
      while (Atomics.load(ctl, WAIT_ARMED) === 0 && Atomics.load(ctl, WAIT_STOP) === 0) {
        Atomics.wait(ctl, WAIT_ARMED, 0, 1_000);
      }
      if (Atomics.load(ctl, WAIT_STOP) !== 0) break;
      const n = lib.symbols.epoll_wait(epollFd, events, 1, -1);
      if (Atomics.load(ctl, WAIT_STOP) !== 0) break;
      if (n < 0) {
        if (errno(lib) !== EINTR && ++failures >= MAX_WAIT_FAILURES) break;
        continue;
      }
      failures = 0;
      if (n === 0) continue;
      Atomics.store(ctl, WAIT_ARMED, 0);
      worker.postMessage(1);
    }
  } finally {
    lib.close();
    worker.postMessage("stopped");
  }
};
