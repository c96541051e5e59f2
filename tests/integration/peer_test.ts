// `btool peer` end to end on 127.0.0.1: our tracker + one btool seed + three btool leechers (child processes), a
// corrupting seed banned while an honest one completes the download (in-process sessions), resume after kill -9,
// a clean restart that trusts the resume file, and --seed refusing incomplete data.

import { startTestTracker } from "../_helpers/tracker.ts";
import { equals } from "../../lib/bytes.ts";
import { parseMetainfo } from "../../lib/metainfo.ts";
import { createSession, type Session, type SessionEvent } from "../../lib/peer/session.ts";
import { pieceSize } from "../../lib/pieces.ts";
import { createMemoryStorage, type Storage } from "../../lib/storage/storage.ts";
import type { Tracker } from "../../lib/tracker/server.ts";
import { Bitfield } from "../../lib/wire/bitfield.ts";
import { equal, match, ok } from "../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { runBtool } from "../_helpers/tools.ts";
import { assertTree, buildTorrent, type TestFile, writeTree } from "../_helpers/torrent.ts";
import { memorySeed } from "../_helpers/session.ts";

/** Bound on any one child process or download in these tests. */
const STEP_TIMEOUT_MS = 60_000;
const MAIN = new URL("../../main.ts", import.meta.url).pathname;

interface Child {
  pid: number;
  /** Resolves with the exit code. */
  exited: Promise<number>;
  /** Resolves with the first stderr/stdout line matching `re` (rejects after `ms`). */
  waitFor(re: RegExp, ms?: number): Promise<RegExpExecArray>;
  output(): string;
  kill(signal?: Deno.Signal): void;
}

function spawnBtool(args: string[]): Child {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      text += dec.decode(chunk, { stream: true });
      for (const w of [...waiters]) {
        const m = w.re.exec(text);
        if (m !== null) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const exited = pumps.then(() => child.status).then((s) => s.code);
  let isDone = false;
  void exited.finally(() => isDone = true);
  return {
    pid: child.pid,
    exited,
    output: () => text,
    waitFor(re, ms = STEP_TIMEOUT_MS) {
      const m = re.exec(text);
      if (m !== null) return Promise.resolve(m);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`Timed out waiting for ${re}; output:\n${text}`)), ms);
        waiters.push({
          re,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
        });
        void exited.then(() => {
          clearTimeout(timer);
          const last = re.exec(text);
          if (last !== null) resolve(last);
          else reject(new Error(`Exited before ${re}; output:\n${text}`));
        });
      });
    },
    kill(signal: Deno.Signal = "SIGKILL") {
      if (isDone) return;
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    },
  };
}

