import { safeJson, terminalSafe } from "../../cli/_escape.ts";
import { equal } from "../_helpers/assert.ts";

Deno.test("terminalSafe() writes controls and direction marks as visible escapes, keeps other Unicode (#19)", () => {
  const cases: [string, string][] = [
    ["plain name.mkv", "plain name.mkv"],
    ["\x1b[2Jcleared", "\\x1b[2Jcleared"],
    ["\x1b]0;new title\x07", "\\x1b]0;new title\\x07"],
    ["line\nfeed\rcr\ttab", "line\\nfeed\\rcr\\ttab"],
    ["nul\0del\x7f", "nul\\x00del\\x7f"],
    ["c1 csi \x9b2J and \x85", "c1 csi \\x9b2J and \\x85"],
    ["evil\u202egpj.exe", "evil\\u202egpj.exe"],
    ["\u2066isolate\u2069 \u200e\u200f\u061c", "\\u2066isolate\\u2069 \\u200e\\u200f\\u061c"],
    ["sep\u2028par\u2029", "sep\\u2028par\\u2029"],
    ["Café 日本語 🎵 ü\u00a0nbsp", "Café 日本語 🎵 ü\u00a0nbsp"],
    ["", ""],
  ];
  for (const [input, expected] of cases) equal(terminalSafe(input), expected, JSON.stringify(input));
});

Deno.test("safeJson() escapes DEL, C1 and direction marks as \\u escapes; the JSON means the same (#19)", () => {
  const value = { name: "a\x7f\x9b2J\u202eb\x1b", n: [1, "é日"] };
  const json = safeJson(value, 2);
  equal(json, JSON.stringify(value, null, 2).replace("\x7f\x9b2J\u202e", "\\u007f\\u009b2J\\u202e"));
  equal(/[\x7f-\x9f\u202e]/.test(json), false);
  equal(JSON.stringify(JSON.parse(json)), JSON.stringify(value));
});
