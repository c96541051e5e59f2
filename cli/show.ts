// `btool show` front end (issue #3): prints what a .torrent holds, as text or JSON.
// A broken torrent gives one line `btool: <file>: <what is wrong>` and exit 1.

import { BtoolError, UsageError } from "../lib/errors.ts";
import { magnetLink, type Metainfo, parseMetainfo } from "../lib/metainfo.ts";
import { parseCommand } from "./args.ts";
import { formatBytes } from "./progress.ts";
import { safeJson, terminalSafe } from "./_escape.ts";

/** Help text for `btool show`. */
export const HELP = `Usage: btool show FILE.torrent [--json]

Print what a .torrent holds: name, info hash, magnet link, total size, piece length and count, private flag,
trackers by tier, creation date, comment, source, creator, web seeds and the file tree with sizes.

Options:
  --json        print one JSON object instead of text
  -h, --help    show this help

Exit codes: 0 shown, 1 unreadable or invalid torrent, 2 bad usage.`;

/** Largest .torrent file we read (real ones are kilobytes; huge multi-file torrents reach a few MiB). */
export const MAX_TORRENT_FILE_BYTES = 64 * 1024 * 1024;

/**
 * Read and parse a .torrent file; a failure becomes a BtoolError whose message starts with the file name.
 * @throws {BtoolError} torrent_read, or the parser's MetainfoError/BencodeError code with `<file>: ` in front
 */
export async function loadTorrentFile(path: string): Promise<Metainfo> {
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new BtoolError("torrent_read", `${path}: Cannot read torrent: not a file`);
    if (info.size > MAX_TORRENT_FILE_BYTES) {
      throw new BtoolError("torrent_read", `${path}: Cannot read torrent: larger than ${MAX_TORRENT_FILE_BYTES} bytes`);
    }
    bytes = await Deno.readFile(path);
  } catch (err: unknown) {
    if (err instanceof BtoolError) throw err;
    const detail = err instanceof Deno.errors.NotFound
      ? "no such file"
      : err instanceof Error
      ? err.message
      : String(err);
    throw new BtoolError("torrent_read", `${path}: Cannot read torrent: ${detail}`, { cause: err });
  }
  try {
    return await parseMetainfo(bytes);
  } catch (err: unknown) {
    if (err instanceof BtoolError) throw new BtoolError(err.code, `${path}: ${err.message}`, { cause: err });
    throw err;
  }
}

function formatDate(seconds: number): string {
  const ms = seconds * 1000;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return String(seconds);
  return new Date(ms).toISOString().replace(".000Z", "Z");
}

interface TreeNode {
  children: Map<string, TreeNode>;
  length: number;
  isFile: boolean;
  /** The file's path as the torrent lists it, when it is saved under another (safe) name (#19). */
  listedAs?: string;
}

/**
 * Lines of an indented file tree (padding files left out): folders end in `/` and show their total size; a file
 * saved under a safe name other than the torrent's says what the torrent lists.
 */
export function formatFileTree(meta: Pick<Metainfo, "files">): string[] {
  const root: TreeNode = { children: new Map(), length: 0, isFile: false };
  for (const file of meta.files) {
    if (file.isPadding) continue;
    let node = root;
    node.length += file.length;
    file.path.forEach((name, i) => {
      let child = node.children.get(name);
      if (child === undefined) {
        child = { children: new Map(), length: 0, isFile: i === file.path.length - 1 };
        node.children.set(name, child);
      }
      child.length += file.length;
      if (child.isFile && file.torrentPath !== undefined) child.listedAs = file.torrentPath.join("/");
      node = child;
    });
  }
  const lines: string[] = [];
  const walk = (node: TreeNode, depth: number) => {
    for (const [name, child] of node.children) {
      const label = "  ".repeat(depth + 1) + terminalSafe(name) + (child.isFile ? "" : "/");
      const note = child.listedAs === undefined ? "" : `  (listed as "${terminalSafe(child.listedAs)}")`;
      lines.push(`${label}  ${formatBytes(child.length)}${note}`);
      if (!child.isFile) walk(child, depth + 1);
    }
  };
  walk(root, 0);
  return lines;
}

/** The fields `btool show --json` prints. */
export function showJson(meta: Metainfo): Record<string, unknown> {
  return {
    name: meta.name,
    infoHashHex: meta.infoHash.hex,
    magnet: magnetLink(meta),
    totalLength: meta.totalLength,
    pieceLength: meta.pieceLength,
    pieceCount: meta.pieceCount,
    isPrivate: meta.isPrivate,
    isMultiFile: meta.isMultiFile,
    announceList: meta.announceList,
    creationDate: meta.creationDate,
    comment: meta.comment,
    source: meta.source,
    createdBy: meta.createdBy,
    urlList: meta.urlList,
    files: meta.files.map((f) => ({
      path: f.path.join("/"),
      ...(f.torrentPath === undefined ? {} : { torrentPath: f.torrentPath }),
      length: f.length,
      offset: f.offset,
      ...(f.isPadding ? { isPadding: true } : {}),
    })),
  };
}

/** The text `btool show` prints; every value from the torrent is escaped for the terminal (#19). */
export function showText(meta: Metainfo): string {
  const out: string[] = [];
  const row = (label: string, value: string) => out.push(`${(label + ":").padEnd(14)}${terminalSafe(value)}`);
  row("Name", meta.name);
  row("Info hash", meta.infoHash.hex);
  row("Magnet", magnetLink(meta));
  row("Total size", `${formatBytes(meta.totalLength)} (${meta.totalLength} bytes)`);
  row("Pieces", `${meta.pieceCount} of ${formatBytes(meta.pieceLength)} (${meta.pieceLength} bytes)`);
  row("Private", meta.isPrivate ? "yes" : "no");
  row("Created", meta.creationDate === null ? "-" : formatDate(meta.creationDate));
  row("Created by", meta.createdBy ?? "-");
  row("Comment", meta.comment ?? "-");
  row("Source", meta.source ?? "-");
  if (meta.announceList.length === 0) row("Trackers", "none");
  else {
    out.push("Trackers:");
    meta.announceList.forEach((tier, i) => {
      tier.forEach((url, j) => out.push(`  ${j === 0 ? `tier ${i + 1}:` : ""}`.padEnd(12) + terminalSafe(url)));
    });
  }
  if (meta.urlList.length === 0) row("Web seeds", "none");
  else {
    out.push("Web seeds:");
    for (const url of meta.urlList) out.push(`  ${terminalSafe(url)}`);
  }
  const padding = meta.files.filter((f) => f.isPadding).length;
  out.push(`Files (${meta.files.length - padding}${padding > 0 ? `, plus ${padding} BEP 47 padding files` : ""}):`);
  out.push(...formatFileTree(meta));
  return out.join("\n");
}

/** Run `btool show` with `argv` (after the subcommand); resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, { json: { type: "boolean" } });
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? "Missing FILE.torrent" : "Expected exactly one FILE.torrent");
  }
  let meta: Metainfo;
  try {
    meta = await loadTorrentFile(positionals[0]!);
  } catch (err: unknown) {
    if (!(err instanceof BtoolError)) throw err;
    console.error(`btool: ${terminalSafe(err.message)}`);
    return 1;
  }
  console.log(values.json ? safeJson(showJson(meta), 2) : showText(meta));
  return 0;
}
