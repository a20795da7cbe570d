// Ingest tables: one table built from a run of sorted [key, value] pairs that the main thread
// packed (src/shard/ingest.ts), so that encoding, compressing, checksumming and writing it
// happen on a worker thread (BackgroundPool.runIngest); with the native addon, its data blocks
// are encoded from the pack in place (TableBuilder.addPackRun), else pair by pair.
//
//   pairs := (key | value)*, concatenated in `data`
//   ends  := u32 per key and per value, in the same order: the offset in `data` where it ends
//
// Every entry is a Put at the one sequence number `seq` the ingest was given: the real number,
// written into each entry as in any table (no table property stands for it). The keys are
// strictly ascending (the packer checked it); the builder checks it again.
//
// The table is complete and fsynced before this resolves; its directory entry is not: the
// caller syncs the directory once, after the last table.

import { tableFileName, ValueKind, type FileSystem, type SeqNum } from '../base/index.js';
import { tableMetaOf, type TableMeta } from '../manifest/index.js';
import { TableBuilder, type BuilderScratch, type TableBuilderOptions } from '../sstable/index.js';

/**
 * REQUIRES: `data` and `ends` each a view of a SharedArrayBuffer that nobody writes until the
 * job settles (the ingest fills it again after), or the only view of an ArrayBuffer that
 * nothing else uses (on a worker thread it is transferred: the sender's view becomes empty).
 */
export interface IngestJob {
  kind: 'ingest';
  dir: string;
  fileNumber: number;
  seq: SeqNum;
  data: Uint8Array;
  ends: Uint32Array;
  builder: TableBuilderOptions;
}

export interface IngestResult {
  table: TableMeta;
}

/** Finished blocks are appended once this many bytes wait (as a compaction does). */
const DRAIN_BYTES = 1024 * 1024;

/** Builds the table of `job`. On failure the partial file is removed. REQUIRES: at least one pair. */
export async function buildIngestTable(job: IngestJob, fs: FileSystem, scratch?: BuilderScratch): Promise<IngestResult> {
  const path = tableFileName(job.dir, job.fileNumber);
  const builder = new TableBuilder(await fs.createWritable(path), job.builder, scratch);
  try {
    const { data, ends, seq } = job;
    if (TableBuilder.encodesPacks) {
      // Each data block encoded by the addon from the pack in place: no views, no call per pair.
      await builder.addPackRun(data, ends, seq, DRAIN_BYTES);
    } else {
      let at = 0;
      for (let i = 0; i + 1 < ends.length; i += 2) {
        const keyEnd = ends[i]!;
        const valueEnd = ends[i + 1]!;
        builder.add(data.subarray(at, keyEnd), seq, ValueKind.Put, data.subarray(keyEnd, valueEnd));
        at = valueEnd;
        if (builder.pendingBytes >= DRAIN_BYTES) await builder.drain();
      }
    }
    const built = await builder.finish();
    return { table: tableMetaOf(job.fileNumber, built) };
  } catch (err) {
    await builder.abandon().catch(() => {});
    await fs.unlink(path).catch(() => {});
    throw err;
  }
}
