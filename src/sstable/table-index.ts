// The index block (format.ts) decoded once, when a table opens, into flat arrays for binary
// search. The first four bytes of each separator are kept as one integer, so that most
// comparisons of a search read a single array and never touch key bytes.
//
// Decoding also checks the handles: the data blocks must lie back to back from offset 0 up
// to the filter block, one per properties.dataBlocks. After that a handle is trusted.

import { corruption } from '../base/errors.js';
import type { SeqNum } from '../base/internal-key.js';
import type { Block } from './block-format.js';
import { BlockIter } from './block-iter.js';
import { decodeHandleInto, type BlockHandle } from './format.js';
import { BLOCK_TRAILER_BYTES } from './physical-block.js';

export class TableIndex {
  /** Number of data blocks. */
  readonly count: number;
  readonly #prefixes: Uint32Array;
  readonly #keys: Buffer;
  /** Separator i is #keys[#keyOffsets[i]..#keyOffsets[i + 1]). */
  readonly #keyOffsets: Uint32Array;
  readonly #seqs: Float64Array;
  readonly #blockOffsets: Float64Array;
  readonly #blockSizes: Uint32Array;

  /**
   * Decodes the index block `block` of a table whose data blocks end at `dataEnd` and number
   * `dataBlocks` (from the properties). Throws CORRUPTION naming the index block's offset.
   */
  constructor(block: Block, dataEnd: number, dataBlocks: number) {
    const bad = (what: string) => corruption(block.file, block.fileOffset, `index block: ${what}`);
    const it = new BlockIter();
    it.reset(block);
    const count = dataBlocks;
    const prefixes = new Uint32Array(count);
    const keyOffsets = new Uint32Array(count + 1);
    const seqs = new Float64Array(count);
    const blockOffsets = new Float64Array(count);
    const blockSizes = new Uint32Array(count);
    let keys = Buffer.allocUnsafe(Math.max(64, count * 8));
    const handle: BlockHandle = { offset: 0, size: 0 };
    let keyBytes = 0;
    let expectedOffset = 0;
    let i = 0;
    for (it.seekToFirst(); it.valid(); it.next(), i++) {
      if (i === count) throw bad(`more entries than the ${count} data blocks`);
      if (!decodeHandleInto(it.data, it.valueOffset, it.valueOffset + it.valueLength, handle)) throw bad(`entry ${i} holds a malformed block handle`);
      if (handle.offset !== expectedOffset) throw bad(`data block ${i} at ${handle.offset}, expected at ${expectedOffset}`);
      expectedOffset = handle.offset + handle.size + BLOCK_TRAILER_BYTES;
      const keyLength = it.keyLength;
      if (keyBytes + keyLength > keys.length) {
        const grown = Buffer.allocUnsafe(Math.max(keyBytes + keyLength, keys.length * 2));
        keys.copy(grown, 0, 0, keyBytes);
        keys = grown;
      }
      it.copyKey(keys, keyBytes);
      prefixes[i] = prefixAt(keys, keyBytes, keyLength);
      keyBytes += keyLength;
      keyOffsets[i + 1] = keyBytes;
      seqs[i] = it.seq();
      blockOffsets[i] = handle.offset;
      blockSizes[i] = handle.size;
    }
    if (i !== count) throw bad(`${i} entries for ${count} data blocks`);
    if (expectedOffset !== dataEnd) throw bad(`data blocks end at ${expectedOffset}, the filter block starts at ${dataEnd}`);
    this.count = count;
    this.#prefixes = prefixes;
    this.#keys = keys.subarray(0, keyBytes);
    this.#keyOffsets = keyOffsets;
    this.#seqs = seqs;
    this.#blockOffsets = blockOffsets;
    this.#blockSizes = blockSizes;
  }

  /**
   * The first data block whose separator is at or after (key, seq) in internal order: the only
   * block that can hold the first entry at or after (key, seq). `count` when there is none.
   */
  find(key: Uint8Array, seq: SeqNum): number {
    const target = prefixAt(key, 0, key.length);
    const prefixes = this.#prefixes;
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const p = prefixes[mid]!;
      if (p < target || (p === target && this.#compareFull(mid, key, seq) < 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  blockOffset(i: number): number {
    return this.#blockOffsets[i]!;
  }

  blockSize(i: number): number {
    return this.#blockSizes[i]!;
  }

  #compareFull(i: number, key: Uint8Array, seq: SeqNum): number {
    const keys = this.#keys;
    const start = this.#keyOffsets[i]!;
    const end = this.#keyOffsets[i + 1]!;
    const aLength = end - start;
    const n = aLength < key.length ? aLength : key.length;
    for (let j = 4; j < n; j++) {
      const d = keys[start + j]! - key[j]!;
      if (d !== 0) return d;
    }
    if (aLength !== key.length) return aLength - key.length;
    const s = this.#seqs[i]!;
    return s > seq ? -1 : s < seq ? 1 : 0;
  }
}

/**
 * The first four bytes of the key b[start..start + length), big-endian, zero-padded. Two keys
 * whose prefixes differ compare as their prefixes do; equal prefixes need the rest of the bytes.
 */
function prefixAt(b: Uint8Array, start: number, length: number): number {
  return (
    (((length > 0 ? b[start]! : 0) << 24) |
      ((length > 1 ? b[start + 1]! : 0) << 16) |
      ((length > 2 ? b[start + 2]! : 0) << 8) |
      (length > 3 ? b[start + 3]! : 0)) >>>
    0
  );
}
