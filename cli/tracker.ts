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
import {
  createTracker,
  DEFAULT_SNAPSHOT_INTERVAL_S,
  type Tracker,
  type TrackerOptions,
} from "../lib/tracker/server.ts";
import { type HttpIo, type HttpLimitsInput, type HttpServer, startHttpServer } from "../lib/tracker/http_server.ts";
import { proxyPeerTest } from "../lib/tracker/client_address.ts";
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
                           for very high announce rates (measured: 2.0x the announces per second of the
                           default with one connection each, 1.15-1.4x in keep-alive; docs/PERFORMANCE.md)
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
                           them, walked from the right past each of them; a proxy is exempt from the per-address
                           connection and request caps (all its clients share its address)
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

/** The flags of `btool tracker` (node:util parseArgs); each is read and checked in parseTrackerOptions below. */
const TRACKER_FLAGS = {
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
} as const;

/** createTracker's options that come from flags (all but the db and the callbacks); UDP reads three of them. */
export type TrackerSettings = Omit<TrackerOptions, "db" | "onWarning" | "onShutdown"> & {
  intervalS: number;
  numWantMax: number;
  isIpParamAllowed: boolean;
};

/** What `btool tracker`'s flags ask for, checked. */
export interface TrackerCliOptions {
  host: string;
  port: number;
  /** --udp-port; absent: the HTTP port. */
  udpPort?: number;
  isUdp: boolean;
  udpIo: "auto" | "deno";
  httpIo: HttpIo;
  /** --db as given (`:memory:` or a path, maybe relative). */
  db: string;
  isQuiet: boolean;
  tracker: TrackerSettings;
}

/**
 * Parse and check the flags of `btool tracker` (not its admin subcommands): declared in TRACKER_FLAGS, read here,
 * documented in HELP. @throws {UsageError}
 */
export function parseTrackerOptions(argv: string[]): TrackerCliOptions {
  const { values } = parseCommand(argv, TRACKER_FLAGS);
  const udpPort = values["udp-port"];
  const adminToken = values["admin-token"];
  return {
    host: values.host,
    port: parseIntOption(values.port, "port", 0, 65535),
    ...(udpPort === undefined ? {} : { udpPort: parseIntOption(udpPort, "udp port", 0, 65535) }),
    isUdp: !values["no-udp"],
    udpIo: ioOption(values["udp-io"], "udp-io"),
    httpIo: httpIoOption(values["http-io"]),
    db: values.db,
    isQuiet: values.quiet,
    tracker: {
      intervalS: parseIntOption(values.interval, "interval", 1, 86_400),
      minIntervalS: parseIntOption(values["min-interval"], "min interval", 1, 86_400),
      peerTimeoutS: parseIntOption(values["peer-timeout"], "peer timeout", 1, 7 * 86_400),
      numWantMax: parseIntOption(values["numwant-max"], "numwant max", 0, 10_000),
      maxPeers: parseIntOption(values["max-peers"], "max peers", 1, 50_000_000),
      snapshotIntervalS: parseIntOption(values["snapshot-interval"], "snapshot interval", 0, 86_400),
      similarPrefixDigits: parseIntOption(values["similar-prefix"], "similar prefix", 0, 40),
      similarSuffixDigits: parseIntOption(values["similar-suffix"], "similar suffix", 0, 40),
      leakMaxIps: parseIntOption(values["leak-ips"], "leak ips", 1, 1_000_000),
      trustedProxies: parseProxies(values["trusted-proxies"]),
      isTrustProxy: values["trust-proxy"],
      isIpParamAllowed: values["allow-ip-param"],
      isListed: values.listed,
      isPrivate: values.private,
      version: config.version,
      ...(adminToken === undefined ? {} : { adminToken }),
    },
  };
}

/**
 * The HTTP limits the options change: a reverse proxy (--trust-proxy, --trusted-proxies) carries many clients on its
 * connections, so it is exempt from the per-address caps (the totals still hold).
 */
export function httpLimitsOf(o: TrackerCliOptions): HttpLimitsInput {
  const { trustedProxies, isTrustProxy } = o.tracker;
  return { isUncapped: proxyPeerTest({ trustedProxies: trustedProxies ?? [], isTrustProxy: isTrustProxy === true }) };
}

/** Start HTTP on the tracker's handler. @throws {UsageError} without libc, {BtoolError} listen_failed */
function startHttp(o: TrackerCliOptions, tracker: Tracker, warn: (message: string) => void): HttpServer {
  try {
    return startHttpServer({
      hostname: o.host,
      port: o.port,
      io: o.httpIo,
      handler: tracker.handler,
      rawRequest: tracker.fast,
      onWarning: warn,
      limits: httpLimitsOf(o),
    });
  } catch (err: unknown) {
    if (err instanceof BtoolError && err.code === "libc_unavailable") throw new UsageError(err.message);
    throw new BtoolError("listen_failed", errorText(err), { cause: err });
  }
}

/** Start UDP over the HTTP tracker's store (issue #7), on --udp-port or else the HTTP port. */
function startUdp(
  o: TrackerCliOptions,
  c: { tracker: Tracker; db: TrackerDb; httpPort: number },
  warn: (message: string) => void,
): UdpTracker {
  const { tracker, db } = c;
  return startUdpTracker({
    store: tracker.store,
    db,
    hostname: o.host,
    port: o.udpPort ?? c.httpPort,
    io: o.udpIo,
    intervalS: o.tracker.intervalS,
    numWantMax: o.tracker.numWantMax,
    isIpParamAllowed: o.tracker.isIpParamAllowed,
    // Connection ids stay valid across a restart: a bad id gets no reply at all (issue #19), so clients holding
    // one from before would otherwise wait for their retry timeout.
    secret: udpSecret(db),
    // Same passkey and registry checks as HTTP (passkeys via BEP 41 URL data).
    ...(tracker.privateMode.access.isOpen ? {} : { access: (r) => tracker.privateMode.checkUdp(r) }),
    onWarning: warn,
  });
}

