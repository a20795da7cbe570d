// A Version: the set of live table files, per level, at one moment. Immutable once built.
//
// Level 0 holds flushed memtables, which may overlap; they are kept newest first (by largest
// sequence number), the order in which reads consult them. Levels 1 and below are each one
// sorted run of non-overlapping files, kept in key order.
//
// The questions about the tree's shape are answered here, and nowhere else (LevelDB keeps
// them in version_set.cc): which tables may hold a key, and in which order a point read
// consults them (get); which files of a level overlap a key range (overlappingFiles); what
// lies below a level in a key range (rangesBelow, deepestNonEmptyLevel); which cursors a read
// of the whole version merges (addIterators).
//
// Readers that outlive one synchronous step (iterators) ref() the version they read so that
// its files are not deleted under them; the version set deletes a file only when no live
// version names it.

import { compareBytes, invariant, type InternalIterator, type SeqNum } from '../base/index.js';
import { mayHold, NOT_WALKED, type TableCache } from '../sstable/index.js';
import { firstFileReaching, lastFileStarting, LevelIterator } from './level-iterator.js';
import type { TableMeta, VersionEdit } from './version-edit.js';

export const NUM_LEVELS = 7;

/**
 * Level 0's read budget (see Version.readCompactionDue): one positioning of an iterator over
 * two or more level-0 tables per this many bytes that compacting level 0 would read (level 0
 * and the level-1 files its key range overlaps), and at least MIN_L0_READS. LevelDB's
 * reasoning for its seek compaction: a read of a table costs about what compacting 40 KB
 * does, so that many wasted reads pay for the compaction; 16 KiB is its conservative choice,
 * and ours. Counting level 1 keeps a large level 1 from being rewritten for a few reads.
 */
const L0_BYTES_PER_READ = 16 * 1024;
const MIN_L0_READS = 100;

export class Version {
  /** levels[i] is the files of level i; see the ordering rules above. */
  readonly levels: readonly (readonly TableMeta[])[];
  #refs = 0;
  #onUnreferenced: ((v: Version) => void) | undefined;
  /** Positionings of iterators over two or more level-0 tables (see readCompactionDue). */
  #l0Reads = 0;
  readonly #l0ReadBudget: number;
  /** Its tables in the order get() consults them, and where each one's run ends (readOrderOf); made at the first get. */
  #readOrder: { tables: TableMeta[]; ends: Uint32Array } | undefined;
  /** Called once, when this version's reads reach level 0's read budget (VersionSet sets it). */
  onReadCompactionDue: (() => void) | undefined;

  constructor(levels: readonly (readonly TableMeta[])[], onUnreferenced?: (v: Version) => void) {
    invariant(levels.length === NUM_LEVELS, 'a version has NUM_LEVELS levels');
    this.levels = levels;
    this.#onUnreferenced = onUnreferenced;
    this.#l0ReadBudget = l0ReadBudget(levels[0]!, levels[1]!);
  }

  /**
   * Whether reads have paid for level 0's overlapping tables long enough that compacting them
   * costs less than going on paying (LevelDB's seek compaction, for level 0 only: a deeper
   * level costs a read one table). An iterator over two or more level-0 tables pays at each
   * positioning (its first, and each seek: tablesToPosition): it reads a block of every one.
   * A get() does not: a table without the key answers it from its bloom filter, and gets
   * measured as fast over three level-0 tables as over their compaction. Past the budget (one
   * paying positioning per 16 KiB that compacting level 0 would read, level 1's overlapping
   * files included; at least 100) level 0 is due for compaction below its file trigger
   * (CompactionPicker.pick): a database scanned after a few flushes, and no longer written,
   * does not keep level 0's files forever. A new version (any flush or compaction) counts
   * from zero.
   */
  get readCompactionDue(): boolean {
    return this.#l0Reads >= this.#l0ReadBudget;
  }

  #chargeL0Read(): void {
    if (++this.#l0Reads === this.#l0ReadBudget) this.onReadCompactionDue?.();
  }

  static empty(): Version {
    return new Version(Array.from({ length: NUM_LEVELS }, () => []));
  }

  ref(): void {
    this.#refs++;
  }

