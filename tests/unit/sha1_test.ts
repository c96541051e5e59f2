import { createHash } from "node:crypto";
import { toHex, utf8 } from "../../lib/bytes.ts";
import { nodeSha1 } from "../../lib/_sha1_node.ts";
import { openLibcSha1, sha1, SHA1_SHORT_MAX_BYTES, sha1Short } from "../../lib/sha1.ts";
import { deepEqual, equal, ok } from "../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";
import { libcSha1OrNull } from "../_helpers/torrent.ts";

// node:crypto is the independent oracle here (lib/ uses it only to hash pieces in create, lib/_sha1_node.ts).
function oracleHex(data: Uint8Array): string {
  return createHash("sha1").update(data).digest("hex");
}

Deno.test("sha1() matches the FIPS 180 test vectors (empty, abc, 448 bits, a million a's)", async () => {
  equal(toHex(await sha1(new Uint8Array(0))), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  equal(toHex(await sha1(utf8("abc"))), "a9993e364706816aba3e25717850c26c9cd0d89d");
  equal(
    toHex(await sha1(utf8("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
    "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
  );
  equal(toHex(await sha1(new Uint8Array(1_000_000).fill(0x61))), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
});

Deno.test("sha1() of 1 MiB equals node:crypto's", async () => {
  const data = randomBytes(seededRandom(18), 1024 * 1024);
  equal(toHex(await sha1(data)), oracleHex(data));
});

Deno.test("sha1() copies its input when called: the buffer may be reused before the digest settles", async () => {
  const buf = utf8("abc");
  const pending = sha1(buf);
  buf.fill(0);
  equal(toHex(await pending), "a9993e364706816aba3e25717850c26c9cd0d89d");
});

Deno.test("sha1() keeps many digests in flight, each matching its own input", async () => {
  const inputs = Array.from({ length: 64 }, (_, i) => new Uint8Array(1000 + 4099 * i).fill(i));
  const digests = await Promise.all(inputs.map((d) => sha1(d)));
  digests.forEach((d, i) => equal(toHex(d), oracleHex(inputs[i]!), `input ${i}`));
});

Deno.test("sha1Short() equals sha1() for every length across the padding edges and up to its limit", async () => {
  const random = seededRandom(7);
  const lengths = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, SHA1_SHORT_MAX_BYTES];
  for (const n of lengths) {
    const data = randomBytes(random, n);
    equal(toHex(sha1Short(data)), toHex(await sha1(data)), `length ${n}`);
  }
});

Deno.test("sha1Short() refuses inputs past SHA1_SHORT_MAX_BYTES", () => {
  let err: unknown = null;
  try {
    sha1Short(new Uint8Array(SHA1_SHORT_MAX_BYTES + 1));
  } catch (e: unknown) {
    err = e;
  }
  ok(err instanceof RangeError);
});

const libc = libcSha1OrNull("sha1_test");

Deno.test({
  name: "openLibcSha1() (--sha1 libc) and nodeSha1 (create's default) equal sha1(), views at any offset, empty, 1 MiB",
  ignore: libc === null && Deno.env.get("CI") !== "true",
  fn: async () => {
    const data = randomBytes(seededRandom(11), 1024 * 1024 + 7);
    for (const [name, hash] of [["libc", libc ?? openLibcSha1()], ["node", nodeSha1]] as const) {
      const out = new Uint8Array(60);
      for (const [i, view] of [data, data.subarray(7), data.subarray(3, 3)].entries()) {
        hash(view, out, 20 * i);
        equal(toHex(out.subarray(20 * i, 20 * i + 20)), toHex(await sha1(view)), `${name}, view ${i}`);
      }
      equal(toHex(out.subarray(40)), "da39a3ee5e6b4b0d3255bfef95601890afd80709", name);
    }
  },
});

/** Modules reachable from `entry` by static imports that stay at run time (not `import type`), and their imports. */
function staticImports(entry: URL): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const todo = [entry];
  for (let n = 0; n < 2000 && todo.length > 0; n++) {
    const url = todo.pop()!;
    if (seen.has(url.href)) continue;
    const text = Deno.readTextFileSync(url);
    const specs = [...text.matchAll(/^\s*(?:import|export)\s(?!type\s)(?:[^;"']*?\sfrom\s)?["']([^"']+)["']/gm)].map((
      m,
    ) => m[1]!);
    seen.set(url.href, specs);
    for (const s of specs) if (s.startsWith(".")) todo.push(new URL(s, url));
  }
  return seen;
}

Deno.test("node:crypto is create's hashing only: no module imports it (it loads at first hash), only create's hashers reach it", () => {
  const graph = staticImports(new URL("../../main.ts", import.meta.url));
  for (const [u, specs] of staticImports(new URL("../../lib/_hash_worker.ts", import.meta.url))) graph.set(u, specs);
  ok(graph.size > 20, `walked ${graph.size} modules`);
  const importers = (spec: string) =>
    [...graph].filter(([, specs]) => specs.some((s) => s === spec || s.endsWith(`/${spec}`))).map(([u]) =>
      u.slice(u.indexOf("/lib/") + 1)
    ).sort();
  // An import would load node:crypto at the start of every command; lib/_sha1_node.ts loads it at its first hash.
  deepEqual(importers("node:crypto"), []);
  deepEqual(importers("_sha1_node.ts"), ["lib/_hash_worker.ts", "lib/create_hashing.ts"]);
});
