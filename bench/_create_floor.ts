// The floor of bench/create: the least a `deno run` program can take to hash a file's pieces the way `btool create`
// does (the main thread and one Worker per other core claiming 8 MiB jobs from a shared counter, node:crypto, 1 MiB
// reads), with none of btool's modules, flags or output. What btool spends above this is its own; what this spends
// above mktorrent is the runtime's (docs/PERFORMANCE.md, "create").
// Run: deno run -A bench/_create_floor.ts FILE PIECE_BYTES OUT (writes the concatenated piece hashes to OUT, which
// bench/create.ts compares with btool's `pieces`). It starts itself as its Worker.

import type { createHash as CreateHash } from "node:crypto";

/** Bytes per job claimed from the shared counter, and per read: as lib/create_hashing.ts and lib/_hash_job.ts. */
const JOB_BYTES = 8 * 1024 * 1024;
const READ_BYTES = 1024 * 1024;

interface Start {
  path: string;
  pieceBytes: number;
  next: Int32Array<SharedArrayBuffer>;
  out: SharedArrayBuffer;
}

function nodeCreateHash(): typeof CreateHash {
  const process = (globalThis as unknown as {
    process: { getBuiltinModule(id: "node:crypto"): { createHash: typeof CreateHash } };
  }).process;
  return process.getBuiltinModule("node:crypto").createHash;
}

/** Claim jobs until none is left; each job's piece hashes go to their place in `out`. */
function hashJobs(s: Start): void {
  const createHash = nodeCreateHash();
  const out = new Uint8Array(s.out);
  const size = Deno.statSync(s.path).size;
  // Whole pieces per job and per read, as btool's planner and reader.
  const jobBytes = Math.max(1, Math.floor(JOB_BYTES / s.pieceBytes)) * s.pieceBytes;
  const buf = new Uint8Array(Math.max(1, Math.floor(READ_BYTES / s.pieceBytes)) * s.pieceBytes);
  const jobs = Math.ceil(size / jobBytes);
  using f = Deno.openSync(s.path);
  for (let job = Atomics.add(s.next, 0, 1); job < jobs; job = Atomics.add(s.next, 0, 1)) {
    const end = Math.min(size, (job + 1) * jobBytes);
    f.seekSync(job * jobBytes, Deno.SeekMode.Start);
    for (let at = job * jobBytes; at < end;) {
      const want = Math.min(buf.length, end - at);
      for (let got = 0; got < want;) {
        const n = f.readSync(buf.subarray(got, want));
        if (n === null || n === 0) throw new Error(`${s.path} ended early`);
        got += n;
      }
      for (let p = 0; p < want; p += s.pieceBytes) {
        const digest = createHash("sha1").update(buf.subarray(p, Math.min(p + s.pieceBytes, want))).digest();
        out.set(digest, ((at + p) / s.pieceBytes) * 20);
      }
      at += want;
    }
  }
}

const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<Start>) => void) | null;
  postMessage(m: unknown): void;
};

if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined") {
  scope.onmessage = (e) => {
    hashJobs(e.data);
    scope.postMessage("done");
  };
} else if (import.meta.main) {
  const [path, pieceText, outPath] = Deno.args;
  if (path === undefined || pieceText === undefined || outPath === undefined) {
    throw new Error("usage: deno run -A bench/_create_floor.ts FILE PIECE_BYTES OUT");
  }
  const pieceBytes = Number(pieceText);
  const size = Deno.statSync(path).size;
  const start: Start = {
    path,
    pieceBytes,
    next: new Int32Array(new SharedArrayBuffer(4)),
    out: new SharedArrayBuffer(Math.ceil(size / pieceBytes) * 20),
  };
  const workers = Array.from(
    { length: Math.max(0, navigator.hardwareConcurrency - 1) },
    () => new Worker(import.meta.url, { type: "module" }),
  );
  const done = workers.map((w) => new Promise((resolve) => (w.onmessage = resolve)));
  for (const w of workers) w.postMessage(start);
  hashJobs(start);
  await Promise.all(done);
  for (const w of workers) w.terminate();
  Deno.writeFileSync(outPath, new Uint8Array(start.out));
}
