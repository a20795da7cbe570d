// The properties block: what a table holds, readable without scanning it.
//
//   properties := formatVersion u32 LE | entries u64 LE | deletions u64 LE
//               | smallestSeq u64 LE | largestSeq u64 LE
//               | rawKeyBytes u64 LE | rawValueBytes u64 LE | dataBlocks u32 LE
//               | rangeDeletions u64 LE | earliestExpiryMs u64 LE      (format version 2 only)
//               | smallestKeyLength varint | smallestKey | largest
//   largest    := largestKeyLength varint | largestKey                 (format version 1)
//               | 0 u8 | largestKeyLength varint | largestKey          (format version 2)
//               | 1 u8          (version 2: above every key, for a tombstone without an end;
//                                decoded as KEY_ABOVE_ALL, src/base/range-tombstone.ts)
//
// entries counts point entries (data blocks), rangeDeletions the range tombstones;
// earliestExpiryMs is the earliest expiry of the table's puts with a time-to-live
// (src/base/ttl.ts), 0 when it has none: from then on a rewrite would drop something. smallestKey
// and largestKey are user keys bounding everything the table holds: the first and last
// entries' keys, widened to the range tombstones' starts and upper keys
// (range-tombstone.ts, tombstoneUpperKey); the seqs are the minimum and maximum over all
// entries and tombstones; rawKeyBytes and rawValueBytes sum the point entries' user keys' and
// values' lengths before prefix compression and LZ4. Version 1 tables have at least one
// entry; version 2 tables at least one entry or tombstone, and data blocks only with entries.
// The layout is fixed for a format version: a new property needs a new table format version
// (format.ts).

import { compareBytes, getU32, getU64, getVarint, putU32, putU64, putVarint, varintLength } from '../base/bytes.js';
import { corruption } from '../base/errors.js';
import type { SeqNum } from '../base/internal-key.js';
import { isKeyAboveAll, KEY_ABOVE_ALL } from '../base/range-tombstone.js';

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
  /** Range tombstones (0 in a version 1 table). */
  rangeDeletions: number;
  /** The earliest expiry (ms since the epoch) of a put with a time-to-live; 0: none (always in version 1). */
  earliestExpiryMs: number;
  formatVersion: number;
}

const EMPTY = new Uint8Array(0);
const V1_FIXED_BYTES = 4 + 8 * 6 + 4;
const V2_FIXED_BYTES = V1_FIXED_BYTES + 8 + 8;

const fixedBytesOf = (formatVersion: number) => (formatVersion === 1 ? V1_FIXED_BYTES : V2_FIXED_BYTES);

export function encodeProperties(p: TableProperties): Buffer {
  const fixed = fixedBytesOf(p.formatVersion);
  const v1 = p.formatVersion === 1;
  const aboveAll = !v1 && isKeyAboveAll(p.largestKey);
  const largestBytes = aboveAll ? 1 : (v1 ? 0 : 1) + varintLength(p.largestKey.length) + p.largestKey.length;
  const out = Buffer.alloc(fixed + varintLength(p.smallestKey.length) + p.smallestKey.length + largestBytes);
  putU32(out, 0, p.formatVersion);
  putU64(out, 4, p.entries);
  putU64(out, 12, p.deletions);
  putU64(out, 20, p.smallestSeq);
  putU64(out, 28, p.largestSeq);
  putU64(out, 36, p.rawKeyBytes);
  putU64(out, 44, p.rawValueBytes);
  putU32(out, 52, p.dataBlocks);
  if (p.formatVersion !== 1) {
    putU64(out, 56, p.rangeDeletions);
    putU64(out, 64, p.earliestExpiryMs);
  }
  let q = putVarint(out, fixed, p.smallestKey.length);
  out.set(p.smallestKey, q);
  q += p.smallestKey.length;
  if (!v1) out[q++] = aboveAll ? 1 : 0;
  if (!aboveAll) {
    q = putVarint(out, q, p.largestKey.length);
    out.set(p.largestKey, q);
  }
  return out;
}

/** Decodes and checks a properties block; CORRUPTION names `file` and the block's offset. */
export function decodeProperties(b: Uint8Array, file: string, fileOffset: number): TableProperties {
  const bad = (what: string) => corruption(file, fileOffset, `properties block: ${what}`);
  if (b.length < 4) throw bad(`${b.length} bytes is too short`);
  const formatVersion = getU32(b, 0);
  const fixed = fixedBytesOf(formatVersion);
  if (b.length < fixed) throw bad(`${b.length} bytes is too short`);
  const u64 = (at: number, what: string) => {
    const n = getU64(b, at);
    if (n < 0) throw bad(`${what} out of range`);
    return n;
  };
  const cursor = { offset: fixed };
  const key = (what: string) => {
    const length = getVarint(b, cursor, b.length);
    if (length < 0 || cursor.offset + length > b.length) throw bad(`${what} length`);
    const k = new Uint8Array(b.subarray(cursor.offset, cursor.offset + length));
    cursor.offset += length;
    return k;
  };
  const p: TableProperties = {
    formatVersion,
    entries: u64(4, 'entries'),
    deletions: u64(12, 'deletions'),
    smallestSeq: u64(20, 'smallestSeq'),
    largestSeq: u64(28, 'largestSeq'),
    rawKeyBytes: u64(36, 'rawKeyBytes'),
    rawValueBytes: u64(44, 'rawValueBytes'),
    dataBlocks: getU32(b, 52),
    rangeDeletions: formatVersion === 1 ? 0 : u64(56, 'rangeDeletions'),
    earliestExpiryMs: formatVersion === 1 ? 0 : u64(64, 'earliestExpiryMs'),
    smallestKey: key('smallestKey'),
    largestKey: EMPTY,
  };
  let aboveAll = false;
  if (formatVersion !== 1) {
    if (cursor.offset >= b.length) throw bad('largestKey kind missing');
    const kind = b[cursor.offset++]!;
    if (kind > 1) throw bad(`largestKey kind ${kind}`);
    aboveAll = kind === 1;
  }
  p.largestKey = aboveAll ? KEY_ABOVE_ALL : key('largestKey');
  if (cursor.offset !== b.length) throw bad('trailing bytes');
  const countsOk =
    p.deletions <= p.entries &&
    p.dataBlocks <= p.entries &&
    (p.entries === 0) === (p.dataBlocks === 0) &&
    (formatVersion === 1 ? p.entries > 0 : p.entries + p.rangeDeletions > 0);
  if (!countsOk) throw bad('inconsistent counts');
  if (p.smallestSeq > p.largestSeq || compareBytes(p.smallestKey, p.largestKey) > 0) throw bad('inconsistent key or sequence range');
  return p;
}
