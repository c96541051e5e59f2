import { decodeBencode, encodeBencode, rawValue } from "../../lib/bencode.ts";
import { concat, fromLatin1, toHex, utf8 } from "../../lib/bytes.ts";
import { BencodeError, type BtoolError, MetainfoError } from "../../lib/errors.ts";
import { magnetLink, parseMetainfo } from "../../lib/metainfo.ts";
import { sha1 } from "../../lib/sha1.ts";
import { assertRejectsCode, deepEqual, equal, ok } from "../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";
import { fixturePath, readFixture } from "../_helpers/tmp.ts";
import { buildTorrent } from "../_helpers/torrent.ts";

const rnd = seededRandom(3);
const DATA = randomBytes(rnd, 40000);

Deno.test("parseMetainfo() reads a single-file torrent", async () => {
  const { bytes } = buildTorrent({
    name: "a.bin",
    data: DATA,
    top: { comment: "hi", "created by": "test", "creation date": 1700000000, "url-list": "http://ws/" },
    info: { source: "SRC" },
  });
  const m = await parseMetainfo(bytes);
  equal(m.name, "a.bin");
  equal(m.totalLength, 40000);
  equal(m.pieceCount, 3);
  equal(m.pieceLength, 16384);
  equal(m.isMultiFile, false);
  equal(m.isPrivate, false);
  deepEqual(m.files, [{ path: ["a.bin"], length: 40000, offset: 0 }]);
  equal(m.announce, "http://127.0.0.1:6969/announce");
  deepEqual(m.announceList, [["http://127.0.0.1:6969/announce"]]);
  equal(m.comment, "hi");
  equal(m.createdBy, "test");
  equal(m.creationDate, 1700000000);
  equal(m.source, "SRC");
  deepEqual(m.urlList, ["http://ws/"]);
  equal(m.pieceHashes.length, 60);
  equal(m.infoHash.hex, toHex(await sha1(rawValue(bytes, ["info"]))));
});

Deno.test("parseMetainfo() reads a multi-file private torrent with tiers", async () => {
  const { bytes } = buildTorrent({
    name: "dir",
    files: [
      { path: ["x", "one"], data: DATA.subarray(0, 100) },
      { path: ["empty"], data: new Uint8Array(0) },
      { path: ["two"], data: DATA.subarray(100, 20000) },
    ],
    info: { private: 1 },
    top: { "announce-list": [["http://a/announce", "http://b/announce"], [], ["udp://c:1"]] },
  });
  const m = await parseMetainfo(bytes);
  equal(m.isMultiFile, true);
  equal(m.isPrivate, true);
  equal(m.totalLength, 20000);
  equal(m.pieceCount, 2);
  deepEqual(m.files, [
    { path: ["dir", "x", "one"], length: 100, offset: 0 },
    { path: ["dir", "empty"], length: 0, offset: 100 },
    { path: ["dir", "two"], length: 19900, offset: 100 },
  ]);
  deepEqual(m.announceList, [["http://a/announce", "http://b/announce"], ["udp://c:1"]]);
  equal(m.comment, null);
  equal(m.creationDate, null);
  deepEqual(m.urlList, []);
});

Deno.test("parseMetainfo() hashes the raw info bytes, even with unsorted keys", async () => {
  const { bytes } = buildTorrent({ data: DATA });
  // Rebuild the outer dict with "info" before "announce" and an info dict with keys out of order.
  const info = rawValue(bytes, ["info"]);
  const text = new TextDecoder("latin1").decode(info);
  const swapped = text.replace(/^d(6:lengthi\d+e)(4:name4:test)/, "d$2$1");
  ok(swapped !== text);
  const swappedBytes = fromLatin1(swapped);
  const file = concat([utf8("d4:info"), swappedBytes, utf8("8:announce3:urle")]);
  const m = await parseMetainfo(file);
  equal(m.infoHash.hex, toHex(await sha1(swappedBytes)));
  ok(m.infoHash.hex !== toHex(await sha1(info)));
  equal(m.announce, "url");
});

