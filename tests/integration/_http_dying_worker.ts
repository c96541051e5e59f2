// Fixture for tests/integration/http_server_test.ts: a waiting Worker for the libc HTTP path that stops at once, as a
// real one does after a run of failed epoll_waits.
const worker = self as unknown as Worker;
worker.onmessage = () => worker.postMessage("stopped");
