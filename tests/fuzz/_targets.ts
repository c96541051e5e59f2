// Every fuzz target, by name (#19). The order is the order `deno task fuzz` runs them in.

import type { FuzzTarget } from "./_harness.ts";
import { announceQueryTarget } from "./_target_announce_query.ts";
import { bencodeTarget } from "./_target_bencode.ts";
import { http1Target } from "./_target_http1.ts";
import { createMetainfoTarget } from "./_target_metainfo.ts";
import { udpTarget } from "./_target_udp.ts";
import { wireTarget } from "./_target_wire.ts";

/** The targets (the metainfo target reads its corpus from fixtures/torrents/ when created). */
export function createTargets(): FuzzTarget[] {
  return [bencodeTarget, createMetainfoTarget(), announceQueryTarget, http1Target, udpTarget, wireTarget];
}
