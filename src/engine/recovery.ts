// Recovery: bring back what the WALs hold that no table covers.
//
// The WALs numbered at or above the MANIFEST's log number are replayed in order into
// memtables. The newest that holds a record may end in a torn tail (the writer died
// mid-append: that write was never acknowledged; or preallocated zeros follow its last
// record). WALs after it that hold no record come from an open cut short after it created its
// fresh WAL and before its MANIFEST named it: the WAL it had replayed is still the newest that
// matters, torn tail and all. Replayed memtables are written to level-0 tables by the caller,
// which then starts a fresh WAL: nothing is ever appended after a torn tail.
//
// Older WALs: where each was synced whole when the next one started (a shard of several),
// any damage in them is corruption. Where a WAL may have been rotated out unsynced
// (`olderLogsUnsynced`: an engine alone, WalSet's deferSync), an older WAL is known to be
// whole only below the newest WAL that holds a LogsSynced record (written only after every
// older WAL was synced). A WAL at or above it may have been cut short by a power cut while a
// newer WAL kept later writes, which must then not count: where such a WAL ends torn, or the
// next WAL's first batch does not follow its last one (cut at a record boundary: the gap rule),
// replay stops there — that WAL's intact records are the last replayed — and the newer WALs
// are dropped (`dropped`; the caller deletes them before it writes anything). No write
// acknowledged as synced is lost that way: a synced write syncs every older WAL first, and
// then its WAL holds a LogsSynced record before it. In 'strict' mode such a cut is refused
// as corruption, as a torn tail of the newest WAL is.
//
// What a record means is the caller's rules (WalRecordRules): an engine alone replays plain
// batches and needs sequence numbers to run on without a gap; a shard of a sharded database
// also holds the Prepare and Commit records of batches that span shards
// (two-phase-participant.ts gives its rules).

import { corruption, decodeBatch, StrataError, type DecodedBatch, type SeqNum } from '../base/index.js';
import { Memtable } from '../memtable/index.js';
import { readLog, RecordType, WAL_ALLOCATION_UNIT, type LogRecord, type WalSet } from '../wal/index.js';
import type { WalRecoveryMode } from './options.js';

export interface ReplayResult {
  /** Full memtables in replay order, the last one possibly below budget. */
  memtables: Memtable[];
  lastSeq: SeqNum;
  /** WALs not replayed because an older one was cut short by a power cut, ascending. */
  dropped: number[];
  /** Whether a replayed WAL holds a LogsSynced record: every older WAL was synced whole. */
  marked: boolean;
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
    /** Older WALs may have been rotated out unsynced (WalSet's deferSync). */
    olderLogsUnsynced?: boolean;
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
    if (readLog(bytes, file, { mode: 'salvage', onSkipped: () => {}, allocationUnit: WAL_ALLOCATION_UNIT }).records.length > 0) break;
    newestWithRecords--;
  }
  // WALs below index `wholeBelow` are known to be whole: a newer one holds a LogsSynced record.
  let wholeBelow = walNumbers.length;
  if (options.olderLogsUnsynced) {
    wholeBelow = 0;
    for (let i = walNumbers.length - 1; i > 0; i--) {
      const bytes = readAhead.get(i) ?? (await wals.read(walNumbers[i]!));
      readAhead.set(i, bytes);
      const { records } = readLog(bytes, wals.path(walNumbers[i]!), { mode: 'salvage', onSkipped: () => {}, allocationUnit: WAL_ALLOCATION_UNIT });
      if (records.some((r) => r.type === RecordType.LogsSynced)) {
        wholeBelow = i;
        break;
      }
    }
  }
  /** Whether the WAL of the last batch replayed, or one after it, may have been cut short by a power cut. */
  let previousMayBeCut = false;
  let dropFrom: number | undefined;
  let marked = wholeBelow > 0 && wholeBelow < walNumbers.length;
  for (let i = 0; i < walNumbers.length && dropFrom === undefined; i++) {
    const file = wals.path(walNumbers[i]!);
    const newest = i >= newestWithRecords;
    const mayBeCut = !newest && i >= wholeBelow && options.mode !== 'strict';
    const mode = options.mode === 'tolerate-tail' && !newest && !mayBeCut ? 'strict' : options.mode;
    let firstBatch = true;
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
      allocationUnit: WAL_ALLOCATION_UNIT,
    });
    let previousOffset = -1;
    for (const record of records) {
      if (record.type === RecordType.LogsSynced) {
        marked = true;
        continue;
      }
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
      if (what !== undefined && firstBatch && previousMayBeCut) {
        // The WAL of the batch before lost its last records to a power cut (at a record
        // boundary), and this one kept later writes: they must not count.
        dropFrom = i;
        break;
      }
      firstBatch = false;
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
    if (dropFrom !== undefined) break;
    previousMayBeCut = firstBatch ? previousMayBeCut || mayBeCut : mayBeCut;
    if (skips.some((o) => o > previousOffset)) skippedSinceLast = true;
    if (tornTail && mayBeCut) {
      // A power cut took this WAL's tail (no newer WAL says it was synced): replay ends here.
      dropFrom = i + 1;
      break;
    }
    if (tornTail && !newest) {
      // Only salvage gets here (strict refuses a torn tail): an older WAL was synced whole
      // before the next one started, so its lost tail held acknowledged writes. Say so.
      onSkip?.(file, endOffset, bytes.length - endOffset, 'an older WAL ends torn: acknowledged writes were lost');
      skippedSinceLast = true;
    }
  }
  if (mem.entryCount > 0) memtables.push(mem);
  return { memtables, lastSeq, dropped: dropFrom === undefined ? [] : walNumbers.slice(dropFrom), marked };
}

/**
 * Of the retained WALs (released: below the MANIFEST's log number, kept only for the change
 * feed; ascending), the ones to delete because a power cut may have cut one short: the newest
 * that ends torn and every older one, so that the feed's retained history starts after the
 * damage instead of skipping what the cut took (their writes are in tables). Only WALs that
 * may have been rotated out unsynced are looked at: none below `syncedBelow` (the log the
 * current MANIFEST's open started: that open synced every log before it, syncAllStored, before
 * the MANIFEST named it; a log a crash left ending in its preallocated zeros is one of them),
 * none below a WAL holding a LogsSynced record, none when `marked` (a newer WAL, replayed,
 * holds one). A WAL cut at a record boundary is not seen here (sequence numbers may
 * legitimately jump between retained WALs: ingested tables take some); with preallocation a
 * lost tail reads as zeros, a torn tail.
 */
export async function cutRetainedWals(wals: WalSet, retained: readonly number[], marked: boolean, syncedBelow: number): Promise<number[]> {
  if (marked) return [];
  for (let i = retained.length - 1; i >= 0; i--) {
    const n = retained[i]!;
    if (n < syncedBelow) return [];
    let read;
    try {
      read = readLog(await wals.read(n), wals.path(n), { mode: 'tolerate-tail', allocationUnit: WAL_ALLOCATION_UNIT });
    } catch (err) {
      if (err instanceof StrataError && (err.code === 'CORRUPTION' || err.code === 'NOT_SUPPORTED')) return []; // the feed reports it when it reads there
      throw err;
    }
    if (read.tornTail) return retained.slice(0, i + 1);
    if (read.records.some((r) => r.type === RecordType.LogsSynced)) return [];
  }
  return [];
}
