// Recovery: bring back what the WALs hold that no table covers.
//
// The WALs numbered at or above the MANIFEST's log number are replayed in order into
// memtables. Only the newest may end in a torn tail (the writer died mid-append: that write
// was never acknowledged); older WALs were synced and closed when the next one started, so
// any damage in them is corruption. Replayed memtables are written to level-0 tables by the
// caller, which then starts a fresh WAL: nothing is ever appended after a torn tail.

import {
  corruption,
  decodeBatch,
  StrataError,
  walFileName,
  type FileSystem,
  type SeqNum,
} from '../base/index.js';
import { Memtable } from '../memtable/index.js';
import { readLog, RecordType } from '../wal/index.js';
import type { WalRecoveryMode } from './options.js';

export interface ReplayResult {
  /** Full memtables in replay order, the last one possibly below budget. */
  memtables: Memtable[];
  lastSeq: SeqNum;
}

export async function replayWals(
  fs: FileSystem,
  dir: string,
  walNumbers: readonly number[],
  options: {
    mode: WalRecoveryMode;
    memtableBytes: number;
    lastSeq: SeqNum;
    onSkip: ((file: string, offset: number, bytes: number, reason: string) => void) | undefined;
  },
): Promise<ReplayResult> {
  const memtables: Memtable[] = [];
  let mem = new Memtable();
  let lastSeq = options.lastSeq;
  let expectedSeq: SeqNum | undefined;
  /** Whether salvage reported a skip after the last record replayed (in an earlier WAL). */
  let skippedSinceLast = false;
  for (let i = 0; i < walNumbers.length; i++) {
    const file = walFileName(dir, walNumbers[i]!);
    const newest = i === walNumbers.length - 1;
    const mode = options.mode === 'tolerate-tail' && !newest ? 'strict' : options.mode;
    const onSkip = options.onSkip;
    /** Offsets of the ranges salvage skipped in this file, in order. */
    const skips: number[] = [];
    const bytes = await fs.readFile(file);
    const { records, tornTail, endOffset } = readLog(bytes, file, {
      mode,
      onSkipped: (offset: number, bytes: number, reason: string) => {
        skips.push(offset);
        onSkip?.(file, offset, bytes, reason);
      },
    });
    let previousOffset = -1;
    for (const record of records) {
      const skippedBefore = skippedSinceLast || skips.some((o) => o > previousOffset && o < record.offset);
      skippedSinceLast = false;
      previousOffset = record.offset;
      if (record.type !== RecordType.Batch) throw corruption(file, record.offset, `record type ${record.type} in a WAL`);
      let batch;
      try {
        batch = decodeBatch(record.payload);
      } catch (err) {
        if (err instanceof StrataError && err.code === 'CORRUPTION') {
          if (options.mode === 'salvage') {
            onSkip?.(file, record.offset, record.payload.length, err.message);
            skippedSinceLast = true;
            continue;
          }
          throw corruption(file, record.offset, err.message);
        }
        throw err;
      }
      // Sequence numbers run on without a gap from record to record, across WALs too: a gap
      // means records were lost (an older WAL cut at a record boundary looks whole otherwise).
      if (expectedSeq !== undefined && batch.firstSeq !== expectedSeq) {
        const what = `sequence ${batch.firstSeq} follows ${expectedSeq - 1}: records before this one are missing`;
        if (options.mode !== 'salvage') throw corruption(file, record.offset, what);
        if (!skippedBefore) onSkip?.(file, record.offset, 0, what);
      }
      expectedSeq = batch.firstSeq + batch.entries.length;
      batch.entries.forEach((e, j) => {
        const seq = batch.firstSeq + j;
        mem.add(seq, e.kind, e.key, e.value);
        if (seq > lastSeq) lastSeq = seq;
      });
      if (mem.approximateBytes >= options.memtableBytes) {
        mem.markImmutable();
        memtables.push(mem);
        mem = new Memtable();
      }
    }
    if (skips.some((o) => o > previousOffset)) skippedSinceLast = true;
    if (tornTail && !newest) {
      // Only salvage gets here (strict refuses a torn tail): an older WAL was synced whole
      // before the next one started, so its lost tail held acknowledged writes. Say so.
      onSkip?.(file, endOffset, bytes.length - endOffset, 'an older WAL ends torn: acknowledged writes were lost');
      skippedSinceLast = true;
    }
  }
  if (mem.entryCount > 0) memtables.push(mem);
  return { memtables, lastSeq };
}
