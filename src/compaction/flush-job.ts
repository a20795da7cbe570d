// Flushes: writing a memtable (or any sorted cursor) to a new level-0 table. An immutable
// memtable crosses to a worker thread as a SharedMemtable (its memory is shared, not copied),
// so that building, compressing and writing the table stay off the main thread.
//
// The table is complete and fsynced, and its directory entry durable, before this resolves:
// only then may a MANIFEST edit name it. Every version is kept: dropping versions that no
// snapshot can see is compaction's work.

import { tableFileName, type FileSystem, type InternalIterator } from '../base/index.js';
import { tableMetaOf, type TableMeta } from '../manifest/index.js';
import { Memtable, type SharedMemtable } from '../memtable/index.js';
import { TableBuilder, type TableBuilderOptions } from '../sstable/index.js';

/**
 * Finished blocks are appended once this many bytes wait in memory. Small, for latency: each
 * append is also a turn of the event loop, which a flush on the main thread must leave often
 * (p99 delay < 20 ms), and a flush has no other point where it yields. A compaction, which
 * yields by the clock, drains in larger steps (job.ts, DRAIN_BYTES_FOR_THROUGHPUT).
 */
const DRAIN_BYTES_FOR_LATENCY = 256 * 1024;

/**
 * Writes every entry of `it` to table `fileNumber` in `dir`. Resolves to its metadata, or
 * undefined (and no file) when `it` is empty. On failure the partial file is removed.
 */
export async function writeTable(
  fs: FileSystem,
  dir: string,
  fileNumber: number,
  it: InternalIterator,
  options: TableBuilderOptions,
): Promise<TableMeta | undefined> {
  it.seekToFirst();
  if (!it.valid()) return undefined;
  const path = tableFileName(dir, fileNumber);
  const builder = new TableBuilder(await fs.createWritable(path), options);
  try {
    for (; it.valid(); it.next()) {
      builder.add(it.key(), it.seq(), it.kind(), it.value());
      if (builder.pendingBytes >= DRAIN_BYTES_FOR_LATENCY) await builder.drain();
    }
    const built = await builder.finish();
    await fs.syncDir(dir);
    return tableMetaOf(fileNumber, built);
  } catch (err) {
    await builder.abandon().catch(() => {});
    await fs.unlink(path).catch(() => {});
    throw err;
  } finally {
    it.close();
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

export async function flushMemtable(job: FlushJob, fs: FileSystem): Promise<FlushResult> {
  const table = await writeTable(fs, job.dir, job.fileNumber, Memtable.fromShared(job.memtable).iterator(), job.builder);
  return { table };
}
