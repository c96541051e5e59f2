// Temporary directories and fixture paths for tests.

/** Run `fn` with a fresh temp directory, removed afterwards whatever happens. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "btool-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Absolute path of `fixtures/<rel>`. */
export function fixturePath(rel: string): string {
  return new URL(`../../fixtures/${rel}`, import.meta.url).pathname;
}

/** Bytes of `fixtures/<rel>`. */
export function readFixture(rel: string): Uint8Array {
  return Deno.readFileSync(fixturePath(rel));
}

/** Absolute path of the repository root (for spawning main.ts). */
export const ROOT_DIR = new URL("../../", import.meta.url).pathname;
