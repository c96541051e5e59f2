// The tracker client's dispatch: refusals decided from the URL alone, before any request is sent. No network.

import { assertRejectsCode } from "../../_helpers/assert.ts";
import { utf8 } from "../../../lib/bytes.ts";
import { TrackerError } from "../../../lib/errors.ts";
import { announce, scrape } from "../../../lib/tracker/client.ts";

const REQUEST = {
  infoHash: new Uint8Array(20),
  peerId: utf8("-BT0100-abcdefghijkl"),
  port: 6881,
  uploaded: 0,
  downloaded: 0,
  left: 0,
};

Deno.test("announce() refuses a URL that is neither http(s) nor udp with tracker_url", async () => {
  await assertRejectsCode(() => announce("wss://t.example/announce", REQUEST), TrackerError, "tracker_url");
});

Deno.test("scrape() refuses an HTTP URL without a BEP 48 scrape form with tracker_no_scrape", async () => {
  await assertRejectsCode(
    () => scrape("http://127.0.0.1:1/tracker", [new Uint8Array(20)]),
    TrackerError,
    "tracker_no_scrape",
  );
});
