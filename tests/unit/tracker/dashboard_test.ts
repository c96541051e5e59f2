import { DASHBOARD_HTML } from "../../../lib/tracker/dashboard.ts";
import { equal, ok } from "../../_helpers/assert.ts";

function scripts(html: string): string[] {
  return [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1] ?? "");
}

Deno.test("DASHBOARD_HTML is self-contained: no external scripts, styles, images or fonts", () => {
  ok(DASHBOARD_HTML.startsWith("<!doctype html>"));
  for (const banned of [/\bsrc\s*=/i, /\bhref\s*=/i, /url\(/i, /@import/i, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/i]) {
    ok(!banned.test(DASHBOARD_HTML), `found ${banned}`);
  }
  ok(DASHBOARD_HTML.includes("default-src 'none'"), "a restrictive Content-Security-Policy");
});

Deno.test("DASHBOARD_HTML script parses and writes data only as text", () => {
  const found = scripts(DASHBOARD_HTML);
  equal(found.length, 1);
  const code = found[0] ?? "";
  new Function(code); // throws SyntaxError if the embedded script is broken
  ok(code.includes('fetch("stats"'), "polls /stats relative to the page");
  for (const sink of ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("]) {
    ok(!code.includes(sink), `uses ${sink}`);
  }
});
