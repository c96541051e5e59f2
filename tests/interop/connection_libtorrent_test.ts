// lib/peer/connection.ts and lib/wire/* against a real client: Debian's python3-libtorrent as a seed (we fetch
// every block over one PeerConnection and check the piece hashes) and as a leecher (we serve it over one
// PeerConnection until it has the whole file). TCP on 127.0.0.1 only, uTP/DHT/LSD off; every wait is time-bounded.

import { sha1 } from "../../lib/sha1.ts";
import { equals } from "../../lib/bytes.ts";
import { parseMetainfo } from "../../lib/metainfo.ts";
import { PeerConnection } from "../../lib/peer/connection.ts";
import { pieceHash, pieceOffset } from "../../lib/pieces.ts";
import { blockSpans } from "../_helpers/torrent.ts";
import { Bitfield } from "../../lib/wire/bitfield.ts";
import { deepEqual, equal, ok } from "../_helpers/assert.ts";
import { randomBytes, seededRandom } from "../_helpers/random.ts";
import { withTempDir } from "../_helpers/tmp.ts";
import { LIBTORRENT_SCRIPT as SCRIPT, startSeedDriver, stopDriver } from "../_helpers/libtorrent.ts";
import { interopTool, runTool } from "../_helpers/tools.ts";

const tool = interopTool("libtorrent");

const PIECE_LENGTH = 32 * 1024;
const DATA_BYTES = 5 * PIECE_LENGTH + 12_345;
const TIMEOUT_MS = 30_000;
/** Messages we handle from libtorrent in one test before giving up. */
const MAX_MESSAGES = 10_000;
/** Connections we accept from the libtorrent leecher (it may retry after a refused encrypted handshake). */
const MAX_CONNECTIONS = 8;

async function makeTorrent(dir: string): Promise<Uint8Array> {
  const data = randomBytes(seededRandom(5), DATA_BYTES);
  await Deno.writeFile(`${dir}/data.bin`, data);
  const made = await runTool(tool.path, ["-c", SCRIPT, "make", dir, "data.bin", String(PIECE_LENGTH), "hybrid"], {
    timeoutMs: TIMEOUT_MS,
  });
  equal(made.code, 0, made.stderr);
  return data;
}

function peerId(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(20)).fill(0x2d, 0, 1);
}

Deno.test({
  name: "PeerConnection downloads every block from a libtorrent seed",
  ignore: tool.ignore,
  fn: () =>
    withTempDir(async (dir) => {
      const data = await makeTorrent(dir);
      const meta = await parseMetainfo(await Deno.readFile(`${dir}/t.torrent`));
      const { port, child } = await startSeedDriver(tool.path, dir, TIMEOUT_MS);
      const killer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS);
      let conn: PeerConnection | null = null;
      try {
        const socket = await Deno.connect({ hostname: "127.0.0.1", port });
        conn = await PeerConnection.open(socket, { infoHash: meta.infoHash, peerId: peerId(), geometry: meta });
        ok(conn.isFastExtension, "libtorrent negotiates BEP 6");
        await conn.send({ type: "interested" });
        const got = new Uint8Array(meta.totalLength);
        const wanted = new Set<string>();
        let isRequested = false;
        let seenHaveAll = false;
        let count = 0;
        for await (const m of conn.messages()) {
          ok(++count < MAX_MESSAGES);
          if (m.type === "haveAll") seenHaveAll = true;
          if (m.type === "bitfield") seenHaveAll = Bitfield.fromBytes(m.bytes, meta.pieceCount).isComplete;
          if (m.type === "unchoke" && !isRequested) {
            isRequested = true;
            for (let i = 0; i < meta.pieceCount; i++) {
              for (const s of blockSpans(meta, i)) {
                wanted.add(`${i}:${s.begin}`);
                await conn.send({ type: "request", pieceIndex: i, begin: s.begin, length: s.length });
              }
            }
          }
          if (m.type === "piece") {
            ok(wanted.delete(`${m.pieceIndex}:${m.begin}`), "only what we asked for");
            got.set(m.block, pieceOffset(meta, m.pieceIndex) + m.begin);
            if (wanted.size === 0) break;
          }
        }
        ok(seenHaveAll, "the seed announced every piece");
        equal(wanted.size, 0, `connection ended early: ${String(conn.closeReason)}`);
        for (let i = 0; i < meta.pieceCount; i++) {
          const off = pieceOffset(meta, i);
          ok(
            equals(
              await sha1(got.subarray(off, off + Math.min(meta.pieceLength, meta.totalLength - off))),
              pieceHash(meta, i),
            ),
          );
        }
        deepEqual(got, data);
      } finally {
        conn?.close();
        clearTimeout(killer);
        await stopDriver(child);
      }
    }),
});

Deno.test({
  name: "PeerConnection serves a libtorrent leecher the whole torrent",
  ignore: tool.ignore,
  fn: () =>
    withTempDir(async (dir) => {
      const data = await makeTorrent(dir);
      const meta = await parseMetainfo(await Deno.readFile(`${dir}/t.torrent`));
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (listener.addr as Deno.NetAddr).port;
      let served = 0;
      let handshakeFailures = 0;
      const conns: PeerConnection[] = [];
      const serveOne = async (socket: Deno.Conn) => {
        let conn: PeerConnection;
        try {
          conn = await PeerConnection.open(socket, { infoHash: meta.infoHash, peerId: peerId(), geometry: meta });
        } catch {
          // libtorrent first tries an MSE-encrypted handshake, which we refuse; it then retries in plain text.
          handshakeFailures++;
          return;
        }
        conns.push(conn);
        if (conn.isFastExtension) await conn.send({ type: "haveAll" });
        else await conn.send({ type: "bitfield", bytes: new Bitfield(meta.pieceCount, { isFull: true }).toBytes() });
        let count = 0;
        for await (const m of conn.messages()) {
          if (++count > MAX_MESSAGES) break;
          if (m.type === "interested") await conn.send({ type: "unchoke" });
          if (m.type === "request") {
            const off = pieceOffset(meta, m.pieceIndex) + m.begin;
            if (await conn.sendPiece(m, data.subarray(off, off + m.length))) served++;
          }
        }
      };
      const serving = (async () => {
        const handlers: Promise<void>[] = [];
        for (let i = 0; i < MAX_CONNECTIONS; i++) {
          let socket: Deno.Conn;
          try {
            socket = await listener.accept();
          } catch {
            break;
          }
          handlers.push(serveOne(socket).catch(() => {}));
        }
        await Promise.all(handlers);
      })();
      try {
        const run = await runTool(tool.path, ["-c", SCRIPT, "leech", dir, String(port)], { timeoutMs: TIMEOUT_MS * 2 });
        equal(run.code, 0, run.stderr);
        const result = JSON.parse(run.stdout);
        ok(result.seeding, `libtorrent finished: ${JSON.stringify(result.errors)}`);
        deepEqual(await Deno.readFile(`${dir}/lt_out/data.bin`), data);
        ok(served >= meta.pieceCount);
        console.log(`libtorrent leecher: ${served} blocks served, ${handshakeFailures} refused handshake(s)`);
      } finally {
        listener.close();
        for (const c of conns) c.close();
        await serving.catch(() => {});
      }
    }),
});
