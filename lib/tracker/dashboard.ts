// Owns the tracker's browser dashboard (issue #4): one self-contained HTML page (inline CSS and JS, no external
// assets) that polls `GET /stats` and renders totals, a torrent table and a chart of swarm sizes.
// Torrent names come from users: the script only ever writes them with textContent, never as HTML.

/** How often the page polls /stats. */
export const DASHBOARD_REFRESH_MS = 5_000;
/** Most torrent rows rendered at once (the filter box narrows larger lists). */
export const DASHBOARD_MAX_ROWS = 500;
/** Span of history the chart shows. */
export const DASHBOARD_CHART_SPAN_MS = 6 * 60 * 60 * 1000;

const STYLE = `
:root {
  --bg: #f6f7f9; --card: #ffffff; --fg: #1d2330; --muted: #6b7385; --line: #e2e5eb;
  --accent: #2f6fdf; --seed: #1f9d55; --leech: #d9822b; --bad: #c0392b;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #12151b; --card: #1b2029; --fg: #e4e7ee; --muted: #939bb0; --line: #2b3240;
    --accent: #6c9cff; --seed: #3ccf7f; --leech: #f0a050; --bad: #ff6b5b; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0.75rem; padding: 1rem 1.5rem 0.5rem; }
header h1 { margin: 0; font-size: 1.25rem; font-weight: 650; letter-spacing: -0.01em; }
header .meta { color: var(--muted); font-size: 0.85rem; }
#status { margin-left: auto; font-size: 0.8rem; color: var(--muted); }
#status.bad { color: var(--bad); }
main { padding: 0 1.5rem 2rem; max-width: 1200px; }
.totals { display: grid; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); gap: 0.75rem; margin: 0.75rem 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 0.75rem 1rem; }
.total .label { color: var(--muted); font-size: 0.75rem; text-transform: uppercase; letter-spacing: 0.05em; }
.total .value { font-size: 1.5rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.total.seeders .value { color: var(--seed); }
.total.leechers .value { color: var(--leech); }
h2 { font-size: 0.95rem; margin: 0 0 0.5rem; font-weight: 600; }
.chart-head { display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap; }
.legend { display: flex; gap: 0.9rem; font-size: 0.8rem; color: var(--muted); }
.legend i { display: inline-block; width: 10px; height: 3px; border-radius: 2px; margin-right: 4px; vertical-align: middle; }
#chart { width: 100%; height: auto; display: block; }
#chart text { fill: var(--muted); font-size: 11px; }
#chart .grid { stroke: var(--line); stroke-width: 1; }
#chart .peers { stroke: var(--accent); }
#chart .seeders { stroke: var(--seed); }
#chart .leechers { stroke: var(--leech); }
#chart polyline { fill: none; stroke-width: 2; stroke-linejoin: round; stroke-linecap: round; }
.empty { color: var(--muted); font-size: 0.85rem; padding: 0.5rem 0; }
.table-head { display: flex; align-items: center; gap: 1rem; flex-wrap: wrap; margin-bottom: 0.5rem; }
.table-head h2 { margin: 0; }
#filter { margin-left: auto; min-width: 220px; padding: 0.35rem 0.6rem; border-radius: 6px;
  border: 1px solid var(--line); background: var(--bg); color: var(--fg); font: inherit; }
.scroll { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 0.4rem 0.6rem; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { font-size: 0.75rem; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); font-weight: 600;
  cursor: pointer; user-select: none; }
th[aria-sort="ascending"]::after { content: " \\2191"; }
th[aria-sort="descending"]::after { content: " \\2193"; }
th:first-child, td:first-child { text-align: left; }
td.name { white-space: normal; word-break: break-word; max-width: 36rem; }
td.name.hash { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.8rem; color: var(--muted); }
td.seeders { color: var(--seed); }
td.leechers { color: var(--leech); }
tbody tr:hover { background: color-mix(in srgb, var(--accent) 6%, transparent); }
#more { color: var(--muted); font-size: 0.8rem; margin-top: 0.5rem; }
`;

