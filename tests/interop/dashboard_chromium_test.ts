// The dashboard in headless Chromium (issue #4): the page renders from /stats, shows the torrents' names escaped
// as text (never as markup), the totals and the counts, and draws the chart.

import { DASHBOARD_HTML } from "../../lib/tracker/dashboard.ts";
import { startHttpServer } from "../../lib/tracker/http_server.ts";
import { equal, ok } from "../_helpers/assert.ts";
import { interopTool } from "../_helpers/tools.ts";

const chromium = interopTool("chromium");
const CHROMIUM_TIMEOUT_MS = 60_000;

const NOW_MS = 1_763_800_000_000;
const HOSTILE_NAME = `Ubuntu <b>ISO</b> & more <img src=x onerror="document.title='pwned'">`;

const STATS = {
  version: "0.1.0",
  uptimeS: 93_784,
  totals: { torrents: 3, peers: 4321, seeders: 3210, leechers: 1111, completed: 98765 },
  history: Array.from({ length: 25 }, (_, i) => ({
    t: NOW_MS - (24 - i) * 15 * 60_000,
    peers: 4000 + i * 10,
    seeders: 3000 + i * 8,
    leechers: 1000 + i * 2,
  })),
  torrents: [
    {
      infoHash: "0123456789abcdef0123456789abcdef01234567",
      name: HOSTILE_NAME,
      size: 3_221_225_472,
      seeders: 3017,
      leechers: 1042,
      completed: 90210,
    },
    {
      infoHash: "89abcdef0123456789abcdef0123456789abcdef",
      name: "debian-12.iso",
      size: 658_505_728,
      seeders: 193,
      leechers: 69,
      completed: 8555,
    },
    { infoHash: "ffffffffffffffffffffffffffffffffffffffff", seeders: 0, leechers: 0, completed: 0 },
  ],
};

const ERROR_PROBE = `
function record(msg) { document.documentElement.setAttribute("data-js-error", String(msg)); }
window.addEventListener("error", function (e) { record(e.message); });
window.addEventListener("unhandledrejection", function (e) { record(e.reason); });
`;

/** Text of the first element whose opening tag contains `marker`, e.g. `id="t-peers"`. */
function textOf(dom: string, marker: string): string | null {
  const at = dom.indexOf(marker);
  if (at < 0) return null;
  const start = dom.indexOf(">", at) + 1;
  return dom.slice(start, dom.indexOf("<", start));
}

/** Serve the dashboard and `stats` (a response factory) on 127.0.0.1, load it in headless Chromium, dump the DOM. */
async function renderInChromium(stats: () => Response): Promise<{ dom: string; statsRequests: number }> {
  let statsRequests = 0;
  // The tracker's own HTTP server (libc sockets on Linux): a browser's requests and keep-alive go through it.
  const server = startHttpServer({
    hostname: "127.0.0.1",
    port: 0,
    handler: (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/") {
        // A probe ahead of the page's own script records any uncaught error in the DOM.
        const page = DASHBOARD_HTML.replace("<head>", `<head><script>${ERROR_PROBE}</script>`);
        return new Response(page, { headers: { "content-type": "text/html; charset=utf-8" } });
      }
      if (path === "/stats") {
        statsRequests++;
        return stats();
      }
      return new Response("not found", { status: 404 });
    },
  });
  const profile = await Deno.makeTempDir({ prefix: "btool-chromium-" });
  let child: Deno.ChildProcess | null = null;
  const timer = setTimeout(() => {
    try {
      child?.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, CHROMIUM_TIMEOUT_MS);
  try {
    child = new Deno.Command(chromium.path, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
        "--virtual-time-budget=5000",
        "--dump-dom",
        `http://127.0.0.1:${server.addr.port}/`,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const out = await child.output();
    const dom = new TextDecoder().decode(out.stdout);
    equal(out.code, 0, `chromium failed: ${new TextDecoder().decode(out.stderr).slice(-2000)}`);
    ok(dom.includes("<html"), "chromium dumped the DOM");
    const jsError = /data-js-error="([^"]*)"/.exec(dom);
    equal(jsError, null, `the page threw: ${jsError?.[1]}`);
    return { dom, statsRequests };
  } finally {
    clearTimeout(timer);
    try {
      child?.kill("SIGKILL");
    } catch {
      // already exited
    }
    await child?.status;
    await server.shutdown();
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

Deno.test({
  name: "DASHBOARD_HTML renders /stats in headless Chromium with names escaped",
  ignore: chromium.ignore,
  fn: async () => {
    const { dom, statsRequests } = await renderInChromium(() => Response.json(STATS));
    ok(statsRequests >= 1, "the page fetched /stats");

    // The hostile name is text, escaped by the DOM serialiser, and injected no element.
    ok(
      dom.includes("Ubuntu &lt;b&gt;ISO&lt;/b&gt; &amp; more &lt;img src=x onerror=\"document.title='pwned'\"&gt;"),
      `escaped name missing from:\n${dom.slice(0, 4000)}`,
    );
    ok(!dom.includes("<b>ISO</b>"), "the name was parsed as markup");
    ok(!dom.includes("<img"), "the name injected an element");
    ok(!dom.includes("pwned</title>"), "the name ran script");
    ok(dom.includes(">debian-12.iso<"));
    ok(dom.includes(">ffffffffffffffffffffffffffffffffffffffff<"), "an unnamed torrent shows its info hash");

    equal(textOf(dom, 'id="t-torrents"'), "3");
    equal(textOf(dom, 'id="t-peers"'), "4,321");
    equal(textOf(dom, 'id="t-seeders"'), "3,210");
    equal(textOf(dom, 'id="t-leechers"'), "1,111");
    equal(textOf(dom, 'id="t-completed"'), "98,765");
    equal(textOf(dom, 'id="uptime"'), "up 1d 2h");
    for (const cell of [">3,017<", ">1,042<", ">90,210<", ">3.00 GiB<", ">193<", ">69<", ">8,555<", ">628 MiB<"]) {
      ok(dom.includes(cell), `missing ${cell}`);
    }
    // Sorted by name, named torrents first.
    const order = ["debian-12.iso", "Ubuntu &lt;b&gt;", "ffffffffff"].map((t) => dom.indexOf(t));
    ok(order[0]! < order[1]! && order[1]! < order[2]!, `row order ${order}`);
    // The chart drew one line per series.
    equal(dom.split("<polyline").length - 1, 3);
    const status = textOf(dom, 'id="status"') ?? "";
    ok(status.startsWith("updated "), `the status shows an error: ${status}`);
  },
});

Deno.test({
  name: "DASHBOARD_HTML in headless Chromium survives empty stats and a failing /stats",
  ignore: chromium.ignore,
  fn: async () => {
    const empty = await renderInChromium(() => Response.json({}));
    equal(textOf(empty.dom, 'id="t-peers"'), "0");
    ok(/id="torrents-empty"(?![^>]*hidden)/.test(empty.dom), "shows the no-torrents note");
    ok(/id="chart-empty"(?![^>]*hidden)/.test(empty.dom), "shows the no-history note");

    const failing = await renderInChromium(() => new Response("oops", { status: 500 }));
    equal(textOf(failing.dom, 'id="status"'), "cannot load stats: HTTP 500");
    equal(textOf(failing.dom, 'id="t-peers"'), "–");
  },
});
