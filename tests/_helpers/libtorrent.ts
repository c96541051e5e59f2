// A python3-libtorrent driver shared by the interop tests (run it with interopTool("libtorrent").path).
// DHT, LSD, UPnP, NAT-PMP and uTP off; several connections per IP allowed (INTEROP.md 19); 127.0.0.1 only.

/**
 * Python source for `python3 -c`. Modes:
 * - `make DIR SRC PIECE_BYTES v1|hybrid`: write DIR/t.torrent for DIR/SRC (a file or folder);
 * - `seed DIR`: seed DIR/t.torrent from DIR, print `{"port", "seeding"}` once checked, serve until stdin closes;
 * - `leech DIR PORT`: download DIR/t.torrent into DIR/lt_out from 127.0.0.1:PORT, print `{"seeding", "errors"}`.
 * Each mode gives up after 50 s.
 */
export const LIBTORRENT_SCRIPT = `
import json, os, sys, time, libtorrent as lt
mode, d = sys.argv[1], sys.argv[2]
settings = {"enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
            "enable_incoming_utp": False, "enable_outgoing_utp": False, "allow_multiple_connections_per_ip": True,
            "listen_interfaces": "127.0.0.1:0", "alert_mask": lt.alert.category_t.all_categories}
if mode == "make":
    src, piece, flags = sys.argv[3], int(sys.argv[4]), sys.argv[5]
    fs = lt.file_storage()
    lt.add_files(fs, os.path.join(d, src))
    t = lt.create_torrent(fs, piece, flags=lt.create_torrent.v1_only if flags == "v1" else 0)
    lt.set_piece_hashes(t, d)
    open(os.path.join(d, "t.torrent"), "wb").write(lt.bencode(t.generate()))
    sys.exit(0)
ses = lt.session(settings)
ti = lt.torrent_info(os.path.join(d, "t.torrent"))
deadline = time.time() + 50
if mode == "seed":
    h = ses.add_torrent({"ti": ti, "save_path": d})
    while time.time() < deadline and not h.status().is_seeding:
        ses.wait_for_alert(100); ses.pop_alerts()
    print(json.dumps({"port": ses.listen_port(), "seeding": h.status().is_seeding}), flush=True)
    sys.stdin.read()
else:
    out = os.path.join(d, "lt_out")
    os.makedirs(out, exist_ok=True)
    h = ses.add_torrent({"ti": ti, "save_path": out})
    h.connect_peer(("127.0.0.1", int(sys.argv[3])))
    errors = []
    while time.time() < deadline and not h.status().is_seeding:
        ses.wait_for_alert(100)
        for a in ses.pop_alerts():
            if isinstance(a, (lt.peer_error_alert, lt.peer_disconnected_alert)):
                errors.append(a.message())
    print(json.dumps({"seeding": h.status().is_seeding, "errors": errors[:5]}), flush=True)
`;

/** The first line a driver prints on `stdout` (seed mode's readiness line), parsed as JSON; the stream stays open. */
// deno-lint-ignore no-explicit-any
export async function readJsonLine(stdout: ReadableStream<Uint8Array>): Promise<any> {
  const reader = stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  try {
    while (!line.includes("\n")) {
      const r = await reader.read();
      if (r.done) break;
      line += r.value;
    }
  } finally {
    reader.releaseLock();
  }
  return JSON.parse(line);
}

/**
 * A driver in `seed` mode on DIR (python3 at `python`): resolves with its listening port once it seeds, or fails when
 * it is not seeding within `timeoutMs` (then killed). Stop it with stopDriver.
 */
export async function startSeedDriver(
  python: string,
  dir: string,
  timeoutMs: number,
): Promise<{ port: number; child: Deno.ChildProcess }> {
  const child = new Deno.Command(python, {
    args: ["-c", LIBTORRENT_SCRIPT, "seed", dir],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  let ready;
  try {
    ready = await readJsonLine(child.stdout);
  } catch (err: unknown) {
    await stopDriver(child);
    throw err;
  } finally {
    clearTimeout(timer);
  }
  if (ready?.seeding !== true) {
    await stopDriver(child);
    throw new Error(`libtorrent is not seeding: ${JSON.stringify(ready)}`);
  }
  return { port: ready.port, child };
}

/** Stops a driver spawned with piped stdin and stdout: closes stdin (its `seed` mode exits), kills it, and waits. */
export async function stopDriver(child: Deno.ChildProcess): Promise<void> {
  await child.stdin.close().catch(() => {});
  try {
    child.kill("SIGKILL");
  } catch {
    // already gone
  }
  await child.stdout.cancel().catch(() => {});
  await child.status;
}
