// `btool tracker` front end (issue #4): parses options, opens the SQLite state, serves lib/tracker/server.ts over
// HTTP (lib/tracker/http_server.ts: Deno.serve, or libc sockets with --http-io libc) and UDP, prints where it listens
// and where its state lives, snapshots periodically and on SIGINT/SIGTERM.
// Never exits the process itself: run() resolves to the exit code once the server has stopped.

import { errorText } from "../lib/errors.ts";
import { fromHex, toHex } from "../lib/bytes.ts";
import config from "../deno.json" with { type: "json" };
import { BtoolError, UsageError } from "../lib/errors.ts";
import { TrackerDb } from "../lib/persist/db.ts";
import {
  DEFAULT_INTERVAL_S,
  DEFAULT_MIN_INTERVAL_S,
  DEFAULT_NUMWANT_MAX,
  DEFAULT_PEER_TIMEOUT_S,
  formatHostPort,
  parseIp,
} from "../lib/tracker/announce.ts";
import { DEFAULT_LEAK_MAX_IPS } from "../lib/tracker/access.ts";
import { DEFAULT_MAX_PEERS } from "../lib/tracker/swarm_store.ts";
import { SIMILAR_PREFIX_DIGITS, SIMILAR_SUFFIX_DIGITS } from "../lib/tracker/registry.ts";
import { createTracker, DEFAULT_SNAPSHOT_INTERVAL_S } from "../lib/tracker/server.ts";
import { type HttpIo, type HttpServer, startHttpServer } from "../lib/tracker/http_server.ts";
import { startUdpTracker, type UdpTracker } from "../lib/tracker/udp_server.ts";
import { parseCommand, parseIntOption } from "./args.ts";
import { ADMIN_HELP, ADMIN_SUBCOMMANDS, runAdmin } from "./tracker_admin.ts";
import { terminalSafe } from "./_escape.ts";

/** Default state file, relative to the working directory. */
export const DEFAULT_DB_PATH = "btool-tracker.db";

/** Help text for `btool tracker`. */
export const HELP = `Usage: btool tracker [options]

Run the HTTP tracker (announce at /announce and /, scrape at /scrape, dashboard at /) and, in the same
process and swarms, the UDP tracker (BEP 15; udp://HOST:PORT/announce).
State (registered torrents, completed counts, a snapshot of live peers) lives in one SQLite file.

Options:
  --host ADDR              address to listen on (default 0.0.0.0; use :: for IPv6)
  --port N                 TCP port (default 6969; 0 picks a free one)
  --udp-port N             UDP port (default: the same number as --port)
  --no-udp                 serve HTTP only
  --udp-io auto|deno       auto (default): UDP in batches through libc (Linux, a Worker receives) where
                           available; deno: one Deno.listenDatagram op per datagram
  --http-io deno|libc      deno (default): HTTP on Deno.serve; libc: HTTP on libc sockets and epoll, announces
                           answered straight from the request bytes (Linux x86_64/aarch64, IP address --host):
                           for very high announce rates (measured: 1.35x the announces per second of the
                           default with one connection each, 1.26x in keep-alive; docs/PERFORMANCE.md)
  --db PATH                state file (default ./${DEFAULT_DB_PATH}; :memory: keeps nothing)
  --interval S             announce interval in seconds, jittered ±5% (default ${DEFAULT_INTERVAL_S})
  --min-interval S         minimum announce interval (default ${DEFAULT_MIN_INTERVAL_S})
  --peer-timeout S         drop peers silent this long (default ${DEFAULT_PEER_TIMEOUT_S})
  --numwant-max N          most peers per reply (default ${DEFAULT_NUMWANT_MAX})
  --max-peers N            live peers held at most, ~40-80 bytes each (default ${DEFAULT_MAX_PEERS}); past it new
                           peers get "Tracker is full" and known ones are still answered
  --snapshot-interval S    save live peers every S seconds (default ${DEFAULT_SNAPSHOT_INTERVAL_S}; 0 = only on exit)
  --similar-prefix N       similar-hash hint: same first N hex digits (default ${SIMILAR_PREFIX_DIGITS})
  --similar-suffix N       ... and same last N hex digits (default ${SIMILAR_SUFFIX_DIGITS})
  --admin-token T          admin token for /stats peers, /add_torrent_info, /save_state, /shutdown
                           (default: generated on first start, stored in the db, printed once)
  --trust-proxy            behind a reverse proxy: the client is the right-most X-Forwarded-For entry (the one
                           the proxy appends; nginx: proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for)
  --trusted-proxies A,B    the proxies' addresses (implies --trust-proxy): X-Forwarded-For is read only from
                           them, walked from the right past each of them
  --allow-ip-param         honour a client-chosen address (HTTP ip=, the UDP ip field); off: anyone could put
                           any address into a swarm
  --listed                 track only registered torrents (others: "unregistered torrent")
  --private                every announce and scrape needs a member's passkey (/announce?passkey=...)
  --leak-ips N             flag a passkey used from more than N addresses in an hour (default ${DEFAULT_LEAK_MAX_IPS})
  --quiet                  print nothing but errors (and a newly generated admin token)
  -h, --help               show this help

Admin calls send the header "Authorization: Bearer <token>". Ctrl+C saves the peers and stops.
Over UDP a passkey travels as BEP 41 URL data (udp://HOST:PORT/announce?passkey=...), which libtorrent-based
clients send; with --private, clients that send none (Transmission, aria2) and every UDP scrape are refused.

${ADMIN_HELP}`;

