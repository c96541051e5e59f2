// The spare hash Worker for `createTorrent`: started as early as possible (cli/_create_prewarm.ts, imported first by
// main.ts) so that its boot (~70 ms, most of it node:crypto) runs on another core while the main thread is still
// loading btool's modules; lib/create_hashing.ts adopts it. Imports nothing, so importing it delays nothing.

let spare: Worker | null = null;
let isSpareBroken = false;

/** Start a hash Worker (lib/_hash_worker.ts). `new Worker` blocks the caller ~20 ms while the isolate is made. */
export function spawnHashWorker(): Worker {
  return new Worker(new URL("./_hash_worker.ts", import.meta.url).href, { type: "module" });
}

/** Start the spare hash Worker now, unless it is already started. */
export function prewarmHashWorker(): void {
  if (spare !== null) return;
  const w = spawnHashWorker();
  // A Worker that fails to load before anyone adopts it (e.g. a `deno compile` binary built without `--include`)
  // must not take the process down: remember it, and let the adopter fall back.
  w.onerror = (e: ErrorEvent) => {
    e.preventDefault();
    isSpareBroken = true;
  };
  spare = w;
}

/** True when a spare Worker was started and not yet taken. */
export function hasPrewarmedHashWorker(): boolean {
  return spare !== null && !isSpareBroken;
}

/** Take the spare Worker (the caller sets its handlers and terminates it), or null when there is none usable. */
export function takePrewarmedHashWorker(): Worker | null {
  const w = spare;
  spare = null;
  if (w === null) return null;
  if (isSpareBroken) {
    w.terminate();
    return null;
  }
  w.onerror = null;
  return w;
}

/** Terminate the spare Worker if nobody took it. */
export function discardPrewarmedHashWorker(): void {
  spare?.terminate();
  spare = null;
  isSpareBroken = false;
}
