// Fuzz target: the announce query parser on both tracker stacks (lib/tracker/http_codec.ts). The libc fast path parses
// the raw target bytes (AnnounceQueryParser.parse); Deno.serve's path parses the target as text, bytes >= 0x80
// percent-encoded (parseText of http1.ts targetText, which is what parseAnnounceQuery sees). Properties: only
// TrackerError escapes; both stacks agree (the same request or the same error code); values are in range; the
// scrape query parser yields unique 20-byte hashes within its cap.

import { fromLatin1 } from "../../lib/bytes.ts";
import { TrackerError } from "../../lib/errors.ts";
import { MAX_SCRAPE_HASHES } from "../../lib/tracker/announce.ts";
import type { AnnounceRequest } from "../../lib/tracker/announce.ts";
import { targetText } from "../../lib/tracker/http1.ts";
import { AnnounceQueryParser, parseAnnounceQuery, parseScrapeQuery } from "../../lib/tracker/http_codec.ts";
import { expect, expectOnly, type FuzzTarget, oneOf, pick, type Random } from "./_harness.ts";

const NUMWANT_MAX = 200;
const NAMES = ["info_hash", "peer_id", "port", "uploaded", "downloaded", "left", "event", "numwant", "compact"];
const RARE_NAMES = ["key", "trackerid", "ip", "no_peer_id", "passkey", "x", "", "info_hash%00", "Port"];
const NUMBERS = ["0", "1", "6881", "65535", "65536", "-1", "", "1e3", "9007199254740993", "18446744073709551615", "+5"];

/** A 20-byte value the way clients write it: percent-encoded (either case), raw, or mixed, sometimes malformed. */
function hashValue(random: Random): string {
  let out = "";
  const n = random() < 0.9 ? 20 : oneOf(random, [0, 19, 21]);
  for (let i = 0; i < n; i++) {
    const c = pick(random, 256);
    const hex = c.toString(16).padStart(2, "0");
    const r = random();
    if (r < 0.5) out += `%${random() < 0.5 ? hex : hex.toUpperCase()}`;
    else if (r < 0.8 && c > 0x20 && c !== 0x25 && c !== 0x26 && c !== 0x23) out += String.fromCharCode(c);
    else out += `%${hex}`;
  }
  if (random() < 0.03) out += oneOf(random, ["%", "%g0", "%0"]);
  return out;
}

function paramValue(random: Random, name: string): string {
  switch (name) {
    case "info_hash":
    case "peer_id":
      return hashValue(random);
    case "event":
      return oneOf(random, ["started", "completed", "stopped", "paused", "", "Started", "x"]);
    case "compact":
    case "no_peer_id":
      return oneOf(random, ["0", "1", ""]);
    case "key":
    case "trackerid":
    case "ip":
      return oneOf(random, ["abc", "10.0.0.1", "::1", "\u00e9\u00e9", "k".repeat(65), "%41", "\u00e9".repeat(30)]);
    default:
      return random() < 0.7 ? String(pick(random, 70000)) : oneOf(random, NUMBERS);
  }
}

function generate(random: Random): Uint8Array {
  const parts: string[] = [];
  for (const name of NAMES) if (random() < 0.92) parts.push(`${name}=${paramValue(random, name)}`);
  for (let i = pick(random, 4); i > 0; i--) {
    const name = random() < 0.5 ? oneOf(random, RARE_NAMES) : oneOf(random, NAMES);
    parts.push(random() < 0.1 ? name : `${name}=${paramValue(random, name)}`);
  }
  // Near the length cap, counted in bytes on the libc path and in escaped characters on the text path.
  if (random() < 0.02) parts.push(`pad=${"\u00e9".repeat(5400 + pick(random, 200))}`);
  for (let i = parts.length - 1; i > 0; i--) {
    const j = pick(random, i + 1);
    [parts[i], parts[j]] = [parts[j]!, parts[i]!];
  }
  let query = parts.join("&");
  if (random() < 0.05) query = "&".repeat(pick(random, 300)) + query;
  // Latin-1: each char one byte (raw bytes >= 0x80 are how a client sends an unencoded hash).
  return fromLatin1(query);
}

const bytesParser = new AnnounceQueryParser();
const textParser = new AnnounceQueryParser();

/** What a parse came to, as comparable text: the request's fields, or the error code. */
function outcome(parse: () => AnnounceRequest): string {
  let req: AnnounceRequest | undefined;
  const err = expectOnly(() => (req = parse()), TrackerError);
  if (err !== null) return `error ${err.code}`;
  const r = req!;
  expect(r.port >= 1 && r.port <= 65535, `port ${r.port} in 1..65535`);
  expect(r.numWant >= 0 && r.numWant <= NUMWANT_MAX, `numWant ${r.numWant} in 0..${NUMWANT_MAX}`);
  for (const n of [r.left, r.uploaded, r.downloaded]) expect(Number.isSafeInteger(n) && n >= 0, `count ${n} in range`);
  expect(r.infoHash.length === 20 && r.peerId.length === 20, "20-byte ids");
  return JSON.stringify({ ...r, infoHash: [...r.infoHash], peerId: [...r.peerId] });
}

function check(input: Uint8Array): void {
  const text = targetText(input, 0, input.length);
  const libc = outcome(() => bytesParser.parse(input, 0, input.length, NUMWANT_MAX));
  const serve = outcome(() => textParser.parseText(text, 0, NUMWANT_MAX));
  expect(libc === serve, `both stacks agree: libc ${libc} / Deno.serve ${serve}`);
  const fresh = outcome(() => parseAnnounceQuery(text, { numWantMax: NUMWANT_MAX }));
  expect(fresh === serve, "parseAnnounceQuery() agrees with AnnounceQueryParser");

  let hashes: Uint8Array[] = [];
  expectOnly(() => (hashes = parseScrapeQuery(text)), TrackerError);
  expect(hashes.length <= MAX_SCRAPE_HASHES, "scrape hashes within the cap");
  const seen = new Set<string>();
  for (const h of hashes) {
    expect(h.length === 20, "20-byte scrape hash");
    seen.add(String(h));
  }
  expect(seen.size === hashes.length, "scrape hashes are unique");
}

/** The announce query target (both stacks, plus the scrape query). */
export const announceQueryTarget: FuzzTarget = {
  name: "announce_query",
  generate,
  check,
  alphabet: fromLatin1("&=%0123456789abcdefABCDEF-+"),
};
