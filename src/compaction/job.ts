// Running one compaction: merge input tables, keep what some reader can still see, write the
// survivors to new tables. Runs in a worker thread (worker.ts) or inline (pool.ts); it never
// touches the MANIFEST: the main thread installs the outputs it returns.
//
// What survives. Readers see the database at a sequence number: each live snapshot or
// iterator at its own, new reads at the newest published one. These numbers, ascending, cut
// the sequence space into stripes: stripe i holds the seqs in (snapshots[i-1], snapshots[i]].
// A reader at snapshots[i] sees, for a user key, its newest version in stripes 0..i, so:
//   1. within a stripe only the newest version of a key can ever be seen: the older ones go;
//   2. a Delete that is its key's newest version in stripe 0, when no level below the output
//      holds the key, hides nothing and is seen by nobody as anything but absence: it goes.
//      The older versions in stripe 0 go with it by rule 1, so none comes back to life.
// Everything else is kept with its seq and kind, but for merge operands: a stripe's newest
// version that is a Merge is folded with the operands under it in its stripe (merge-fold.ts).
// A seq above the last snapshot (written but not yet published when the job started) gets a
// stripe of its own, so it is kept.
//
// Range tombstones (src/base/range-tombstone.ts) of the input tables:
//   3. a version covered by a tombstone of the inputs that is newer than it and in its
//      stripe is seen by nobody (every reader that sees the version sees the tombstone): it
//      goes, as the older versions of its key in that stripe do by rule 1;
//   4. a tombstone in stripe 0 over a key range that no file below the output level meets
//      has nothing older left to hide (rule 3 dropped what it covered here): it goes.
//      Every other tombstone is written, whole, to the output whose keys it meets first; an
//      output is never cut inside a tombstone written to it, so the outputs' key ranges
//      (widened to their tombstones: properties.ts) stay disjoint.
//
// Compaction filters (filters.ts), applied to each version that rule 1 keeps and rule 3 does
// not drop: a filter may make it a Delete of its key (an expired put, for the ttl filter),
// which rule 2 then treats as any Delete.
//
// Invariants of the outputs: in internal order across files; one user key's versions are
// never split between two files (a level's files then have disjoint user-key ranges); each
// file is fsynced, and the directory once after the last, before this resolves. On failure
// no output file is left behind.
//
// With the addon, the common case (no merge operator, no filter but the ttl filter, no range
// tombstones, mapped inputs) runs in C instead (native-merge.ts): the same rules, the same files.

import {
  compareBytes,
  invariant,
  loadMergeOperator,
  MAX_SEQ,
  MergingIterator,
  RangeTombstoneSet,
  tombstoneOverlaps,
  tableFileName,
  ValueKind,
  type FileSystem,
  type MergeOperatorSpec,
  type SeqNum,
} from '../base/index.js';
import { DeeperRanges } from './deeper-ranges.js';
import { MergeFold, type FoldedEntry } from './merge-fold.js';
import { compactNatively, mergesNatively } from './native-merge.js';
import { OutputWriter, YIELD_AFTER_MS } from './output-writer.js';
import type { TableMeta } from '../manifest/index.js';
import { TableReader, type BuilderScratch, type TableBuilderOptions } from '../sstable/index.js';
import { makeFilters, type CompactionFilterSpec } from './filters.js';
import { nextTurn } from '../base/loop-turns.js';

/** Everything here crosses postMessage: plain objects, arrays, numbers and Uint8Arrays only. */
export interface CompactionJob {
  /** Database directory; table n is tableFileName(dir, n). */
  dir: string;
  inputs: { level: number; fileNumbers: number[] }[];
  outputLevel: number;
  /**
   * Sequence numbers pinned by live snapshots and iterators, ascending, then (last) the newest
   * published sequence at job start. REQUIRES: not empty (checked: invariant).
   */
  snapshots: SeqNum[];
  /**
   * User-key ranges [smallest, largest], both included, of the files in the levels below
   * outputLevel: a tombstone whose key is in none of them has nothing older beneath it. Any
   * order; they may overlap.
   */
  deeperRanges: [Uint8Array, Uint8Array][];
  /** An output is cut once its estimated size reaches this, at a user-key boundary only. */
  targetFileBytes: number;
  builder: TableBuilderOptions;
  /** Compaction filters to apply (filters.ts); none when absent. */
  filters?: CompactionFilterSpec[];
  /**
   * File numbers reserved for the outputs, used in order. Running out is a bug of the caller
   * (invariant error); outputFilesToReserve() says how many to reserve.
   */
  outputFileNumbers: number[];
  /** The database's merge operator, which the worker loads to fold operands; none if it has none. */
  mergeOperator?: MergeOperatorSpec | undefined;
  /**
   * A subcompaction's key range (subcompactions.ts): only the user keys in [start, end) are
   * compacted (an undefined end is open); every key when both are absent. REQUIRES: no input
   * holds a range tombstone when either is given (checked: invariant).
   */
  start?: Uint8Array | undefined;
  end?: Uint8Array | undefined;
}

