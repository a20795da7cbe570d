// Cutting one compaction into subcompactions: key ranges that run side by side, one job each
// on the worker pool, each writing its own output tables; the engine installs all of their
// outputs with one MANIFEST edit (RocksDB's subcompactions, Pebble's parallel compactions).
//
// Why it stays correct: a cut is a user key, and a subcompaction takes the versions of the
// user keys in [its start, its end), so every version of a key, with every merge operand and
// every snapshot stripe, is in one subcompaction, which applies job.ts's rules to it as the
// whole compaction would. Their outputs then cover disjoint key ranges, in order. Range
// tombstones are the exception: one may span a cut, and two subcompactions writing it would
// give two outputs overlapping key ranges, so a compaction whose inputs hold any is not cut.
//
// Where the cuts go: candidate keys are the index separators of the input tables (a sample of
// each: TableReader.sampleKeys); the cuts are the candidates nearest to each 1/parts of the
// input bytes, the bytes before a key estimated from each input's index (approximateBytesIn).

import { compareBytes } from '../base/index.js';
import type { TableMeta } from '../manifest/index.js';
import type { TableCache } from '../sstable/index.js';
import { approximateBytesIn } from './tombstone-coverage.js';

/** Candidate cut keys taken from each input table's index. */
const SAMPLES_PER_TABLE = 32;

/**
 * Up to `parts - 1` user keys, ascending and distinct, that cut `inputs` into key ranges of
 * about equal bytes; none (one compaction) when `parts` < 2, when any input holds range
 * tombstones, or when the inputs hold too few blocks to cut. Opens the inputs through `tables`.
 */
export function subcompactionCuts(inputs: readonly TableMeta[], tables: TableCache, parts: number): Uint8Array[] {
  if (parts < 2 || inputs.length === 0 || inputs.some((f) => f.rangeDeletions > 0)) return [];
  const candidates: Uint8Array[] = [];
  for (const f of inputs) {
    const handle = tables.acquire(f.fileNumber);
    try {
      candidates.push(...handle.reader.sampleKeys(SAMPLES_PER_TABLE));
    } finally {
      handle.release();
    }
  }
  candidates.sort(compareBytes);
  const total = inputs.reduce((n, f) => n + f.fileSize, 0);
  const cuts: Uint8Array[] = [];
  let at = 0;
  for (let part = 1; part < parts; part++) {
    const goal = (total * part) / parts;
    // The first candidate with at least `goal` bytes before it (bytes before grow with the key).
    while (at < candidates.length && bytesBefore(inputs, tables, candidates[at]!) < goal) at++;
    if (at >= candidates.length) break;
    const cut = candidates[at]!;
    const previous = cuts[cuts.length - 1];
    if (previous === undefined || compareBytes(previous, cut) < 0) cuts.push(cut);
    at++;
  }
  return cuts;
}

function bytesBefore(inputs: readonly TableMeta[], tables: TableCache, key: Uint8Array): number {
  let bytes = 0;
  for (const f of inputs) bytes += approximateBytesIn(f, tables, undefined, key);
  return bytes;
}

/** The files of `files` holding user keys in [start, end) (an undefined end is open). */
export function filesInRange(files: readonly TableMeta[], start: Uint8Array | undefined, end: Uint8Array | undefined): TableMeta[] {
  return files.filter((f) => (start === undefined || compareBytes(f.largestKey, start) >= 0) && (end === undefined || compareBytes(f.smallestKey, end) < 0));
}