// Plain ES2017 without template literals or backslashes, so it embeds verbatim in this TS string.
const SCRIPT = `
"use strict";
var REFRESH_MS = ${DASHBOARD_REFRESH_MS};
var MAX_ROWS = ${DASHBOARD_MAX_ROWS};
var CHART_SPAN_MS = ${DASHBOARD_CHART_SPAN_MS};
var SVG_NS = "http://www.w3.org/2000/svg";
var state = { stats: null, sortKey: "name", sortDir: 1, filter: "" };

function $(id) { return document.getElementById(id); }
function num(v) { return typeof v === "number" && isFinite(v) ? v : 0; }
function str(v) { return typeof v === "string" ? v : ""; }
function fmtInt(n) { return Math.round(num(n)).toLocaleString("en-US"); }
function fmtBytes(n) {
  if (typeof n !== "number" || !isFinite(n) || n < 0) return "";
  var units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  var i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(n) : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)) + " " + units[i];
}
function fmtUptime(s) {
  s = Math.floor(num(s));
  var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d > 0) return d + "d " + h + "h";
  if (h > 0) return h + "h " + m + "m";
  if (m > 0) return m + "m " + (s % 60) + "s";
  return s + "s";
}
function pad2(n) { return n < 10 ? "0" + n : String(n); }
function fmtClock(ms) { var d = new Date(ms); return pad2(d.getHours()) + ":" + pad2(d.getMinutes()); }
function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function svg(tag, attrs, text) {
  var e = document.createElementNS(SVG_NS, tag);
  for (var k in attrs) e.setAttribute(k, String(attrs[k]));
  if (text !== undefined) e.textContent = text;
  return e;
}

function renderTotals(s) {
  var t = s.totals || {};
  $("t-torrents").textContent = fmtInt(t.torrents);
  $("t-peers").textContent = fmtInt(t.peers);
  $("t-seeders").textContent = fmtInt(t.seeders);
  $("t-leechers").textContent = fmtInt(t.leechers);
  $("t-completed").textContent = fmtInt(t.completed);
  $("version").textContent = s.version ? "v" + str(String(s.version)) : "";
  $("uptime").textContent = "up " + fmtUptime(s.uptimeS);
}

function niceMax(v) {
  if (v <= 4) return 4;
  var p = Math.pow(10, Math.floor(Math.log(v) / Math.LN10));
  var steps = [1, 2, 2.5, 5, 10];
  for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
  return 10 * p;
}

function renderChart(s) {
  var box = $("chart");
  while (box.firstChild) box.removeChild(box.firstChild);
  var hist = Array.isArray(s.history) ? s.history.filter(function (h) { return h && isFinite(h.t); }) : [];
  hist.sort(function (a, b) { return a.t - b.t; });
  if (hist.length > 0) {
    var last = hist[hist.length - 1].t;
    hist = hist.filter(function (h) { return h.t >= last - CHART_SPAN_MS; });
  }
  $("chart-empty").hidden = hist.length > 0;
  box.style.display = hist.length > 0 ? "" : "none";
  if (hist.length === 0) return;
  var W = 720, H = 200, L = 44, R = 10, T = 10, B = 24;
  var t0 = hist[0].t, t1 = hist[hist.length - 1].t;
  if (t1 === t0) { t0 -= 60000; t1 += 60000; }
  var maxV = 0;
  hist.forEach(function (h) { maxV = Math.max(maxV, num(h.peers), num(h.seeders), num(h.leechers)); });
  maxV = niceMax(maxV);
  function x(t) { return L + (t - t0) / (t1 - t0) * (W - L - R); }
  function y(v) { return T + (1 - num(v) / maxV) * (H - T - B); }
  for (var g = 0; g <= 4; g++) {
    var v = maxV * g / 4;
    box.appendChild(svg("line", { "class": "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    box.appendChild(svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, fmtInt(v)));
  }
  [t0, (t0 + t1) / 2, t1].forEach(function (t, i) {
    var anchor = i === 0 ? "start" : i === 1 ? "middle" : "end";
    box.appendChild(svg("text", { x: x(t), y: H - 6, "text-anchor": anchor }, fmtClock(t)));
  });
  ["leechers", "seeders", "peers"].forEach(function (key) {
    var pts = hist.map(function (h) { return x(h.t).toFixed(1) + "," + y(h[key]).toFixed(1); });
    if (pts.length === 1) pts.push((x(hist[0].t) + 1).toFixed(1) + "," + y(hist[0][key]).toFixed(1));
    box.appendChild(svg("polyline", { "class": key, points: pts.join(" ") }));
  });
}

function displayName(t) { return str(t.name) !== "" ? str(t.name) : str(t.infoHash); }

function renderTable() {
  var s = state.stats;
  if (!s) return;
  var rows = Array.isArray(s.torrents) ? s.torrents.slice() : [];
  var f = state.filter.toLowerCase();
  if (f) rows = rows.filter(function (t) {
    return displayName(t).toLowerCase().indexOf(f) >= 0 || str(t.infoHash).toLowerCase().indexOf(f) >= 0;
  });
  var key = state.sortKey, dir = state.sortDir;
  rows.sort(function (a, b) {
    var r;
    // Named torrents first, then bare info hashes.
    if (key === "name") r = (str(a.name) === "") - (str(b.name) === "") || displayName(a).localeCompare(displayName(b));
    else r = num(a[key]) - num(b[key]);
    if (r === 0) r = str(a.infoHash) < str(b.infoHash) ? -1 : 1;
    return r * dir;
  });
  var body = $("rows");
  var frag = document.createDocumentFragment();
  rows.slice(0, MAX_ROWS).forEach(function (t) {
    var tr = document.createElement("tr");
    var named = str(t.name) !== "";
    var name = el("td", named ? "name" : "name hash", displayName(t));
    if (t.infoHash) name.title = str(t.infoHash);
    tr.appendChild(name);
    tr.appendChild(el("td", "size", fmtBytes(t.size)));
    tr.appendChild(el("td", "seeders", fmtInt(t.seeders)));
    tr.appendChild(el("td", "leechers", fmtInt(t.leechers)));
    tr.appendChild(el("td", "completed", fmtInt(t.completed)));
    frag.appendChild(tr);
  });
  while (body.firstChild) body.removeChild(body.firstChild);
  body.appendChild(frag);
  $("torrents-empty").hidden = rows.length > 0;
  var notes = [];
  if (rows.length > MAX_ROWS) {
    notes.push("Showing " + fmtInt(MAX_ROWS) + " of " + fmtInt(rows.length) + " torrents: type in the filter to narrow.");
  }
  if (s.isTruncated === true) notes.push("The tracker listed only its largest swarms.");
  $("more").textContent = notes.join(" ");
  var ths = document.querySelectorAll("th[data-key]");
  for (var i = 0; i < ths.length; i++) {
    var th = ths[i];
    if (th.getAttribute("data-key") === key) th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
    else th.removeAttribute("aria-sort");
  }
}

function setStatus(text, bad) {
  var st = $("status");
  st.textContent = text;
  st.className = bad ? "bad" : "";
}

function refresh() {
  fetch("stats", { cache: "no-store", headers: { "Accept": "application/json" } })
    .then(function (res) {
      if (!res.ok) throw new Error("HTTP " + res.status);
      return res.json();
    })
    .then(function (s) {
      if (!s || typeof s !== "object") throw new Error("bad stats");
      state.stats = s;
      renderTotals(s);
      renderChart(s);
      renderTable();
      setStatus("updated " + new Date().toLocaleTimeString(), false);
    })
    .catch(function (err) { setStatus("cannot load stats: " + (err && err.message ? err.message : err), true); })
    .then(function () { setTimeout(refresh, REFRESH_MS); });
}

(function init() {
  var ths = document.querySelectorAll("th[data-key]");
  for (var i = 0; i < ths.length; i++) {
    ths[i].addEventListener("click", function (ev) {
      var k = ev.currentTarget.getAttribute("data-key");
      if (state.sortKey === k) state.sortDir = -state.sortDir;
      else { state.sortKey = k; state.sortDir = k === "name" ? 1 : -1; }
      renderTable();
    });
  }
  $("filter").addEventListener("input", function (ev) { state.filter = ev.target.value; renderTable(); });
  refresh();
})();
`;

