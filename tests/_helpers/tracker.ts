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

/** createTracker on `options.db` (default: fresh, in memory), sweeps and snapshots off unless given, over HTTP. */
export function startTestTracker(options: Partial<TrackerOptions> = {}, io?: HttpIo): TestTracker {
  const db = options.db ?? TrackerDb.open(":memory:");
  const tracker = createTracker({ sweepIntervalMs: 0, snapshotIntervalS: 0, ...options, db });
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
