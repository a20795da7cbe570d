// Choosing what to compact (leveled, as in LevelDB and RocksDB).
//
// Level 0 holds flushed memtables, which may overlap; levels 1 and below are each one sorted
// run of non-overlapping files, level n+1 targeting `levelMultiplier` times the bytes of
// level n (level 1: `levelBaseBytes`). A level's score is how far it is over its target:
// level 0 by file count against `l0CompactionTrigger`, the others by bytes against their
// target. The highest score of at least 1 is compacted into the level below it.
//
// Range tombstones compensate (RocksDB's compensated file size, Pebble's range deletion
// heuristics): a file holding some counts, on top of its own size, the bytes its tombstones
// cover in the levels below it (tombstone-coverage.ts), the space a compaction of it down the
// tree returns. A deeper level's score is its compensated bytes over its target; level 0's is
// at least its files' covered bytes over level 1's target. And when no level is due, a file
// whose tombstones cover at least half of what its compaction would read is compacted a level
// down (RocksDB's deletion-triggered compaction). So a clear() of much of the database is
// compacted down the tree without compactRange(), level by level, returning what it covers,
// while a tombstone covering little changes nothing. The estimate is made once per file, when
// a version first names it at its level (not per pick), and kept while the file lives.
//
// Inputs:
// - from level 0, every level-0 file: reads consult level 0 before level 1, so moving one
//   level-0 file below an older one that overlaps it would let the older shadow the newer;
// - from level n >= 1, one file: the one whose tombstones cover the most bytes below, when
//   any covers some, else round-robin through the key space (a cursor per level remembers
//   where the last compaction of that level ended);
// - plus every file of the output level that overlaps the inputs' user-key range.
// A single input file with nothing to merge with below is moved by the MANIFEST edit alone.
//
// Reads can make level 0 due too: when nothing else is, and reads of the current version have
// paid for its overlapping level-0 tables past a budget (Version.readCompactionDue, LevelDB's
// seek compaction for level 0), all of level 0 is compacted into level 1 below its trigger.
// Which files overlap a key range is the Version's answer (Version.overlappingFiles).

import { compareBytes, invariant } from '../base/index.js';
import { NUM_LEVELS, type TableMeta, type Version } from '../manifest/index.js';

export interface CompactionPolicy {
  /** Level-0 files that make level 0 due for compaction. */
  l0CompactionTrigger: number;
  /** Target bytes of level 1. */
  levelBaseBytes: number;
  /** Each level below level 1 targets this many times the bytes of the one above. */
  levelMultiplier: number;
}

export interface PickedCompaction {
  level: number;
  outputLevel: number;
  /** Files of `level`, then files of `outputLevel` that overlap them. */
  inputs: { level: number; files: TableMeta[] }[];
  /** True when one file moves down without being rewritten. */
  trivialMove: boolean;
  /** The user-key range of all the inputs, both ends included. */
  smallestKey: Uint8Array;
  largestKey: Uint8Array;
}

/**
 * About how many bytes of the levels below `level` the range tombstones of `file` (a file of
 * `level` in `version`) cover; 0 for a file without any (coveredBytesBelow in the engine).
 */
export type CoveredBytesEstimate = (version: Version, level: number, file: TableMeta) => number;

/** Target bytes of `level` (>= 1). */
export function levelTargetBytes(level: number, policy: CompactionPolicy): number {
  return policy.levelBaseBytes * policy.levelMultiplier ** Math.max(0, level - 1);
}

const bytesOf = (files: readonly TableMeta[]) => files.reduce((n, f) => n + f.fileSize, 0);

/**
 * Score per level; the last level is never compacted and scores 0. `coveredBytes` gives a
 * file's compensation (what its range tombstones cover below it; none by default).
 */
export function levelScores(version: Version, policy: CompactionPolicy, coveredBytes: (file: TableMeta) => number = () => 0): number[] {
  const scores: number[] = [];
  for (let level = 0; level < NUM_LEVELS; level++) {
    const files = version.levels[level]!;
    const covered = files.reduce((n, f) => n + (f.rangeDeletions > 0 ? coveredBytes(f) : 0), 0);
    if (level === NUM_LEVELS - 1) scores.push(0);
    else if (level === 0) scores.push(Math.max(files.length / policy.l0CompactionTrigger, covered / policy.levelBaseBytes));
    else scores.push((bytesOf(files) + covered) / levelTargetBytes(level, policy));
  }
  return scores;
}

/**
 * Bytes that compaction has still to rewrite before every level is within its target (an
 * estimate), with `flushesAhead` more level-0 tables to come (memtables not yet flushed: they
 * count towards level 0's trigger, their own bytes are the caller's to add).
 */
