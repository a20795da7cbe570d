// Recovery: bring back what the WALs hold that no table covers.
//
// The WALs numbered at or above the MANIFEST's log number are replayed in order into
// memtables. Only the newest that holds a record may end in a torn tail (the writer died
// mid-append: that write was never acknowledged; or preallocated zeros follow its last
// record); older WALs were synced and closed when the next one started, so any damage in
// them is corruption. WALs after it that hold no record come from an open cut short after
// it created its fresh WAL and before its MANIFEST named it: the WAL it had replayed is still
// the newest that matters, torn tail and all. Replayed memtables are written to level-0 tables by the
// caller, which then starts a fresh WAL: nothing is ever appended after a torn tail.
//
// What a record means is the caller's rules (WalRecordRules): an engine alone replays plain
// batches and needs sequence numbers to run on without a gap; a shard of a sharded database
// also holds the Prepare and Commit records of batches that span shards
// (two-phase-participant.ts gives its rules).

import { corruption, decodeBatch, StrataError, type DecodedBatch, type SeqNum } from '../base/index.js';
import { Memtable } from '../memtable/index.js';
import { readLog, RecordType, type LogRecord, type WalSet } from '../wal/index.js';
import type { WalRecoveryMode } from './options.js';

export interface ReplayResult {
  /** Full memtables in replay order, the last one possibly below budget. */
  memtables: Memtable[];
  lastSeq: SeqNum;
}

/** What the replay makes of the records of an engine's WALs. */
export interface WalRecordRules {
  /** Whether records of `type` belong in these WALs; any other type is CORRUPTION, in every mode. */
  accepts(type: number): boolean;
  /** The batch `record` replays, or undefined for none. Throws CORRUPTION when malformed. */
  batchOf(record: LogRecord): DecodedBatch | undefined;
  /** Why a batch at `firstSeq` may not follow one that ended at `expectedSeq - 1`, or undefined. */
  gap(firstSeq: SeqNum, expectedSeq: SeqNum): string | undefined;
}

/**
 * The rules of an engine alone: plain batches, whose sequence numbers run on without a gap
 * from record to record, across WALs too: a gap means records were lost (an older WAL cut at
 * a record boundary looks whole otherwise).
 */
export const plainBatches: WalRecordRules = {
  accepts: (type) => type === RecordType.Batch,
  batchOf: (record) => decodeBatch(record.payload),
  gap: (firstSeq, expectedSeq) =>
    firstSeq !== expectedSeq ? `sequence ${firstSeq} follows ${expectedSeq - 1}: records before this one are missing` : undefined,
};

export async function replayWals(
  wals: WalSet,
  walNumbers: readonly number[],
  options: {
    mode: WalRecoveryMode;
    memtableBytes: number;
    lastSeq: SeqNum;
    onSkip: ((file: string, offset: number, bytes: number, reason: string) => void) | undefined;
    rules: WalRecordRules;
  },
): Promise<ReplayResult> {
  const rules = options.rules;
  const memtables: Memtable[] = [];
  let mem = new Memtable();
  let lastSeq = options.lastSeq;
  let expectedSeq: SeqNum | undefined;
  /** Whether salvage reported a skip after the last record replayed (in an earlier WAL). */
  let skippedSinceLast = false;
  /** The trailing WALs read to find the newest holding a record, kept for the replay. */
  const readAhead = new Map<number, Uint8Array>();
  let newestWithRecords = walNumbers.length - 1;
  while (newestWithRecords > 0) {
    const n = walNumbers[newestWithRecords]!;
    const file = wals.path(n);
    const bytes = await wals.read(n);
    readAhead.set(newestWithRecords, bytes);
    if (readLog(bytes, file, { mode: 'salvage', onSkipped: () => {} }).records.length > 0) break;
    newestWithRecords--;
  }
  for (let i = 0; i < walNumbers.length; i++) {
    const file = wals.path(walNumbers[i]!);
    const newest = i >= newestWithRecords;
    const mode = options.mode === 'tolerate-tail' && !newest ? 'strict' : options.mode;
    const onSkip = options.onSkip;
    /** Offsets of the ranges salvage skipped in this file, in order. */
    const skips: number[] = [];
    const bytes = readAhead.get(i) ?? (await wals.read(walNumbers[i]!));
    readAhead.delete(i);
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
      if (!rules.accepts(record.type)) throw corruption(file, record.offset, `record type ${record.type} in a WAL`);
      let batch;
      try {
        batch = rules.batchOf(record);
        if (batch === undefined) continue;
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
      const what = expectedSeq === undefined ? undefined : rules.gap(batch.firstSeq, expectedSeq);
      if (what !== undefined) {
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
