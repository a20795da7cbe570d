// Internal keys: every stored entry is (user key, sequence number, kind).
//
// Order: user key ascending (unsigned bytes), then sequence descending, so the newest version
// of a key comes first. Sequence numbers are assigned by one JavaScript thread, strictly
// increasing from 1; 0 is never assigned. They are plain numbers below 2^53.

import { compareBytes } from './bytes.js';

export type SeqNum = number;

/** Larger than any sequence number ever assigned; a read at MAX_SEQ sees everything. */
export const MAX_SEQ: SeqNum = Number.MAX_SAFE_INTEGER;

// Persisted in the WAL and in SSTs: never renumber.
//   0 Delete, 1 Put: point entries (WAL and table data blocks).
//   2 Merge: a point entry whose value is one operand of the database's merge operator
//     (src/base/merge-operator.ts), applied on top of the older versions of its key.
//   3 RangeDelete: a range tombstone (range-tombstone.ts). Only in WAL batches, where the
//     entry's key is the range's start and its value the range's end (empty: no end); tables
//     keep range tombstones in their range-deletion block, never in data blocks.
//   4 PutWithExpiry: a put with a time-to-live, a point entry whose value starts with its
//     expiry (ttl.ts).
export const ValueKind = { Delete: 0, Put: 1, Merge: 2, RangeDelete: 3, PutWithExpiry: 4 } as const;
export type ValueKind = (typeof ValueKind)[keyof typeof ValueKind];

/** The kinds below 32 that `is` accepts, as a bit set (bit k for kind k): for the native addon. */
export function kindBits(is: (n: number) => boolean): number {
  let bits = 0;
  for (let k = 0; k < 32; k++) if (is(k)) bits |= 1 << k;
  return bits >>> 0;
}

export function isValueKind(n: number): n is ValueKind {
  return n >= ValueKind.Delete && n <= ValueKind.PutWithExpiry && Number.isInteger(n);
}

/** Whether entries of `kind` may stand in a table's data block (point entries). */
export function isPointKind(n: number): boolean {
  return n === ValueKind.Delete || n === ValueKind.Put || n === ValueKind.Merge || n === ValueKind.PutWithExpiry;
}

export function compareInternal(keyA: Uint8Array, seqA: SeqNum, keyB: Uint8Array, seqB: SeqNum): number {
  const c = compareBytes(keyA, keyB);
  if (c !== 0) return c;
  return seqA > seqB ? -1 : seqA < seqB ? 1 : 0;
}
