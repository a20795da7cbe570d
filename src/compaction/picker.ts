// Choosing what to compact (leveled, as in LevelDB and RocksDB).
//
// Level 0 holds flushed memtables, which may overlap; levels 1 and below are each one sorted
// run of non-overlapping files, level n+1 targeting `levelMultiplier` times the bytes of
// level n (level 1: `levelBaseBytes`). A level's score is how far it is over its target:
// level 0 by file count against `l0CompactionTrigger`, the others by bytes against their
// target. The highest score of at least 1 is compacted into the level below it.
//
// Inputs:
// - from level 0, every level-0 file: reads consult level 0 before level 1, so moving one
//   level-0 file below an older one that overlaps it would let the older shadow the newer;
// - from level n >= 1, one file: a file holding range tombstones first (what they cover below
//   is space a compaction returns), else round-robin through the key space (a cursor per level
//   remembers where the last compaction of that level ended);
// - plus every file of the output level that overlaps the inputs' user-key range.
// A single input file with nothing to merge with below is moved by the MANIFEST edit alone.
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

/** Target bytes of `level` (>= 1). */
export function levelTargetBytes(level: number, policy: CompactionPolicy): number {
  return policy.levelBaseBytes * policy.levelMultiplier ** Math.max(0, level - 1);
}

const bytesOf = (files: readonly TableMeta[]) => files.reduce((n, f) => n + f.fileSize, 0);

/** Score per level; the last level is never compacted and scores 0. */
export function levelScores(version: Version, policy: CompactionPolicy): number[] {
  const scores: number[] = [];
  for (let level = 0; level < NUM_LEVELS; level++) {
    const files = version.levels[level]!;
    if (level === NUM_LEVELS - 1) scores.push(0);
    else if (level === 0) scores.push(files.length / policy.l0CompactionTrigger);
    else scores.push(bytesOf(files) / levelTargetBytes(level, policy));
  }
  return scores;
}

/** Bytes that compaction has still to rewrite before every level is within its target (an estimate). */
export function pendingCompactionBytes(version: Version, policy: CompactionPolicy): number {
  let pending = 0;
  const l0 = version.levels[0]!;
  if (l0.length >= policy.l0CompactionTrigger) pending += bytesOf(l0) + bytesOf(version.levels[1]!);
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

  constructor(policy: CompactionPolicy) {
    this.#policy = policy;
  }

  get policy(): CompactionPolicy {
    return this.#policy;
  }

  /** The most urgent compaction, or undefined when every level is within its target. */
  pick(version: Version): PickedCompaction | undefined {
    const scores = levelScores(version, this.#policy);
    let best = -1;
    for (let level = 0; level < NUM_LEVELS - 1; level++) {
      if (scores[level]! >= 1 && (best < 0 || scores[level]! > scores[best]!)) best = level;
    }
    if (best < 0) return undefined;
    const files = version.levels[best]!;
    if (best === 0) return withOverlaps(version, 0, [...files]);
    const cursor = this.#cursors[best];
    const file = files.find((f) => f.rangeDeletions > 0) ?? ((cursor && files.find((f) => compareBytes(f.smallestKey, cursor) > 0)) || files[0]!);
    this.#cursors[best] = file.largestKey;
    return withOverlaps(version, best, [file]);
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
   * The files of `level` overlapping [start, end] (either end open when undefined) with their
   * overlaps in the level below, or undefined when none overlaps. From level 0 it takes every
   * file, for the reason given at the top. REQUIRES: level < NUM_LEVELS - 1 (the last level
   * has no level below to compact into; checked).
   */
  pickRange(version: Version, level: number, start: Uint8Array | undefined, end: Uint8Array | undefined): PickedCompaction | undefined {
    invariant(Number.isInteger(level) && level >= 0 && level < NUM_LEVELS - 1, `pickRange of level ${level}: no level below it`);
    const files = version.overlappingFiles(level, start, end);
    if (files.length === 0) return undefined;
    if (level === 0) return withOverlaps(version, 0, [...version.levels[0]!]);
    return withOverlaps(version, level, files);
  }
}
