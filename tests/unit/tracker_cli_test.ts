// cli/tracker.ts without sockets: parseTrackerOptions (defaults, each flag to its setting, refusals) and the
// start-up banner's lines.

import { UsageError } from "../../lib/errors.ts";
import { DEFAULT_INTERVAL_S, DEFAULT_NUMWANT_MAX } from "../../lib/tracker/announce.ts";
import { resolveLimits } from "../../lib/tracker/http_limits.ts";
import { bannerLines, DEFAULT_DB_PATH, httpLimitsOf, parseTrackerOptions } from "../../cli/tracker.ts";
import { assertThrowsCode, deepEqual, equal } from "../_helpers/assert.ts";

Deno.test("parseTrackerOptions() defaults: 0.0.0.0:6969, UDP on the same port, deno HTTP, open tracker", () => {
  const o = parseTrackerOptions([]);
  equal(o.host, "0.0.0.0");
  equal(o.port, 6969);
  equal(o.udpPort, undefined);
  equal(o.isUdp, true);
  equal(o.udpIo, "auto");
  equal(o.httpIo, "deno");
  equal(o.db, DEFAULT_DB_PATH);
  equal(o.isQuiet, false);
  equal(o.tracker.intervalS, DEFAULT_INTERVAL_S);
  equal(o.tracker.numWantMax, DEFAULT_NUMWANT_MAX);
  deepEqual(o.tracker.trustedProxies, []);
  equal(o.tracker.isPrivate, false);
  equal(o.tracker.isListed, false);
  equal(o.tracker.isIpParamAllowed, false);
  equal("adminToken" in o.tracker, false);
});

Deno.test("parseTrackerOptions() maps each flag to its setting", () => {
  const o = parseTrackerOptions([
    ...["--host", "::", "--port", "0", "--udp-port", "7000", "--no-udp", "--udp-io", "deno", "--db", ":memory:"],
    ...["--interval", "60", "--min-interval", "30", "--peer-timeout", "90", "--numwant-max", "10"],
    ...["--max-peers", "1000", "--snapshot-interval", "0", "--similar-prefix", "4", "--similar-suffix", "5"],
    ...["--admin-token", "t", "--trust-proxy", "--trusted-proxies", "10.0.0.1, ::1", "--allow-ip-param"],
    ...["--private", "--leak-ips", "3", "--quiet"],
  ]);
  deepEqual(
    { host: o.host, port: o.port, udpPort: o.udpPort, isUdp: o.isUdp, udpIo: o.udpIo, db: o.db, isQuiet: o.isQuiet },
    { host: "::", port: 0, udpPort: 7000, isUdp: false, udpIo: "deno", db: ":memory:", isQuiet: true },
  );
  const { version: _, ...tracker } = o.tracker;
  deepEqual(tracker, {
    intervalS: 60,
    minIntervalS: 30,
    peerTimeoutS: 90,
    numWantMax: 10,
    maxPeers: 1000,
    snapshotIntervalS: 0,
    similarPrefixDigits: 4,
    similarSuffixDigits: 5,
    leakMaxIps: 3,
    trustedProxies: ["10.0.0.1", "::1"],
    isTrustProxy: true,
    isIpParamAllowed: true,
    isListed: false,
    isPrivate: true,
    adminToken: "t",
  });
});

Deno.test("parseTrackerOptions() refuses bad values and unknown flags with a UsageError", () => {
  for (
    const argv of [
      ["--port", "65536"],
      ["--udp-port", "x"],
      ["--interval", "0"],
      ["--numwant-max", "10001"],
      ["--udp-io", "libc"],
      ["--http-io", "epoll"],
      ["--trusted-proxies", "proxy.example"],
      ["--trusted-proxies", " , "],
      ["--leak-ips", "0"],
      ["--frobnicate"],
    ]
  ) assertThrowsCode(() => parseTrackerOptions(argv), UsageError, "usage");
});

const FACTS = {
  version: "1.2.3",
  hostname: "0.0.0.0",
  port: 6969,
  announceUrls: ["http://127.0.0.1:6969/announce", "http://[2001:db8::1]:6969/announce"],
  dbPath: "/var/db/t.db",
  registered: 2,
  restoredPeers: 7,
  isListed: false,
  isPrivate: false,
  members: 0,
};

Deno.test("bannerLines() lists HTTP then UDP announce URLs, the dashboard and the state", () => {
  deepEqual(bannerLines({ ...FACTS, udpPort: 7000 }), [
    "btool tracker 1.2.3 listening on 0.0.0.0:6969 (udp 7000)",
    "  announce:  http://127.0.0.1:6969/announce",
    "  announce:  http://[2001:db8::1]:6969/announce",
    "  announce:  udp://127.0.0.1:7000/announce",
    "  announce:  udp://[2001:db8::1]:7000/announce",
    "  dashboard: http://127.0.0.1:6969/",
    "  state:     /var/db/t.db (2 registered torrents, 7 peers restored)",
  ]);
});

Deno.test("bannerLines() without UDP has no udp:// URLs; listed or private mode adds the mode line", () => {
  const lines = bannerLines({ ...FACTS, isListed: true, isPrivate: true, members: 4 });
  equal(lines[0], "btool tracker 1.2.3 listening on 0.0.0.0:6969");
  equal(lines.filter((l) => l.includes("udp://")).length, 0);
  equal(lines.at(-1), "  mode:      listed, private (4 members; btool tracker user add NAME)");
  equal(
    bannerLines({ ...FACTS, isPrivate: true, members: 1 }).at(-1),
    "  mode:      private (1 members; btool tracker user add NAME)",
  );
});

Deno.test("httpLimitsOf(): the trusted proxies, or every peer with --trust-proxy, are exempt from per-address caps", () => {
  const exempt = (argv: string[], host: string) =>
    resolveLimits(httpLimitsOf(parseTrackerOptions(argv))).isUncapped(host);
  equal(exempt([], "127.0.0.1"), false);
  equal(exempt(["--trusted-proxies", "127.0.0.1"], "127.0.0.1"), true);
  equal(exempt(["--trusted-proxies", "127.0.0.1"], "127.0.0.2"), false);
  equal(exempt(["--trust-proxy"], "192.0.2.7"), true);
});
