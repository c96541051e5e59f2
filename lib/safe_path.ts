// Safe file names for a torrent's files (issue #19): turns the names a .torrent lists into names that can be
// written on Linux, macOS and Windows alike, inside the download folder, without refusing the torrent. Pure; the
// info hash never changes (only where files land). The same rules on every OS, so a folder verifies anywhere.
//
// Rules, per path component (a file or folder name), in this order:
//  1. Direction controls (U+061C, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069) are removed: they make a name
//     read differently from what it is ("evil\u202Egpj.exe" shows as "evilexe.jpg").
//  2. Control characters (C0, DEL, C1) and the characters Windows forbids (< > : " / \ | ? *) become "_".
//  3. Trailing dots and spaces are removed (Windows drops them, so "a." and "a" would be one file).
//  4. "." and ".." (before step 3) are dropped; a name left empty by steps 1-3 becomes "_".
//  5. Windows device names (CON, PRN, AUX, NUL, COM0-9, LPT0-9 and COM/LPT with superscript 1-3), in any case and
//     with any extension ("con.txt", "Aux.tar.gz"), get "_" in front.
//  6. A name over MAX_NAME_BYTES of UTF-8 is cut on a character boundary, keeping a short extension.
// Then, for the whole torrent: the torrent name is never dropped, a file left with no component below it gets "_";
// padding files (never on disk) are left out of the next step; folder paths are claimed first, then each file in the torrent's order, comparing case-
// insensitively (NFC, lower case: Windows and macOS fold case); a file whose path is taken is renamed
// "<stem>.<n><ext>" with the smallest n >= 1 that is free ("a.txt", "A.txt" -> "a.txt", "A.1.txt").
// libtorrent was the model (sanitize_append_path_element, resolve_duplicate_filenames); unlike it, the Windows rules
// apply on every OS (as in Transmission), so a Linux download of "a:b" lands as "a_b" where libtorrent keeps "a:b".

/** Longest file or folder name kept, in UTF-8 bytes (Linux NAME_MAX is 255; room is left for a ".<n>" suffix). */
export const MAX_NAME_BYTES = 240;
/** Longest extension kept when a long name is cut, in UTF-16 units with the dot. */
const MAX_EXTENSION_CHARS = 16;

const FORBIDDEN = new Set(["<", ">", ":", '"', "/", "\\", "|", "?", "*"]);
const DEVICE_NAMES = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])$/;
const ENCODER = new TextEncoder();
const FORBIDDEN_CODES = new Uint8Array(128);
for (const ch of FORBIDDEN) FORBIDDEN_CODES[ch.charCodeAt(0)] = 1;
const DEVICE_PREFIXES = new Set(["con", "prn", "aux", "nul", "com", "lpt"]);

function isDirectionControl(c: number): boolean {
  return c === 0x61c || c === 0x200e || c === 0x200f || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

function isControl(c: number): boolean {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

/** `name` cut to at most `maxBytes` UTF-8 bytes without splitting a character (surrogate pairs included). */
function cutUtf8(name: string, maxBytes: number): string {
  let bytes = 0;
  let i = 0;
  for (const ch of name) {
    const n = ENCODER.encode(ch).length;
    if (bytes + n > maxBytes) break;
    bytes += n;
    i += ch.length;
  }
  return name.slice(0, i);
}

function shorten(name: string): string {
  if (ENCODER.encode(name).length <= MAX_NAME_BYTES) return name;
  const dot = name.lastIndexOf(".");
  const ext = dot > 0 && name.length - dot <= MAX_EXTENSION_CHARS ? name.slice(dot) : "";
  const stem = cutUtf8(name.slice(0, name.length - ext.length), MAX_NAME_BYTES - ENCODER.encode(ext).length);
  return stem.replace(/[. ]+$/, "") + ext;
}

/** Longest name the fast path takes: 80 UTF-16 units are at most 240 UTF-8 bytes. */
const MAX_PLAIN_CHARS = MAX_NAME_BYTES / 3;

/**
 * Whether `name` is safe by a quick look (the common case: nothing to change): short, no character any rule
 * touches, no trailing dot or space, and not starting like a device name.
 */
function isPlainName(name: string): boolean {
  const n = name.length;
  if (n === 0 || n > MAX_PLAIN_CHARS) return false;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x80 ? c < 0x20 || c === 0x7f || FORBIDDEN_CODES[c] === 1 : c <= 0x9f || isDirectionControl(c)) {
      return false;
    }
  }
  const last = name.charCodeAt(n - 1);
  if (last === 0x2e || last === 0x20) return false;
  return n < 3 || !DEVICE_PREFIXES.has(name.slice(0, 3).toLowerCase());
}

/**
 * The safe form of one file or folder name (rules 1-6 above); "" for "." and "..", which the caller drops.
 */
export function safePathComponent(name: string): string {
  if (isPlainName(name)) return name;
  if (name === "." || name === "..") return "";
  let out = "";
  for (const ch of name) {
    const c = ch.codePointAt(0)!;
    if (isDirectionControl(c)) continue;
    out += isControl(c) || FORBIDDEN.has(ch) ? "_" : ch;
  }
  out = out.replace(/[. ]+$/, "");
  if (out === "") return "_";
  const dot = out.indexOf(".");
  if (DEVICE_NAMES.test((dot < 0 ? out : out.slice(0, dot)).trimEnd().toLowerCase())) out = `_${out}`;
  return shorten(out);
}

/** Whether `name` is already safe: it comes out of safePathComponent unchanged. */
export function isSafePathComponent(name: string): boolean {
  return name !== "" && safePathComponent(name) === name;
}

function foldKey(path: readonly string[]): string {
  const key = path.join("/");
  // Only non-ASCII text can have another normal form; normalize() is slow, so skip it for ASCII.
  return (/[^ -~]/.test(key) ? key.normalize("NFC") : key).toLowerCase();
}

/** `name` with ".<n>" before its extension ("a.txt" -> "a.1.txt", "a" -> "a.1"). */
function numbered(name: string, n: number): string {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? `${name.slice(0, dot)}.${n}${name.slice(dot)}` : `${name}.${n}`;
}

/**
 * The safe paths of a torrent's files (the rules above): `paths[i]` is file i's components, the torrent name first
 * (`[name]` for a single-file torrent). The name is never dropped ("." and ".." there become "_"); a multi-file
 * torrent's file left with nothing below the name gets "_". `isPadding[i]` marks BEP 47 padding files, which take
 * part in no collision. Every component of the result is safe, and no two real files share a path, case folded.
 */
export function safeTorrentPaths(
  paths: readonly (readonly string[])[],
  options: { isMultiFile: boolean; isPadding: readonly boolean[] },
): string[][] {
  const { isMultiFile, isPadding } = options;
  const safe = paths.map(([name = "", ...rest]) => {
    const out = [safePathComponent(name) || "_", ...rest.map(safePathComponent).filter((c) => c !== "")];
    if (isMultiFile && out.length === 1) out.push("_");
    return out;
  });
  const taken = new Set<string>();
  safe.forEach((path, i) => {
    if (isPadding[i] === true) return;
    for (let n = 1; n < path.length; n++) taken.add(foldKey(path.slice(0, n)));
  });
  safe.forEach((path, i) => {
    if (isPadding[i] === true) return;
    const last = path.length - 1;
    const name = path[last]!;
    // Each failed try is a distinct key already taken, so this ends within taken.size + 1 tries.
    for (let n = 1; taken.has(foldKey(path)); n++) path[last] = numbered(name, n);
    taken.add(foldKey(path));
  });
  return safe;
}