  unref(): void {
    invariant(this.#refs > 0, 'Version.unref without ref');
    if (--this.#refs === 0) this.#onUnreferenced?.(this);
  }

  get refs(): number {
    return this.#refs;
  }

  /** A new version: this one with `edit`'s removals and additions applied. */
  apply(edit: VersionEdit, onUnreferenced?: (v: Version) => void): Version {
    const levels = this.levels.map((files) => [...files]);
    for (const { level, fileNumber } of edit.removed ?? []) {
      const files = levels[level];
      invariant(files !== undefined, `level ${level} exists`);
      const i = files.findIndex((f) => f.fileNumber === fileNumber);
      if (i >= 0) files.splice(i, 1);
    }
    for (const { level, table } of edit.added ?? []) {
      const files = levels[level];
      invariant(files !== undefined, `level ${level} exists`);
      files.push(table);
    }
    levels[0]!.sort((a, b) => b.largestSeq - a.largestSeq || b.fileNumber - a.fileNumber);
    for (let i = 1; i < NUM_LEVELS; i++) levels[i]!.sort((a, b) => compareBytes(a.smallestKey, b.smallestKey));
    return new Version(levels, onUnreferenced);
  }

  /**
   * The newest entry of `key` visible at `seq` in this version's tables (a Delete included,
   * as TableCache.get returns it), or undefined. Consults the tables that may hold the key in
   * the order that makes the first hit the answer: level 0 newest first, then, level by
   * level, the one file whose key range reaches the key. A table is skipped without a read
   * when the key is outside its key range or all its entries are newer than `seq`. Where
   * every table is open (and the addon can), all of it is one walk of the addon
   * (TableCache.walkGet over readOrderOf's list, made at the first get); else level 0's walk
   * and one table a deeper level. Allocates nothing else of its own: it runs on every get().
   */
  get(key: Uint8Array, seq: SeqNum, tables: TableCache): ReturnType<TableCache['get']> {
    // Every level's tables in one walk of the addon, where all are open.
    const order = (this.#readOrder ??= readOrderOf(this.levels));
    const walked = tables.walkGet(order.tables, order.ends, key, seq);
    if (walked !== NOT_WALKED) return walked;
    const levels = this.levels;
    // Level 0's tables in one walk (newest first, those that may hold the key).
    const hit = tables.getFirst(levels[0]!, key, seq);
    if (hit) return hit;
    for (let level = 1; level < NUM_LEVELS; level++) {
      const files = levels[level]!;
      const table = files[firstFileReaching(files, key)];
      if (table === undefined || !mayHold(table, key, seq)) continue;
      const hit = tables.get(table.fileNumber, key, seq);
      if (hit) return hit;
    }
    return undefined;
  }

  /**
   * The files of `level` whose user-key range overlaps [smallest, largest] (both included;
   * an undefined end is open), in the level's order. Level 0's files are not widened to the
   * files that overlap those: the compaction picker decides what level 0 must take.
   */
  overlappingFiles(level: number, smallest: Uint8Array | undefined, largest: Uint8Array | undefined): TableMeta[] {
    return this.#level(level).filter((f) => overlaps(f, smallest, largest));
  }

  /**
   * The user-key ranges [smallest, largest] of the files below `level` that overlap
   * [smallest, largest] (an undefined end is open): a key of that range in none of them has
   * nothing older beneath `level`. What a compaction into `level` needs for its tombstone
   * rule (CompactionJob.deeperRanges).
   */
  rangesBelow(level: number, smallest: Uint8Array | undefined, largest: Uint8Array | undefined): [Uint8Array, Uint8Array][] {
    invariant(level >= 0 && level < NUM_LEVELS, `level ${level} exists`);
    const ranges: [Uint8Array, Uint8Array][] = [];
    for (let below = level + 1; below < NUM_LEVELS; below++) {
      for (const f of this.levels[below]!) if (overlaps(f, smallest, largest)) ranges.push([f.smallestKey, f.largestKey]);
    }
    return ranges;
  }

  /** The deepest level holding a file; 0 when no level below level 0 does. */
  deepestNonEmptyLevel(): number {
    for (let level = NUM_LEVELS - 1; level > 0; level--) if (this.levels[level]!.length > 0) return level;
    return 0;
  }

  /**
   * Appends to `children` the cursors that, merged, read this whole version: one per level-0
   * table (they may overlap, newest first) and one per deeper level holding files (its files
   * do not overlap: it opens them one at a time). Each is a LevelIterator: it opens a table when
   * it is first positioned on it, not here, and releases it when it moves on or closes.
   */
  addIterators(children: InternalIterator[], tables: TableCache): void {
    for (const table of this.levels[0]!) children.push(new LevelIterator([table], tables));
    for (let level = 1; level < NUM_LEVELS; level++) {
      const files = this.levels[level]!;
      if (files.length > 0) children.push(new LevelIterator(files, tables));
    }
  }

  /**
   * The file numbers of the tables the cursors of addIterators() open when positioned at
   * `target` (undefined: at the first entry, or in `reverse` the last): every level-0 table and
   * one file of each deeper level. An iterator has them opened off the event loop's thread
   * before it positions (TableCache.whenOpen), so each call is one positioning: with two or
   * more level-0 tables it counts against level 0's read budget (readCompactionDue).
   */
  tablesToPosition(target: Uint8Array | undefined, reverse: boolean): number[] {
    const out = this.levels[0]!.map((t) => t.fileNumber);
    if (out.length >= 2) this.#chargeL0Read();
    for (let level = 1; level < NUM_LEVELS; level++) {
      const files = this.levels[level]!;
      if (files.length === 0) continue;
      const i = target === undefined ? (reverse ? files.length - 1 : 0) : reverse ? lastFileStarting(files, target) : firstFileReaching(files, target);
      const file = files[i];
      if (file !== undefined) out.push(file.fileNumber);
    }
    return out;
  }

  /**
   * The largest sequence number each cursor addIterators() appends can show, in the same
   * order: a level-0 table's, then each deeper level's (over its files).
   */
  iteratorMaxSeqs(): SeqNum[] {
    const seqs = this.levels[0]!.map((t) => t.largestSeq);
    for (let level = 1; level < NUM_LEVELS; level++) {
      const files = this.levels[level]!;
      if (files.length > 0) seqs.push(files.reduce((m, f) => Math.max(m, f.largestSeq), 0));
    }
    return seqs;
  }

  #level(level: number): readonly TableMeta[] {
    const files = this.levels[level];
    invariant(files !== undefined, `level ${level} exists`);
    return files;
  }

  /** Every file of every level, for listing and deletion checks. */
  *allFiles(): Iterable<{ level: number; table: TableMeta }> {
    for (let level = 0; level < NUM_LEVELS; level++) {
      for (const table of this.levels[level]!) yield { level, table };
    }
  }
}

/**
 * The tables of `levels` in the order get() consults them (level 0's, newest first, then each
 * deeper level's in key order), and where each one's run ends: a level's files are one run (a
 * get consults the one reaching its key), a level-0 table is a run of its own.
 */
function readOrderOf(levels: readonly (readonly TableMeta[])[]): { tables: TableMeta[]; ends: Uint32Array } {
  const tables = levels.flat();
  const ends = new Uint32Array(tables.length);
  let at = 0;
  for (let level = 0; level < levels.length; level++) {
    const n = levels[level]!.length;
    for (let i = 0; i < n; i++) ends[at + i] = level === 0 ? at + i + 1 : at + n;
    at += n;
  }
  return { tables, ends };
}

/** Version.readCompactionDue's budget: Infinity below two level-0 files (see L0_BYTES_PER_READ). */
function l0ReadBudget(l0: readonly TableMeta[], l1: readonly TableMeta[]): number {
  if (l0.length < 2) return Infinity;
  let bytes = 0;
  let smallest = l0[0]!.smallestKey;
  let largest = l0[0]!.largestKey;
  for (const f of l0) {
    bytes += f.fileSize;
    if (compareBytes(f.smallestKey, smallest) < 0) smallest = f.smallestKey;
    if (compareBytes(f.largestKey, largest) > 0) largest = f.largestKey;
  }
  for (const f of l1) if (overlaps(f, smallest, largest)) bytes += f.fileSize;
  return Math.max(MIN_L0_READS, Math.ceil(bytes / L0_BYTES_PER_READ));
}

/** Whether `file`'s user-key range meets [smallest, largest] (both included; an undefined end is open). */
function overlaps(file: TableMeta, smallest: Uint8Array | undefined, largest: Uint8Array | undefined): boolean {
  return (smallest === undefined || compareBytes(file.largestKey, smallest) >= 0) && (largest === undefined || compareBytes(file.smallestKey, largest) <= 0);
}
