// `btool register` against a real tracker on 127.0.0.1 port 0 (issue #6): a folder of 1,000 generated torrents
// (some broken) gives the right counts, twice idempotently; --prune, --dry-run and --json through the CLI.
// Issue #18: 400 ordinary 100-file torrents (~6 MB of metadata) go in size-capped batches; a refusal (413) is not
// retried and names its files; a 5xx is retried and reported as a failure, not as "cannot reach"; a closed port is.

import { createTestTracker, startTestTracker } from "../_helpers/tracker.ts";
import { assertRejectsCode, deepEqual, equal, ok } from "../_helpers/assert.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { runBtool } from "../_helpers/tools.ts";
import { buildTorrent } from "../_helpers/torrent.ts";
import { REGISTER_BATCH_BYTES, RegisterError, registerTorrents } from "../../lib/register.ts";
import { encodeBencode } from "../../lib/bencode.ts";

const TOKEN = "register-test-token";
const TORRENTS = 1_000;
const BROKEN_EVERY = 50; // 20 broken files

function startTracker(options: { isPrivate?: boolean } = {}) {
  return startTestTracker({ adminToken: TOKEN, privatePollIntervalMs: 0, isListed: true, ...options });
}

/** Writes TORRENTS files over 10 sub-folders; every BROKEN_EVERY-th one is broken in one of several ways. */
async function generate(dir: string, announce: string): Promise<{ good: string[]; broken: number }> {
  const good: string[] = [];
  let broken = 0;
  for (let i = 0; i < TORRENTS; i++) {
    const sub = `${dir}/set${i % 10}/${i % 3 === 0 ? "deep/er" : ""}`;
    await Deno.mkdir(sub, { recursive: true });
    const path = `${sub}/t${i}.torrent`;
    const data = new Uint8Array(100 + i).fill(i & 0xff);
    const { bytes } = buildTorrent({ name: `torrent-${i}`, data, info: { private: 1 }, top: { announce } });
    if (i % BROKEN_EVERY === 7) {
      const kind = (i / BROKEN_EVERY) % 3;
      const bad = kind < 1
        ? new TextEncoder().encode("not a torrent")
        : kind < 2
        ? bytes.slice(0, 40)
        : bytes.slice(0, -1);
      await Deno.writeFile(path, bad);
      broken++;
    } else {
      await Deno.writeFile(path, bytes);
      good.push(path);
    }
  }
  await Deno.writeTextFile(`${dir}/README.txt`, "not a torrent file, ignored");
  return { good, broken };
}

Deno.test("registerTorrents(): 1,000 torrents (some broken) give the right counts, and a second run changes nothing", async () => {
  await withTempDir(async (dir) => {
    const t = startTracker();
    try {
      const { good, broken } = await generate(dir, `${t.base}/announce`);
      equal(broken, TORRENTS / BROKEN_EVERY);
      const invalid: string[] = [];
      const first = await registerTorrents([dir], {
        trackerUrl: t.base,
        adminToken: TOKEN,
        onInvalid: (path) => invalid.push(path),
      });
      equal(first.found, TORRENTS);
      equal(first.registered, good.length);
      equal(first.added, good.length);
      equal(first.unchanged, 0);
      equal(first.failed, broken);
      equal(invalid.length, broken);
      equal(first.warnings.length, 0);
      equal(t.tracker.registry.size, good.length);
      equal(t.tracker.registry.all().filter((r) => r.name?.startsWith("torrent-")).length, good.length);
      const second = await registerTorrents([dir], { trackerUrl: `${t.base}/announce`, adminToken: TOKEN });
      deepEqual([second.registered, second.unchanged, second.failed], [0, good.length, broken]);
      equal(t.tracker.registry.size, good.length);
    } finally {
      await t.close();
    }
  });
});

