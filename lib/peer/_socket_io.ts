// Socket reads and writes of a PeerConnection (lib/peer/connection.ts): fresh or reused read buffers (the lending
// ring) that never overwrite bytes the decoder still holds, whole writes, quiet closes. No protocol here.

/** Bytes asked of the socket per read; each read gets a fresh buffer so decoded blocks are never overwritten. */
export const READ_CHUNK_BYTES = 64 * 1024;
/** The reused read buffer of a connection that lends its messages (`isLendingMessages`). */
export const READ_RING_BYTES = 256 * 1024;
/** Fewest free ring bytes worth a read; with less (a huge message is being buffered), the read gets its own buffer. */
const MIN_RING_READ_BYTES = 16 * 1024;

/**
 * Read once. A large read hands its fresh buffer over (decoded blocks are subarrays of it); a small one is copied
 * out so the buffer is reused, which bounds memory held by blocks to twice their size.
 */
export async function readChunk(conn: Deno.Conn, reader: { buf: Uint8Array | null }): Promise<Uint8Array | null> {
  const buf = reader.buf ?? new Uint8Array(READ_CHUNK_BYTES);
  const n = await conn.read(buf);
  if (n === null) return null;
  if (n <= READ_CHUNK_BYTES / 2) {
    reader.buf = buf;
    return buf.slice(0, n);
  }
  reader.buf = null;
  return buf.subarray(0, n);
}

/** A reused read buffer: `at` is where the last read ended, `lapEnd` where the previous lap's data ended. */
export interface ReadRing {
  buf: Uint8Array | null;
  at: number;
  lapEnd: number;
}

/**
 * Read once into the ring, never over the `buffered` bytes the decoder has not consumed yet: they are the last
 * `buffered` bytes read (at most), so they lie just before `at`, wrapping to `lapEnd` of the previous lap. When the
 * ring has too little room left (a huge message is being assembled), the read gets a fresh buffer instead.
 */
export async function readRing(conn: Deno.Conn, ring: ReadRing, buffered: number): Promise<Uint8Array | null> {
  const buf = ring.buf ??= new Uint8Array(READ_RING_BYTES);
  const size = buf.length;
  let start = -1;
  let end = -1;
  if (buffered < size) {
    const at = ring.at;
    if (buffered <= at) {
      // Unconsumed: [at - buffered, at).
      if (size - at >= MIN_RING_READ_BYTES) {
        start = at;
        end = size;
      } else if (at - buffered >= MIN_RING_READ_BYTES) {
        ring.lapEnd = at;
        start = 0;
        end = at - buffered;
      }
    } else {
      // Unconsumed: [lapEnd - (buffered - at), lapEnd) and [0, at).
      const limit = ring.lapEnd - (buffered - at);
      if (limit - at >= MIN_RING_READ_BYTES) {
        start = at;
        end = limit;
      }
    }
  }
  if (start < 0) {
    const own = new Uint8Array(READ_CHUNK_BYTES);
    const n = await conn.read(own);
    return n === null ? null : own.subarray(0, n);
  }
  const n = await conn.read(buf.subarray(start, end));
  if (n === null) return null;
  ring.at = start + n;
  return buf.subarray(start, start + n);
}

export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

export function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
