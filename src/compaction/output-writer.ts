// The output tables of a compaction (job.ts, native-merge.ts): opened lazily, cut at
// user-key boundaries, range tombstones placed, removed on failure; and how long either merge
// runs before it gives the event loop a turn.

import { compareBytes, invariant, tableFileName, tombstoneUpperKey, type FileSystem, type RangeTombstone, type SeqNum, type ValueKind } from '../base/index.js';
import type { SkipListView } from '../base/native.js';
import { tableMetaOf, type TableMeta } from '../manifest/index.js';
import { TableBuilder, type BuilderScratch } from '../sstable/index.js';
import type { CompactionJob } from './job.js';

/**
 * Finished blocks are appended once this many bytes wait in memory. Large, for throughput:
 * the event loop gets its turns by the clock (YIELD_AFTER_MS), so an append need only be big
 * enough to be worth its write. A flush drains in smaller steps because its appends are its
 * only turns (flush-job.ts, DRAIN_BYTES_FOR_LATENCY).
 */
const DRAIN_BYTES_FOR_THROUGHPUT = 1024 * 1024;

/** Longest stretch of a merge's synchronous work between two turns of the event loop (inline runs). */
export const YIELD_AFTER_MS = 4;

/**
 * The output tables of one job: opened lazily, cut at user-key boundaries outside the range
 * tombstones written to them, removed on failure. Each range tombstone goes to the output
 * being written when the entries reach its start (job.ts, rule 4).
 *
 * An output is cut before an entry that starts a user key once it is full (its estimated size
 * reaches job.targetFileBytes); the merge in the addon (native-merge.ts) makes the same cuts, in
 * the addon's encoding of its blocks (TableBuilder.addQueuedBlock), so that the two write the
 * same files.
 */
export class OutputWriter {
  readonly #job: CompactionJob;
  readonly #fs: FileSystem;
  /** Range tombstones still to write, by start. */
  readonly #tombstones: RangeTombstone[];
  #nextTombstone = 0;
  /** The largest upper key (tombstoneUpperKey) of the current output's tombstones: no cut at or below it. */
  #coveredUntil: Uint8Array | undefined;
  readonly #finished: TableMeta[] = [];
  /** Every output file created, finished or not: what abandon() removes. */
  readonly #created: string[] = [];
  #builder: TableBuilder | undefined;
  #fileNumber = 0;
  readonly #scratch: BuilderScratch | undefined;

  constructor(job: CompactionJob, fs: FileSystem, tombstones: readonly RangeTombstone[], scratch: BuilderScratch | undefined) {
    this.#job = job;
    this.#fs = fs;
    this.#scratch = scratch;
    this.#tombstones = [...tombstones].sort((a, b) => compareBytes(a.start, b.start));
  }

  /**
   * Adds an entry to the current output, first cutting it when it is full and `newUserKey`
   * says the entry starts a user key (so no key's versions straddle two files). Returns a
   * promise only when there is file work to wait for: most entries cost no await. The caller
   * keeps the cursor still until that promise settles (`key` and `value` are its views).
   */
  add(key: Uint8Array, seq: SeqNum, kind: ValueKind, value: Uint8Array, newUserKey: boolean): Promise<void> | undefined {
    const builder = this.#builder;
    if (builder !== undefined) this.#placeTombstones(builder, key);
    const full = newUserKey && builder !== undefined && builder.estimatedFileBytes >= this.#job.targetFileBytes;
    if (builder === undefined || (full && (this.#coveredUntil === undefined || compareBytes(key, this.#coveredUntil) > 0))) {
      return this.#addToNext(key, seq, kind, value);
    }
    builder.add(key, seq, kind, value);
    return builder.pendingBytes >= DRAIN_BYTES_FOR_THROUGHPUT ? builder.drain() : undefined;
  }

  /**
   * Adds one data block encoded from a merge queue (TableBuilder.addQueuedBlock: entries 0 on,
   * the first one's key `firstKey`), cut into outputs as add() would cut them. Returns how
   * many of the queue's entries it took (0 when it only cut the output). REQUIRES: no range
   * tombstones to place.
   */
  async addQueuedBlock(view: SkipListView, firstKey: Uint8Array): Promise<number> {
    const builder = this.#builder ?? (await this.#open());
    const taken = builder.addQueuedBlock(view, firstKey, this.#job.targetFileBytes);
    if (builder.cutReached) await this.#finishCurrent();
    else if (builder.pendingBytes >= DRAIN_BYTES_FOR_THROUGHPUT) await builder.drain();
    return taken;
  }

  /** Finishes the last output and syncs the directory once; the outputs in key order. */
  async finish(): Promise<TableMeta[]> {
    if (this.#nextTombstone < this.#tombstones.length) this.#placeTombstones(this.#builder ?? (await this.#open()), undefined);
    if (this.#builder !== undefined) await this.#finishCurrent();
    if (this.#finished.length > 0) await this.#fs.syncDir(this.#job.dir);
    return this.#finished;
  }

  /** Closes the output being written and removes every output file created. */
  async abandon(): Promise<void> {
    const builder = this.#builder;
    this.#builder = undefined;
    await builder?.abandon().catch(() => {});
    for (const path of this.#created) await this.#fs.unlink(path).catch(() => {});
  }

  async #addToNext(key: Uint8Array, seq: SeqNum, kind: ValueKind, value: Uint8Array): Promise<void> {
    if (this.#builder !== undefined) await this.#finishCurrent();
    const builder = await this.#open();
    this.#placeTombstones(builder, key);
    builder.add(key, seq, kind, value);
  }

  /** Writes to `builder` the tombstones that start at or before `key` (all of them: undefined). */
  #placeTombstones(builder: TableBuilder, key: Uint8Array | undefined): void {
    const tombstones = this.#tombstones;
    while (this.#nextTombstone < tombstones.length) {
      const t = tombstones[this.#nextTombstone]!;
      if (key !== undefined && compareBytes(t.start, key) > 0) return;
      builder.addRangeTombstone(t);
      const upper = tombstoneUpperKey(t);
      if (this.#coveredUntil === undefined || compareBytes(upper, this.#coveredUntil) > 0) this.#coveredUntil = upper;
      this.#nextTombstone++;
    }
  }

  async #open(): Promise<TableBuilder> {
    const numbers = this.#job.outputFileNumbers;
    const n = numbers[this.#created.length];
    invariant(n !== undefined, `compaction needs more than the ${numbers.length} output file numbers reserved for it`);
    const path = tableFileName(this.#job.dir, n);
    this.#created.push(path);
    const file = await this.#fs.createWritable(path);
    let builder: TableBuilder;
    try {
      builder = new TableBuilder(file, this.#job.builder, this.#scratch);
    } catch (err) {
      await file.close().catch(() => {});
      throw err;
    }
    this.#builder = builder;
    this.#fileNumber = n;
    this.#coveredUntil = undefined;
    return builder;
  }

  async #finishCurrent(): Promise<void> {
    const builder = this.#builder!;
    const built = await builder.finish();
    this.#builder = undefined;
    this.#finished.push(tableMetaOf(this.#fileNumber, built));
  }
}
