// The key ranges of the levels below a compaction's output (CompactionJob.deeperRanges): a
// tombstone whose key none of them holds has nothing older beneath it (job.ts, rule 2).

import { compareBytes, invariant } from '../base/index.js';

/** `ranges` merged into disjoint intervals, ascending. Throws (invariant) on an inverted range. */
export function mergedRanges(ranges: readonly [Uint8Array, Uint8Array][]): [Uint8Array, Uint8Array][] {
  // An inverted range would silently cover nothing and let a needed tombstone go.
  for (const [lo, hi] of ranges) invariant(compareBytes(lo, hi) <= 0, 'a deeper range ends before it starts');
  const merged: [Uint8Array, Uint8Array][] = [];
  const sorted = [...ranges].sort((a, b) => compareBytes(a[0], b[0]));
  for (const [lo, hi] of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && compareBytes(lo, last[1]) <= 0) {
      if (compareBytes(hi, last[1]) > 0) last[1] = hi;
    } else {
      merged.push([lo, hi]);
    }
  }
  return merged;
}

export /**
 * Membership of ascending keys in a union of ranges: the ranges are merged into disjoint
 * sorted intervals once, then walked with the keys, so each lookup is amortized O(1).
 * REQUIRES: contains() is called with non-decreasing keys.
 */
class DeeperRanges {
  readonly #intervals: [Uint8Array, Uint8Array][];
  #at = 0;

  constructor(ranges: readonly [Uint8Array, Uint8Array][]) {
    this.#intervals = mergedRanges(ranges);
  }

  contains(key: Uint8Array): boolean {
    const intervals = this.#intervals;
    while (this.#at < intervals.length && compareBytes(intervals[this.#at]![1], key) < 0) this.#at++;
    const interval = intervals[this.#at];
    return interval !== undefined && compareBytes(interval[0], key) <= 0;
  }
}
