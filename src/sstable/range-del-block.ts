// The range-deletion block (table format version 2, format.ts): a table's range tombstones.
//
//   rangeDelBlock := count varint | tombstone{count}
//   tombstone     := seq u64 LE | startLength varint | start | hasEnd u8 (0 or 1)
//                  | [endLength varint | end]                         (when hasEnd is 1)
//
// Tombstones are in ascending (start, seq descending) order; start < end when there is an end.
// What a tombstone means is src/base/range-tombstone.ts's. The block is a physical block
// (checksummed, never compressed), read whole when the table opens.

import { compareBytes, getU64, getVarint, putU64, putVarint, varintLength } from '../base/bytes.js';
import { corruption } from '../base/errors.js';
import type { RangeTombstone } from '../base/range-tombstone.js';

/** The order of tombstones in the block. */
export function compareTombstones(a: RangeTombstone, b: RangeTombstone): number {
  return compareBytes(a.start, b.start) || b.seq - a.seq;
}

/** The block's contents. REQUIRES: `tombstones` sorted by compareTombstones. */
export function encodeRangeDelBlock(tombstones: readonly RangeTombstone[]): Buffer {
  let n = varintLength(tombstones.length);
  for (const t of tombstones) {
    n += 8 + varintLength(t.start.length) + t.start.length + 1;
    if (t.end !== undefined) n += varintLength(t.end.length) + t.end.length;
  }
  const out = Buffer.alloc(n);
  let p = putVarint(out, 0, tombstones.length);
  for (const t of tombstones) {
    putU64(out, p, t.seq);
    p = putVarint(out, p + 8, t.start.length);
    out.set(t.start, p);
    p += t.start.length;
    out[p++] = t.end === undefined ? 0 : 1;
    if (t.end !== undefined) {
      p = putVarint(out, p, t.end.length);
      out.set(t.end, p);
      p += t.end.length;
    }
  }
  return out;
}

/** Decodes and checks the block's contents; CORRUPTION names `file` and the block's offset. */
export function decodeRangeDelBlock(b: Uint8Array, file: string, fileOffset: number): RangeTombstone[] {
  const bad = (what: string) => corruption(file, fileOffset, `range-deletion block: ${what}`);
  const cursor = { offset: 0 };
  const count = getVarint(b, cursor, b.length);
  if (count < 0) throw bad('malformed count');
  const bytes = (what: string) => {
    const length = getVarint(b, cursor, b.length);
    if (length < 0 || cursor.offset + length > b.length) throw bad(`${what} length`);
    const k = new Uint8Array(b.subarray(cursor.offset, cursor.offset + length));
    cursor.offset += length;
    return k;
  };
  const tombstones: RangeTombstone[] = [];
  for (let i = 0; i < count; i++) {
    if (cursor.offset + 8 > b.length) throw bad(`tombstone ${i} of ${count} missing`);
    const seq = getU64(b, cursor.offset);
    if (seq < 0) throw bad(`tombstone ${i} sequence number out of range`);
    cursor.offset += 8;
    const start = bytes(`tombstone ${i} start`);
    if (cursor.offset >= b.length) throw bad(`tombstone ${i} end flag missing`);
    const hasEnd = b[cursor.offset++]!;
    if (hasEnd > 1) throw bad(`tombstone ${i} end flag ${hasEnd}`);
    const end = hasEnd === 1 ? bytes(`tombstone ${i} end`) : undefined;
    if (end !== undefined && compareBytes(start, end) >= 0) throw bad(`tombstone ${i} ends before it starts`);
    const t = { start, end, seq };
    if (tombstones.length > 0 && compareTombstones(tombstones[tombstones.length - 1]!, t) >= 0) throw bad(`tombstone ${i} out of order`);
    tombstones.push(t);
  }
  if (cursor.offset !== b.length) throw bad('trailing bytes');
  return tombstones;
}
