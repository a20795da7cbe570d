// The properties block: what a table holds, readable without scanning it.
//
//   properties := formatVersion u32 LE | entries u64 LE | deletions u64 LE
//               | smallestSeq u64 LE | largestSeq u64 LE
//               | rawKeyBytes u64 LE | rawValueBytes u64 LE | dataBlocks u32 LE
//               | smallestKeyLength varint | smallestKey | largestKeyLength varint | largestKey
//
// smallestKey and largestKey are user keys (the first and last entries' keys); the seqs are
// the minimum and maximum over all entries; rawKeyBytes and rawValueBytes sum the user keys'
// and values' lengths before prefix compression and LZ4. The layout is fixed for a format
// version: a new property needs a new table format version (format.ts).

import { compareBytes, getU32, getU64, getVarint, putU32, putU64, putVarint, varintLength } from '../base/bytes.js';
import { corruption } from '../base/errors.js';
import type { SeqNum } from '../base/internal-key.js';

export interface TableProperties {
  entries: number;
  /** Entries of kind Delete. */
  deletions: number;
  smallestKey: Uint8Array;
  largestKey: Uint8Array;
  smallestSeq: SeqNum;
  largestSeq: SeqNum;
  rawKeyBytes: number;
  rawValueBytes: number;
  dataBlocks: number;
  formatVersion: number;
}

const FIXED_BYTES = 4 + 8 * 6 + 4;

export function encodeProperties(p: TableProperties): Buffer {
  const out = Buffer.alloc(FIXED_BYTES + varintLength(p.smallestKey.length) + p.smallestKey.length + varintLength(p.largestKey.length) + p.largestKey.length);
  putU32(out, 0, p.formatVersion);
  putU64(out, 4, p.entries);
  putU64(out, 12, p.deletions);
  putU64(out, 20, p.smallestSeq);
  putU64(out, 28, p.largestSeq);
  putU64(out, 36, p.rawKeyBytes);
  putU64(out, 44, p.rawValueBytes);
  putU32(out, 52, p.dataBlocks);
  let q = putVarint(out, FIXED_BYTES, p.smallestKey.length);
  out.set(p.smallestKey, q);
  q = putVarint(out, q + p.smallestKey.length, p.largestKey.length);
  out.set(p.largestKey, q);
  return out;
}

/** Decodes and checks a properties block; CORRUPTION names `file` and the block's offset. */
export function decodeProperties(b: Uint8Array, file: string, fileOffset: number): TableProperties {
  const bad = (what: string) => corruption(file, fileOffset, `properties block: ${what}`);
  if (b.length < FIXED_BYTES) throw bad(`${b.length} bytes is too short`);
  const u64 = (at: number, what: string) => {
    const n = getU64(b, at);
    if (n < 0) throw bad(`${what} out of range`);
    return n;
  };
  const cursor = { offset: FIXED_BYTES };
  const key = (what: string) => {
    const length = getVarint(b, cursor, b.length);
    if (length < 0 || cursor.offset + length > b.length) throw bad(`${what} length`);
    const k = new Uint8Array(b.subarray(cursor.offset, cursor.offset + length));
    cursor.offset += length;
    return k;
  };
  const p: TableProperties = {
    formatVersion: getU32(b, 0),
    entries: u64(4, 'entries'),
    deletions: u64(12, 'deletions'),
    smallestSeq: u64(20, 'smallestSeq'),
    largestSeq: u64(28, 'largestSeq'),
    rawKeyBytes: u64(36, 'rawKeyBytes'),
    rawValueBytes: u64(44, 'rawValueBytes'),
    dataBlocks: getU32(b, 52),
    smallestKey: key('smallestKey'),
    largestKey: key('largestKey'),
  };
  if (cursor.offset !== b.length) throw bad('trailing bytes');
  if (p.entries === 0 || p.deletions > p.entries || p.dataBlocks === 0 || p.dataBlocks > p.entries) throw bad('inconsistent counts');
  if (p.smallestSeq > p.largestSeq || compareBytes(p.smallestKey, p.largestKey) > 0) throw bad('inconsistent key or sequence range');
  return p;
}
