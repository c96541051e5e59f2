import { isSafePathComponent, MAX_NAME_BYTES, safePathComponent, safeTorrentPaths } from "../../lib/safe_path.ts";
import { deepEqual, equal, ok } from "../_helpers/assert.ts";

// Hostile or non-portable names -> the safe name (issue #19). "" means the component is dropped.
const NAMES: [string, string][] = [
  ["ordinary name.mkv", "ordinary name.mkv"],
  ["Café 日本語 🎵.flac", "Café 日本語 🎵.flac"],
  [".hidden", ".hidden"],
  ["..a", "..a"],
  [".", ""],
  ["..", ""],
  ["", "_"],
  ["...", "_"],
  [" ", "_"],
  ["name.", "name"],
  ["name. . ", "name"],
  ["trailing space ", "trailing space"],
  [" leading space", " leading space"],
  ["a:b", "a_b"],
  ['<>:"/\\|?*', "_________"],
  ["/etc/passwd", "_etc_passwd"],
  ["..\\..\\evil", ".._.._evil"],
  ["C:\\Windows", "C__Windows"],
  ["Episode 1: The Start?.mkv", "Episode 1_ The Start_.mkv"],
  ["nul\0byte", "nul_byte"],
  ["esc\x1b[2Jclear", "esc_[2Jclear"],
  ["tab\there\nnewline", "tab_here_newline"],
  ["del\x7f c1\x9b", "del_ c1_"],
  ["evil\u202egpj.exe", "evilgpj.exe"],
  ["\u2066iso\u2069\u200e\u200f\u061c", "iso"],
  ["\u202e", "_"],
  ["CON", "_CON"],
  ["con", "_con"],
  ["Con.txt", "_Con.txt"],
  ["aux.tar.gz", "_aux.tar.gz"],
  ["NUL ", "_NUL"],
  ["CON .txt", "_CON .txt"],
  ["PRN", "_PRN"],
  ["COM1", "_COM1"],
  ["com9.log", "_com9.log"],
  ["LPT1", "_LPT1"],
  ["lpt0", "_lpt0"],
  ["COM¹", "_COM¹"],
  ["COM10", "COM10"],
  ["CONSOLE", "CONSOLE"],
  ["icon", "icon"],
  ["my.con", "my.con"],
  ["LPT", "LPT"],
];

Deno.test("safePathComponent() maps hostile and non-portable names to safe ones (#19)", () => {
  for (const [name, safe] of NAMES) {
    equal(safePathComponent(name), safe, JSON.stringify(name));
    if (safe !== "") equal(safePathComponent(safe), safe, `safe form of ${JSON.stringify(name)} is stable`);
    equal(isSafePathComponent(name), name === safe, JSON.stringify(name));
  }
});

Deno.test("safePathComponent() cuts a long name on a character boundary, keeping its extension (#19)", () => {
  const bytes = (s: string) => new TextEncoder().encode(s).length;
  const long = "é".repeat(200) + ".flac";
  const safe = safePathComponent(long);
  ok(bytes(safe) <= MAX_NAME_BYTES, `${bytes(safe)}`);
  ok(safe.endsWith("é.flac"), safe);
  equal(safePathComponent(safe), safe);
  const emoji = safePathComponent("🎵".repeat(100));
  ok(bytes(emoji) <= MAX_NAME_BYTES && !emoji.includes("\uFFFD") && emoji.length % 2 === 0, emoji);
  equal(safePathComponent("a".repeat(MAX_NAME_BYTES)), "a".repeat(MAX_NAME_BYTES));
});

const multi = (paths: string[][], isPadding: boolean[] = []) =>
  safeTorrentPaths(paths, { isMultiFile: true, isPadding });

Deno.test("safeTorrentPaths() never leaves the folder: dot components drop, the name stays (#19)", () => {
  deepEqual(multi([["t", "..", "..", "evil"]]), [["t", "evil"]]);
  deepEqual(multi([["t", ".", "x"]]), [["t", "x"]]);
  deepEqual(multi([["t", "..", "."]]), [["t", "_"]]);
  deepEqual(multi([["..", "x"]]), [["_", "x"]]);
  deepEqual(multi([["t", "a", "", "b"]]), [["t", "a", "_", "b"]]);
  deepEqual(safeTorrentPaths([[".."]], { isMultiFile: false, isPadding: [false] }), [["_"]]);
  deepEqual(safeTorrentPaths([["a/b"]], { isMultiFile: false, isPadding: [false] }), [["a_b"]]);
});

Deno.test("safeTorrentPaths() renames files that collide case-insensitively, deterministically (#19)", () => {
  deepEqual(multi([["t", "a.txt"], ["t", "A.txt"], ["t", "a.TXT"]]), [
    ["t", "a.txt"],
    ["t", "A.1.txt"],
    ["t", "a.2.TXT"],
  ]);
  // Names that only become equal once made safe collide too.
  deepEqual(multi([["t", "a:b"], ["t", "a?b"], ["t", "a_b."]]), [["t", "a_b"], ["t", "a_b.1"], ["t", "a_b.2"]]);
  // A file never takes a folder's name: folders are claimed first.
  deepEqual(multi([["t", "Sub"], ["t", "sub", "x"]]), [["t", "Sub.1"], ["t", "sub", "x"]]);
  // A renamed file skips a name a later file holds; identical paths are renamed too.
  deepEqual(multi([["t", "a"], ["t", "A"], ["t", "a.1"]]), [["t", "a"], ["t", "A.1"], ["t", "a.1.1"]]);
  deepEqual(multi([["t", "x"], ["t", "x"]]), [["t", "x"], ["t", "x.1"]]);
  // NFC and NFD spellings are one name on macOS.
  deepEqual(multi([["t", "\u00e9"], ["t", "e\u0301"]]), [["t", "\u00e9"], ["t", "e\u0301.1"]]);
  // Padding files take part in no collision.
  deepEqual(multi([["t", ".pad", "16"], ["t", ".pad", "16"], ["t", "a"]], [true, true, false]), [
    ["t", ".pad", "16"],
    ["t", ".pad", "16"],
    ["t", "a"],
  ]);
  // Every result is distinct case folded (a larger deterministic mix).
  const paths = Array.from({ length: 300 }, (_, i) => ["t", ["a", "A", "a.", "a:", "CON"][i % 5]! + (i % 7)]);
  const safe = multi(paths);
  equal(new Set(safe.map((p) => p.join("/").toLowerCase())).size, paths.length);
  deepEqual(multi(paths), safe);
});
