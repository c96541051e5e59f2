// `btool tracker user add|list|revoke|rotate NAME`, `btool tracker torrent-for NAME FILE -o OUT` and
// `btool tracker unregister INFOHASH` (issue #6): work on the same --db as a running tracker (SQLite's lock and
// busy_timeout make that safe; the tracker notices within a second). Prints passkeys only where asked to.

import { errorText } from "../lib/errors.ts";
import { BtoolError, UsageError } from "../lib/errors.ts";
import { TrackerDb, type UserRecord } from "../lib/persist/db.ts";
import { Registry } from "../lib/tracker/registry.ts";
import { memberAnnounceUrl, personalizeTorrent, Users } from "../lib/tracker/users.ts";
import { parseMetainfo } from "../lib/metainfo.ts";
import { parseCommand } from "./args.ts";
import { formatBytes } from "./progress.ts";
import { safeJson, terminalSafe } from "./_escape.ts";

/** The subcommands handled here (first word after `btool tracker`). */
export const ADMIN_SUBCOMMANDS: readonly string[] = ["user", "torrent-for", "unregister"];

/** Base URL used in printed announce URLs when --url is not given. */
export const DEFAULT_PUBLIC_URL = "http://127.0.0.1:6969";

/** Help for the admin subcommands (appended to `btool tracker --help`). */
export const ADMIN_HELP = `Members and registry (on the same --db, also while the tracker runs):
  btool tracker user add NAME [--url URL]     add a member; prints their announce URL (URL: the tracker's
                                             public base, default ${DEFAULT_PUBLIC_URL})
  btool tracker user list [--json]            members with status and uploaded/downloaded totals
  btool tracker user revoke NAME              the member's passkey stops working at once
  btool tracker user rotate NAME [--url URL]  a new passkey; the old one stops working
  btool tracker torrent-for NAME FILE.torrent -o OUT [--url URL]
                                             the member's copy: passkey in announce, info hash unchanged
  btool tracker unregister INFOHASH           stop tracking a registered torrent (--listed answers
                                             "unregistered torrent")`;

/** Run an admin subcommand; `argv` starts with the subcommand word. */
export async function runAdmin(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    db: { type: "string", default: "btool-tracker.db" },
    url: { type: "string" },
    output: { type: "string", short: "o" },
    json: { type: "boolean", default: false },
  });
  const [command, ...rest] = positionals;
  const db = TrackerDb.open(values.db);
  try {
    const users = new Users(db);
    const now = Date.now();
    switch (command) {
      case "user":
        return runUser(users, rest, { url: values.url, isJson: values.json, now });
      case "torrent-for": {
        const [name, file] = rest;
        if (name === undefined || file === undefined || rest.length !== 2) {
          throw new UsageError("Usage: btool tracker torrent-for NAME FILE.torrent -o OUT");
        }
        if (values.output === undefined) throw new UsageError("Missing -o OUT");
        const user = activeUser(users, name);
        const bytes = await readFile(file);
        const meta = await parseMetainfo(bytes);
        const base = values.url ?? meta.announce ?? DEFAULT_PUBLIC_URL;
        const url = memberAnnounceUrl(base, user.passkeyHex);
        await Deno.writeFile(values.output, personalizeTorrent(bytes, url));
        console.log(terminalSafe(`${values.output}: ${meta.name} for ${name} (info hash ${meta.infoHash.hex})`));
        return 0;
      }
      case "unregister": {
        const [hex] = rest;
        if (hex === undefined || rest.length !== 1) throw new UsageError("Usage: btool tracker unregister INFOHASH");
        const wasRegistered = new Registry(db).unregister(hex);
        console.log(wasRegistered ? `unregistered ${hex.toLowerCase()}` : `${hex.toLowerCase()} was not registered`);
        return 0;
      }
      default:
        throw new UsageError(`Unknown tracker subcommand "${command ?? ""}"`);
    }
  } finally {
    db.close();
  }
}

function runUser(
  users: Users,
  args: string[],
  o: { url: string | undefined; isJson: boolean; now: number },
): number {
  const [action, name] = args;
  const base = o.url ?? DEFAULT_PUBLIC_URL;
  const needName = (): string => {
    if (name === undefined || args.length !== 2) throw new UsageError(`Usage: btool tracker user ${action} NAME`);
    return name;
  };
  switch (action) {
    case "add": {
      const user = users.add(needName(), o.now);
      console.log(terminalSafe(`added ${user.name}; announce URL (give it only to them):`));
      console.log(memberAnnounceUrl(base, user.passkeyHex));
      return 0;
    }
    case "rotate": {
      const user = users.rotate(needName(), o.now);
      console.log(terminalSafe(`rotated ${user.name}; new announce URL (the old one stops working):`));
      console.log(memberAnnounceUrl(base, user.passkeyHex));
      return 0;
    }
    case "revoke": {
      const n = needName();
      console.log(terminalSafe(users.revoke(n, o.now) ? `revoked ${n}` : `${n} was already revoked`));
      return 0;
    }
    case "list": {
      if (args.length !== 1) throw new UsageError("Usage: btool tracker user list [--json]");
      const list = users.list();
      if (o.isJson) {
        console.log(safeJson(list.map(publicUser), 2));
        return 0;
      }
      if (list.length === 0) console.log("no users");
      for (const u of list) {
        const status = u.revokedMs === null ? "active " : "revoked";
        console.log(
          `${terminalSafe(u.name).padEnd(24)} ${status}  up ${formatBytes(u.uploaded).padStart(10)}  down ${
            formatBytes(u.downloaded).padStart(10)
          }  since ${new Date(u.createdMs).toISOString().slice(0, 10)}`,
        );
      }
      return 0;
    }
    default:
      throw new UsageError(`Unknown user action "${action ?? ""}": use add, list, revoke or rotate`);
  }
}

/** A user without the passkey (list output may end up in logs). */
function publicUser(u: UserRecord) {
  return {
    name: u.name,
    isRevoked: u.revokedMs !== null,
    createdMs: u.createdMs,
    uploaded: u.uploaded,
    downloaded: u.downloaded,
  };
}

function activeUser(users: Users, name: string): UserRecord {
  const user = users.get(name);
  if (user === null) throw new BtoolError("unknown_user", `Unknown user "${name}"`);
  if (user.revokedMs !== null) throw new BtoolError("user_revoked", `User "${name}" is revoked`);
  return user;
}

async function readFile(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (err: unknown) {
    throw new BtoolError("read_failed", `Cannot read "${path}": ${errorText(err)}`, {
      cause: err,
    });
  }
}
