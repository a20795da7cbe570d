// How many bytes of the tree a file's range tombstones cover below it: the space a compaction
// of that file down the tree returns (RocksDB's "compensated file size", Pebble's
// RangeDeletionsBytesEstimate). The compaction picker counts it toward the file's level and
// prefers the file that covers the most (picker.ts).
//
// An estimate, from metadata and table indexes only (no data block is read): the tombstones'
// key ranges, merged, are measured against every file of every deeper level, a file wholly
// inside a range counting its size and a file a range cuts counting the part between the data
// blocks where the range starts and ends (TableReader.approximateOffsetOf). Sequence numbers
// are ignored (what lies below a file is older than it, except ingested tables), and so are
// the older files of level 0 when the file is itself in level 0.

import { compareBytes, KEY_ABOVE_ALL, type RangeTombstone } from '../base/index.js';
import { NUM_LEVELS, type TableMeta, type Version } from '../manifest/index.js';
import type { TableCache } from '../sstable/index.js';

/**
 * About how many bytes of `table` hold the user keys in [start, end) (either end open when
 * undefined): all of it when the range holds its key range, else the part between the data
 * blocks where the range starts and ends (from the table's index; the table may be opened).
 */
export function approximateBytesIn(table: TableMeta, tables: TableCache, start: Uint8Array | undefined, end: Uint8Array | undefined): number {
  if (end !== undefined && compareBytes(table.smallestKey, end) >= 0) return 0;
  if (start !== undefined && compareBytes(table.largestKey, start) < 0) return 0;
  const cutsStart = start !== undefined && compareBytes(table.smallestKey, start) < 0;
  const cutsEnd = end !== undefined && compareBytes(table.largestKey, end) >= 0;
  if (!cutsStart && !cutsEnd) return table.fileSize;
  const handle = tables.acquire(table.fileNumber);
  try {
    const reader = handle.reader;
    const from = cutsStart ? reader.approximateOffsetOf(start) : 0;
    const to = cutsEnd ? reader.approximateOffsetOf(end) : reader.approximateOffsetOf(KEY_ABOVE_ALL);
    return Math.max(0, to - from);
  } finally {
    handle.release();
  }
}

/**
 * About how many bytes of the levels below `level` in `version` the range tombstones of
 * `file` (a file of `level`) cover. Opens `file` and the files its ranges cut through the
 * table cache; throws what TableCache.acquire throws.
 */
export function coveredBytesBelow(version: Version, level: number, file: TableMeta, tables: TableCache): number {
  if (file.rangeDeletions === 0 || level >= NUM_LEVELS - 1) return 0;
  const handle = tables.acquire(file.fileNumber);
  let ranges: [Uint8Array, Uint8Array | undefined][];
  try {
    ranges = mergedRanges(handle.reader.rangeTombstones);
  } finally {
    handle.release();
  }
  let bytes = 0;
  for (let below = level + 1; below < NUM_LEVELS; below++) {
    for (const [start, end] of ranges) {
      for (const f of version.overlappingFiles(below, start, end)) bytes += approximateBytesIn(f, tables, start, end);
    }
  }
  return bytes;
}

/** The key ranges [start, end) the tombstones cover, disjoint and ascending (end undefined: no end). */
function mergedRanges(tombstones: readonly RangeTombstone[]): [Uint8Array, Uint8Array | undefined][] {
  const sorted = [...tombstones].sort((a, b) => compareBytes(a.start, b.start));
  const ranges: [Uint8Array, Uint8Array | undefined][] = [];
  for (const t of sorted) {
    const last = ranges[ranges.length - 1];
    if (last !== undefined && (last[1] === undefined || compareBytes(t.start, last[1]) <= 0)) {
      if (last[1] !== undefined && (t.end === undefined || compareBytes(t.end, last[1]) > 0)) last[1] = t.end;
    } else {
      ranges.push([t.start, t.end]);
    }
  }
  return ranges;
}
