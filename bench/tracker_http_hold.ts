// What each HTTP stack of `btool tracker` holds for a Slowloris client (#19): N connections from 127.0.0.1, each sending
// half a request head and then one byte every 2 s; prints how many the tracker holds after 2 s, its RSS before and
// then, and how many are still open after WAIT seconds (both stacks cap connections per address and close a head not
// whole within headTimeoutMs, 10 s: the default through lib/tracker/http_front.ts).
// Run: deno run -A bench/tracker_http_hold.ts [--connections 2000] [--wait 12]

import { benchArgs, freePort, MAIN_TS, stopChildren, waitTcpReady } from "./_common.ts";

const ENCODER = new TextEncoder();

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))![1]) / 1024;
}

/** How many of `conns` the server still holds (a read that neither ends nor fails within 500 ms). */
async function countOpen(conns: Deno.TcpConn[]): Promise<number> {
  const open = await Promise.all(conns.map(async (c) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const r = await Promise.race([
      c.read(new Uint8Array(256)).catch(() => null),
      new Promise<"open">((res) => timer = setTimeout(() => res("open"), 500)),
    ]);
    clearTimeout(timer);
    return r === "open" ? 1 : 0;
  }));
  return open.reduce((a: number, b: number) => a + b, 0);
}

async function run(io: "deno" | "libc", n: number, waitS: number): Promise<void> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN_TS, "tracker", "--db", ":memory:", "--no-udp", "--quiet", "--host", "127.0.0.1"]
      .concat(["--port", String(port), "--http-io", io, "--admin-token", "bench"]),
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const conns: Deno.TcpConn[] = [];
  try {
    await waitTcpReady(port, { child });
    await new Promise((r) => setTimeout(r, 1_000));
    const before = rssMb(child.pid);
    for (let i = 0; i < n; i++) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.push(c);
      await c.write(ENCODER.encode(`GET /announce HTTP/1.1\r\nHost: t\r\nX-Pad: ${"a".repeat(1000)}`)).catch(() => 0);
    }
    await new Promise((r) => setTimeout(r, 2_000));
    const held = rssMb(child.pid);
    const openAt2 = await countOpen(conns);
    for (const started = Date.now(); Date.now() - started < waitS * 1000;) {
      for (const c of conns) c.write(ENCODER.encode("a")).catch(() => 0);
      await new Promise((r) => setTimeout(r, 2_000));
    }
    const openAtEnd = await countOpen(conns);
    console.log(
      `${io.padEnd(4)}: ${n} Slowloris connections, ${openAt2} held after 2 s; RSS ${before.toFixed(1)} -> ` +
        `${held.toFixed(1)} MB; after ${waitS} s of trickling ${openAtEnd} still open`,
    );
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch {
        // closed by the server
      }
    }
    await stopChildren([child]);
  }
}

if (import.meta.main) {
  const { connections, wait } = benchArgs({ connections: 2000, wait: 12 });
  for (const io of ["deno", "libc"] as const) await run(io, connections, wait);
}
