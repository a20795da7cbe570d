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
// A shard of a sharded database also holds the Prepare and Commit records of batches that
// span shards (two-phase-format.ts). Its replay first scans its WALs, the obsolete ones not
// yet deleted included, for them and asks the database (`twoPhase.decide`) which batches
// committed (src/shard/recovery-coordinator.ts says how it decides). A prepared batch is
// replayed only if it committed, in every shard or in none. In a shard, sequence numbers
// rise from record to record but skip the numbers other shards took, so there the gap
// check can only ask that they rise.

import { corruption, decodeBatch, StrataError, type SeqNum } from '../base/index.js';
import { Memtable } from '../memtable/index.js';
import { readLog, RecordType, type WalSet } from '../wal/index.js';
import type { WalRecoveryMode } from './options.js';
import { decodeCommit, decodePrepare } from './two-phase-format.js';

export interface ReplayResult {
  /** Full memtables in replay order, the last one possibly below budget. */
  memtables: Memtable[];
  lastSeq: SeqNum;
}

/** What a shard's WALs say about batches that span shards. */
export interface TwoPhaseScan {
  /** Batches with a Prepare record in a live WAL, each with its participant shards. */
  prepared: Map<SeqNum, number[]>;
  /** Batches with a Commit record in any WAL still on disk. */
  committed: Set<SeqNum>;
  /** The largest sequence number any live record holds, committed or not. */
  maxSeq: SeqNum;
  /** The MANIFEST's last sequence: every record at or below it is in a table, its WAL gone. */
  flushedSeq: SeqNum;
}

export interface TwoPhaseRecovery {
  /** WALs below the log number that are still on disk: scanned for Commit records only. */
  obsoleteWals: readonly number[];
  /** Given this shard's scan, resolves to every batch that committed in any shard. */
  decide(scan: TwoPhaseScan): Promise<ReadonlySet<SeqNum>>;
}

async function scanTwoPhase(
  wals: WalSet,
  walNumbers: readonly number[],
  twoPhase: TwoPhaseRecovery,
  flushedSeq: SeqNum,
): Promise<TwoPhaseScan> {
  const scan: TwoPhaseScan = { prepared: new Map(), committed: new Set(), maxSeq: 0, flushedSeq };
  const visit = (bytes: Uint8Array, file: string, live: boolean) => {
    for (const record of readLog(bytes, file, { mode: 'salvage', onSkipped: () => {} }).records) {
      try {
        if (record.type === RecordType.Commit) scan.committed.add(decodeCommit(record.payload));
        else if (!live) continue;
        else if (record.type === RecordType.Prepare) {
          const { txn, participants, batch } = decodePrepare(record.payload);
          scan.prepared.set(txn, participants);
          scan.maxSeq = Math.max(scan.maxSeq, batch.firstSeq + batch.entries.length - 1);
        } else if (record.type === RecordType.Batch) {
          const batch = decodeBatch(record.payload);
          scan.maxSeq = Math.max(scan.maxSeq, batch.firstSeq + batch.entries.length - 1);
        }
      } catch {
        // A damaged record is the replay's to report, in the mode the user chose.
      }
    }
  };
  for (const n of twoPhase.obsoleteWals) {
    const file = wals.path(n);
    const bytes = await wals.read(n).catch(() => undefined);
    if (bytes) visit(bytes, file, false);
  }
  for (const n of walNumbers) {
    const file = wals.path(n);
    // What the last run wrote may still be only in the page cache (a process crash). Another
    // shard may make its part of a batch permanent as soon as this open decides; this shard's
    // part must then survive a power cut too, as the Prepare it will be replayed from.
    await wals.syncStored(n);
    visit(await wals.read(n), file, true);
  }
  return scan;
}

export async function replayWals(
  wals: WalSet,
  walNumbers: readonly number[],
  options: {
    mode: WalRecoveryMode;
    memtableBytes: number;
    lastSeq: SeqNum;
    onSkip: ((file: string, offset: number, bytes: number, reason: string) => void) | undefined;
    twoPhase: TwoPhaseRecovery | undefined;
  },
): Promise<ReplayResult> {
  const twoPhase = options.twoPhase;
  let committed: ReadonlySet<SeqNum> = new Set();
  if (twoPhase) {
    const scan = await scanTwoPhase(wals, walNumbers, twoPhase, options.lastSeq);
    committed = await twoPhase.decide(scan);
  }
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
      const twoPhaseRecord = twoPhase !== undefined && (record.type === RecordType.Prepare || record.type === RecordType.Commit);
      if (record.type !== RecordType.Batch && !twoPhaseRecord) throw corruption(file, record.offset, `record type ${record.type} in a WAL`);
      let batch;
      try {
        if (record.type === RecordType.Commit) {
          decodeCommit(record.payload);
          continue;
        }
        if (record.type === RecordType.Prepare) {
          const prepare = decodePrepare(record.payload);
          if (!committed.has(prepare.txn)) continue;
          batch = prepare.batch;
        } else batch = decodeBatch(record.payload);
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
      // A shard's numbers skip those other shards took: there they must only rise.
      const gap = twoPhase ? batch.firstSeq < expectedSeq! : batch.firstSeq !== expectedSeq;
      if (expectedSeq !== undefined && gap) {
        const what = twoPhase
          ? `sequence ${batch.firstSeq} follows ${expectedSeq - 1}: sequence numbers must rise`
          : `sequence ${batch.firstSeq} follows ${expectedSeq - 1}: records before this one are missing`;
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
