import {
  planBatches,
  REGISTER_BATCH_BYTES,
  RegisterError,
  registerTorrents,
  registrationWarnings,
  torrentRegistration,
  trackerOrigin,
} from "../../lib/register.ts";
import { parseMetainfo } from "../../lib/metainfo.ts";
import { assertRejectsCode, assertThrowsCode, deepEqual, equal } from "../_helpers/assert.ts";
import { buildTorrent } from "../_helpers/torrent.ts";

const PK = "0123456789abcdef0123456789abcdef";

Deno.test("trackerOrigin() takes a base or an announce URL; refuses others", () => {
  equal(trackerOrigin("http://h:6969"), "http://h:6969");
  equal(trackerOrigin(`http://h:6969/announce?passkey=${PK}`), "http://h:6969");
  equal(trackerOrigin("https://h/x/announce"), "https://h");
  assertThrowsCode(() => trackerOrigin("udp://h:6969/announce"), RegisterError, "bad_tracker_url");
  assertThrowsCode(() => trackerOrigin("not a url"), RegisterError, "bad_tracker_url");
});

Deno.test("torrentRegistration() carries the metadata the issue lists, deterministically", async () => {
  const { bytes } = buildTorrent({
    name: "album",
    files: [{ path: ["a.flac"], data: new Uint8Array(20_000) }, { path: ["b", "c.txt"], data: new Uint8Array(5) }],
    info: { private: 1, source: "SRC" },
    top: { comment: "hi", "created by": "me", "creation date": 1_700_000_000 },
  });
  const meta = await parseMetainfo(bytes);
  const reg = torrentRegistration(meta);
  deepEqual(reg, {
    infoHash: meta.infoHash.hex,
    name: "album",
    size: 20_005,
    pieceLength: 16384,
    isPrivate: true,
    fileCount: 2,
    files: [{ path: "album/a.flac", length: 20_000 }, { path: "album/b/c.txt", length: 5 }],
    announce: ["http://127.0.0.1:6969/announce"],
    comment: "hi",
    createdBy: "me",
    creationDate: 1_700_000_000,
    source: "SRC",
  });
  deepEqual(torrentRegistration(await parseMetainfo(bytes)), reg);
});

Deno.test("registrationWarnings() flags other trackers, private flag off and no passkey on a private tracker", () => {
  const base = { infoHash: "a".repeat(40), name: "n", size: 1, pieceLength: 16384, fileCount: 1, files: [] };
  const origin = "http://127.0.0.1:6969";
  const ours = { ...base, isPrivate: true, announce: [`${origin}/announce?passkey=${PK}`] };
  deepEqual(registrationWarnings(ours, origin, { isPrivate: true }), []);
  deepEqual(registrationWarnings({ ...ours, announce: [`${origin}/announce/${PK}`] }, origin, { isPrivate: true }), []);
  const elsewhere = registrationWarnings({ ...base, isPrivate: false, announce: ["http://x/announce"] }, origin, null);
  equal(elsewhere.length, 1);
  equal(elsewhere[0]!.startsWith("announce URL points elsewhere"), true);
  const open = { ...base, isPrivate: false, announce: [`${origin}/announce`] };
  deepEqual(registrationWarnings(open, origin, { isPrivate: false }), []);
  deepEqual(registrationWarnings(open, origin, { isPrivate: true }).map((w) => w.split(" ")[0]), [
    "private",
    "announce",
  ]);
  equal(registrationWarnings({ ...base, isPrivate: true, announce: [] }, origin, null)[0]!.startsWith("has no"), true);
});

Deno.test("planBatches() cuts by count and by bytes, envelope and commas included (#18)", () => {
  // Envelope `{"torrents":[` + `]}` is 15 bytes; each item after the first adds a comma.
  deepEqual(planBatches([10, 10, 10], { maxTorrents: 10, maxBytes: 15 + 10 + 1 + 10 }), {
    batches: [[0, 1], [2]],
    tooLarge: [],
  });
  deepEqual(planBatches([10, 10, 10], { maxTorrents: 10, maxBytes: 15 + 10 + 1 + 10 - 1 }), {
    batches: [[0], [1], [2]],
    tooLarge: [],
  });
  deepEqual(planBatches([1, 1, 1, 1, 1], { maxTorrents: 2, maxBytes: 1_000 }), {
    batches: [[0, 1], [2, 3], [4]],
    tooLarge: [],
  });
  // One item over the cap by itself fails alone; its neighbours still share a batch.
  deepEqual(planBatches([10, 100, 10], { maxTorrents: 10, maxBytes: 50 }), { batches: [[0, 2]], tooLarge: [1] });
  deepEqual(planBatches([35], { maxTorrents: 10, maxBytes: 50 }), { batches: [[0]], tooLarge: [] });
  deepEqual(planBatches([36], { maxTorrents: 10, maxBytes: 50 }), { batches: [], tooLarge: [0] });
  deepEqual(planBatches([], { maxTorrents: 10, maxBytes: 50 }), { batches: [], tooLarge: [] });
  // 400 torrents of 15,000 bytes (100 files each, ~6 MB) need several requests under the default cap.
  const plan = planBatches(new Array(400).fill(15_000), { maxTorrents: 1_000, maxBytes: REGISTER_BATCH_BYTES });
  equal(plan.batches.flat().length, 400);
  for (const b of plan.batches) equal(15 + b.length * 15_001 - 1 <= REGISTER_BATCH_BYTES, true);
  equal(plan.batches.length, Math.ceil(400 / Math.floor((REGISTER_BATCH_BYTES - 15 + 1) / 15_001)));
});

Deno.test("registerTorrents() retries network errors and 5xx with doubling backoff, then gives up", async () => {
  const sleeps: number[] = [];
  let calls = 0;
  const flaky: typeof fetch = () => {
    calls++;
    if (calls === 1) return Promise.reject(new TypeError("connection refused"));
    if (calls === 2) return Promise.resolve(new Response("busy", { status: 503 }));
    return Promise.resolve(Response.json({ isPrivate: true, isListed: false }));
  };
  const summary = await registerTorrents([], {
    trackerUrl: "http://t:1",
    fetch: flaky,
    sleep: (ms) => (sleeps.push(ms), Promise.resolve()),
  });
  deepEqual(sleeps, [250, 500]);
  deepEqual(summary.tracker, { isPrivate: true, isListed: false });
  sleeps.length = 0;
  await assertRejectsCode(
    () =>
      registerTorrents([], {
        trackerUrl: "http://t:1",
        fetch: () => Promise.resolve(new Response("", { status: 502 })),
        sleep: (ms) => (sleeps.push(ms), Promise.resolve()),
      }),
    RegisterError,
    "tracker_failed", // it answered: a 5xx is not "cannot reach" (#18)
  );
  deepEqual(sleeps, [250, 500, 1000]);
  sleeps.length = 0;
  await assertRejectsCode(
    () =>
      registerTorrents([], {
        trackerUrl: "http://t:1",
        fetch: () => Promise.reject(new TypeError("connection refused")),
        sleep: (ms) => (sleeps.push(ms), Promise.resolve()),
      }),
    RegisterError,
    "tracker_unreachable",
  );
  deepEqual(sleeps, [250, 500, 1000]);
  await assertRejectsCode(
    () =>
      registerTorrents([], {
        trackerUrl: "http://t:1",
        fetch: () => Promise.resolve(Response.json({ error: "x" }, { status: 401 })),
      }),
    RegisterError,
    "unauthorized",
  );
});
