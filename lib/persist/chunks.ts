// Chunked generations: a table of opaque binary chunks written as numbered generations, one chunk per transaction
// (so a writer can yield to the event loop between them), made current by one small transaction that names the
// generation in a setting. Until then the previous generation stays current; a crash mid-way leaves chunks of a
// generation that never became current, which `prune` deletes like the previous generation's after a commit.
// Shared by the swarm snapshot (swarm_snapshot.ts) and member accounting (accounting.ts) through `ChunkStore`.

import { PersistError, type SqlContext } from "./_sql.ts";

/** Which table holds a kind of generation, and which setting names the current one. */
export interface ChunkTableSpec {
  /** Table with columns (generation, seq, records), created by a migration. */
  table: string;
  generationKey: string;
  /** For error messages, e.g. "swarm snapshot". */
  what: string;
}

/** The current generation: its chunks in order, read one at a time. */
export interface CurrentGeneration {
  generation: number;
  chunkCount: number;
  /** Valid while the db is open and this generation is current. */
  chunks(): Iterable<Uint8Array>;
}

/** One kind of chunked generation of one open TrackerDb. At most one generation is being written at a time. */
export class ChunkGenerations {
  readonly #sql: SqlContext;
  readonly #spec: ChunkTableSpec;
  /** The generation being written (begun, not yet committed), or -1. */
  #writing = -1;
  /** The last generation begun, so that a begin that wrote nothing is still abandoned by the next. */
  #lastBegun = -1;

  constructor(sql: SqlContext, spec: ChunkTableSpec) {
    this.#sql = sql;
    this.#spec = spec;
  }

  /** Start a new generation and return its number; beginning another abandons this one. */
  begin(): number {
    const row = this.#sql.stmt(`SELECT max(generation) AS g FROM ${this.#spec.table}`).get();
    this.#writing = Math.max((row?.g as number | null) ?? 0, this.#current(), this.#lastBegun) + 1;
    this.#lastBegun = this.#writing;
    return this.#writing;
  }

  /**
   * Store chunk `seq` of the generation being written (its own transaction; the bytes are copied).
   * @throws {PersistError} `generation_abandoned` (another generation was begun since), `db_busy`, `write_failed`
   */
  write(generation: number, seq: number, records: Uint8Array): void {
    this.#checkWriting(generation);
    this.#sql.transaction(() => {
      this.#sql.stmt(`INSERT INTO ${this.#spec.table} (generation, seq, records) VALUES (?, ?, ?)`)
        .run(generation, seq, records);
    });
  }

  /**
   * Make `generation` current in one transaction, with whatever else `alsoInside` writes.
   * @throws {PersistError} `generation_abandoned`, `db_busy`, `write_failed`
   */
  commit(generation: number, alsoInside: () => void): void {
    this.#checkWriting(generation);
    this.#sql.transaction(() => {
      this.#sql.setSettingInside(this.#spec.generationKey, String(generation));
      alsoInside();
    });
    this.#writing = -1;
  }

  /**
   * Delete up to `maxChunks` chunks of generations that are neither current nor being written. One transaction.
   * @returns chunks deleted (fewer than `maxChunks`: nothing is left to prune)
   */
  prune(maxChunks: number): number {
    const table = this.#spec.table;
    return this.#sql.transaction(() =>
      this.#sql.stmt(
        `DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE generation NOT IN (?, ?) LIMIT ?)`,
      ).run(this.#current(), this.#writing, maxChunks).changes as number
    );
  }

  /** The current generation, or null when none was committed. */
  load(): CurrentGeneration | null {
    const generation = this.#current();
    if (generation < 0) return null;
    const table = this.#spec.table;
    const seqs = this.#sql.stmt(`SELECT seq FROM ${table} WHERE generation = ? ORDER BY seq`).all(generation)
      .map((r) => r.seq as number);
    const read = this.#sql.stmt(`SELECT records FROM ${table} WHERE generation = ? AND seq = ?`);
    return {
      generation,
      chunkCount: seqs.length,
      *chunks(): Iterable<Uint8Array> {
        for (const seq of seqs) {
          const row = read.get(generation, seq);
          if (row !== undefined) yield row.records as Uint8Array;
        }
      },
    };
  }

  #current(): number {
    const value = this.#sql.getSetting(this.#spec.generationKey);
    return value === null ? -1 : Number(value);
  }

  #checkWriting(generation: number): void {
    if (this.#writing !== generation) {
      throw new PersistError(
        "generation_abandoned",
        `Cannot write ${this.#spec.what} generation "${generation}": it is not the one being written`,
      );
    }
  }
}

/**
 * One kind of chunked generation with settings of its own beside the current one: begin/write/prune as
 * `ChunkGenerations`; `commit` writes the kind's settings in the committing transaction and `load` reads them back.
 */
export abstract class ChunkStore<Meta, Loaded> {
  protected readonly sql: SqlContext;
  readonly #chunks: ChunkGenerations;

  constructor(sql: SqlContext, spec: ChunkTableSpec) {
    this.sql = sql;
    this.#chunks = new ChunkGenerations(sql, spec);
  }

  /** Writes the kind's own rows and settings inside the committing transaction. */
  protected abstract commitInside(meta: Meta): void;
  /** Reads the kind's own settings of the current generation. */
  protected abstract loadInside(): Loaded;

  /** See `ChunkGenerations.begin`. */
  begin(): number {
    return this.#chunks.begin();
  }

  /** See `ChunkGenerations.write`. */
  write(generation: number, seq: number, records: Uint8Array): void {
    this.#chunks.write(generation, seq, records);
  }

  /** See `ChunkGenerations.commit`; `meta` is written in the same transaction. */
  commit(generation: number, meta: Meta): void {
    this.#chunks.commit(generation, () => this.commitInside(meta));
  }

  /** See `ChunkGenerations.prune`. */
  prune(maxChunks: number): number {
    return this.#chunks.prune(maxChunks);
  }

  /** The current generation with the kind's settings, or null when none was committed. */
  load(): (CurrentGeneration & Loaded) | null {
    const current = this.#chunks.load();
    if (current === null) return null;
    return {
      generation: current.generation,
      chunkCount: current.chunkCount,
      chunks: () => current.chunks(),
      ...this.loadInside(),
    };
  }
}
