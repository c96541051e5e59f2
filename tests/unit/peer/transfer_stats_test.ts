import {
  countDownloaded,
  countUploaded,
  createTransfer,
  RATE_ALPHA,
  tickTransfer,
} from "../../../lib/peer/transfer_stats.ts";
import { deepEqual, equal, ok } from "../../_helpers/assert.ts";

Deno.test("countDownloaded()/countUploaded() add to the totals and to the current tick", () => {
  const t = createTransfer();
  countDownloaded(t, 100);
  countDownloaded(t, 50);
  countUploaded(t, 7);
  deepEqual(t, { downloaded: 150, uploaded: 7, tickDown: 150, tickUp: 7, downloadRate: 0, uploadRate: 0 });
});

Deno.test("tickTransfer() folds the tick into the exponential averages and starts the next tick at zero", () => {
  const t = createTransfer();
  countDownloaded(t, 1000);
  countUploaded(t, 500);
  tickTransfer(t, 1);
  equal(t.downloadRate, 1000 * RATE_ALPHA);
  equal(t.uploadRate, 500 * RATE_ALPHA);
  deepEqual([t.tickDown, t.tickUp, t.downloaded, t.uploaded], [0, 0, 1000, 500]);
  // A silent tick decays the rate; a tick of two seconds halves the bytes per second.
  tickTransfer(t, 1);
  equal(t.downloadRate, 1000 * RATE_ALPHA * (1 - RATE_ALPHA));
  const two = createTransfer();
  countDownloaded(two, 1000);
  tickTransfer(two, 2);
  equal(two.downloadRate, 500 * RATE_ALPHA);
});

Deno.test("tickTransfer() converges on a steady rate", () => {
  const t = createTransfer();
  for (let i = 0; i < 60; i++) {
    countDownloaded(t, 2048);
    tickTransfer(t, 1);
  }
  ok(Math.abs(t.downloadRate - 2048) < 1e-6, `${t.downloadRate}`);
  equal(t.uploadRate, 0);
});
