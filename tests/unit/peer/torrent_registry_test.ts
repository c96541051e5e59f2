// TorrentRegistry (lib/peer/torrent_registry.ts): torrents found by the info hash a handshake names, by value (two
// InfoHash objects of the same bytes are one key), added and removed.

import { deepEqual, equal } from "../../_helpers/assert.ts";
import { TorrentRegistry } from "../../../lib/peer/torrent_registry.ts";
import { InfoHash } from "../../../lib/infohash.ts";

const A = new InfoHash(new Uint8Array(20).fill(0xaa));
const B = new InfoHash(new Uint8Array(20).fill(0xbb));

Deno.test("TorrentRegistry finds a torrent by an equal info hash, null for one it does not serve", () => {
  const reg = new TorrentRegistry<string>();
  equal(reg.get(A), null);
  reg.add(A, "album");
  reg.add(B, "film");
  equal(reg.size, 2);
  // A handshake's info hash is a fresh object with the same bytes.
  equal(reg.get(new InfoHash(new Uint8Array(20).fill(0xaa))), "album");
  equal(reg.get(B), "film");
  equal(reg.get(new InfoHash(new Uint8Array(20).fill(0xcc))), null);
});

Deno.test("TorrentRegistry.add() replaces the torrent of a hash; remove() stops serving only that hash", () => {
  const reg = new TorrentRegistry<{ name: string }>();
  reg.add(A, { name: "old" });
  reg.add(A, { name: "new" });
  equal(reg.size, 1);
  deepEqual(reg.get(A), { name: "new" });
  reg.add(B, { name: "other" });
  reg.remove(A);
  reg.remove(A); // removing twice is harmless
  deepEqual([reg.get(A), reg.get(B), reg.size], [null, { name: "other" }, 1]);
});