Deno.test("btool register --dry-run, --prune and --json through the CLI", async () => {
  await withTempDir(async (dir) => {
    const t = startTracker({ isPrivate: true });
    try {
      await Deno.mkdir(`${dir}/in`);
      const paths: string[] = [];
      for (let i = 0; i < 6; i++) {
        const { bytes } = buildTorrent({
          name: `n${i}`,
          data: new Uint8Array(10 + i),
          info: i === 0 ? {} : { private: 1 },
          top: { announce: i === 1 ? "http://elsewhere.example/announce" : `${t.base}/announce` },
        });
        paths.push(`${dir}/in/n${i}.torrent`);
        await Deno.writeFile(paths.at(-1)!, bytes);
      }
      const args = ["register", `${dir}/in`, "--tracker", t.base, "--admin-token", TOKEN];
      const dry = await runBtool([...args, "--dry-run"]);
      equal(dry.code, 0, dry.stderr);
      ok(dry.stdout.includes("6 to register"), dry.stdout);
      equal(t.tracker.registry.size, 0);
      // Warnings: n0 private flag off, n1 elsewhere; every one of ours lacks a passkey (private tracker).
      ok(dry.stderr.includes("n0.torrent: private flag is off"), dry.stderr);
      ok(dry.stderr.includes("n1.torrent: announce URL points elsewhere"), dry.stderr);

      const real = await runBtool([...args, "--json"]);
      equal(real.code, 0, real.stderr);
      const summary = JSON.parse(real.stdout);
      deepEqual([summary.registered, summary.unchanged, summary.failed], [6, 0, 0]);
      equal(summary.tracker.isPrivate, true);
      equal(t.tracker.registry.size, 6);

      await Deno.remove(paths[4]!);
      await Deno.remove(paths[5]!);
      const pruneDry = JSON.parse((await runBtool([...args, "--json", "--prune", "--dry-run"])).stdout);
      equal(pruneDry.pruned, 2);
      equal(t.tracker.registry.size, 6);
      const pruned = JSON.parse((await runBtool([...args, "--json", "--prune"])).stdout);
      deepEqual([pruned.registered, pruned.unchanged, pruned.pruned], [0, 4, 2]);
      equal(t.tracker.registry.size, 4);

      await Deno.writeTextFile(`${dir}/in/bad.torrent`, "d4:infoe");
      const withBad = await runBtool(args);
      equal(withBad.code, 1);
      ok(withBad.stderr.includes("invalid: "), withBad.stderr);
      ok(withBad.stdout.includes("0 registered (0 new, 0 updated), 4 unchanged, 1 failed"), withBad.stdout);
      const noToken = await runBtool(["register", `${dir}/in`, "--tracker", t.base]);
      equal(noToken.code, 1);
      ok(noToken.stderr.includes("admin token"), noToken.stderr);
      equal((await runBtool(["register", `${dir}/in`])).code, 2);
    } finally {
      await t.close();
    }
  });
});

/** `n` torrents of 100 files each with ordinary long-ish names (about 15 KB of registration JSON each). */
async function generateLarge(dir: string, n: number, announce: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    const files = Array.from({ length: 100 }, (_, k) => ({
      length: 1_000 + k,
      path: [
        `Disc ${k % 3}`,
        `${
          String(k).padStart(3, "0")
        } - An Ordinary Track Title From The Deluxe Remastered Edition of Album ${i} (24-bit FLAC).flac`,
      ],
    }));
    const total = files.reduce((a, f) => a + f.length, 0);
    const info = {
      name: `Album ${i}`,
      "piece length": 16_384,
      pieces: new Uint8Array(20 * Math.ceil(total / 16_384)),
      files,
    };
    await Deno.writeFile(`${dir}/a${i}.torrent`, encodeBencode({ announce, info }));
  }
}

/** A Deno.serve server on 127.0.0.1 port 0 running `handler`, recording every POST /api/torrents body size. */
function serveCounting(
  handler: (req: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => Response | Promise<Response>,
) {
  const posts: number[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req, info) => {
    if (req.method === "POST" && new URL(req.url).pathname === "/api/torrents") {
      const body = new Uint8Array(await req.arrayBuffer());
      posts.push(body.length);
      req = new Request(req.url, { method: "POST", headers: req.headers, body });
    }
    return handler(req, info);
  });
  return { server, posts, base: `http://127.0.0.1:${server.addr.port}` };
}

/** A tracker (Deno.serve, not the libc stack) behind serveCounting; `close` stops all of it. */
function countingTracker() {
  const t = createTestTracker({ adminToken: TOKEN });
  const { server, posts, base } = serveCounting(t.tracker.handler);
  return {
    tracker: t.tracker,
    posts,
    base,
    async close() {
      await server.shutdown();
      t.close();
    },
  };
}

Deno.test("btool register: 400 torrents of 100 files (~6 MB) register in one run, in batches under the byte cap (#18)", async () => {
  await withTempDir(async (dir) => {
    const { tracker, posts, base, close } = countingTracker();
    try {
      await generateLarge(dir, 400, `${base}/announce`);
      const r = await runBtool(["register", dir, "--tracker", base, "--admin-token", TOKEN]);
      equal(r.code, 0, r.stderr);
      ok(r.stdout.includes("400 registered (400 new, 0 updated), 0 unchanged, 0 failed"), r.stdout);
      equal(tracker.registry.size, 400);
      const total = posts.reduce((a, b) => a + b, 0);
      ok(total > 5_000_000, `~6 MB of metadata sent (${total})`);
      ok(posts.length >= 3, `several requests (${posts.join(", ")})`);
      for (const n of posts) ok(n <= REGISTER_BATCH_BYTES, `request of ${n} bytes is over the cap`);
    } finally {
      await close();
    }
  });
});

