/**
 * One shard's side of an ingest (src/shard/ingest.ts runs the whole): reserving file numbers
 * for the tables being built, flushing, and installing them with one MANIFEST edit at the
 * deepest level they may go.
 *
 * Invariants (while the database takes no new write: the clock's gate is closed, and every
 * write below the ingest's number S is published; SequenceClock invariant 4):
 * 1. Every entry already in the shard has a sequence number below S, and none above it
 *    exists: the writes that come after wait at the gate.
 * 2. Before the install the shard switches its memtable and waits until every memtable is a
 *    table (flushAll), so the ingested tables sit above nothing the memtables still hold, and
 *    the WALs holding records below S are behind the log number: a replay never has to step
 *    over S, which no WAL record holds.
 * 3. The level (ingestLevel): the deepest level such that no file of it, or of any level above
 *    it, overlaps the ingested key range; level 0 when level 0 overlaps it (the ingested
 *    tables, whose one sequence number S is above all, are then the newest there). Below it
 *    lies only older data, so a point read that stops at the first hit is right.
 * 4. No compaction runs from the moment the level is chosen until the edit is applied
 *    (withoutCompactions): one picked from the version before could write an output spanning
 *    the ingested key range in that level.
 * 5. The tables are fsynced, and their directory, before the edit names them; the edit's
 *    last sequence is at least S. Until the edit, their numbers are reserved (never deleted
 *    as obsolete).
 */

import { compareBytes, invariant, type FileSystem, type StrataError, type SeqNum } from '../base/index.js';
import { NUM_LEVELS, type TableMeta, type Version, type VersionEdit } from '../manifest/index.js';
import type { TableBuilderOptions } from '../sstable/index.js';

/** What an ingest needs of one engine (Engine.ingestHost). */
export interface IngestHost {
  readonly fs: FileSystem;
  readonly dir: string;
  readonly builder: TableBuilderOptions;
  readonly targetFileBytes: number;
  /** A file number for a table being built, kept from deletion until forgetFileNumber(). */
  reserveFileNumber(): number;
  forgetFileNumber(n: number): void;
  /**
   * Switches the memtable (if it holds anything; between write groups, and not while a
   * prepared batch is open) and waits until every memtable is a table.
   */
  flushAll(): Promise<void>;
  /** The current version and last sequence, and the MANIFEST edit that changes them. */
  current(): Version;
  readonly lastSequence: SeqNum;
  logAndApply(edit: VersionEdit): Promise<void>;
  /** Stops this engine's writes with `err` (an install that failed part way). */
  failWrites(err: StrataError): void;
  /**
   * Runs `step` while no compaction runs in this engine (it waits for one running, and none
   * starts until `step` settles): a compaction picked from the version before the edit could
   * otherwise write an output whose key range spans the ingested tables in their level.
   */
  withoutCompactions<T>(step: () => Promise<T>): Promise<T>;
}

/** The level the tables covering [smallest, largest] go to in `version` (invariant 3). */
export function ingestLevel(version: Version, smallest: Uint8Array, largest: Uint8Array): number {
  for (let level = 0; level < NUM_LEVELS; level++) {
    if (version.overlappingFiles(level, smallest, largest).length > 0) return Math.max(0, level - 1);
  }
  return NUM_LEVELS - 1;
}

/**
 * The MANIFEST edit installing `tables` (in key order, not overlapping, every entry at `seq`)
 * in `version`.
 */
export function ingestEdit(version: Version, lastSequence: SeqNum, tables: readonly TableMeta[], seq: SeqNum): VersionEdit {
  const edit: VersionEdit = { lastSequence: Math.max(lastSequence, seq) };
  if (tables.length === 0) return edit;
  const smallest = tables[0]!.smallestKey;
  const largest = tables[tables.length - 1]!.largestKey;
  for (let i = 1; i < tables.length; i++) {
    invariant(compareBytes(tables[i - 1]!.largestKey, tables[i]!.smallestKey) < 0, 'ingested tables of one shard do not overlap');
  }
  const level = ingestLevel(version, smallest, largest);
  edit.added = tables.map((table) => ({ level, table }));
  return edit;
}