export function pendingCompactionBytes(version: Version, policy: CompactionPolicy, flushesAhead = 0): number {
  let pending = 0;
  const l0 = version.levels[0]!;
  if (l0.length + flushesAhead >= policy.l0CompactionTrigger) pending += bytesOf(l0) + bytesOf(version.levels[1]!);
  for (let level = 1; level < NUM_LEVELS - 1; level++) {
    const excess = bytesOf(version.levels[level]!) - levelTargetBytes(level, policy);
    if (excess > 0) pending += excess * (policy.levelMultiplier + 1);
  }
  return pending;
}

function rangeOf(files: readonly TableMeta[]): [Uint8Array, Uint8Array] {
  let smallest = files[0]!.smallestKey;
  let largest = files[0]!.largestKey;
  for (const f of files) {
    if (compareBytes(f.smallestKey, smallest) < 0) smallest = f.smallestKey;
    if (compareBytes(f.largestKey, largest) > 0) largest = f.largestKey;
  }
  return [smallest, largest];
}

function withOverlaps(version: Version, level: number, files: TableMeta[]): PickedCompaction {
  const outputLevel = level + 1;
  const [smallest, largest] = rangeOf(files);
  const below = version.overlappingFiles(outputLevel, smallest, largest);
  const inputs = [{ level, files }];
  if (below.length > 0) inputs.push({ level: outputLevel, files: below });
  const [smallestKey, largestKey] = rangeOf([...files, ...below]);
  return { level, outputLevel, inputs, trivialMove: files.length === 1 && below.length === 0, smallestKey, largestKey };
}

export class CompactionPicker {
  readonly #policy: CompactionPolicy;
  /** Per level, the largest key of the last file compacted out of it. */
  readonly #cursors: (Uint8Array | undefined)[] = new Array(NUM_LEVELS).fill(undefined);
  readonly #estimate: CoveredBytesEstimate | undefined;
  /** Per file holding range tombstones in #coveredOf: its level then and what they cover below. */
  #covered = new Map<number, { level: number; bytes: number }>();
  #coveredOf: Version | undefined;

  /** Without `estimate`, no file's tombstones count: levels score by their bytes alone. */
  constructor(policy: CompactionPolicy, estimate?: CoveredBytesEstimate) {
    this.#policy = policy;
    this.#estimate = estimate;
  }

  get policy(): CompactionPolicy {
    return this.#policy;
  }

  /** Score per level of `version`, compensated by what range tombstones cover (levelScores). */
  scores(version: Version): number[] {
    this.#estimateCovered(version);
    return levelScores(version, this.#policy, this.#coveredBytes);
  }

  /** About how many bytes below it the range tombstones of `file`, a file of `version`, cover. */
  coveredBytes(version: Version, file: TableMeta): number {
    this.#estimateCovered(version);
    return this.#coveredBytes(file);
  }

  /** The most urgent compaction, or undefined when every level is within its target. */
  pick(version: Version): PickedCompaction | undefined {
    const scores = this.scores(version);
    let best = -1;
    for (let level = 0; level < NUM_LEVELS - 1; level++) {
      if (scores[level]! >= 1 && (best < 0 || scores[level]! > scores[best]!)) best = level;
    }
    if (best < 0) return this.#pickForTombstones(version) ?? this.#pickForReads(version);
    const files = version.levels[best]!;
    if (best === 0) return withOverlaps(version, 0, [...files]);
    let file: TableMeta | undefined;
    let most = 0;
    for (const f of files) {
      const covered = f.rangeDeletions > 0 ? this.#coveredBytes(f) : 0;
      if (covered > most) [file, most] = [f, covered];
    }
    if (file === undefined) {
      const cursor = this.#cursors[best];
      file = (cursor && files.find((f) => compareBytes(f.smallestKey, cursor) > 0)) || files[0]!;
    }
    this.#cursors[best] = file.largestKey;
    return withOverlaps(version, best, [file]);
  }

  /**
   * With every level within its target: the file whose range tombstones cover the most bytes
   * below it among those whose compaction returns at least as much as it keeps (covered bytes
   * at least half of what it reads: the file, or all of level 0, and its overlaps in the next
   * level), with those overlaps; else undefined. RocksDB's deletion-triggered compaction of
   * files "marked for compaction". Each such compaction moves the tombstones a level down, and
   * the deepest level holding data covers nothing below: it ends.
   */
  #pickForTombstones(version: Version): PickedCompaction | undefined {
    let found: { level: number; file: TableMeta } | undefined;
    let most = 0;
    for (let level = 0; level < NUM_LEVELS - 1; level++) {
      for (const file of version.levels[level]!) {
        const covered = file.rangeDeletions > 0 ? this.#coveredBytes(file) : 0;
        if (covered <= most) continue;
        const inputs = level === 0 ? version.levels[0]! : [file];
        const [smallest, largest] = rangeOf(inputs);
        const reads = bytesOf(inputs) + bytesOf(version.overlappingFiles(level + 1, smallest, largest));
        if (covered * 2 >= reads) [found, most] = [{ level, file }, covered];
      }
    }
    if (found === undefined) return undefined;
    return withOverlaps(version, found.level, found.level === 0 ? [...version.levels[0]!] : [found.file]);
  }

