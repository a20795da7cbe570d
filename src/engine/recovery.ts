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
import { readLogFile, RecordType } from '../wal/index.js';
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
  for (let i = 0; i < walNumbers.length; i++) {
    const file = walFileName(dir, walNumbers[i]!);
    const newest = i === walNumbers.length - 1;
    const mode = options.mode === 'tolerate-tail' && !newest ? 'strict' : options.mode;
    const onSkip = options.onSkip;
    const { records } = await readLogFile(fs, file, {
      mode,
      ...(onSkip ? { onSkipped: (offset: number, bytes: number, reason: string) => onSkip(file, offset, bytes, reason) } : {}),
    });
    for (const record of records) {
      if (record.type !== RecordType.Batch) throw corruption(file, record.offset, `record type ${record.type} in a WAL`);
      let batch;
      try {
        batch = decodeBatch(record.payload);
      } catch (err) {
        if (err instanceof StrataError && err.code === 'CORRUPTION') {
          if (options.mode === 'salvage') {
            onSkip?.(file, record.offset, record.payload.length, err.message);
            continue;
          }
          throw corruption(file, record.offset, err.message);
        }
        throw err;
      }
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
  }
  if (mem.entryCount > 0) memtables.push(mem);
  return { memtables, lastSeq };
}
