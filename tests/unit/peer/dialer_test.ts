// dialPeer with a fake connect: a connect that outlives the timeout or the stop signal fails with a WireError and
// its late socket is closed.

import { WireError } from "../../../lib/errors.ts";
import { dialPeer } from "../../../lib/peer/dialer.ts";
import { assertRejectsCode, equal } from "../../_helpers/assert.ts";
import { FakeConn } from "./_fake_conn.ts";

Deno.test("dialPeer() gives up when the session stops and closes the socket that arrives later", async () => {
  const late = Promise.withResolvers<Deno.TcpConn>();
  const stop = new AbortController();
  const dialing = dialPeer("10.0.0.1", 1, {
    signal: stop.signal,
    timeoutMs: 60_000,
    connect: () => late.promise,
  });
  stop.abort();
  await assertRejectsCode(() => dialing, WireError, "connect_aborted");
  const fake = new FakeConn();
  late.resolve(fake.conn as Deno.TcpConn);
  await late.promise;
  await Promise.resolve();
  equal(fake.isClosed, true);
});

Deno.test("dialPeer() times out, resolves a prompt connect, and passes a connect error through", async () => {
  const never = new Promise<Deno.TcpConn>(() => {});
  await assertRejectsCode(
    () => dialPeer("10.0.0.1", 1, { signal: new AbortController().signal, timeoutMs: 1, connect: () => never }),
    WireError,
    "connect_timeout",
  );
  const fake = new FakeConn();
  const conn = await dialPeer("10.0.0.1", 1, {
    signal: new AbortController().signal,
    connect: () => Promise.resolve(fake.conn as Deno.TcpConn),
  });
  equal(conn, fake.conn);
  const refused = dialPeer("10.0.0.1", 1, {
    signal: new AbortController().signal,
    connect: () => Promise.reject(new Deno.errors.ConnectionRefused("refused")),
  });
  let error: unknown = null;
  await refused.catch((err: unknown) => error = err);
  equal(error instanceof Deno.errors.ConnectionRefused, true);
});
