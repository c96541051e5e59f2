// The files of a new torrent: walk a file or folder as mktorrent does (regular files, symbolic links followed,
// hidden and zero-length files kept, sorted bytewise by path), leaving out --exclude globs and refusing names that
// clients would save under other names. Part of `createTorrent` (lib/create.ts).

import { compare, utf8 } from "./bytes.ts";
import { CreateError, StorageError } from "./errors.ts";
import { checkPathComponent, MAX_FILES } from "./metainfo.ts";
import { safePathComponent, safeTorrentPaths } from "./safe_path.ts";

function escapeRegExp(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? "\\" + c : c;
}

/**
 * Compile an exclude glob. `*` matches within one name, `?` one character, `[abc]`/`[!abc]` a class and `**` any
 * run of names. A glob without `/` matches a file or folder name at any depth; a glob with `/` matches the whole
 * path relative to the torrent's folder (a leading `/` is ignored).
 */
export function globToRegExp(glob: string): RegExp {
  const isPathGlob = glob.includes("/");
  const g = glob.replace(/^\/+/, "").replace(/\/+$/, "");
  let re = "";
  for (let i = 0; i < g.length; i++) {
    const c = g[i]!;
    if (c === "*") {
      if (g[i + 1] === "*") {
        i++;
        if (g[i + 1] === "/") {
          i++;
          re += "(?:.*/)?";
        } else re += ".*";
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = g.indexOf("]", i + 2);
      if (end < 0) re += "\\[";
      else {
        let body = g.slice(i + 1, end);
        const isNegated = body.startsWith("!") || body.startsWith("^");
        if (isNegated) body = body.slice(1);
        re += `[${isNegated ? "^/" : ""}${body.replace(/[\\\]]/g, "\\$&")}]`;
        i = end;
      }
    } else re += escapeRegExp(c);
  }
  return new RegExp(isPathGlob ? `^${re}$` : `(?:^|/)${re}$`, "u");
}

/** True when the relative path `relPath` ("dir/file") matches one of `globs` (as from globToRegExp). */
export function isExcluded(relPath: string, globs: readonly RegExp[]): boolean {
  for (const g of globs) if (g.test(relPath)) return true;
  return false;
}

/** A file to put in the torrent. */
export interface SourceFile {
  /** Where to read it. */
  fsPath: string;
  /** Components under the torrent's folder; `[]` for a single-file torrent. */
  path: string[];
  length: number;
}

/** What `listSourceFiles` found. */
export interface SourceTree {
  name: string;
  isSingleFile: boolean;
  /** In torrent order: bytewise by "/"-joined UTF-8 path, as mktorrent sorts. */
  files: SourceFile[];
  totalLength: number;
}

function baseName(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

/**
 * The torrent name for `path`: its last component as given (a symbolic link keeps its own name, as in mktorrent);
 * for `.`, `..` or `/`-only paths, the name of the folder they resolve to.
 * @throws {CreateError} not_found
 */
export async function torrentName(path: string): Promise<string> {
  const given = baseName(path);
  if (given !== "" && given !== "." && given !== "..") return given;
  try {
    return baseName(await Deno.realPath(path));
  } catch (err: unknown) {
    throw new CreateError("not_found", `Cannot create torrent: "${path}" does not exist`, { cause: err });
  }
}

function checkName(name: string, where: string): void {
  try {
    checkPathComponent(name, "name");
  } catch (err: unknown) {
    throw new CreateError(
      "unsafe_name",
      `Cannot add "${where}": "${name}" is not a portable file name (clients save it as "${
        safePathComponent(name) || "_"
      }"; rename or --exclude it)`,
      { cause: err },
    );
  }
  if (name.includes("\uFFFD")) {
    throw new CreateError("unsafe_name", `Cannot add "${where}": the file name is not valid UTF-8`);
  }
}

async function statFollow(path: string): Promise<Deno.FileInfo> {
  try {
    return await Deno.stat(path);
  } catch (err: unknown) {
    if (err instanceof Deno.errors.NotFound) {
      const isLink = await Deno.lstat(path).then((s) => s.isSymlink, () => false);
      throw new CreateError(
        isLink ? "broken_symlink" : "not_found",
        isLink ? `Cannot add "${path}": broken symbolic link` : `Cannot create torrent: "${path}" does not exist`,
        { cause: err },
      );
    }
    throw new StorageError("read_failed", `Cannot read "${path}": ${err instanceof Error ? err.message : err}`, {
      cause: err,
    });
  }
}

/**
 * Find the files for a torrent of `root`, as mktorrent does: regular files (symbolic links followed), hidden files
 * included, other kinds (FIFOs, sockets, devices) skipped, zero-length files kept, sorted bytewise by path.
 * @throws {CreateError} not_found, broken_symlink, symlink_loop, unsafe_name, too_many_files, no_files
 * @throws {StorageError} read_failed
 */
export async function listSourceFiles(
  root: string,
  options: { exclude?: readonly string[] } = {},
): Promise<SourceTree> {
  const globs = (options.exclude ?? []).map(globToRegExp);
  const rootInfo = await statFollow(root);
  const name = await torrentName(root);
  checkName(name, root);
  if (rootInfo.isFile) {
    return {
      name,
      isSingleFile: true,
      files: [{ fsPath: root, path: [], length: rootInfo.size }],
      totalLength: rootInfo.size,
    };
  }
  if (!rootInfo.isDirectory) {
    throw new CreateError("not_a_file", `Cannot create torrent: "${root}" is neither a file nor a folder`);
  }
  const found: { key: Uint8Array; file: SourceFile }[] = [];
  const walk = async (dir: string, parts: string[], ancestors: Set<string>): Promise<void> => {
    const entries: string[] = [];
    try {
      for await (const e of Deno.readDir(dir)) entries.push(e.name);
    } catch (err: unknown) {
      throw new StorageError("read_failed", `Cannot list "${dir}": ${err instanceof Error ? err.message : err}`, {
        cause: err,
      });
    }
    for (const entry of entries) {
      const fsPath = `${dir}/${entry}`;
      const path = [...parts, entry];
      const rel = path.join("/");
      if (isExcluded(rel, globs)) continue;
      checkName(entry, fsPath);
      const info = await statFollow(fsPath);
      if (info.isDirectory) {
        const id = `${info.dev}:${info.ino}`;
        if (ancestors.has(id)) {
          throw new CreateError("symlink_loop", `Cannot add "${fsPath}": symbolic link loop`);
        }
        await walk(fsPath, path, new Set([...ancestors, id]));
      } else if (info.isFile) {
        if (found.length >= MAX_FILES) {
          throw new CreateError("too_many_files", `Cannot create torrent: more than ${MAX_FILES} files`);
        }
        found.push({ key: utf8(rel), file: { fsPath, path, length: info.size } });
      }
    }
  };
  await walk(root.replace(/\/+$/, "") || "/", [], new Set([`${rootInfo.dev}:${rootInfo.ino}`]));
  if (found.length === 0) throw new CreateError("no_files", `Cannot create torrent: "${root}" holds no files`);
  // mktorrent inserts each path with strcmp on the whole "a/b" string, so "a b/x" < "a-b" < "a/x".
  found.sort((a, b) => compare(a.key, b.key));
  const files = found.map((f) => f.file);
  // Names that differ only in case are one file on Windows and macOS; parsing would rename one (lib/safe_path.ts).
  const safe = safeTorrentPaths(files.map((f) => [name, ...f.path]), {
    isMultiFile: true,
    isPadding: files.map(() => false),
  });
  const renamed = files.findIndex((f, i) => safe[i]!.at(-1) !== f.path.at(-1));
  if (renamed >= 0) {
    throw new CreateError(
      "unsafe_name",
      `Cannot add "${files[renamed]!.fsPath}": another file or folder has the same name but for case`,
    );
  }
  let totalLength = 0;
  for (const f of files) totalLength += f.length;
  return { name, isSingleFile: false, files, totalLength };
}