/** Run `btool tracker` with `argv` (after the subcommand); resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  if (argv[0] !== undefined && ADMIN_SUBCOMMANDS.includes(argv[0])) return runAdmin(argv);
  const { values } = parseCommand(argv, {
    host: { type: "string", default: "0.0.0.0" },
    port: { type: "string", default: "6969" },
    db: { type: "string", default: DEFAULT_DB_PATH },
    interval: { type: "string", default: String(DEFAULT_INTERVAL_S) },
    "min-interval": { type: "string", default: String(DEFAULT_MIN_INTERVAL_S) },
    "peer-timeout": { type: "string", default: String(DEFAULT_PEER_TIMEOUT_S) },
    "numwant-max": { type: "string", default: String(DEFAULT_NUMWANT_MAX) },
    "max-peers": { type: "string", default: String(DEFAULT_MAX_PEERS) },
    "snapshot-interval": { type: "string", default: String(DEFAULT_SNAPSHOT_INTERVAL_S) },
    "similar-prefix": { type: "string", default: String(SIMILAR_PREFIX_DIGITS) },
    "similar-suffix": { type: "string", default: String(SIMILAR_SUFFIX_DIGITS) },
    "admin-token": { type: "string" },
    "trust-proxy": { type: "boolean", default: false },
    "trusted-proxies": { type: "string" },
    "allow-ip-param": { type: "boolean", default: false },
    listed: { type: "boolean", default: false },
    private: { type: "boolean", default: false },
    "leak-ips": { type: "string", default: String(DEFAULT_LEAK_MAX_IPS) },
    "udp-port": { type: "string" },
    "no-udp": { type: "boolean", default: false },
    "udp-io": { type: "string", default: "auto" },
    "http-io": { type: "string", default: "deno" },
    quiet: { type: "boolean", default: false },
  });
  const port = parseIntOption(values.port, "port", 0, 65535);
  const udpPortOption = values["udp-port"] === undefined
    ? undefined
    : parseIntOption(values["udp-port"], "udp port", 0, 65535);
  const udpIo = ioOption(values["udp-io"], "udp-io");
  const httpIo = httpIoOption(values["http-io"]);
  const intervalS = parseIntOption(values.interval, "interval", 1, 86_400);
  const minIntervalS = parseIntOption(values["min-interval"], "min interval", 1, 86_400);
  const peerTimeoutS = parseIntOption(values["peer-timeout"], "peer timeout", 1, 7 * 86_400);
  const numWantMax = parseIntOption(values["numwant-max"], "numwant max", 0, 10_000);
  const maxPeers = parseIntOption(values["max-peers"], "max peers", 1, 50_000_000);
  const snapshotIntervalS = parseIntOption(values["snapshot-interval"], "snapshot interval", 0, 86_400);
  const similarPrefixDigits = parseIntOption(values["similar-prefix"], "similar prefix", 0, 40);
  const similarSuffixDigits = parseIntOption(values["similar-suffix"], "similar suffix", 0, 40);
  const leakMaxIps = parseIntOption(values["leak-ips"], "leak ips", 1, 1_000_000);
  const trustedProxies = parseProxies(values["trusted-proxies"]);
  const isQuiet = values.quiet;
  const log = (line: string) => {
    if (!isQuiet) console.log(line);
  };
  const warn = (message: string) => {
    if (!isQuiet) console.error(terminalSafe(`btool tracker: ${message}`));
  };

  const dbPath = values.db === ":memory:" ? ":memory:" : await absolutePath(values.db);
  const db = TrackerDb.open(dbPath);
  let stop: (() => Promise<void>) | null = null;
  const tracker = (() => {
    try {
      return createTracker({
        db,
        intervalS,
        minIntervalS,
        peerTimeoutS,
        numWantMax,
        maxPeers,
        snapshotIntervalS,
        similarPrefixDigits,
        similarSuffixDigits,
        isTrustProxy: values["trust-proxy"],
        trustedProxies,
        isIpParamAllowed: values["allow-ip-param"],
        isListed: values.listed,
        isPrivate: values.private,
        leakMaxIps,
        version: config.version,
        ...(values["admin-token"] === undefined ? {} : { adminToken: values["admin-token"] }),
        onWarning: warn,
        onShutdown: () => void stop?.(),
      });
    } catch (err: unknown) {
      db.close();
      throw err;
    }
  })();

  let server: HttpServer;
  try {
    server = startHttpServer({
      hostname: values.host,
      port,
      io: httpIo,
      handler: tracker.handler,
      rawRequest: tracker.fast,
      onWarning: warn,
    });
  } catch (err: unknown) {
    tracker.close();
    db.close();
    if (err instanceof BtoolError && err.code === "libc_unavailable") throw new UsageError(err.message);
    throw new BtoolError("listen_failed", errorText(err), { cause: err });
  }
  const addr = server.addr;
  // UDP shares the HTTP tracker's store (issue #7); started after HTTP to know its port when --port is 0.
  let udp: UdpTracker | null = null;
  if (!values["no-udp"]) {
    try {
      udp = startUdpTracker({
        store: tracker.store,
        db,
        hostname: values.host,
        port: udpPortOption ?? addr.port,
        io: udpIo,
        intervalS,
        numWantMax,
        isIpParamAllowed: values["allow-ip-param"],
        // Connection ids stay valid across a restart: a bad id gets no reply at all (issue #19), so clients holding
        // one from before would otherwise wait for their retry timeout.
        secret: udpSecret(db),
        // Same passkey and registry checks as HTTP (passkeys via BEP 41 URL data).
        ...(tracker.privateMode.access.isOpen ? {} : { access: (r) => tracker.privateMode.checkUdp(r) }),
        onWarning: warn,
      });
    } catch (err: unknown) {
      tracker.close();
      await server.shutdown();
      db.close();
      throw err;
    }
  }
  // One write, so that a reader sees the whole banner at once.
  const urls = announceUrls(values.host, addr.port);
  const udpPort = udp?.port;
  const lines = [
    `btool tracker ${config.version} listening on ${formatHostPort(addr.hostname, addr.port)}` +
    (udpPort === undefined ? "" : ` (udp ${udpPort})`),
    ...urls.map((url) => `  announce:  ${url}`),
    ...(udpPort === undefined
      ? []
      : urls.map((url) => `  announce:  ${url.replace(/^http:\/\/(.*):\d+\//, `udp://$1:${udpPort}/`)}`)),
    `  dashboard: ${urls[0]!.replace(/announce$/, "")}`,
    `  state:     ${dbPath} (${tracker.registry.size} registered torrents, ${tracker.restoredPeers} peers restored)`,
    ...(values.listed || values.private
      ? [
        `  mode:      ${[values.listed ? "listed" : "", values.private ? "private" : ""].filter(Boolean).join(", ")}` +
        ` (${tracker.privateMode.access.userCount} members; btool tracker user add NAME)`,
      ]
      : []),
  ];
  if (isQuiet) lines.length = 0;
  if (tracker.isAdminTokenGenerated) {
    lines.push(`  admin token (generated now, stored in the db, shown only once): ${tracker.adminToken}`);
  }
  if (lines.length > 0) console.log(lines.join("\n"));

  const { promise: stopped, resolve } = Promise.withResolvers<number>();
  let isStopping = false;
  stop = async () => {
    if (isStopping) return;
    isStopping = true;
    let code = 0;
    try {
      const peers = tracker.snapshot();
      log(`btool tracker: saved ${peers} peers to ${dbPath}`);
    } catch (err: unknown) {
      console.error(`btool: cannot save the swarm snapshot: ${errorText(err)}`);
      code = 1;
    }
    tracker.close();
    await Promise.all([server.shutdown(), udp?.close()]);
    db.close();
    resolve(code);
  };
  const onSignal = () => void stop?.();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  try {
    return await stopped;
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
  }
}

async function absolutePath(path: string): Promise<string> {
  if (path.startsWith("/")) return path;
  return `${(await Deno.realPath(".")).replace(/\/$/, "")}/${path}`;
}

/** Announce URLs to print: the listen address, or for a wildcard, loopback plus every external interface. */
function announceUrls(host: string, port: number): string[] {
  const hosts: string[] = [];
  if (host === "0.0.0.0" || host === "::") {
    hosts.push("127.0.0.1");
    try {
      for (const ni of Deno.networkInterfaces()) {
        if (ni.family === "IPv4" && !ni.address.startsWith("127.")) hosts.push(ni.address);
        else if (host === "::" && ni.family === "IPv6" && !ni.address.startsWith("fe80") && ni.address !== "::1") {
          hosts.push(ni.address);
        }
      }
    } catch {
      // No permission to list interfaces: loopback only.
    }
  } else hosts.push(host);
  return [...new Set(hosts)].map((h) => `http://${formatHostPort(h, port)}/announce`);
}

