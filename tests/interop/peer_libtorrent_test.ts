// `btool peer` against Debian's python3-libtorrent on 127.0.0.1: btool downloads a single-file and a multi-file
// torrent (nested folders, pieces straddling files, a zero-length file) from a libtorrent seed, and libtorrent
// downloads from a btool seed; a btool leecher killed with kill -9 halfway fetches only the rest after a restart.
// Files must be byte-identical. DHT/LSD/UPnP/NAT-PMP/uTP off; every wait is bounded
// and every child is killed by PID in `finally`.

import { equals } from "../../lib/bytes.ts";
import { parseMetainfo } from "../../lib/metainfo.ts";
import { equal, ok } from "../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { LIBTORRENT_SCRIPT as SCRIPT, startSeedDriver, stopDriver } from "../_helpers/libtorrent.ts";
import { interopTool, leechArgs, runBtool, runTool } from "../_helpers/tools.ts";

const tool = interopTool("libtorrent");
const TIMEOUT_MS = 60_000;
const MAIN = new URL("../../main.ts", import.meta.url).pathname;

interface Tree {
  path: string;
  data: Uint8Array;
}

/** Write files below `dir` and let libtorrent make t.torrent from `src` (v1 only unless `isHybrid`). */
async function makeTorrent(dir: string, src: string, files: Tree[], options: { isHybrid?: boolean } = {}) {
  for (const f of files) {
    const path = `${dir}/${f.path}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(path, f.data);
  }
  const made = await runTool(
    tool.path,
    ["-c", SCRIPT, "make", dir, src, String(32 * 1024), options.isHybrid ? "hybrid" : "v1"],
    { timeoutMs: TIMEOUT_MS },
  );
  equal(made.code, 0, made.stderr);
}

async function assertFiles(root: string, files: Tree[]): Promise<void> {
  for (const f of files) {
    const got = await Deno.readFile(`${root}/${f.path}`);
    ok(equals(got, f.data), `${f.path} differs under ${root}`);
  }
}

async function btoolDownloads(dir: string, files: Tree[]): Promise<void> {
  const seed = await startSeedDriver(tool.path, dir, TIMEOUT_MS);
  try {
    const out = await runBtool(
      [...leechArgs(`${dir}/t.torrent`, `${dir}/btool_out`, seed.port), "--quiet"],
      { timeoutMs: TIMEOUT_MS },
    );
    equal(out.code, 0, out.stderr);
    await assertFiles(`${dir}/btool_out`, files);
  } finally {
    await stopDriver(seed.child);
  }
}

Deno.test({
  name: "btool peer downloads a single-file torrent from a libtorrent seed",
  ignore: tool.ignore,
  fn: () =>
    withTempDir(async (dir) => {
      const files = [{ path: "one.bin", data: randomBytes(seededRandom(11), 3 * 1024 * 1024 + 4321) }];
      // A libtorrent 2 default (hybrid v1+v2) torrent: we speak v1 with its SHA-1 info hash.
      await makeTorrent(dir, "one.bin", files, { isHybrid: true });
      await btoolDownloads(dir, files);
    }),
});

const MULTI: Tree[] = (() => {
  const random = seededRandom(12);
  return [
    { path: "multi/a.bin", data: randomBytes(random, 1_000_003) },
    { path: "multi/empty.txt", data: new Uint8Array(0) },
    { path: "multi/x/y/b.bin", data: randomBytes(random, 50_001) },
    { path: "multi/x/c.bin", data: randomBytes(random, 777_777) },
    { path: "multi/z.bin", data: randomBytes(random, 16_385) },
  ];
})();

Deno.test({
  name: "btool peer downloads a multi-file torrent (nested, straddling, zero-length) from a libtorrent seed",
  ignore: tool.ignore,
  fn: () =>
    withTempDir(async (dir) => {
      await makeTorrent(dir, "multi", MULTI);
      const meta = await parseMetainfo(await Deno.readFile(`${dir}/t.torrent`));
      ok(meta.files.some((f) => f.length === 0), "libtorrent kept the zero-length file");
      ok(meta.files.some((f) => f.offset % meta.pieceLength !== 0), "some file starts inside a piece");
      await btoolDownloads(dir, MULTI);
    }),
});

Deno.test({
  name: "libtorrent downloads a multi-file torrent from a btool seed",
  ignore: tool.ignore,
  fn: () =>
    withTempDir(async (dir) => {
      await makeTorrent(dir, "multi", MULTI);
      const seed = new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", MAIN, "peer", `${dir}/t.torrent`, "--dir", dir, "--seed", "--port", "0"],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const killer = setTimeout(() => seed.kill("SIGKILL"), TIMEOUT_MS * 2);
      try {
        const reader = seed.stderr.pipeThrough(new TextDecoderStream()).getReader();
        let text = "";
        let m: RegExpExecArray | null = null;
        while ((m = /listening on port (\d+)/.exec(text)) === null) {
          const r = await reader.read();
          if (r.done) break;
          text += r.value;
        }
        reader.releaseLock();
        ok(m !== null, text);
        const run = await runTool(tool.path, ["-c", SCRIPT, "leech", dir, m[1]!], { timeoutMs: TIMEOUT_MS });
        equal(run.code, 0, run.stderr);
        const result = JSON.parse(run.stdout);
        ok(result.seeding, `libtorrent finished: ${JSON.stringify(result.errors)}`);
        await assertFiles(`${dir}/lt_out`, MULTI);
        seed.kill("SIGTERM");
        equal((await seed.status).code, 0);
      } finally {
        clearTimeout(killer);
        try {
          seed.kill("SIGKILL");
        } catch {
          // already gone
        }
        await seed.stderr.cancel().catch(() => {});
        await seed.status;
      }
    }),
});

Deno.test({
  name: "btool peer killed with kill -9 halfway resumes from a libtorrent seed and fetches only the rest",
  ignore: tool.ignore,
  fn: () =>
    withTempDir(async (dir) => {
      const files = [{ path: "r.bin", data: randomBytes(seededRandom(13), 4 * 1024 * 1024 + 999) }];
      await makeTorrent(dir, "r.bin", files);
      const meta = await parseMetainfo(await Deno.readFile(`${dir}/t.torrent`));
      const seed = await startSeedDriver(tool.path, dir, TIMEOUT_MS);
      let first: Deno.ChildProcess | null = null;
      try {
        const args = [
          "run",
          "--allow-all",
          MAIN,
          ...leechArgs(`${dir}/t.torrent`, `${dir}/btool_out`, seed.port),
          "--json",
        ];
        // Slow the first run down so that it can be killed halfway.
        first = new Deno.Command(Deno.execPath(), {
          args: [...args, "--download-limit", "1M"],
          stdin: "null",
          stdout: "piped",
          stderr: "null",
        }).spawn();
        const killer = setTimeout(() => first?.kill("SIGKILL"), TIMEOUT_MS);
        let lastHave = 0;
        try {
          const reader = first.stdout.pipeThrough(new TextDecoderStream()).getReader();
          let text = "";
          while (lastHave < meta.totalLength / 2) {
            const r = await reader.read();
            if (r.done) break;
            text += r.value;
            const lines = text.split("\n");
            text = lines.pop()!;
            for (const l of lines) if (l.startsWith("{")) lastHave = JSON.parse(l).haveBytes;
          }
          reader.releaseLock();
          first.kill("SIGKILL");
          await first.stdout.cancel().catch(() => {});
          await first.status;
        } finally {
          clearTimeout(killer);
        }
        ok(lastHave >= meta.totalLength / 2 && lastHave < meta.totalLength, `killed at ${lastHave} bytes`);
        const second = await runTool(Deno.execPath(), args, { timeoutMs: TIMEOUT_MS });
        equal(second.code, 0, second.stderr);
        const stopped = second.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
          .find((l) => l.event === "stopped");
        ok(stopped !== undefined, second.stdout);
        // Everything verified before the kill was found on disk: only the rest travelled (one peer, no duplicates).
        ok(stopped.downloaded <= meta.totalLength - lastHave, `downloaded ${stopped.downloaded} after ${lastHave}`);
        await assertFiles(`${dir}/btool_out`, files);
      } finally {
        try {
          first?.kill("SIGKILL");
        } catch {
          // already gone
        }
        await first?.status;
        await stopDriver(seed.child);
      }
    }),
});
