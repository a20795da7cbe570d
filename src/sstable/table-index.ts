// The index block (format.ts) decoded once, when a table opens, into flat arrays for binary
// search. The separators' common prefix is checked once per search; the eight bytes after it
// are kept as two integers per separator, so that most comparisons of a search read one array
// and never touch key bytes. (Keys often share their first bytes: db_bench's are zero-padded
// decimal numbers, whose first ten bytes are all '0' in a table of a million.)
//
// Decoding also checks the handles: the data blocks must lie back to back from offset 0 up
// to the filter block, one per properties.dataBlocks. After that a handle is trusted. With the
// addon the decoding is one call (native/index_decode.c), which leaves to decodeIndex's own
// loop anything it does not accept.

import { corruption } from '../base/errors.js';
import type { SeqNum } from '../base/internal-key.js';
import type { Block } from './block-format.js';
import { BlockIter } from './block-iter.js';
import { decodeHandleInto, type BlockHandle } from './format.js';
import { native } from '../base/native.js';
import { BLOCK_TRAILER_BYTES, VALUE_KINDS } from './physical-block.js';

export class TableIndex {
  /** Number of data blocks. */
  readonly count: number;
  /** Bytes every separator starts with (the common prefix of the first and the last). */
  readonly #skip: number;
  /** Per separator: its bytes #skip..#skip+3 and #skip+4..#skip+7 (prefixAt), side by side. */
  readonly #words: Uint32Array;
  readonly #keys: Buffer;
  /** Separator i is #keys[#keyOffsets[i]..#keyOffsets[i + 1]). */
  readonly #keyOffsets: Uint32Array;
  readonly #seqs: Float64Array;
  readonly #blockOffsets: Float64Array;
  readonly #blockSizes: Uint32Array;

  /** A table's index from its decoded parts (decodeIndex). */
  constructor(parts: IndexParts) {
    const { count, keys, keyOffsets } = parts;
    this.count = count;
    this.#keys = keys;
    this.#keyOffsets = keyOffsets;
    this.#seqs = parts.seqs;
    this.#blockOffsets = parts.blockOffsets;
    this.#blockSizes = parts.blockSizes;
    if (parts.words !== undefined) {
      // Made by the addon (decodeIndexBlock), as below.
      this.#words = parts.words;
      this.#skip = parts.skip!;
      return;
    }
    let skip = 0;
    if (count > 0) {
      const lastStart = keyOffsets[count - 1]!;
      const common = Math.min(keyOffsets[1]!, keys.length - lastStart);
      while (skip < common && keys[skip] === keys[lastStart + skip]) skip++;
    }
    this.#skip = skip;
    const words = new Uint32Array(count * 2);
    for (let j = 0; j < count; j++) {
      const start = keyOffsets[j]! + skip;
      const length = keyOffsets[j + 1]! - start;
      words[2 * j] = prefixAt(keys, start, length);
      words[2 * j + 1] = length > 4 ? prefixAt(keys, start + 4, length - 4) : 0;
    }
    this.#words = words;
  }

  /** Bytes of the decoded index: the separators and the per-block arrays. */
  get memoryBytes(): number {
    return this.#keys.length + this.#keyOffsets.byteLength + this.#words.byteLength + this.#seqs.byteLength + this.#blockOffsets.byteLength + this.#blockSizes.byteLength;
  }

