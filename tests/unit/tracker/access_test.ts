import { TrackerError } from "../../../lib/errors.ts";
import { fromHex, timingSafeEquals, toHex } from "../../../lib/bytes.ts";
import {
  AccessControl,
  createPasskey,
  FailedPasskeyLimiter,
  ipKey,
  isPasskeyHex,
  key20,
  keyToHex20,
  LeakDetector,
  PASSKEY_INVALID_REASON,
  passkeyFromQuery,
  PasskeyIndex,
  splitPasskeyPath,
  UNREGISTERED_REASON,
} from "../../../lib/tracker/access.ts";
import { assertThrowsCode, deepEqual, equal, ok } from "../../_helpers/assert.ts";

const PK_A = "0123456789abcdef0123456789abcdef";
const PK_B = "fedcba9876543210fedcba9876543210";
const USERS = [{ id: 1, name: "alice", passkeyHex: PK_A }, { id: 2, name: "bob", passkeyHex: PK_B }];
const IP = ipKey(new Uint8Array([127, 0, 0, 1]));

Deno.test("passkeyFromQuery() finds passkey first, in the middle and last, never a longer name", () => {
  equal(passkeyFromQuery(`passkey=${PK_A}&info_hash=x`), PK_A);
  equal(passkeyFromQuery(`info_hash=x&passkey=${PK_A}&port=1`), PK_A);
  equal(passkeyFromQuery(`info_hash=x&passkey=${PK_A}`), PK_A);
  equal(passkeyFromQuery(`info_hash=x&mypasskey=${PK_A}`), undefined);
  equal(passkeyFromQuery("info_hash=x"), undefined);
  equal(passkeyFromQuery(`passkey=${"a".repeat(500)}`)?.length, 64);
});

Deno.test("splitPasskeyPath() takes /announce/<pk> and /scrape/<pk> only", () => {
  deepEqual(splitPasskeyPath(`/announce/${PK_A}`), { path: "/announce", passkey: PK_A });
  deepEqual(splitPasskeyPath(`/scrape/${PK_A}`), { path: "/scrape", passkey: PK_A });
  equal(splitPasskeyPath("/announce"), null);
  equal(splitPasskeyPath("/announce/"), null);
  equal(splitPasskeyPath(`/announce/${PK_A}/x`), null);
  equal(splitPasskeyPath(`/stats/${PK_A}`), null);
});

Deno.test("createPasskey() makes 32 hex digits; isPasskeyHex() checks them", () => {
  const pk = createPasskey();
  ok(isPasskeyHex(pk));
  equal(pk, pk.toLowerCase());
  notSame(createPasskey(), pk);
  equal(createPasskey((n) => new Uint8Array(n).fill(0xab)), "ab".repeat(16));
  equal(isPasskeyHex("xyz"), false);
  equal(isPasskeyHex(PK_A.slice(0, 31) + "g"), false);
});

function notSame(a: string, b: string) {
  ok(a !== b);
}

Deno.test("PasskeyIndex.lookup() finds users in any case and refuses near misses", () => {
  const index = new PasskeyIndex(USERS);
  equal(index.lookup(PK_A)?.name, "alice");
  equal(index.lookup(PK_B.toUpperCase())?.name, "bob");
  equal(index.lookup(PK_A.slice(0, 31) + "0"), null);
  equal(index.lookup(PK_A.slice(0, 8) + "0".repeat(24)), null);
  equal(index.lookup(""), null);
  equal(index.size, 2);
});

Deno.test("PasskeyIndex.lookup() compares the whole passkey with every candidate of its bucket, hit or miss", () => {
  // Two passkeys with the same first 4 bytes share a bucket: a lookup compares the whole 16 bytes with both, whether
  // or not the first one matches, so the work does not depend on how much of a guess is right.
  const twin = PK_A.slice(0, 8) + "f".repeat(24);
  const users = [...USERS, { id: 9, name: "twin", passkeyHex: twin }];
  const calls: [number, number][] = [];
  const index = new PasskeyIndex(users, {
    equals: (a, b) => {
      calls.push([a.length, b.length]);
      return timingSafeEquals(a, b);
    },
  });
  equal(index.lookup(PK_A)?.name, "alice");
  deepEqual(calls, [[16, 16], [16, 16]]);
  calls.length = 0;
  equal(index.lookup(PK_A.slice(0, 8) + "0".repeat(24)), null);
  deepEqual(calls, [[16, 16], [16, 16]]);
  // Without the test hook the comparison is timingSafeEquals: a default index finds the same users.
  equal(new PasskeyIndex(users).lookup(twin)?.name, "twin");
});

Deno.test("AccessControl.authorize() in private mode: valid, missing, invalid, revoked (setUsers)", () => {
  const ac = new AccessControl({ isPrivate: true, users: USERS });
  equal(ac.authorize(PK_A, IP, 0)?.name, "alice");
  assertThrowsCode(() => ac.authorize(undefined, IP, 0), TrackerError, "passkey_missing");
  const err = assertThrowsCode(() => ac.authorize(PK_A.replace("0", "1"), IP, 0), TrackerError, "passkey_invalid");
  equal(err.reason, PASSKEY_INVALID_REASON);
  ok(!err.reason.includes(PK_A));
  ac.setUsers([USERS[1]!]);
  assertThrowsCode(() => ac.authorize(PK_A, IP, 0), TrackerError, "passkey_invalid");
  equal(ac.authorize(PK_B, IP, 0)?.name, "bob");
});

