// lib/storage/_fs_handles.ts: the read-handle cache stays under its cap (least recently used closed first), writes
// wait for a slot, idle write handles are pooled under the cap and closed after closeAll, whole reads and writes.

import { StorageError } from "../../../lib/errors.ts";
import {
  openForWrite,
  readFullyAt,
  ReadHandles,
  writeFullyAt,
  WriteHandles,
} from "../../../lib/storage/_fs_handles.ts";
import { assertRejectsCode, deepEqual, equal, ok } from "../../_helpers/assert.ts";
import { withTempDir } from "../../_helpers/tmp.ts";

function isOpen(file: Deno.FsFile): boolean {
  try {
    file.statSync();
    return true;
  } catch {
    return false;
  }
}

Deno.test("ReadHandles.get() keeps at most maxOpen files open, closing the least recently used", () =>
  withTempDir(async (dir) => {
    const paths = ["a", "b", "c"].map((n) => `${dir}/${n}`);
    for (const p of paths) await Deno.writeTextFile(p, p);
    const handles = new ReadHandles(paths, 2);
    const a = await handles.get(0);
    const b = await handles.get(1);
    equal(await handles.get(0), a, "a cached handle is reused");
    const c = await handles.get(2); // b is now the least recently used
    equal(handles.openCount, 2);
    ok(isOpen(a) && isOpen(c));
    ok(!isOpen(b), "the least recently used handle was closed");
    handles.closeAll();
    equal(handles.openCount, 0);
    ok(!isOpen(a) && !isOpen(c));
  }));

Deno.test("ReadHandles.get() reports an absent file as missing", () =>
  withTempDir(async (dir) => {
    const handles = new ReadHandles([`${dir}/none`]);
    await assertRejectsCode(() => handles.get(0), StorageError, "missing");
  }));

Deno.test("WriteHandles.run() runs at most maxWrites at once and starts a waiter when one ends", async () => {
  const writes = new WriteHandles([], 2);
  const gates = [0, 1, 2].map(() => Promise.withResolvers<void>());
  const started: number[] = [];
  const runs = gates.map((g, i) =>
    writes.run(async () => {
      started.push(i);
      await g.promise;
      return i;
    })
  );
  await Promise.resolve();
  deepEqual(started, [0, 1]);
  equal(writes.running, 2);
  gates[0]!.resolve();
  equal(await runs[0], 0);
  await Promise.resolve();
  deepEqual(started, [0, 1, 2]);
  gates[1]!.resolve();
  gates[2]!.resolve();
  deepEqual(await Promise.all(runs), [0, 1, 2]);
  equal(writes.running, 0);
});

Deno.test("WriteHandles take/give pools idle handles up to maxWrites and closes them after closeAll", () =>
  withTempDir(async (dir) => {
    const writes = new WriteHandles([`${dir}/sub/x`], 1);
    const first = await writes.take(0); // creates the folder and the file
    ok((await Deno.stat(`${dir}/sub/x`)).isFile);
    const second = await writes.take(0);
    writes.give(0, first);
    writes.give(0, second); // past the idle cap of 1: closed
    ok(isOpen(first) && !isOpen(second));
    equal(await writes.take(0), first, "an idle handle is reused");
    writes.closeAll();
    writes.give(0, first); // after closeAll: closed
    ok(!isOpen(first));
  }));

Deno.test("readFullyAt() and writeFullyAt() move whole ranges at an offset; a short file is short_read", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/f`;
    const file = await openForWrite(path);
    try {
      await writeFullyAt(file, 3, new Uint8Array([1, 2, 3, 4]), path);
      const out = new Uint8Array(5);
      await readFullyAt(file, 2, out, path);
      deepEqual([...out], [0, 1, 2, 3, 4]);
      await assertRejectsCode(() => readFullyAt(file, 4, new Uint8Array(4), path), StorageError, "short_read");
    } finally {
      file.close();
    }
  }));