  /**
   * The first data block whose separator is at or after (key, seq) in internal order: the only
   * block that can hold the first entry at or after (key, seq). `count` when there is none.
   */
  find(key: Uint8Array, seq: SeqNum): number {
    const count = this.count;
    if (count === 0) return 0;
    const skip = this.#skip;
    // Against the common prefix: a key that differs from it sorts before or after all.
    const keys = this.#keys;
    const n = key.length < skip ? key.length : skip;
    for (let j = 0; j < n; j++) {
      const d = key[j]! - keys[j]!;
      if (d !== 0) return d < 0 ? 0 : count;
    }
    if (key.length < skip) return 0;
    const rest = key.length - skip;
    const targetHi = prefixAt(key, skip, rest);
    const targetLo = rest > 4 ? prefixAt(key, skip + 4, rest - 4) : 0;
    const words = this.#words;
    let lo = 0;
    let hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const wordHi = words[2 * mid]!;
      let before: boolean;
      if (wordHi !== targetHi) before = wordHi < targetHi;
      else {
        const wordLo = words[2 * mid + 1]!;
        before = wordLo !== targetLo ? wordLo < targetLo : this.#compareFull(mid, key, seq) < 0;
      }
      if (before) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The arrays find() searches, in native/table_get.c's order, and the common prefix's length:
   * for the addon's point read (TableReader). REQUIRES: the caller changes none of them.
   */
  nativeParts(): { arrays: [Uint32Array, Buffer, Uint32Array, Float64Array, Float64Array, Uint32Array]; skip: number } {
    return { arrays: [this.#words, this.#keys, this.#keyOffsets, this.#seqs, this.#blockOffsets, this.#blockSizes], skip: this.#skip };
  }

  /** The user key of separator i (a copy): at or after every key of block i, before every key of block i + 1. */
  separatorKey(i: number): Uint8Array {
    return Uint8Array.prototype.slice.call(this.#keys, this.#keyOffsets[i]!, this.#keyOffsets[i + 1]!);
  }

  blockOffset(i: number): number {
    return this.#blockOffsets[i]!;
  }

  blockSize(i: number): number {
    return this.#blockSizes[i]!;
  }

  /** Separator i against (key, seq). REQUIRES: they share the first #skip bytes. */
  #compareFull(i: number, key: Uint8Array, seq: SeqNum): number {
    const keys = this.#keys;
    const start = this.#keyOffsets[i]!;
    const end = this.#keyOffsets[i + 1]!;
    const aLength = end - start;
    const n = aLength < key.length ? aLength : key.length;
    for (let j = this.#skip; j < n; j++) {
      const d = keys[start + j]! - key[j]!;
      if (d !== 0) return d;
    }
    if (aLength !== key.length) return aLength - key.length;
    const s = this.#seqs[i]!;
    return s > seq ? -1 : s < seq ? 1 : 0;
  }
}

/** A decoded index block: the separators and the data blocks' handles (TableIndex's input). */
interface IndexParts {
  count: number;
  keys: Buffer;
  keyOffsets: Uint32Array;
  seqs: Float64Array;
  blockOffsets: Float64Array;
  blockSizes: Uint32Array;
  /** The words and skip TableIndex computes, when the addon computed them. */
  words?: Uint32Array;
  skip?: number;
}

/** Entries decodeIndex() decodes between two of its pauses. */
export const INDEX_DECODE_SLICE = 256;

/**
 * Decodes the index block `block` of a table whose data blocks end at `dataEnd` and number
 * `dataBlocks` (from the properties) into its TableIndex, pausing (yielding) after every
 * INDEX_DECODE_SLICE entries: a caller on the event loop's thread that may wait (a table
 * opened for an asynchronous read) gives the loop a turn there, since a table of 32 MiB has
 * about 8,000 entries, 10-15 ms of decoding while the code is cold; a synchronous caller runs
 * it through. Throws CORRUPTION naming the index block's offset. `block` undefined: a table
 * without data blocks (format.ts), whose index is empty.
 */
export function* decodeIndex(block: Block | undefined, dataEnd: number, dataBlocks: number): Generator<void, TableIndex, void> {
  if (block !== undefined && native.decodeIndexBlock !== undefined) {
    // In one call of the addon, without pauses (1.5-3.6 ms for 9,067 data blocks, against 4.5-23 ms here);
    // anything it does not accept is decoded below, which says what is wrong.
    const parts = native.decodeIndexBlock(block.data, block.restartsOffset, dataBlocks, dataEnd, BLOCK_TRAILER_BYTES, VALUE_KINDS);
    if (parts !== null) {
      const [keys, keyOffsets, seqs, blockOffsets, blockSizes, words, skip] = parts;
      return new TableIndex({ count: dataBlocks, keys, keyOffsets, seqs, blockOffsets, blockSizes, words, skip });
    }
  }
  const bad = (what: string) => corruption(block?.file ?? '(table)', block?.fileOffset ?? dataEnd, `index block: ${what}`);
  const it = new BlockIter();
  if (block !== undefined) {
    it.reset(block);
    it.seekToFirst();
  }
  const count = dataBlocks;
  const keyOffsets = new Uint32Array(count + 1);
  const seqs = new Float64Array(count);
  const blockOffsets = new Float64Array(count);
  const blockSizes = new Uint32Array(count);
  let keys = Buffer.allocUnsafe(Math.max(64, count * 8));
  const handle: BlockHandle = { offset: 0, size: 0 };
  let keyBytes = 0;
  let expectedOffset = 0;
  let i = 0;
  for (; block !== undefined && it.valid(); it.next(), i++) {
    if (i === count) throw bad(`more entries than the ${count} data blocks`);
    if (i % INDEX_DECODE_SLICE === INDEX_DECODE_SLICE - 1) yield;
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
    keyBytes += keyLength;
    keyOffsets[i + 1] = keyBytes;
    seqs[i] = it.seq();
    blockOffsets[i] = handle.offset;
    blockSizes[i] = handle.size;
  }
  if (i !== count) throw bad(`${i} entries for ${count} data blocks`);
  if (expectedOffset !== dataEnd) throw bad(`data blocks end at ${expectedOffset}, the filter block starts at ${dataEnd}`);
  return new TableIndex({ count, keys: keys.subarray(0, keyBytes), keyOffsets, seqs, blockOffsets, blockSizes });
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
