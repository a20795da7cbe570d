// Flushes: writing a memtable (or any sorted cursor) to a new level-0 table. An immutable
// memtable crosses to a worker thread as a SharedMemtable (its memory is shared, not copied),
// so that building, compressing and writing the table stay off the main thread.
//
// The table is complete and fsynced, and its directory entry durable, before this resolves:
// only then may a MANIFEST edit name it. Every version is kept: dropping versions that no
// snapshot can see is compaction's work. The memtable's range tombstones go to the table's
// range-deletion block, all of them: a level-0 table's key range then spans them.

import { tableFileName, type FileSystem, type InternalIterator, type RangeTombstone } from '../base/index.js';
import { tableMetaOf, type TableMeta } from '../manifest/index.js';
import { Memtable, type SharedMemtable } from '../memtable/index.js';
import { TableBuilder, type BuilderScratch, type TableBuilderOptions } from '../sstable/index.js';

/**
 * Finished blocks are appended once this many bytes wait in memory. Small, for latency: each
 * append is also a turn of the event loop, which a flush on the main thread must leave often
 * (p99 delay < 20 ms), and a flush has no other point where it yields. A compaction, which
 * yields by the clock, drains in larger steps (job.ts, DRAIN_BYTES_FOR_THROUGHPUT).
 */
const DRAIN_BYTES_FOR_LATENCY = 256 * 1024;

/**
 * Writes every entry of `it` and every range tombstone of `rangeTombstones` to table
 * `fileNumber` in `dir`. Resolves to its metadata, or undefined (and no file) when both are
 * empty. On failure the partial file is removed.
 */
export async function writeTable(
  fs: FileSystem,
  dir: string,
  fileNumber: number,
  it: InternalIterator,
  options: TableBuilderOptions,
  rangeTombstones: readonly RangeTombstone[] = [],
  scratch?: BuilderScratch,
): Promise<TableMeta | undefined> {
  try {
    it.seekToFirst();
    if (!it.valid() && rangeTombstones.length === 0) return undefined;
    return await buildTable(fs, dir, fileNumber, options, rangeTombstones, scratch, async (builder) => {
      for (; it.valid(); it.next()) {
        builder.add(it.key(), it.seq(), it.kind(), it.value());
        if (builder.pendingBytes >= DRAIN_BYTES_FOR_LATENCY) await builder.drain();
      }
    });
  } finally {
    it.close();
  }
}

/** Table `fileNumber` in `dir` with the range tombstones and what `fill` adds; removed on failure. */
async function buildTable(
  fs: FileSystem,
  dir: string,
  fileNumber: number,
  options: TableBuilderOptions,
  rangeTombstones: readonly RangeTombstone[],
  scratch: BuilderScratch | undefined,
  fill: (builder: TableBuilder) => Promise<void>,
): Promise<TableMeta> {
  const path = tableFileName(dir, fileNumber);
  const builder = new TableBuilder(await fs.createWritable(path), options, scratch);
  try {
    for (const t of rangeTombstones) builder.addRangeTombstone(t);
    await fill(builder);
    const built = await builder.finish();
    await fs.syncDir(dir);
    return tableMetaOf(fileNumber, built);
  } catch (err) {
    await builder.abandon().catch(() => {});
    await fs.unlink(path).catch(() => {});
    throw err;
  }
}

export interface FlushJob {
  kind: 'flush';
  dir: string;
  fileNumber: number;
  memtable: SharedMemtable;
  builder: TableBuilderOptions;
}

export interface FlushResult {
  /** The new table, or undefined when the memtable was empty (no file is written). */
  table: TableMeta | undefined;
}

/** A flush in a worker (or on the main thread without workers): the memtable's table. */
export async function flushMemtable(job: FlushJob, fs: FileSystem, scratch?: BuilderScratch): Promise<FlushResult> {
  return { table: await writeMemtable(fs, job.dir, job.fileNumber, Memtable.fromShared(job.memtable), job.builder, scratch) };
}

/**
 * Writes the table of `mem` (a flush's, or one that recovery replayed a log into); undefined
 * and no file when it is empty. With the addon, its data blocks are encoded from the
 * memtable's memory in place (TableBuilder.addSkipListRun: a flush job takes about two thirds
 * of the time, so the memtable is given back sooner); without it, entry by entry through its
 * iterator. REQUIRES: `mem` is immutable (checked).
 */
export async function writeMemtable(fs: FileSystem, dir: string, fileNumber: number, mem: Memtable, options: TableBuilderOptions, scratch?: BuilderScratch): Promise<TableMeta | undefined> {
  if (!TableBuilder.encodesInPlace) return writeTable(fs, dir, fileNumber, mem.iterator(), options, mem.rangeTombstones, scratch);
  const run = mem.run();
  if (run.first === run.end && mem.rangeTombstones.length === 0) return undefined;
  return buildTable(fs, dir, fileNumber, options, mem.rangeTombstones, scratch, (builder) => builder.addSkipListRun(run, DRAIN_BYTES_FOR_LATENCY));
}