Deno.test("AccessControl.authorize() when not private never refuses, but still names the user", () => {
  const ac = new AccessControl({ users: USERS });
  equal(ac.authorize(undefined, IP, 0), null);
  equal(ac.authorize("junk", IP, 0), null);
  equal(ac.authorize(PK_A, IP, 0)?.name, "alice");
  ok(ac.isOpen);
});

Deno.test("AccessControl.authorize() blocks an IP after too many invalid passkeys, until the window ends", () => {
  const ac = new AccessControl({ isPrivate: true, users: USERS, limiter: { maxFailures: 3, windowMs: 1000 } });
  const other = ipKey(new Uint8Array([10, 0, 0, 2]));
  for (let i = 0; i < 3; i++) {
    assertThrowsCode(() => ac.authorize("0".repeat(32), IP, 10), TrackerError, "passkey_invalid");
  }
  assertThrowsCode(() => ac.authorize(PK_A, IP, 20), TrackerError, "passkey_limited");
  equal(ac.authorize(PK_A, other, 20)?.name, "alice");
  equal(ac.authorize(PK_A, IP, 1010)?.name, "alice");
});

Deno.test("FailedPasskeyLimiter keeps at most maxIps entries under a many-address attack", () => {
  const limiter = new FailedPasskeyLimiter({ maxFailures: 2, windowMs: 60_000, maxIps: 100 });
  for (let i = 0; i < 10_000; i++) {
    limiter.recordFailure(ipKey(new Uint8Array([10, (i >> 16) & 255, (i >> 8) & 255, i & 255])), i);
    ok(limiter.size <= 100);
  }
  equal(limiter.size, 100);
  // The newest attackers are still counted.
  const last = ipKey(new Uint8Array([10, 0, 39, 15]));
  limiter.recordFailure(last, 10_001);
  equal(limiter.isBlocked(last, 10_002), true);
  limiter.prune(1_000_000);
  equal(limiter.size, 0);
});

Deno.test("LeakDetector flags a passkey seen from more than maxIps addresses in one window, once", () => {
  const leaks = new LeakDetector({ maxIps: 3, windowMs: 3_600_000 });
  const ips = [1, 2, 3, 4, 5].map((n) => ipKey(new Uint8Array([10, 0, 0, n])));
  equal(leaks.observe(1, ips[0]!, 0), false);
  equal(leaks.observe(1, ips[0]!, 1), false);
  equal(leaks.observe(1, ips[1]!, 2), false);
  equal(leaks.observe(1, ips[2]!, 3), false);
  equal(leaks.observe(1, ips[3]!, 4), true);
  equal(leaks.observe(1, ips[4]!, 5), false);
  deepEqual(leaks.state(1, 6), { userId: 1, distinctIps: 4, isFlagged: true });
  deepEqual(leaks.state(1, 3_600_000), { userId: 1, distinctIps: 0, isFlagged: false });
  equal(leaks.observe(1, ips[4]!, 3_600_001), false);
});

Deno.test("AccessControl reports a leak through onLeak without the passkey", () => {
  const seen: string[] = [];
  const ac = new AccessControl({
    isPrivate: true,
    users: USERS,
    leak: { maxIps: 1 },
    onLeak: (user, n) => seen.push(`${user.name} ${n}`),
  });
  ac.authorize(PK_A, ipKey(new Uint8Array([1, 1, 1, 1])), 0);
  ac.authorize(PK_A, ipKey(new Uint8Array([2, 2, 2, 2])), 0);
  deepEqual(seen, ["alice 2"]);
});

Deno.test("AccessControl.checkListed() refuses unknown hashes with 'unregistered torrent' and the similar hint", () => {
  const known = "aaaaaaaaaa" + "0".repeat(25) + "bbbbb";
  const registry = {
    hasInfoHash: (b: Uint8Array) => toHex(b) === known,
    has: (hex: string) => hex === known,
    findSimilar: (hex: string) =>
      hex.startsWith("aaaaaaaaaa") && hex !== known ? { infoHashHex: known, name: "K" } : null,
  };
  const ac = new AccessControl({ isListed: true, registry });
  ac.checkListed(fromHex(known)!);
  equal(ac.isAllowed(fromHex(known)!), true);
  const plain = assertThrowsCode(() => ac.checkListed(fromHex("c".repeat(40))!), TrackerError, "unregistered");
  equal(plain.reason, UNREGISTERED_REASON);
  const hinted = assertThrowsCode(
    () => ac.checkListed(fromHex("aaaaaaaaaa" + "1".repeat(25) + "bbbbb")!),
    TrackerError,
    "unregistered",
  );
  ok(hinted.reason.startsWith(`${UNREGISTERED_REASON}; close to registered torrent ${known} ("K")`));
  new AccessControl({ registry }).checkListed(fromHex("c".repeat(40))!);
});

Deno.test("key20() is a 10-char key that keyToHex20() turns back into hex", () => {
  const bytes = Uint8Array.from({ length: 20 }, (_, i) => (i * 37 + 1) & 0xff);
  const key = key20(bytes);
  equal(key.length, 10);
  equal(keyToHex20(key), toHex(bytes));
  equal(keyToHex20("x" + key, 1), toHex(bytes));
  ok(key20(new Uint8Array(20)) !== key20(new Uint8Array(20).fill(1)));
});
