// Fixture for tests/integration/udp_tracker_test.ts: a receive Worker for the libc UDP path that stops at once, as a
// real one does after a run of hard receive errors.
const worker = self as unknown as Worker;
worker.onmessage = () => worker.postMessage("stopped");