Deno.test("registerTorrents() against the libc HTTP stack of btool tracker: 400 torrents of 100 files (#18)", async () => {
  await withTempDir(async (dir) => {
    const t = startTracker();
    try {
      await generateLarge(dir, 400, `${t.base}/announce`);
      const retries: string[] = [];
      const s = await registerTorrents([dir], {
        trackerUrl: t.base,
        adminToken: TOKEN,
        onRetry: (_, e) => retries.push(e),
      });
      deepEqual([s.added, s.failed, retries.length], [400, 0, 0]);
    } finally {
      await t.close();
    }
  });
});

/** A fake tracker whose /api/info works and whose POST /api/torrents always answers `status` with `error`. */
function refusingTracker(status: number, error: string) {
  return serveCounting((req) =>
    new URL(req.url).pathname === "/api/info"
      ? Response.json({ isPrivate: false, isListed: false })
      : Response.json({ error }, { status })
  );
}

async function writeSmall(dir: string, n: number): Promise<string[]> {
  const paths: string[] = [];
  for (let i = 0; i < n; i++) {
    const { bytes } = buildTorrent({ name: `s${i}`, data: new Uint8Array(10 + i) });
    paths.push(`${dir}/s${i}.torrent`);
    await Deno.writeFile(paths.at(-1)!, bytes);
  }
  return paths;
}

Deno.test("btool register: a 413 is not retried, is reported as a refusal with the server's text, and names the files (#18)", async () => {
  await withTempDir(async (dir) => {
    const { server, posts, base } = refusingTracker(413, "Body is too large");
    try {
      const paths = await writeSmall(dir, 3);
      const retries: string[] = [];
      const s = await registerTorrents([dir], {
        trackerUrl: base,
        onRetry: (_, e) => retries.push(e),
      });
      deepEqual([posts.length, retries.length, s.failed], [1, 0, 3]);
      for (const o of s.outcomes) {
        ok(o.type === "failed" && o.code === "api_refused", JSON.stringify(o));
        ok(o.error.includes("refused the batch: 413") && o.error.includes("Body is too large"), o.error);
      }
      const r = await runBtool(["register", dir, "--tracker", base]);
      equal(r.code, 1);
      equal(posts.length, 2);
      ok(r.stderr.includes("failed (3 files): The tracker refused the batch: 413"), r.stderr);
      for (const p of paths) ok(r.stderr.includes(`  ${p}\n`), r.stderr);
      ok(!/cannot reach|retry/i.test(r.stderr), r.stderr);
    } finally {
      await server.shutdown();
    }
  });
});

Deno.test("registerTorrents(): a 5xx is retried with backoff, then reported as the tracker failing, not unreachable (#18)", async () => {
  await withTempDir(async (dir) => {
    const { server, posts, base } = refusingTracker(503, "database is busy");
    try {
      await writeSmall(dir, 2);
      const sleeps: number[] = [];
      const s = await registerTorrents([dir], {
        trackerUrl: base,
        sleep: (ms) => (sleeps.push(ms), Promise.resolve()),
      });
      deepEqual([posts.length, s.failed], [4, 2]);
      deepEqual(sleeps, [250, 500, 1000]);
      for (const o of s.outcomes) {
        ok(o.type === "failed" && o.code === "tracker_failed", JSON.stringify(o));
        ok(o.error.includes("503") && o.error.includes("database is busy"), o.error);
        ok(!o.error.includes("Cannot reach"), o.error);
      }
    } finally {
      await server.shutdown();
    }
  });
});

Deno.test('registerTorrents(): a closed port is "cannot reach" after the retries (#18)', async () => {
  await withTempDir(async (dir) => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    listener.close();
    await writeSmall(dir, 1);
    const sleeps: number[] = [];
    await assertRejectsCode(
      () =>
        registerTorrents([dir], {
          trackerUrl: `http://127.0.0.1:${port}`,
          sleep: (ms) => (sleeps.push(ms), Promise.resolve()),
        }),
      RegisterError,
      "tracker_unreachable",
    );
    deepEqual(sleeps, [250, 500, 1000]);
  });
});

Deno.test("registerTorrents(): a torrent over the byte cap by itself fails alone, the others register (#18)", async () => {
  await withTempDir(async (dir) => {
    const { tracker, posts, base, close } = countingTracker();
    try {
      await writeSmall(dir, 3);
      await Deno.mkdir(`${dir}/big`);
      await generateLarge(`${dir}/big`, 1, `${base}/announce`);
      const s = await registerTorrents([dir], { trackerUrl: base, adminToken: TOKEN, batchBytes: 4_000 });
      deepEqual([s.added, s.failed, posts.length], [3, 1, 1]);
      const failed = s.outcomes.find((o) => o.type === "failed");
      ok(failed?.type === "failed" && failed.code === "too_large" && failed.path === `${dir}/big/a0.torrent`);
      ok(failed.error.includes("over the 4000-byte cap"), failed.error);
      equal(tracker.registry.size, 3);
    } finally {
      await close();
    }
  });
});