/**
 * How many output file numbers a job over `inputBytes` of tables reserves. Outputs can
 * outgrow their inputs (inputs compressed better than the builder options now say), so
 * inputBytes / targetFileBytes is not a bound: reserve plenty. Numbers left unused are simply
 * never seen again.
 */
export function outputFilesToReserve(inputBytes: number, targetFileBytes: number): number {
  return Math.ceil((8 * inputBytes) / targetFileBytes) + 4;
}

export interface CompactionResult {
  /** In key order; every file fsynced and the directory fsynced after the last. */
  outputs: TableMeta[];
  /** Sizes of the input files. */
  bytesRead: number;
  /** Sizes of the output files. */
  bytesWritten: number;
  entriesIn: number;
  entriesOut: number;
  /** Entries shadowed by a newer version of their key in their stripe (rule 1), tombstones included. */
  droppedVersions: number;
  /** Tombstones dropped because nothing older could lie beneath them (rule 2). */
  droppedTombstones: number;
  /** Versions dropped because a range tombstone covers them (rule 3). */
  droppedByRangeTombstones: number;
  /** Range tombstones dropped (rule 4). */
  droppedRangeTombstones: number;
  /** Versions each filter made deletions, by filter name (dropped, or written as a Delete). */
  filtered: Partial<Record<CompactionFilterSpec['kind'], number>>;
}

/** Entries between looks at the clock; the clock decides when to give the event loop a turn. */
const CLOCK_EVERY_ENTRIES = 64;

/**
 * Runs `job` with the files of `fs`. Resolves once every output is durable (file and
 * directory entry); rejects after removing every output it created. REQUIRES:
 * loadChecksum() has resolved; the input files stay in place until it settles.
 */
export async function compactTables(job: CompactionJob, fs: FileSystem, scratch?: BuilderScratch): Promise<CompactionResult> {
  invariant(job.snapshots.length > 0, 'a compaction job needs at least the newest published sequence in snapshots');
  for (let i = 1; i < job.snapshots.length; i++) invariant(job.snapshots[i - 1]! <= job.snapshots[i]!, 'compaction snapshots must be ascending');
  invariant(job.targetFileBytes > 0, `targetFileBytes must be positive, not ${job.targetFileBytes}`);

  const readers = openInputs(job, fs);
  try {
    if (mergesNatively(job)) {
      const result = await compactNatively(job, fs, readers, scratch);
      if (result !== undefined) return result;
    }
    return await mergeInTypeScript(job, fs, readers, scratch);
  } finally {
    for (const r of readers) r.close();
  }
}

