// Internal keys: every stored entry is (user key, sequence number, kind).
//
// Order: user key ascending (unsigned bytes), then sequence descending, so the newest version
// of a key comes first. Sequence numbers are assigned by one JavaScript thread, strictly
// increasing from 1; 0 is never assigned. They are plain numbers below 2^53.

import { compareBytes } from './bytes.js';

export type SeqNum = number;

/** Larger than any sequence number ever assigned; a read at MAX_SEQ sees everything. */
export const MAX_SEQ: SeqNum = Number.MAX_SAFE_INTEGER;

// Persisted in the WAL and in SSTs: never renumber. A Merge entry's value is one operand of
// the database's merge operator (src/base/merge-operator.ts), applied on top of the older
// versions of its key.
export const ValueKind = { Delete: 0, Put: 1, Merge: 2 } as const;
export type ValueKind = (typeof ValueKind)[keyof typeof ValueKind];

export function isValueKind(n: number): n is ValueKind {
  return n === ValueKind.Delete || n === ValueKind.Put || n === ValueKind.Merge;
}

export function compareInternal(keyA: Uint8Array, seqA: SeqNum, keyB: Uint8Array, seqB: SeqNum): number {
  const c = compareBytes(keyA, keyB);
  if (c !== 0) return c;
  return seqA > seqB ? -1 : seqA < seqB ? 1 : 0;
}