Deno.test("parseMetainfo() prefers name.utf-8 and path.utf-8", async () => {
  const { bytes } = buildTorrent({
    name: "plain",
    files: [{ path: ["p"], data: DATA.subarray(0, 10) }],
    info: { "name.utf-8": "é", files: [{ length: 10, path: ["p"], "path.utf-8": ["ü"] }] },
  });
  const m = await parseMetainfo(bytes);
  equal(m.name, "é");
  deepEqual(m.files[0]!.path, ["é", "ü"]);
});

const HOSTILE: [string, Parameters<typeof buildTorrent>[0], string][] = [
  ["an empty path", { files: [{ path: [], data: DATA.subarray(0, 5) }] }, "unsafe_path"],
  ["a piece length not a power of two", { data: DATA, pieceLength: 20000 }, "invalid_piece_length"],
  ["a piece length under 16 KiB", { data: DATA, pieceLength: 8192 }, "invalid_piece_length"],
  ["pieces not a multiple of 20", { data: DATA, info: { pieces: new Uint8Array(59) } }, "invalid_pieces"],
  ["too few piece hashes", { data: DATA, info: { pieces: new Uint8Array(40) } }, "piece_count_mismatch"],
  ["too many piece hashes", { data: DATA, info: { pieces: new Uint8Array(80) } }, "piece_count_mismatch"],
  ["a negative length", { data: DATA, info: { length: -1 } }, "invalid_length"],
  ["no data", { data: new Uint8Array(0) }, "empty_torrent"],
  ["an empty file list", { files: [] }, "empty_torrent"],
  ["both length and files", { files: [{ path: ["a"], data: DATA }], info: { length: 1 } }, "ambiguous_layout"],
  ["neither length nor files", { data: DATA, info: { length: undefined } }, "missing_field"],
  ["no name", { data: DATA, info: { name: undefined } }, "missing_field"],
  ["a string piece length", { data: DATA, info: { "piece length": "16384" } }, "wrong_type"],
  ["invalid UTF-8 in a name", { data: DATA, info: { name: new Uint8Array([0xff, 0xfe]) } }, "invalid_utf8"],
];

// Issue #19: unsafe or colliding names are made safe (lib/safe_path.ts), never refused; the info hash stays.
const D5 = DATA.subarray(0, 5);
const SANITISED: [string, Parameters<typeof buildTorrent>[0], string[][]][] = [
  ["a .. component", { files: [{ path: ["..", "x"], data: D5 }] }, [["test", "x"]]],
  ["a . component", { files: [{ path: [".", "x"], data: D5 }] }, [["test", "x"]]],
  ["only .. components", { files: [{ path: ["..", ".."], data: D5 }] }, [["test", "_"]]],
  ["an absolute path", { files: [{ path: ["/etc/passwd"], data: D5 }] }, [["test", "_etc_passwd"]]],
  ["an empty component", { files: [{ path: ["a", "", "b"], data: D5 }] }, [["test", "a", "_", "b"]]],
  ["a backslash", { files: [{ path: ["a\\b"], data: D5 }] }, [["test", "a_b"]]],
  ["a NUL", { files: [{ path: ["a\0b"], data: D5 }] }, [["test", "a_b"]]],
  ["a Windows device name", { files: [{ path: ["AUX.txt"], data: D5 }] }, [["test", "_AUX.txt"]]],
  ["a trailing dot", { files: [{ path: ["dir.", "f "], data: D5 }] }, [["test", "dir", "f"]]],
  ["a name of ..", { name: "..", data: D5 }, [["_"]]],
  ["a name with /", { name: "a/b", data: D5 }, [["a_b"]]],
  ["an empty name", { name: "", data: D5 }, [["_"]]],
  ["a name holding ESC", { name: "x\x1b[2J", data: D5 }, [["x_[2J"]]],
  ["a duplicate path", { files: [{ path: ["a"], data: D5 }, { path: ["a"], data: D5 }] }, [["test", "a"], [
    "test",
    "a.1",
  ]]],
  ["names equal but for case", { files: [{ path: ["Read Me.txt"], data: D5 }, { path: ["read me.TXT"], data: D5 }] }, [
    ["test", "Read Me.txt"],
    ["test", "read me.1.TXT"],
  ]],
  ["a file that is also a folder", { files: [{ path: ["a"], data: D5 }, { path: ["a", "b"], data: D5 }] }, [
    ["test", "a.1"],
    ["test", "a", "b"],
  ]],
];

