// Terminal safety (issue #19): every text from outside (torrent names, comments, paths, tracker and peer messages)
// passes `terminalSafe` before the CLI prints it, so it cannot move the cursor, clear the screen, retitle the
// window or reorder what follows. JSON output goes through `safeJson`: JSON.stringify escapes C0 controls but
// leaves DEL, C1 controls (U+009B is a CSI to xterm) and direction marks raw.

/**
 * Whether UTF-16 unit `c` acts on a terminal or on how the line is shown rather than being shown: C0 controls, DEL,
 * C1 controls (U+0080-U+009F; U+009B alone is a CSI), the line and paragraph separators, and the direction controls
 * (U+061C, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069) that can make "exe.txt" read "txt.exe".
 */
function isUnsafe(c: number): boolean {
  if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  if (c < 0x61c) return false;
  return c === 0x61c || c === 0x200e || c === 0x200f || (c >= 0x2028 && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

function escapeUnit(c: number): string {
  if (c === 0x09) return "\\t";
  if (c === 0x0a) return "\\n";
  if (c === 0x0d) return "\\r";
  return c <= 0xff ? `\\x${c.toString(16).padStart(2, "0")}` : `\\u${c.toString(16).padStart(4, "0")}`;
}

/**
 * `text` with every control and direction character written as a visible escape (`\x1b`, `\n`, `\u202e`); all
 * other text, other Unicode included, is left as it is.
 */
export function terminalSafe(text: string): string {
  let out = "";
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!isUnsafe(c)) continue;
    out += text.slice(from, i) + escapeUnit(c);
    from = i + 1;
  }
  return from === 0 ? text : out + text.slice(from);
}

/**
 * JSON.stringify(value, null, space) with DEL, C1 controls, line separators and direction marks also written as
 * `\uXXXX` (they can only occur inside strings there, so the JSON means the same).
 */
export function safeJson(value: unknown, space?: number): string {
  const json = JSON.stringify(value, null, space);
  let out = "";
  let from = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c < 0x7f || !isUnsafe(c)) continue; // C0 is escaped inside strings already; outside it is the indent
    out += json.slice(from, i) + `\\u${c.toString(16).padStart(4, "0")}`;
    from = i + 1;
  }
  return from === 0 ? json : out + json.slice(from);
}
