// An in-process HTTP tracker on 127.0.0.1 port 0 for integration and interop tests.

import { TrackerDb } from "../../lib/persist/db.ts";
import { type HttpIo, startHttpServer } from "../../lib/tracker/http_server.ts";
import { createTracker, type Tracker, type TrackerOptions } from "../../lib/tracker/server.ts";

export interface TestTracker {
  tracker: Tracker;
  db: TrackerDb;
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  base: string;
  /** Closes the tracker, the server and the db. */
  close(): Promise<void>;
}

/**
 * createTracker on `options.db` (default: fresh, in memory), with sweeps, snapshots and private-mode polling off
 * unless given, and no server; `close()` closes the tracker and its db.
 */
export function createTestTracker(
  options: Partial<TrackerOptions> = {},
): { tracker: Tracker; db: TrackerDb; close(): void } {
  const db = options.db ?? TrackerDb.open(":memory:");
  const tracker = createTracker({ sweepIntervalMs: 0, snapshotIntervalS: 0, privatePollIntervalMs: 0, ...options, db });
  return {
    tracker,
    db,
    close() {
      tracker.close();
      db.close();
    },
  };
}

/** createTestTracker over HTTP (the handler and its `fast` path) on 127.0.0.1 port 0. */
export function startTestTracker(options: Partial<TrackerOptions> = {}, io?: HttpIo): TestTracker {
  const { tracker, db } = createTestTracker(options);
  const server = startHttpServer({
    hostname: "127.0.0.1",
    port: 0,
    ...(io === undefined ? {} : { io }),
    handler: tracker.handler,
    rawRequest: tracker.fast,
  });
  return {
    tracker,
    db,
    base: `http://127.0.0.1:${server.addr.port}`,
    async close() {
      tracker.close();
      await server.shutdown();
      db.close();
    },
  };
}
