// Every fuzz target (#19) briefly, in `deno test`: 2,000 generated and mutated inputs each, seeded. The full run with
// timing and memory checks is `deno task fuzz` (tests/fuzz/run.ts); this keeps the properties from rotting.

import { equal, match, ok } from "../_helpers/assert.ts";
import { FuzzFailure, type FuzzTarget, runTarget } from "./_harness.ts";
import { createTargets } from "./_targets.ts";

const SEED = 19;
const COUNT = 2_000;

for (const target of createTargets()) {
  Deno.test(`fuzz target "${target.name}" keeps its properties over ${COUNT} seeded inputs (#19)`, async () => {
    const stats = await runTarget(target, { seed: SEED, count: COUNT });
    equal(stats.generated + stats.mutated, COUNT);
    ok(stats.generated > COUNT / 4 && stats.mutated > COUNT / 4, JSON.stringify(stats));
    if (target.corpus !== undefined) ok(stats.fromCorpus > 0, "the corpus is mutated too");
  });
}

Deno.test("runTarget() reports a broken property with its seed, input index and the command that reproduces it", async () => {
  // A target whose property breaks on any input holding a zero byte.
  const broken: FuzzTarget = {
    name: "broken",
    generate: (random) => new Uint8Array([1 + Math.floor(random() * 255), 7]),
    check: (input) => {
      if (input.includes(0)) throw new Error("zero byte");
    },
  };
  let failure: FuzzFailure | undefined;
  try {
    await runTarget(broken, { seed: 5, count: 10_000 });
  } catch (err: unknown) {
    if (!(err instanceof FuzzFailure)) throw err;
    failure = err;
  }
  ok(failure !== undefined, "a mutation makes a zero byte within 10,000 inputs");
  match(failure.message, /seed 5/);
  match(failure.message, new RegExp(`--seed 5 --target broken --start ${failure.index} --count 1`));
  // The same index alone fails the same way: inputs do not depend on the ones before.
  let again: FuzzFailure | undefined;
  try {
    await runTarget(broken, { seed: 5, start: failure.index, count: 1 });
  } catch (err: unknown) {
    if (err instanceof FuzzFailure) again = err;
  }
  equal(again?.index, failure.index);
  equal(String(again?.input), String(failure.input));
});