/** The dashboard page served at `GET /` to browsers; it fetches `stats` relative to its own URL. */
export const DASHBOARD_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:">
<meta name="referrer" content="no-referrer">
<title>btool tracker</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>btool tracker</h1>
  <span class="meta" id="version"></span>
  <span class="meta" id="uptime"></span>
  <span id="status">loading…</span>
</header>
<main>
  <section class="totals" aria-label="Totals">
    <div class="card total"><div class="label">Torrents</div><div class="value" id="t-torrents">–</div></div>
    <div class="card total"><div class="label">Peers</div><div class="value" id="t-peers">–</div></div>
    <div class="card total seeders"><div class="label">Seeders</div><div class="value" id="t-seeders">–</div></div>
    <div class="card total leechers"><div class="label">Leechers</div><div class="value" id="t-leechers">–</div></div>
    <div class="card total"><div class="label">Completed</div><div class="value" id="t-completed">–</div></div>
  </section>
  <section class="card" aria-label="Swarm sizes">
    <div class="chart-head">
      <h2>Swarm size, last hours</h2>
      <div class="legend"><span><i style="background:var(--accent)"></i>peers</span><span><i style="background:var(--seed)"></i>seeders</span><span><i style="background:var(--leech)"></i>leechers</span></div>
    </div>
    <svg id="chart" viewBox="0 0 720 200" role="img" aria-label="Peers, seeders and leechers over time"></svg>
    <div class="empty" id="chart-empty" hidden>No history yet.</div>
  </section>
  <section class="card" style="margin-top:0.75rem" aria-label="Torrents">
    <div class="table-head">
      <h2>Torrents</h2>
      <input id="filter" type="search" placeholder="Filter by name or info hash" aria-label="Filter torrents">
    </div>
    <div class="scroll"><table>
      <thead><tr>
        <th data-key="name" scope="col">Name</th>
        <th data-key="size" scope="col">Size</th>
        <th data-key="seeders" scope="col">Seeders</th>
        <th data-key="leechers" scope="col">Leechers</th>
        <th data-key="completed" scope="col">Completed</th>
      </tr></thead>
      <tbody id="rows"></tbody>
    </table></div>
    <div class="empty" id="torrents-empty" hidden>No torrents yet.</div>
    <div id="more"></div>
  </section>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