/** compactTables's merge, in TypeScript, over the input tables `readers` (which the caller closes). */
async function mergeInTypeScript(job: CompactionJob, fs: FileSystem, readers: readonly TableReader[], scratch: BuilderScratch | undefined): Promise<CompactionResult> {
  const fold = new MergeFold(job.mergeOperator === undefined ? undefined : await loadMergeOperator(job.mergeOperator));
  // Scanners: their keys and values last until they move to another block, and the merge
  // below copies what it keeps (the key in keyBuf, operands in MergeFold).
  const iterator = new MergingIterator(readers.map((r) => r.scanner()));
  const bytesRead = readers.reduce((n, r) => n + r.fileSize, 0);
  const rangeTombstones = readers.flatMap((r) => r.rangeTombstones);
  const deeper = new DeeperRanges(job.deeperRanges);
  const covering = new RangeTombstoneSet(rangeTombstones);
  const end = job.end;
  invariant(rangeTombstones.length === 0 || (job.start === undefined && end === undefined), 'a compaction with range tombstones is not cut into key ranges');
  const keptTombstones = rangeTombstones.filter((t) => stripeOf(job.snapshots, t.seq) !== 0 || job.deeperRanges.some(([lo, hi]) => tombstoneOverlaps(t, lo, hi)));
  const output = new OutputWriter(job, fs, keptTombstones, scratch);
  const stats = {
    entriesIn: 0,
    entriesOut: 0,
    droppedVersions: 0,
    droppedTombstones: 0,
    droppedByRangeTombstones: 0,
    droppedRangeTombstones: rangeTombstones.length - keptTombstones.length,
  };
  const filters = makeFilters(job.filters ?? []);
  const filtered: CompactionResult['filtered'] = {};
  const EMPTY = new Uint8Array(0);
  try {
    // State of the user key being merged: its bytes (copied into keyBuf, reused from key to
    // key: the cursor's view moves on, and a copy per key would be an allocation per entry),
    // the stripe of its last version seen (-1: none yet), and whether a version of it went out.
    // While the cursor is on the key, the cursor's own view of it is passed on instead.
    let keyBuf = Buffer.allocUnsafe(64);
    let keyLength = -1;
    const savedKey = () => keyBuf.subarray(0, keyLength);
    let lastStripe = -1;
    let keyWritten = false;
    let sinceClock = 0;
    let lastTurn = performance.now();
    const waited = () => {
      lastTurn = performance.now();
    };
    // One entry of the current user key (`key`: its bytes) to the output. Synchronous but for
    // the file work it sometimes returns, so that most entries cost no promise.
    const emitOne = (key: Uint8Array, seq: SeqNum, kind: ValueKind, value: Uint8Array): Promise<void> | undefined => {
      const pending = output.add(key, seq, kind, value, !keyWritten);
      keyWritten = true;
      stats.entriesOut++;
      return pending?.then(waited);
    };
    const emit = async (key: Uint8Array, entries: readonly FoldedEntry[]) => {
      for (const e of entries) {
        const pending = emitOne(key, e.seq, e.kind, e.value);
        if (pending !== undefined) await pending;
      }
    };
    if (job.start === undefined) iterator.seekToFirst();
    else iterator.seek(job.start);
    for (; iterator.valid(); iterator.next()) {
      const key = iterator.key();
      if (end !== undefined && compareBytes(key, end) >= 0) break;
      stats.entriesIn++;
      if (keyLength < 0 || !sameBytes(keyBuf, keyLength, key)) {
        if (fold.active) await emit(savedKey(), fold.finish(savedKey(), !deeper.contains(savedKey())));
        if (key.length > keyBuf.length) keyBuf = Buffer.allocUnsafe(Math.max(key.length, 2 * keyBuf.length));
        keyBuf.set(key);
        keyLength = key.length;
        lastStripe = -1;
        keyWritten = false;
      }
      const seq = iterator.seq();
      const stripe = stripeOf(job.snapshots, seq);
      if (fold.active && stripe !== fold.stripe) await emit(key, fold.finish(key, false));
      // What the reads of this version's stripe see of it: nothing when a range tombstone of
      // the stripe, newer than it, covers it; a Delete when a filter (an expiry) drops it.
      const hidden = covering.size > 0 && covering.coveringSeq(key, stripe < job.snapshots.length ? job.snapshots[stripe]! : MAX_SEQ) > seq;
      let kind = iterator.kind();
      let value = iterator.value();
      if (!hidden) {
        for (const f of filters) {
          if (kind !== ValueKind.Delete && f.deletes(kind, value)) {
            filtered[f.name] = (filtered[f.name] ?? 0) + 1;
            kind = ValueKind.Delete;
            value = EMPTY;
          }
        }
      }
      if (fold.active) {
        if (hidden) {
          // Beneath the run, the key reads as deleted: the run resolves over nothing.
          stats.droppedByRangeTombstones++;
          await emit(key, [fold.add(key, seq, ValueKind.Delete, EMPTY)!]);
        } else if (kind === ValueKind.PutWithExpiry) {
          // A put that will expire: the run stays operands over it (folded into a plain put,
          // its value would outlive the expiry), and it stays as the stripe's base.
          await emit(key, fold.finish(key, false));
          await emit(key, [{ seq, kind, value }]);
        } else {
          const resolved = fold.add(key, seq, kind, value);
          if (resolved !== undefined) await emit(key, [resolved]);
        }
      } else if (stripe === lastStripe) {
        stats.droppedVersions++;
      } else {
        lastStripe = stripe;
        if (hidden) {
          stats.droppedByRangeTombstones++;
        } else if (kind === ValueKind.Merge) {
          fold.start(stripe, seq, value);
        } else if (kind === ValueKind.Delete && stripe === 0 && !deeper.contains(key)) {
          stats.droppedTombstones++;
        } else {
          const pending = emitOne(key, seq, kind, value);
          if (pending !== undefined) await pending;
        }
      }
      if (++sinceClock === CLOCK_EVERY_ENTRIES) {
        sinceClock = 0;
        const now = performance.now();
        if (now - lastTurn >= YIELD_AFTER_MS) {
          await nextTurn();
          lastTurn = performance.now();
        }
      }
    }
    if (fold.active) await emit(savedKey(), fold.finish(savedKey(), !deeper.contains(savedKey())));
    stats.droppedVersions += fold.folded;
    const outputs = await output.finish();
    let bytesWritten = 0;
    for (const t of outputs) bytesWritten += t.fileSize;
    return { outputs, bytesRead, bytesWritten, ...stats, filtered };
  } catch (err) {
    await output.abandon();
    throw err;
  } finally {
    iterator.close();
  }
}

/** Whether a[0..aLength) holds the bytes of b. From the end: keys that share a prefix differ there. */
function sameBytes(a: Uint8Array, aLength: number, b: Uint8Array): boolean {
  if (aLength !== b.length) return false;
  for (let i = aLength - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}

/** Index of the first snapshot >= seq, or snapshots.length when seq is above them all. */
function stripeOf(snapshots: readonly SeqNum[], seq: SeqNum): number {
  let lo = 0;
  let hi = snapshots.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (snapshots[mid]! < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The input tables of `job`, in its order, open (all closed again when one fails to open). */
function openInputs(job: CompactionJob, fs: FileSystem): TableReader[] {
  const readers: TableReader[] = [];
  try {
    for (const { fileNumbers } of job.inputs) {
      for (const n of fileNumbers) readers.push(TableReader.openPath(fs, tableFileName(job.dir, n), n, undefined));
    }
  } catch (err) {
    for (const r of readers) r.close();
    throw err;
  }
  return readers;
}
