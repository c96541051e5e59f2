// A bound on waiting for an event in tests over real sockets and Workers: a lost event fails the test with its name
// instead of hanging it. A bound, never a measurement: no test asserts how long anything took.

/** Default bound: a Worker or a socket can take seconds on a loaded machine. */
export const WAIT_BOUND_MS = 20_000;

/** `p`, or a rejection naming `what` when it has not settled within `ms`. */
export async function within<T>(p: Promise<T>, what: string, ms = WAIT_BOUND_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, bound]);
  } finally {
    clearTimeout(timer);
  }
}
