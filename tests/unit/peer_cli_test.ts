import { UsageError } from "../../lib/errors.ts";
import {
  DEFAULT_PORT,
  formatStatusLine,
  parseHostPort,
  parseOnly,
  parsePeerOptions,
  parseRate,
  parseSeedRatio,
} from "../../cli/peer.ts";
import { DEFAULT_MAX_PEERS } from "../../lib/peer/session.ts";
import type { TorrentFile } from "../../lib/metainfo.ts";
import { assertThrowsCode, deepEqual, equal, match } from "../_helpers/assert.ts";

Deno.test("parseHostPort() reads host:port and [v6]:port, refuses the rest", () => {
  deepEqual(parseHostPort("127.0.0.1:6881"), { hostname: "127.0.0.1", port: 6881 });
  deepEqual(parseHostPort("[::1]:51413"), { hostname: "::1", port: 51413 });
  deepEqual(parseHostPort("peer.example:1"), { hostname: "peer.example", port: 1 });
  for (const bad of ["127.0.0.1", "::1:80", "host:0", "host:65536", "host:x", ""]) {
    assertThrowsCode(() => parseHostPort(bad), UsageError, "usage");
  }
});

Deno.test("parseRate() takes sizes with an optional /s; 0 means no limit", () => {
  equal(parseRate(undefined, "rate"), null);
  equal(parseRate("0", "rate"), null);
  equal(parseRate("500K", "rate"), 500 * 1024);
  equal(parseRate("2MiB/s", "rate"), 2 * 1024 * 1024);
  assertThrowsCode(() => parseRate("fast", "rate"), UsageError, "usage");
});

Deno.test("parseOnly() numbers files from 1 and skips padding files", () => {
  const f = (isPadding = false): TorrentFile => ({
    path: ["x"],
    length: 1,
    offset: 0,
    ...(isPadding ? { isPadding: true } : {}),
  });
  const meta = { files: [f(), f(true), f(), f()] };
  deepEqual([...parseOnly("1,3", meta)], [0, 3]);
  deepEqual([...parseOnly("2, 2", meta)], [2]);
  assertThrowsCode(() => parseOnly("4", meta), UsageError, "usage");
  assertThrowsCode(() => parseOnly("0", meta), UsageError, "usage");
  assertThrowsCode(() => parseOnly("1,,2", meta), UsageError, "usage");
});

Deno.test("formatStatusLine() shows percent, rates, peers and ETA", () => {
  const line = formatStatusLine("data", {
    havePieces: 5,
    pieceCount: 10,
    haveBytes: 512 * 1024,
    totalBytes: 1024 * 1024,
    downloaded: 512 * 1024,
    uploaded: 0,
    downloadRate: 256 * 1024,
    uploadRate: 0,
    peers: 3,
    seeds: 1,
    isComplete: false,
    banned: 0,
  });
  match(
    line,
    /^data\s+50\.0%\s+512 KiB\/1\.00 MiB\s+down 256 KiB\/s\s+up 0 B\/s\s+peers 3 \(1 seed, 2 leechers\)\s+ETA 0:02$/,
  );
});

Deno.test("parsePeerOptions() defaults: current folder, port 6881, no limits, plain output", () => {
  deepEqual(parsePeerOptions(["a.torrent"]), {
    torrentPath: "a.torrent",
    dir: ".",
    port: DEFAULT_PORT,
    maxPeers: DEFAULT_MAX_PEERS,
    isSeed: false,
    isExitWhenDone: false,
    extraPeers: [],
    uploadLimit: null,
    downloadLimit: null,
    isQuiet: false,
    isJson: false,
  });
});

Deno.test("parsePeerOptions() maps each flag to its option", () => {
  const o = parsePeerOptions([
    ...["a.torrent", "--dir", "/data", "--port", "0", "--exit-when-done", "--seed-ratio", "1.5"],
    ...["--max-peers", "7", "--peer", "127.0.0.1:1", "--peer", "[::1]:2", "--upload-limit", "1K"],
    ...["--download-limit", "2MiB/s", "--only", "1,2", "--json"],
  ]);
  deepEqual(o, {
    torrentPath: "a.torrent",
    dir: "/data",
    port: 0,
    maxPeers: 7,
    isSeed: false,
    isExitWhenDone: true,
    seedRatio: 1.5,
    extraPeers: [{ hostname: "127.0.0.1", port: 1 }, { hostname: "::1", port: 2 }],
    uploadLimit: 1024,
    downloadLimit: 2 * 1024 * 1024,
    only: "1,2",
    isQuiet: false,
    isJson: true,
  });
});

Deno.test("parsePeerOptions() refuses a missing or second torrent, --quiet with --json, and bad values", () => {
  for (
    const argv of [
      [],
      ["a.torrent", "b.torrent"],
      ["a.torrent", "--quiet", "--json"],
      ["a.torrent", "--port", "65536"],
      ["a.torrent", "--max-peers", "0"],
      ["a.torrent", "--seed-ratio", "x"],
      ["a.torrent", "--peer", "nohost"],
      ["a.torrent", "--upload-limit", "fast"],
      ["a.torrent", "--frobnicate"],
    ]
  ) assertThrowsCode(() => parsePeerOptions(argv), UsageError, "usage");
});

Deno.test("parseSeedRatio() takes plain decimals only", () => {
  equal(parseSeedRatio("2"), 2);
  equal(parseSeedRatio("0.25"), 0.25);
  for (const bad of ["", "-1", "1e3", ".5", "1.", "Infinity", "1,5"]) {
    assertThrowsCode(() => parseSeedRatio(bad), UsageError, "usage");
  }
});