/** What the start-up banner reports. */
export interface BannerFacts {
  version: string;
  /** The HTTP server's address. */
  hostname: string;
  port: number;
  udpPort?: number;
  announceUrls: readonly string[];
  dbPath: string;
  registered: number;
  restoredPeers: number;
  isListed: boolean;
  isPrivate: boolean;
  members: number;
}

/** The start-up banner: where it listens, the announce URLs (HTTP, then UDP), the dashboard, the state, the mode. */
export function bannerLines(f: BannerFacts): string[] {
  const udpPort = f.udpPort;
  const modes = [f.isListed ? "listed" : "", f.isPrivate ? "private" : ""].filter(Boolean);
  return [
    `btool tracker ${f.version} listening on ${formatHostPort(f.hostname, f.port)}` +
    (udpPort === undefined ? "" : ` (udp ${udpPort})`),
    ...f.announceUrls.map((url) => `  announce:  ${url}`),
    ...(udpPort === undefined
      ? []
      : f.announceUrls.map((url) => `  announce:  ${url.replace(/^http:\/\/(.*):\d+\//, `udp://$1:${udpPort}/`)}`)),
    `  dashboard: ${f.announceUrls[0]!.replace(/announce$/, "")}`,
    `  state:     ${f.dbPath} (${f.registered} registered torrents, ${f.restoredPeers} peers restored)`,
    ...(modes.length === 0
      ? []
      : [`  mode:      ${modes.join(", ")} (${f.members} members; btool tracker user add NAME)`]),
  ];
}

/** Print the banner (nothing with --quiet) and a newly generated admin token (always), in one write. */
function printBanner(
  o: TrackerCliOptions,
  s: { tracker: Tracker; http: HttpServer; udp: UdpTracker | null; dbPath: string },
): void {
  const { tracker } = s;
  const addr = s.http.addr;
  const lines = o.isQuiet ? [] : bannerLines({
    version: config.version,
    hostname: addr.hostname,
    port: addr.port,
    ...(s.udp === null ? {} : { udpPort: s.udp.port }),
    announceUrls: announceUrls(o.host, addr.port),
    dbPath: s.dbPath,
    registered: tracker.registry.size,
    restoredPeers: tracker.restoredPeers,
    isListed: o.tracker.isListed === true,
    isPrivate: o.tracker.isPrivate === true,
    members: tracker.privateMode.access.userCount,
  });
  if (tracker.isAdminTokenGenerated) {
    lines.push(`  admin token (generated now, stored in the db, shown only once): ${tracker.adminToken}`);
  }
  if (lines.length > 0) console.log(lines.join("\n"));
}

/** A running tracker: its parts, so that one stop can save and close them all. */
interface Running {
  o: TrackerCliOptions;
  dbPath: string;
  db: TrackerDb;
  tracker: Tracker;
  http: HttpServer;
  udp: UdpTracker | null;
}

/** Save the swarm snapshot, then close everything; resolves to the exit code (1 when the snapshot failed). */
async function stopTracker(r: Running): Promise<number> {
  let code = 0;
  try {
    const peers = r.tracker.snapshot();
    if (!r.o.isQuiet) console.log(`btool tracker: saved ${peers} peers to ${r.dbPath}`);
  } catch (err: unknown) {
    console.error(`btool: cannot save the swarm snapshot: ${errorText(err)}`);
    code = 1;
  }
  r.tracker.close();
  await Promise.all([r.http.shutdown(), r.udp?.close()]);
  r.db.close();
  return code;
}

/**
 * Open the db, then the tracker, HTTP and UDP, each closing what came before if it fails. UDP starts after HTTP to
 * know its port when --port is 0. `onShutdown` is the admin /shutdown call.
 */
async function startTracker(o: TrackerCliOptions, onShutdown: () => void): Promise<Running> {
  const warn = (message: string) => {
    if (!o.isQuiet) console.error(terminalSafe(`btool tracker: ${message}`));
  };
  const dbPath = o.db === ":memory:" ? ":memory:" : await absolutePath(o.db);
  const db = TrackerDb.open(dbPath);
  let tracker: Tracker;
  try {
    tracker = createTracker({ ...o.tracker, db, onWarning: warn, onShutdown });
  } catch (err: unknown) {
    db.close();
    throw err;
  }
  let http: HttpServer;
  try {
    http = startHttp(o, tracker, warn);
  } catch (err: unknown) {
    tracker.close();
    db.close();
    throw err;
  }
  try {
    const udp = o.isUdp ? startUdp(o, { tracker, db, httpPort: http.addr.port }, warn) : null;
    return { o, dbPath, db, tracker, http, udp };
  } catch (err: unknown) {
    tracker.close();
    await http.shutdown();
    db.close();
    throw err;
  }
}

/** Run `btool tracker` with `argv` (after the subcommand); resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  if (argv[0] !== undefined && ADMIN_SUBCOMMANDS.includes(argv[0])) return runAdmin(argv);
  const o = parseTrackerOptions(argv);
  const { promise: stopped, resolve } = Promise.withResolvers<number>();
  let running: Running | null = null;
  let isStopping = false;
  // Ctrl+C, SIGTERM and the admin /shutdown call all stop once.
  const stop = () => {
    if (running === null || isStopping) return;
    isStopping = true;
    void stopTracker(running).then(resolve);
  };
  running = await startTracker(o, stop);
  printBanner(o, running);
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, stop);
  try {
    return await stopped;
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, stop);
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