/** Await exit within STEP_TIMEOUT_MS, else SIGKILL and fail. */
async function exitCode(child: Child, ms = STEP_TIMEOUT_MS): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`Child ${child.pid} did not exit; output:\n${child.output()}`));
    }, ms);
  });
  try {
    return await Promise.race([child.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function startTracker(): { url: string; tracker: Tracker; close(): Promise<void> } {
  const { tracker, base, close } = startTestTracker({ intervalS: 2, minIntervalS: 1 });
  return { url: `${base}/announce`, tracker, close };
}

/** A multi-file set: nested folders, a file straddling pieces, a zero-length file. */
function testFiles(seed: number, scale = 1): TestFile[] {
  const random = seededRandom(seed);
  return [
    { path: ["a.bin"], data: randomBytes(random, 700_001 * scale) },
    { path: ["empty.txt"], data: new Uint8Array(0) },
    { path: ["deep", "er", "b.bin"], data: randomBytes(random, 333_333 * scale) },
    { path: ["deep", "c.bin"], data: randomBytes(random, 1_234_567 * scale) },
  ];
}

Deno.test({
  name: "btool peer: tracker + one seed + three leechers all complete with byte-identical files",
  sanitizeResources: true,
  fn: () =>
    withTempDir(async (dir) => {
      const tracker = startTracker();
      const children: Child[] = [];
      try {
        const files = testFiles(1);
        const { bytes } = buildTorrent({ name: "set", pieceLength: 32768, files, top: { announce: tracker.url } });
        await Deno.writeFile(`${dir}/set.torrent`, bytes);
        await writeTree(`${dir}/seed/set`, files);
        const seed = spawnBtool(["peer", `${dir}/set.torrent`, "--dir", `${dir}/seed`, "--seed", "--port", "0"]);
        children.push(seed);
        await seed.waitFor(/listening on port \d+, seeding/);
        const leechers = [1, 2, 3].map((n) =>
          spawnBtool(["peer", `${dir}/set.torrent`, "--dir", `${dir}/l${n}`, "--port", "0", "--exit-when-done"])
        );
        children.push(...leechers);
        for (const l of leechers) equal(await exitCode(l), 0, l.output());
        for (const n of [1, 2, 3]) await assertTree(`${dir}/l${n}/set`, files);
        // Each leecher announced `completed`, then `stopped` on exit: only the seed is left in the swarm.
        const totals = tracker.tracker.stats(true).totals;
        equal(totals.completed, 3);
        equal(totals.peers, 1);
        seed.kill("SIGTERM");
        equal(await exitCode(seed), 0, seed.output());
        match(seed.output(), /stopped \(signal\)/);
      } finally {
        for (const c of children) c.kill("SIGKILL");
        await Promise.allSettled(children.map((c) => c.exited));
        await tracker.close();
      }
    }),
});

/** Memory storage whose reads flip a byte in every block: a seed that sends garbage. */
function corrupting(storage: Storage): Storage {
  return {
    ...storage,
    meta: storage.meta,
    async readBlock(index, begin, length) {
      const b = await storage.readBlock(index, begin, length);
      b[0] = b[0]! ^ 0xff;
      return b;
    },
  };
}

Deno.test("createSession() bans a corrupting seed and completes from an honest one", async () => {
  const files = testFiles(2);
  const { bytes, data } = buildTorrent({ name: "x", pieceLength: 65536, files });
  const meta = await parseMetainfo(bytes);
  const full = new Bitfield(meta.pieceCount, { isFull: true });
  const sessions: Session[] = [];
  try {
    const bad = createSession(meta, {
      storage: corrupting(createMemoryStorage(meta, { data })),
      have: full,
      hostname: "127.0.0.1",
      isAnnouncing: false,
    });
    sessions.push(bad);
    const good = memorySeed(meta, data, { have: full });
    sessions.push(good);
    const storage = createMemoryStorage(meta);
    const events: SessionEvent[] = [];
    const done = Promise.withResolvers<void>();
    const leecher = createSession(meta, {
      storage,
      hostname: "127.0.0.1",
      isAnnouncing: false,
      random: seededRandom(3),
      // The corrupting seed first, so that it gets requests before the honest one is even connected.
      peers: [{ hostname: "127.0.0.1", port: bad.port }],
      onEvent: (e) => {
        events.push(e);
        if (
          e.type === "hashFailed" && !events.some((x) => x.type === "connected" && x.address.endsWith(`:${good.port}`))
        ) {
          leecher.addPeer("127.0.0.1", good.port);
        }
      },
      onComplete: () => done.resolve(),
    });
    sessions.push(leecher);
    const timer = setTimeout(() => done.reject(new Error("download did not complete")), STEP_TIMEOUT_MS);
    try {
      await done.promise;
    } finally {
      clearTimeout(timer);
    }
    const banned = events.filter((e) => e.type === "banned");
    equal(banned.length, 1);
    ok(banned[0]!.type === "banned" && banned[0]!.address === `127.0.0.1:${bad.port}`);
    ok(events.some((e) => e.type === "hashFailed"));
    equal(leecher.status().banned, 1);
    for (let i = 0; i < meta.pieceCount; i++) {
      ok(equals(await storage.readPiece(i), data.subarray(i * 65536, i * 65536 + pieceSize(meta, i))));
    }
  } finally {
    await Promise.all(sessions.map((s) => s.stop()));
  }
});

interface JsonLine {
  event: string;
  havePieces: number;
  downloaded: number;
  haveBytes: number;
  totalBytes: number;
}

function jsonLines(text: string): JsonLine[] {
  return text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as JsonLine);
}

Deno.test("btool peer: kill -9 halfway, a restart fetches only the rest; a clean restart trusts the resume file", () =>
  withTempDir(async (dir) => {
    const files = testFiles(4);
    const { bytes, data } = buildTorrent({ name: "r", pieceLength: 32768, files, top: { announce: undefined } });
    const meta = await parseMetainfo(bytes);
    await Deno.writeFile(`${dir}/r.torrent`, bytes);
    // A seed that has only the first half of the pieces: the leecher stalls at half, then we kill it.
    const half = new Bitfield(meta.pieceCount);
    const halfCount = Math.floor(meta.pieceCount / 2);
    let halfBytes = 0;
    for (let i = 0; i < halfCount; i++) {
      half.set(i);
      halfBytes += pieceSize(meta, i);
    }
    const sessions: Session[] = [];
    const children: Child[] = [];
    try {
      const halfSeed = memorySeed(meta, data, { have: half });
      sessions.push(halfSeed);
      const args = ["peer", `${dir}/r.torrent`, "--dir", `${dir}/dl`, "--port", "0", "--json", "--exit-when-done"];
      const first = spawnBtool([...args, "--peer", `127.0.0.1:${halfSeed.port}`]);
      children.push(first);
      await first.waitFor(new RegExp(`"havePieces":${halfCount},`));
      first.kill("SIGKILL");
      await first.exited;
      await halfSeed.stop();

      const fullSeed = memorySeed(meta, data);
      sessions.push(fullSeed);
      const second = spawnBtool([...args, "--peer", `127.0.0.1:${fullSeed.port}`]);
      children.push(second);
      equal(await exitCode(second), 0, second.output());
      const stopped = jsonLines(second.output()).find((l) => l.event === "stopped");
      ok(stopped !== undefined, second.output());
      equal(stopped.haveBytes, meta.totalLength);
      // Only the missing half travelled (one seed: no endgame duplicates).
      equal(stopped.downloaded, meta.totalLength - halfBytes);
      await assertTree(`${dir}/dl/r`, files);

      // A clean restart: the resume file is fresh, nothing is rehashed or downloaded.
      const third = await runBtool([
        "peer",
        `${dir}/r.torrent`,
        "--dir",
        `${dir}/dl`,
        "--port",
        "0",
        "--exit-when-done",
      ], {
        timeoutMs: STEP_TIMEOUT_MS,
      });
      equal(third.code, 0, third.stderr);
      match(third.stdout, new RegExp(`${meta.pieceCount}/${meta.pieceCount} pieces from the resume file`));
    } finally {
      for (const c of children) c.kill("SIGKILL");
      await Promise.allSettled(children.map((c) => c.exited));
      await Promise.all(sessions.map((s) => s.stop()));
    }
  }));

Deno.test("btool peer --seed refuses incomplete data and names the files", () =>
  withTempDir(async (dir) => {
    const files = testFiles(5);
    const { bytes } = buildTorrent({ name: "s", pieceLength: 32768, files });
    await Deno.writeFile(`${dir}/s.torrent`, bytes);
    await writeTree(`${dir}/s`, files.filter((f) => f.path[0] !== "deep"));
    const out = await runBtool(["peer", `${dir}/s.torrent`, "--dir", dir, "--seed", "--port", "0"], {
      timeoutMs: STEP_TIMEOUT_MS,
    });
    equal(out.code, 1);
    match(out.stderr, /cannot seed: incomplete data in .*"s\/deep\/er\/b\.bin"/);
    match(out.stdout, /missing\s+s\/deep\/c\.bin/);
  }));

Deno.test("btool peer --only writes only the chosen file; rate limits still complete", () =>
  withTempDir(async (dir) => {
    const files = testFiles(6);
    const { bytes, data } = buildTorrent({ name: "o", pieceLength: 32768, files, top: { announce: undefined } });
    const meta = await parseMetainfo(bytes);
    await Deno.writeFile(`${dir}/o.torrent`, bytes);
    const seed = memorySeed(meta, data);
    try {
      const common = ["peer", `${dir}/o.torrent`, "--port", "0", "--exit-when-done", "--quiet"];
      const peer = ["--peer", `127.0.0.1:${seed.port}`];
      // File 3 is deep/er/b.bin: its first and last pieces are shared with a.bin and deep/c.bin.
      const only = await runBtool([...common, "--dir", `${dir}/only`, "--only", "3", ...peer], {
        timeoutMs: STEP_TIMEOUT_MS,
      });
      equal(only.code, 0, only.stderr);
      await assertTree(`${dir}/only/o`, [files[2]!]);
      for (const f of [files[0]!, files[1]!, files[3]!]) {
        const exists = await Deno.stat(`${dir}/only/o/${f.path.join("/")}`).then(() => true, () => false);
        ok(!exists, `${f.path.join("/")} was not selected but exists`);
      }
      const limited = await runBtool(
        [...common, "--dir", `${dir}/lim`, "--download-limit", "20M", "--upload-limit", "1MiB/s", ...peer],
        { timeoutMs: STEP_TIMEOUT_MS },
      );
      equal(limited.code, 0, limited.stderr);
      await assertTree(`${dir}/lim/o`, files);
      const bad = await runBtool([...common, "--dir", `${dir}/x`, "--only", "9"], { timeoutMs: STEP_TIMEOUT_MS });
      equal(bad.code, 2);
      match(bad.stderr, /Invalid file number in --only/);
    } finally {
      await seed.stop();
    }
  }));
