// Fuzz target: the metainfo parser (lib/metainfo.ts), fed generated torrents (single and multi-file, hostile names,
// wrong types, inconsistent sizes) and mutations of them and of every fixture torrent. Properties: only BencodeError
// and MetainfoError escape; an accepted torrent is consistent (piece count, file offsets, safe paths, unique among
// real files case folded, no file also a folder) and its info hash is the SHA-1 of the raw info span.

import { createHash } from "node:crypto";
import { type BencodeInput, encodeBencode, rawValue } from "../../lib/bencode.ts";
import { equals, fromLatin1 } from "../../lib/bytes.ts";
import { BencodeError, MetainfoError } from "../../lib/errors.ts";
import { magnetLink, type Metainfo, parseMetainfo } from "../../lib/metainfo.ts";
import { expect, type FuzzTarget, oneOf, pick, type Random } from "./_harness.ts";

const NAMES = [
  "a",
  "file.bin",
  "dir",
  "..",
  ".",
  "",
  "a/b",
  "a\\b",
  "nul\0",
  "é",
  "_____padding_file_0",
  "x".repeat(300),
];
const PIECE_LENGTHS = [16384, 32768, 262144, 1 << 20, 16383, 0, -1, 3 << 14, 256 * 1024 * 1024, 512 * 1024 * 1024];
const LENGTHS = [0, 1, 16383, 16384, 16385, 100_000, -1, 2 ** 40, Number.MAX_SAFE_INTEGER];

function name(random: Random): Uint8Array | string {
  if (random() < 0.8) return `${random() < 0.1 ? "N" : "n"}${pick(random, 50)}`;
  if (random() < 0.2) return new Uint8Array([0xff, 0xfe, 0x41]);
  return oneOf(random, NAMES);
}

function length(random: Random): number {
  return random() < 0.8 ? 1 + pick(random, 200_000) : oneOf(random, LENGTHS);
}

function generate(random: Random): Uint8Array {
  const pieceLength = random() < 0.85 ? 16384 << pick(random, 4) : oneOf(random, PIECE_LENGTHS);
  const info = new Map<string, BencodeInput>();
  let total = 0;
  if (random() < 0.5) {
    const len = length(random);
    info.set("length", len);
    total = len;
  } else {
    const files: BencodeInput[] = [];
    const n = pick(random, 6) + (random() < 0.1 ? 0 : 1);
    for (let i = 0; i < n; i++) {
      const len = length(random);
      total += len;
      const path = Array.from({ length: 1 + pick(random, 3) }, () => name(random));
      const file = new Map<string, BencodeInput>([["length", len], ["path", path]]);
      if (random() < 0.1) file.set("attr", "p");
      if (random() < 0.1) file.set("path.utf-8", [name(random)]);
      files.push(random() < 0.05 ? "not a dict" : file);
    }
    info.set("files", random() < 0.05 ? 7 : files);
    if (random() < 0.05) info.set("length", 1);
  }
  info.set("name", name(random));
  if (random() < 0.1) info.set("name.utf-8", name(random));
  info.set("piece length", random() < 0.05 ? "16384" : pieceLength);
  const count = pieceLength > 0 && Number.isSafeInteger(total) ? Math.ceil(total / pieceLength) : 1;
  const hashes = Math.min(random() < 0.9 ? count : count + pick(random, 3) - 1, 64);
  info.set("pieces", new Uint8Array(Math.max(0, hashes) * 20 + (random() < 0.05 ? 1 : 0)));
  if (random() < 0.3) info.set("private", oneOf(random, [0, 1, 2, "1"]));
  if (random() < 0.1) info.set("source", "src");
  const top = new Map<string, BencodeInput>([["info", random() < 0.03 ? [] : info]]);
  if (random() < 0.7) top.set("announce", oneOf(random, ["http://t.example/announce", "udp://t:80", " ", 5]));
  if (random() < 0.3) top.set("announce-list", [["http://a/ann", "udp://b:1"], [], ["x"], 3]);
  if (random() < 0.3) top.set("url-list", oneOf<BencodeInput>(random, ["http://w/", ["http://w/", 1], 9]));
  if (random() < 0.3) top.set("creation date", oneOf<BencodeInput>(random, [0, 1_700_000_000, -5, "x"]));
  if (random() < 0.2) top.set("comment", new Uint8Array([0xc3, 0x28]));
  return encodeBencode(top);
}

function checkAccepted(input: Uint8Array, meta: Metainfo): void {
  expect(meta.pieceHashes.length === meta.pieceCount * 20, "20 hash bytes per piece");
  expect(meta.totalLength > 0 && Number.isSafeInteger(meta.totalLength), "total length is a positive safe integer");
  expect(meta.pieceCount === Math.ceil(meta.totalLength / meta.pieceLength), "piece count covers the data");
  let offset = 0;
  const seen = new Set<string>();
  for (const f of meta.files) {
    expect(f.offset === offset && f.length >= 0, "file offsets are the running sum of lengths");
    offset += f.length;
    for (const c of f.path) {
      expect(c !== "" && c !== "." && c !== ".." && !/[/\\\0]/.test(c), `safe path component "${c}"`);
    }
    // Padding files never reach the disk, so only real files must have distinct paths (case folded, as on macOS
    // and Windows), and no real file may also be another's folder.
    if (f.isPadding) continue;
    const key = f.path.join("/").toLowerCase();
    expect(!seen.has(key), `unique path "${key}"`);
    seen.add(key);
  }
  for (const key of seen) {
    for (let cut = key.indexOf("/"); cut > 0; cut = key.indexOf("/", cut + 1)) {
      expect(!seen.has(key.slice(0, cut)), `"${key.slice(0, cut)}" is not both a file and a folder`);
    }
  }
  expect(offset === meta.totalLength, "file lengths add up to the total");
  expect(equals(meta.rawInfo, rawValue(input, ["info"], { isStrict: false })), "rawInfo is the info span");
  const digest = new Uint8Array(createHash("sha1").update(meta.rawInfo).digest());
  expect(equals(meta.infoHash.bytes, digest), "info hash is SHA-1 of the raw info span");
  expect(magnetLink(meta).startsWith(`magnet:?xt=urn:btih:${meta.infoHash.hex}`), "magnet link names the info hash");
}

async function check(input: Uint8Array): Promise<void> {
  let meta: Metainfo;
  try {
    meta = await parseMetainfo(input);
  } catch (err: unknown) {
    if (err instanceof BencodeError || err instanceof MetainfoError) return;
    throw err;
  }
  checkAccepted(input, meta);
}

function fixtureTorrents(): Uint8Array[] {
  const dir = new URL("../../fixtures/torrents/", import.meta.url);
  // Sorted by name: the corpus order is part of what a seed reproduces.
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".torrent")).sort();
  return names.map((n) => Deno.readFileSync(new URL(n, dir)));
}

/** The metainfo parser target (its corpus is every fixture torrent). */
export function createMetainfoTarget(): FuzzTarget {
  return { name: "metainfo", generate, check, corpus: fixtureTorrents(), alphabet: fromLatin1("ilde0123456789:-/.") };
}
