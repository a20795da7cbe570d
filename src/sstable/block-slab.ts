// BlockSlab: the memory the block cache copies the blocks it admits into, one region allocated
// once and reused: a block evicted gives its place back, and the next block of about its size
// takes it.
//
// Why: a Buffer of its own for each block admitted is fresh memory while the cache fills, and
// on this project's test machine (a virtual machine: nested paging) the first write of a fresh
// 4 KiB page is a page fault of about 11 us: the 200,000 gets of readrandom just after an open,
// which fill a 32 MiB cache, spent 28% of their main thread's time there (Buffer.from of the
// block: 14 us a block here, 2.6 us when the memory was used before). The region is placed on
// transparent huge pages where the addon can advise it (base/huge-pages.ts): a fault a 2 MiB.
// Once full, the cache evicts and reuses in place, with no allocation, and no garbage for V8
// to count and collect.
//
// Places are whole granules (GRANULE_BYTES); free places are kept by their size in granules.
// take() looks for a free place of the size asked for or up to SIZE_SLACK granules larger,
// then for room past the highest place handed out so far; it answers -1 when neither is
// there (the caller then copies the block into memory of its own, as before). Data blocks
// are about the table's block size each, so the sizes freed are the sizes asked for again.
//
// A block in the slab is lent, not given: once the cache evicts it, its bytes are another
// block's. Block.lent says so; what reads a lent block uses it within the one synchronous
// read, as it uses the scratch buffer of a transient read (physical-block.ts): gets copy the
// value out before they read again, and iterators, which keep their block between calls,
// copy a lent block into a buffer of their own (TableReader's cursor blocks).

import { hugePageBytes, invariant } from '../base/index.js';

/** The unit of a place's size. */
const GRANULE_BYTES = 256;
/** How many granules larger than asked for a free place may be and still be taken. */
const SIZE_SLACK = 2;
/** Blocks larger than this are not placed in the slab (a rare size would hold its place idle). */
export const SLAB_MAX_BLOCK_BYTES = 64 << 10;

export class BlockSlab {
  /** The region, as a Buffer for the views handed out (Block.data is a Buffer). */
  readonly #buffer: Buffer;
  /** Where the never-used room begins (bytes). */
  #top = 0;
  /** Free places by size in granules: their offsets. */
  readonly #free = new Map<number, number[]>();
  /** The size in granules of each place handed out, by offset. */
  readonly #taken = new Map<number, number>();

  /** A region of `bytes` (rounded up to whole granules), its pages touched only as used. */
  constructor(bytes: number) {
    const memory = hugePageBytes(Math.ceil(bytes / GRANULE_BYTES) * GRANULE_BYTES, false);
    this.#buffer = Buffer.from(memory.buffer, memory.byteOffset, memory.byteLength);
  }

  /** The region's size in bytes. */
  get bytes(): number {
    return this.#buffer.byteLength;
  }

  /** The offset of a free place for `length` bytes, now taken, or -1 when there is none. */
  take(length: number): number {
    const granules = Math.ceil(length / GRANULE_BYTES);
    for (let g = granules; g <= granules + SIZE_SLACK; g++) {
      const offsets = this.#free.get(g);
      if (offsets !== undefined && offsets.length > 0) {
        const at = offsets.pop()!;
        this.#taken.set(at, g);
        return at;
      }
    }
    const bytes = granules * GRANULE_BYTES;
    if (this.#top + bytes > this.#buffer.byteLength) return -1;
    const at = this.#top;
    this.#top += bytes;
    this.#taken.set(at, granules);
    return at;
  }

  /** Gives back the place at `offset` that take() handed out. */
  give(offset: number): void {
    const granules = this.#taken.get(offset);
    invariant(granules !== undefined, `a block slab place given back twice, or never taken (${offset})`);
    this.#taken.delete(offset);
    let offsets = this.#free.get(granules);
    if (offsets === undefined) this.#free.set(granules, (offsets = []));
    offsets.push(offset);
  }

  /** Places handed out and not given back. */
  get taken(): number {
    return this.#taken.size;
  }

  /** `contents` copied to the place at `offset`: a view of the slab of contents.length bytes. */
  fill(offset: number, contents: Uint8Array): Buffer {
    this.#buffer.set(contents, offset);
    return this.#buffer.subarray(offset, offset + contents.length);
  }
}
