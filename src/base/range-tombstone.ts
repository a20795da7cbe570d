// Range tombstones: "every key in [start, end) written before sequence number seq is gone".
//
// A range tombstone hides, from a reader at sequence S >= seq, the versions of the keys in
// [start, end) whose sequence numbers are below seq; versions written after it stay visible,
// and a reader at S < seq does not see the tombstone at all. `end` undefined: no upper bound.
//
// Where they live: a WAL batch entry of kind RangeDelete (batch-format.ts), a memtable's list
// (src/memtable), a table's range-deletion block (src/sstable/range-del-block.ts). Readers
// gather the tombstones of every memtable and table of what they read into one
// RangeTombstoneSet and ask it coveringSeq(): the read paths keep their point logic and call
// this one check (DbIterator, Engine.get), so that it composes with other kinds of entries.

import { compareBytes } from './bytes.js';
import type { SeqNum } from './internal-key.js';

export interface RangeTombstone {
  /** First key covered. */
  readonly start: Uint8Array;
  /** First key after the range; undefined: the range has no end. REQUIRES: start < end. */
  readonly end: Uint8Array | undefined;
  readonly seq: SeqNum;
}

/**
 * A user key above every key a user can write (keys are at most 64 KiB, MAX_KEY_BYTES):
 * the largest key a table's key range names when it holds a tombstone without an end.
 */
export const KEY_ABOVE_ALL: Uint8Array = new Uint8Array(64 * 1024 + 1).fill(0xff);

/** Whether `key` is KEY_ABOVE_ALL (by its bytes: a copy made by postMessage is one too). */
export function isKeyAboveAll(key: Uint8Array): boolean {
  if (key === KEY_ABOVE_ALL) return true;
  if (key.length !== KEY_ABOVE_ALL.length) return false;
  for (let i = 0; i < key.length; i++) if (key[i] !== 0xff) return false;
  return true;
}

/** Whether `t` covers user key `key` (ignoring sequence numbers). */
export function tombstoneCovers(t: RangeTombstone, key: Uint8Array): boolean {
  return compareBytes(key, t.start) >= 0 && (t.end === undefined || compareBytes(key, t.end) < 0);
}

/** Whether [t.start, t.end) meets the user keys [smallest, largest] (both included). */
export function tombstoneOverlaps(t: RangeTombstone, smallest: Uint8Array, largest: Uint8Array): boolean {
  return compareBytes(t.start, largest) <= 0 && (t.end === undefined || compareBytes(t.end, smallest) > 0);
}

/**
 * The largest user key a table holding `t` must name as its key range's upper end. The range
 * excludes `end`, but a key range names keys it includes and no key just below `end` exists:
 * `end` itself is the smallest key that does not cut the tombstone off.
 */
export function tombstoneUpperKey(t: RangeTombstone): Uint8Array {
  return t.end ?? KEY_ABOVE_ALL;
}

/**
 * Tombstones fragmented into disjoint key intervals, each with the sequence numbers of the
 * tombstones over it (descending): coveringSeq() is a binary search, whatever the overlaps.
 * Immutable once built. Built per read view (an iterator, a version's reads), so kept small:
 * for T tombstones, at most 2T fragments.
 */
export class RangeTombstoneSet {
  static readonly EMPTY = new RangeTombstoneSet([]);

  readonly size: number;
  /** Fragment i is [#bounds[i], #bounds[i + 1]) (the last one has no end). */
  readonly #bounds: Uint8Array[];
  /** Per fragment, the seqs covering it, descending. */
  readonly #seqs: SeqNum[][];

  constructor(tombstones: readonly RangeTombstone[]) {
    this.size = tombstones.length;
    const keys: Uint8Array[] = [];
    for (const t of tombstones) {
      keys.push(t.start);
      if (t.end !== undefined) keys.push(t.end);
    }
    keys.sort(compareBytes);
    const bounds: Uint8Array[] = [];
    for (const k of keys) if (bounds.length === 0 || compareBytes(bounds[bounds.length - 1]!, k) !== 0) bounds.push(k);
    const seqs: SeqNum[][] = bounds.map(() => []);
    for (const t of tombstones) {
      let i = lastAtOrBelow(bounds, t.start);
      for (; i < bounds.length && (t.end === undefined || compareBytes(bounds[i]!, t.end) < 0); i++) seqs[i]!.push(t.seq);
    }
    for (const s of seqs) s.sort((a, b) => b - a);
    this.#bounds = bounds;
    this.#seqs = seqs;
  }

  /** The largest sequence number <= `atOrBelow` of a tombstone covering `key`; 0 when none. */
  coveringSeq(key: Uint8Array, atOrBelow: SeqNum): SeqNum {
    if (this.size === 0) return 0;
    const i = lastAtOrBelow(this.#bounds, key);
    if (i < 0) return 0;
    for (const s of this.#seqs[i]!) if (s <= atOrBelow) return s;
    return 0;
  }

  /**
   * The first key after the fragment holding `key` (every key from `key` up to it is covered
   * by the same tombstones), or undefined when that fragment has no end. REQUIRES: some
   * tombstone covers `key` (coveringSeq > 0).
   */
  fragmentEnd(key: Uint8Array): Uint8Array | undefined {
    return this.#bounds[lastAtOrBelow(this.#bounds, key) + 1];
  }

  /**
   * Whether the version (key, seq) is hidden from a reader at `readSeq`: a tombstone newer
   * than it, and visible to that reader, covers its key.
   */
  hides(key: Uint8Array, seq: SeqNum, readSeq: SeqNum): boolean {
    return this.size !== 0 && this.coveringSeq(key, readSeq) > seq;
  }
}

/** Index of the last bound <= key, or -1. */
function lastAtOrBelow(bounds: readonly Uint8Array[], key: Uint8Array): number {
  let lo = 0;
  let hi = bounds.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(bounds[mid]!, key) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}