  /** With nothing else due: all of level 0, when reads have paid for its overlapping tables long enough (Version.readCompactionDue). */
  #pickForReads(version: Version): PickedCompaction | undefined {
    const l0 = version.levels[0]!;
    return version.readCompactionDue && l0.length >= 2 ? withOverlaps(version, 0, [...l0]) : undefined;
  }

  readonly #coveredBytes = (file: TableMeta): number => this.#covered.get(file.fileNumber)?.bytes ?? 0;

  /**
   * Estimates what the tombstones of each file of `version` holding some cover, for the files
   * not estimated at their level yet (new ones, and ones moved down); forgets the files
   * `version` no longer names.
   */
  #estimateCovered(version: Version): void {
    if (version === this.#coveredOf || this.#estimate === undefined) return;
    const covered = new Map<number, { level: number; bytes: number }>();
    for (const { level, table } of version.allFiles()) {
      if (table.rangeDeletions === 0) continue;
      const known = this.#covered.get(table.fileNumber);
      covered.set(table.fileNumber, known?.level === level ? known : { level, bytes: this.#estimate(version, level, table) });
    }
    this.#covered = covered;
    this.#coveredOf = version;
  }

  /**
   * The files of `level` overlapping [start, end] for which `needsRewrite` holds (range
   * tombstones, expired data), to be rewritten in place (output level = `level`), or undefined
   * when there is none. For the deepest level holding data, which has no level below to compact
   * into: a rewrite drops what its tombstones cover, then the tombstones, and what the
   * compaction filters remove. No other file of the level meets a file's tombstones (a file's
   * key range spans them), so the files alone hold all they cover there.
   */
  pickBottomRewrite(
    version: Version,
    level: number,
    start: Uint8Array | undefined,
    end: Uint8Array | undefined,
    needsRewrite: (file: TableMeta) => boolean,
  ): PickedCompaction | undefined {
    invariant(Number.isInteger(level) && level >= 1 && level < NUM_LEVELS, `pickBottomRewrite of level ${level}`);
    const files = version.overlappingFiles(level, start, end).filter(needsRewrite);
    if (files.length === 0) return undefined;
    const [smallestKey, largestKey] = rangeOf(files);
    return { level, outputLevel: level, inputs: [{ level, files }], trivialMove: false, smallestKey, largestKey };
  }

  /**
   * compactRange()'s one compaction: the files overlapping [start, end] (either end open when
   * undefined) in every level, merged straight into the deepest level holding data (level 1
   * at least), or undefined when no level above it overlaps the range. Each byte is then read
   * and written once, not once per level it passes through. Going down, a level takes every
   * file that overlaps the range widened to the files taken above it: a file left out there
   * could hold an older version of a key whose newer version moves below it. Level 0 takes
   * every file once any overlaps, for the reason given at the top. A file taken deeper may
   * widen the range further; the levels above need nothing more for that (what they keep is
   * newer than anything that moves below them).
   */
  pickRangeToBottom(version: Version, start: Uint8Array | undefined, end: Uint8Array | undefined): PickedCompaction | undefined {
    const outputLevel = Math.max(1, version.deepestNonEmptyLevel());
    const inputs: { level: number; files: TableMeta[] }[] = [];
    let lo = start;
    let hi = end;
    for (let level = 0; level <= outputLevel; level++) {
      let files = version.overlappingFiles(level, lo, hi);
      if (files.length === 0) continue;
      if (level === outputLevel && inputs.length === 0) return undefined;
      if (level === 0) files = [...version.levels[0]!];
      inputs.push({ level, files });
      const [smallest, largest] = rangeOf(files);
      if (lo !== undefined && compareBytes(smallest, lo) < 0) lo = smallest;
      if (hi !== undefined && compareBytes(largest, hi) > 0) hi = largest;
    }
    if (inputs.length === 0) return undefined;
    const [smallestKey, largestKey] = rangeOf(inputs.flatMap((i) => i.files));
    return { level: inputs[0]!.level, outputLevel, inputs, trivialMove: false, smallestKey, largestKey };
  }
}