for (const [what, options, safe] of SANITISED) {
  Deno.test(`parseMetainfo() makes safe ${what} (#19)`, async () => {
    const { bytes } = buildTorrent(options);
    const m = await parseMetainfo(bytes);
    deepEqual(m.files.map((f) => f.path), safe);
    for (const f of m.files) {
      const listed = f.torrentPath ?? f.path;
      ok(listed.length > 0);
      if (f.torrentPath !== undefined) ok(f.torrentPath.join("/") !== f.path.join("/"));
    }
    equal(m.infoHash.hex, toHex(await sha1(rawValue(bytes, ["info"]))));
  });
}

for (const [what, options, code] of HOSTILE) {
  Deno.test(`parseMetainfo() refuses ${what} (${code})`, async () => {
    const err = await assertRejectsCode(() => parseMetainfo(buildTorrent(options).bytes), MetainfoError, code);
    ok(err.field.length > 0 || code === "not_a_dict");
  });
}

Deno.test("parseMetainfo() refuses non-dicts and missing info", async () => {
  await assertRejectsCode(() => parseMetainfo(utf8("le")), MetainfoError, "not_a_dict");
  await assertRejectsCode(() => parseMetainfo(utf8("d8:announce1:xe")), MetainfoError, "missing_field");
  await assertRejectsCode(() => parseMetainfo(utf8("d4:infoi1ee")), MetainfoError, "wrong_type");
  await assertRejectsCode(() => parseMetainfo(utf8("d4:info")), BencodeError, "unexpected_end");
  await assertRejectsCode(() => parseMetainfo(utf8("d4:infode4:infodee")), BencodeError, "duplicate_key");
});

Deno.test("parseMetainfo() ignores malformed optional fields outside info", async () => {
  const { bytes } = buildTorrent({
    data: DATA,
    top: { comment: 5, "creation date": "x", "announce-list": [5, ["", "http://a/"]], "url-list": [1, "http://w/"] },
  });
  const m = await parseMetainfo(bytes);
  equal(m.comment, null);
  equal(m.creationDate, null);
  deepEqual(m.announceList, [["http://a/"]]);
  deepEqual(m.urlList, ["http://w/"]);
});

Deno.test("parseMetainfo() gives an empty tracker list for trackerless torrents", async () => {
  const { bytes } = buildTorrent({ data: DATA, top: { announce: undefined } });
  const m = await parseMetainfo(bytes);
  equal(m.announce, null);
  deepEqual(m.announceList, []);
});

Deno.test("magnetLink() holds hash, name, trackers and web seeds", async () => {
  const { bytes } = buildTorrent({
    name: "a b&c",
    data: DATA,
    top: { "announce-list": [["http://a/ann?x=1"], ["http://a/ann?x=1", "udp://b:2"]], "url-list": ["http://w/"] },
  });
  const m = await parseMetainfo(bytes);
  equal(
    magnetLink(m),
    `magnet:?xt=urn:btih:${m.infoHash.hex}&dn=a%20b%26c&tr=http%3A%2F%2Fa%2Fann%3Fx%3D1&tr=udp%3A%2F%2Fb%3A2` +
      `&ws=http%3A%2F%2Fw%2F`,
  );
});

Deno.test("parseMetainfo() info dict re-encodes byte-identically when canonical", async () => {
  const { bytes } = buildTorrent({ files: [{ path: ["q"], data: DATA }], info: { private: 1 } });
  const m = await parseMetainfo(bytes);
  deepEqual(encodeBencode(decodeBencode(m.rawInfo)), m.rawInfo);
});

// --- fixtures made by real tools (fixtures/torrents, see fixtures/README.md) ---------------------------------------

interface Sidecar {
  infoHashHex?: string;
  name?: string;
  pieceLength?: number;
  pieceCount?: number;
  totalLength?: number;
  isMultiFile?: boolean;
  isPrivate?: boolean;
  announceList?: string[][];
  comment?: string | null;
  createdBy?: string | null;
  creationDate?: number | null;
  urlList?: string[];
  files?: { path: string[]; length: number; offset: number }[];
  error?: { class: "MetainfoError" | "BencodeError"; code: string };
  /** Hostile names (issue #19): the safe path of each file, as lib/safe_path.ts documents it. */
  safePaths?: string[][];
}

