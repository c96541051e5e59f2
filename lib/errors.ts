// Owns the BtoolError hierarchy: every error btool throws has a stable `code` and its context.
// Imported by any module; imports nothing.

/** Base class of every error btool throws. Tests assert `code`, never the message text. */
export class BtoolError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/** Malformed bencode: `offset` is the byte offset, `path` the key path to the value being decoded. */
export class BencodeError extends BtoolError {
  readonly offset: number;
  readonly path: string;
  constructor(code: string, message: string, options: { offset: number; path: string; cause?: unknown }) {
    super(code, message, options);
    this.offset = options.offset;
    this.path = options.path;
  }
}

/** An invalid .torrent file: `field` names the offending key. */
export class MetainfoError extends BtoolError {
  readonly field: string;
  constructor(code: string, message: string, options: { field: string; cause?: unknown }) {
    super(code, message, options);
    this.field = options.field;
  }
}

/** A tracker request we refuse: `reason` is safe to send to the client as `failure reason`. */
export class TrackerError extends BtoolError {
  readonly reason: string;
  constructor(code: string, reason: string, options?: { cause?: unknown }) {
    super(code, reason, options);
    this.reason = reason;
  }
}

/** A peer broke the wire protocol: drop this one connection. */
export class WireError extends BtoolError {}

/** Reading or writing torrent data failed. */
export class StorageError extends BtoolError {}

/** A torrent cannot be made from this input or with these options (`btool create`, lib/create.ts). */
export class CreateError extends BtoolError {}

/** Bad command line: the CLI prints the subcommand's help and exits 2. */
export class UsageError extends BtoolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("usage", message, options);
  }
}

/** The message of a caught value, for warnings and CLI output (never for clients: see TrackerError.reason). */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
