// The BEP 12 tier walker: one shuffle per tier, success moves a tracker to the front, announceToTiers moves on. Pure.

import { assertRejectsCode, deepEqual, equal } from "../../_helpers/assert.ts";
import { seededRandom } from "../../_helpers/random.ts";
import { utf8 } from "../../../lib/bytes.ts";
import { TrackerError } from "../../../lib/errors.ts";
import { announceToTiers, TrackerTiers } from "../../../lib/tracker/tracker_tiers.ts";

const REQUEST = {
  infoHash: new Uint8Array(20),
  peerId: utf8("-BT0100-abc def+ghi"),
  port: 6881,
  uploaded: 1,
  downloaded: 2,
  left: 3,
};

Deno.test("TrackerTiers shuffles each tier once with the injected random, drops empties and duplicates", () => {
  const list = [["a", "b", "c", "d"], [], ["e", "a"], ["f"]];
  const t1 = new TrackerTiers(list, { random: seededRandom(7) });
  const t2 = new TrackerTiers(list, { random: seededRandom(7) });
  deepEqual(t1.tiers, t2.tiers);
  equal(t1.tiers.length, 3);
  deepEqual([...t1.tiers[0]!].sort(), ["a", "b", "c", "d"]);
  deepEqual(t1.tiers[1], ["e"]);
  deepEqual(t1.order(), [...t1.tiers[0]!, "e", "f"]);
  const always0 = new TrackerTiers([["a", "b", "c"]], { random: () => 0 });
  deepEqual(always0.tiers, [["b", "c", "a"]]);
});

Deno.test("TrackerTiers.markSuccess() moves a tracker to the front of its own tier only", () => {
  const t = new TrackerTiers([["a", "b", "c"], ["d", "e"]], { random: () => 0.999 });
  deepEqual(t.tiers, [["a", "b", "c"], ["d", "e"]]);
  t.markSuccess("c");
  deepEqual(t.tiers, [["c", "a", "b"], ["d", "e"]]);
  t.markSuccess("e");
  deepEqual(t.order(), ["c", "a", "b", "e", "d"]);
  t.markSuccess("zzz");
  deepEqual(t.order(), ["c", "a", "b", "e", "d"]);
});

Deno.test("announceToTiers() tries every tracker in order and reports why each failed", async () => {
  const t = new TrackerTiers([["wss://a/announce", "ftp://b/announce"], ["not a url"]], { random: () => 0.999 });
  const seen: string[] = [];
  await assertRejectsCode(
    () => announceToTiers(t, REQUEST, { onWarning: (url, err) => seen.push(`${url} ${err.code}`) }),
    TrackerError,
    "tracker_unreachable",
  );
  deepEqual(seen, ["wss://a/announce tracker_url", "ftp://b/announce tracker_url", "not a url tracker_url"]);
});
