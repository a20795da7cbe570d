// The contents of data blocks (and of the index block, which reuses the format): sorted
// entries with prefix-compressed keys, and restart points for binary search.
//
//   block    := entry+ | restart u32 LE * numRestarts | numRestarts u32 LE
//   entry    := shared varint | unshared varint | valueLength varint
//             | keySuffix[unshared] | seq u64 LE | kind u8 | value[valueLength]
//   key      := previous entry's key[0..shared) ++ keySuffix        (shared = 0 at a restart)
//   restart  := offset in the block of an entry stored with shared = 0; the first entry is a
//               restart, then every restartInterval-th entry; offsets ascend
//
// varints are LEB128 of at most 32 bits (base/bytes.ts). seq is below 2^53; kind is a
// ValueKind (0 Delete, 1 Put, 2 Merge); a Delete's value is empty. Entries are in internal order:
// user key ascending, then seq descending. A block holds at least one entry.
//
// block-builder.ts writes this format and block-iter.ts reads it; native/skiplist_blocks.c
// writes it too, for a flush's data blocks (the same bytes: test/compaction-flush.test.ts).

import { getU32 } from '../base/bytes.js';
import { corruption } from '../base/errors.js';

/** seq u64 + kind u8, after the key suffix. */
export const ENTRY_TRAILER_BYTES = 8 + 1;
export const RESTART_BYTES = 4;
export const DEFAULT_RESTART_INTERVAL = 16;

/** A block's decompressed contents, checked once and then shared (through the block cache). */
export class Block {
  /** Always a Buffer: readers compare in place with Buffer#compare. */
  readonly data: Buffer;
  /** End of the entries, where the restart array begins. */
  readonly restartsOffset: number;
  readonly numRestarts: number;
  /** The restart array, decoded and checked (ascending, inside the entries) once. */
  readonly restarts: Uint32Array;
  /** For error messages: the file and the offset of the block in it. */
  readonly file: string;
  readonly fileOffset: number;
  /**
   * Whether `data` is lent by the block cache (its slab, block-slab.ts): valid until the cache
   * evicts the block, which it may do on the next read. A reader uses a lent block within one
   * synchronous read and keeps nothing of it (a copy of what it keeps).
   */
  readonly lent: boolean;

  constructor(data: Buffer, file: string, fileOffset: number, lent = false) {
    this.data = data;
    this.file = file;
    this.fileOffset = fileOffset;
    this.lent = lent;
    if (data.length < RESTART_BYTES + 1) throw corruption(file, fileOffset, `block of ${data.length} bytes is too short`);
    const numRestarts = getU32(data, data.length - RESTART_BYTES);
    const restartsOffset = data.length - RESTART_BYTES - numRestarts * RESTART_BYTES;
    if (numRestarts === 0 || restartsOffset <= 0) throw corruption(file, fileOffset, `block declares ${numRestarts} restart points`);
    const restarts = new Uint32Array(numRestarts);
    let previous = -1;
    for (let i = 0; i < numRestarts; i++) {
      const r = getU32(data, restartsOffset + i * RESTART_BYTES);
      if (r <= previous || r >= restartsOffset || (i === 0 && r !== 0)) throw corruption(file, fileOffset, `restart point ${i} (${r}) is out of order or outside the block's entries`);
      restarts[i] = previous = r;
    }
    this.numRestarts = numRestarts;
    this.restartsOffset = restartsOffset;
    this.restarts = restarts;
  }
}