/** An --http-io value: deno, or libc where it can work (Linux). */
function httpIoOption(value: string): HttpIo {
  if (value !== "deno" && value !== "libc") throw new UsageError(`Invalid --http-io: "${value}" (deno or libc)`);
  if (value === "libc" && Deno.build.os !== "linux") {
    throw new UsageError(`--http-io libc needs Linux (this is ${Deno.build.os}); use --http-io deno`);
  }
  return value;
}

/** An --udp-io value. */
function ioOption(value: string, name: string): "auto" | "deno" {
  if (value !== "auto" && value !== "deno") throw new UsageError(`Invalid --${name}: "${value}" (auto or deno)`);
  return value;
}

/** Bytes of the UDP connection id secret kept in the db. */
const UDP_SECRET_BYTES = 32;

/** The UDP connection id secret of this db (made and stored on first use). */
function udpSecret(db: TrackerDb): Uint8Array {
  const stored = db.getSetting("udp_secret");
  const bytes = stored === null ? null : fromHex(stored);
  if (bytes !== null && bytes.length === UDP_SECRET_BYTES) return bytes;
  const secret = crypto.getRandomValues(new Uint8Array(UDP_SECRET_BYTES));
  db.setSetting("udp_secret", toHex(secret));
  return secret;
}

/** A --trusted-proxies value: IP addresses separated by commas. @throws {UsageError} for anything else */
function parseProxies(value: string | undefined): string[] {
  if (value === undefined) return [];
  const proxies = value.split(",").map((p) => p.trim()).filter((p) => p !== "");
  for (const p of proxies) {
    if (parseIp(p) === null) throw new UsageError(`Invalid --trusted-proxies: "${p}" is not an IP address`);
  }
  if (proxies.length === 0) throw new UsageError("Invalid --trusted-proxies: no address given");
  return proxies;
}