const FIXTURES = [...Deno.readDirSync(fixturePath("torrents"))]
  .map((e) => e.name)
  .filter((n) => n.endsWith(".torrent"))
  .sort()
  .map((n) => ({
    name: n,
    bytes: readFixture(`torrents/${n}`),
    sidecar: JSON.parse(
      new TextDecoder().decode(readFixture(`torrents/${n.replace(/\.torrent$/, ".json")}`)),
    ) as Sidecar,
  }));

Deno.test("fixtures: there are tool-made and hostile torrents", () => {
  for (const prefix of ["mktorrent_", "transmission_", "libtorrent_", "hostile_"]) {
    ok(FIXTURES.some((f) => f.name.startsWith(prefix)), prefix);
  }
});

for (const { name, bytes, sidecar } of FIXTURES) {
  const expected = sidecar.error;
  if (expected !== undefined) {
    Deno.test(`parseMetainfo() refuses fixture ${name} (${expected.code})`, async () => {
      await assertRejectsCode(
        () => parseMetainfo(bytes),
        (expected.class === "BencodeError" ? BencodeError : MetainfoError) as typeof BtoolError,
        expected.code,
      );
    });
    continue;
  }
  if (sidecar.safePaths !== undefined) {
    const safePaths = sidecar.safePaths;
    Deno.test(`parseMetainfo() makes fixture ${name}'s names safe (#19)`, async () => {
      const m = await parseMetainfo(bytes);
      deepEqual(m.files.map((f) => f.path), safePaths);
      ok(m.files.some((f) => f.torrentPath !== undefined));
    });
    continue;
  }
  Deno.test(`parseMetainfo() reads fixture ${name} as its sidecar says`, async () => {
    const m = await parseMetainfo(bytes);
    equal(m.infoHash.hex, sidecar.infoHashHex);
    equal(m.name, sidecar.name);
    equal(m.pieceLength, sidecar.pieceLength);
    equal(m.pieceCount, sidecar.pieceCount);
    equal(m.totalLength, sidecar.totalLength);
    equal(m.isMultiFile, sidecar.isMultiFile);
    equal(m.isPrivate, sidecar.isPrivate);
    deepEqual(m.announceList, sidecar.announceList);
    equal(m.comment, sidecar.comment);
    if (sidecar.createdBy !== null) equal(m.createdBy, sidecar.createdBy);
    equal(m.creationDate, sidecar.creationDate);
    deepEqual(m.urlList, sidecar.urlList);
    deepEqual(m.files, sidecar.files);
    equal(m.pieceHashes.length, 20 * m.pieceCount);
  });
  Deno.test(`encodeBencode() re-encodes fixture ${name}'s info dict byte for byte`, () => {
    const raw = rawValue(bytes, ["info"], { isStrict: false });
    deepEqual(encodeBencode(decodeBencode(raw)), raw);
  });
}

Deno.test("parseMetainfo() marks BEP 47 padding files", async () => {
  const { bytes } = buildTorrent({
    name: "p",
    files: [
      { path: ["a"], data: DATA.subarray(0, 100) },
      { path: [".pad", "16284"], data: new Uint8Array(16284) },
      { path: ["b"], data: DATA.subarray(0, 100) },
      { path: ["_____padding_file_0"], data: new Uint8Array(10) },
    ],
  });
  // Rebuild the files list with attr "p" on the first padding file (same lengths, so the pieces still fit).
  const { bytes: withAttr } = buildTorrent({
    name: "p",
    data: concat([DATA.subarray(0, 100), new Uint8Array(16284), DATA.subarray(0, 100), new Uint8Array(10)]),
    info: {
      length: undefined,
      files: [
        { length: 100, path: ["a"] },
        { attr: "p", length: 16284, path: [".pad", "16284"] },
        { attr: "x", length: 100, path: ["b"] },
        { length: 10, path: ["_____padding_file_0"] },
      ],
    },
  });
  deepEqual((await parseMetainfo(bytes)).files.map((f) => f.isPadding), [undefined, undefined, undefined, true]);
  deepEqual((await parseMetainfo(withAttr)).files.map((f) => f.isPadding), [undefined, true, undefined, true]);
});
