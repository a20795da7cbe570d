// MemtablePool: the memory of released memtables (arena chunks and node arrays), handed to
// the next memtables of the same engine instead of new allocations.
//
// Why: a memtable's memory lives in SharedArrayBuffers (so that a worker can flush it without
// a copy), and V8 does not count SharedArrayBuffer memory towards the external memory that
// triggers a major garbage collection. The main thread's JavaScript heap stays small during a
// fill, so dead memtables were collected rarely or never, and resident memory grew with the
// data written (about 1.5 GiB after 5 million 116-byte puts with 64 MiB memtables). Reusing
// the memory needs no collection at all: once the engine is done with a memtable (flushed,
// dropped, and no iterator open on it), release() returns its memory here.
//
// Reused memory is not zeroed: the arena writes every byte before it is read, and a skip list
// writes every field of a node when it adds it (it clears its head record itself).
//
// Idle memory is given back to the kernel where the native addon can (decommit: madvise
// MADV_DONTNEED): the pages leave the resident set at once and come back, as zeros, when the
// next memtable writes them. So between fills, and while compactRange() runs after one, the
// pool costs address space, not memory, as a freed memtable would in RocksDB. Without the addon
// the pool's memory stays resident until reused (nativeStatus() says so).

import { HUGE_PAGE_BYTES, hugePageBytes, hugePageInts, invalidArgument, piecesOf } from '../base/index.js';
import { native } from '../base/native.js';
import type { SlotArrays } from './key-index.js';

/** A node array kept for reuse: its entries in use when given (for the bound), and how many of its leading entries are resident. */
export interface PooledNodes {
  nodes: Int32Array;
  used: number;
  touched: number;
}

export class MemtablePool implements SlotArrays {
  readonly chunkBytes: number;
  readonly maxBytes: number;
  readonly #chunks: Uint8Array[] = [];
  /** Key index tables given back (giveSlots). */
  readonly #slotArrays: Int32Array[] = [];
  /** Chunks of the last slab never handed out (#newChunk). */
  readonly #unused: Uint8Array[] = [];
  /** Ascending by length. */
  readonly #nodeArrays: PooledNodes[] = [];
  #bytes = 0;
  #residentBytes = 0;

  /**
   * `chunkBytes`: the arena chunk size of the memtables that use this pool (only chunks of that
   * size are kept). `maxBytes`: the most memory the pool keeps for reuse; what is given back
   * beyond it is left to the garbage collector.
   */
  constructor(chunkBytes: number, maxBytes: number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw invalidArgument(`pool bytes must be a whole number, not ${maxBytes}`);
    this.chunkBytes = chunkBytes;
    this.maxBytes = maxBytes;
  }

  /**
   * The pool for memtables of `memtableBytes`: chunks of a huge page (2 MiB) when a memtable
   * holds at least 16 of them, so that they can be huge pages (#newChunk); 1 MiB otherwise, so
   * that a small memtable does not make a huge page resident for a few writes.
   */
  static forMemtables(memtableBytes: number): MemtablePool {
    return new MemtablePool(memtableBytes >= 16 * HUGE_PAGE_BYTES ? HUGE_PAGE_BYTES : 1 << 20, 2 * memtableBytes);
  }

  /** Bytes kept for reuse now (of node arrays, the entries in use when given back), which maxBytes bounds. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Of bytes, those still resident: all of them without the native decommit, about none with it. */
  get residentBytes(): number {
    return this.#residentBytes;
  }

  /** A chunk of chunkBytes, from the pool if it has one; its contents are arbitrary. */
  takeChunk(): Uint8Array {
    const chunk = this.#chunks.pop();
    if (chunk === undefined) return this.#unused.pop() ?? this.#newChunk();
    this.#bytes -= chunk.byteLength;
    this.#residentBytes -= residentOf(chunk);
    return chunk;
  }

  /**
   * A chunk never written. Chunks of whole huge pages are cut from a slab of SLAB_CHUNKS on
   * huge pages (hugePageBytes), each beginning on a huge page boundary, so that a chunk is
   * faulted in as whole huge pages and its decommit gives them back whole. The rest of the
   * slab waits in #unused, costing address space only.
   */
  #newChunk(): Uint8Array {
    const size = this.chunkBytes;
    if (size % HUGE_PAGE_BYTES !== 0) return new Uint8Array(new SharedArrayBuffer(size));
    this.#unused.push(...piecesOf(hugePageBytes(SLAB_CHUNKS * size, true), size));
    return this.#unused.pop()!;
  }

  /**
   * The largest node array kept, if it has at least `minLength` entries, and how many of its
   * leading entries were ever written (resident: the rest is untouched); contents arbitrary.
   */
  takeNodes(minLength: number): PooledNodes | undefined {
    const arrays = this.#nodeArrays;
    const last = arrays[arrays.length - 1];
    if (last === undefined || last.nodes.length < minLength) return undefined;
    arrays.pop();
    this.#bytes -= last.used * 4;
    this.#residentBytes -= last.touched * 4;
    return last;
  }

  /**
   * A key index table (KeyIndex) of `length` zeros: one given back earlier, or, at huge page
   * sizes, a fresh one advised to be huge pages (a table is written all over at once, so it
   * costs a fault per page at the first write of each). Undefined for smaller tables.
   */
  takeSlots(length: number): Int32Array | undefined {
    const bytes = length * 4;
    if (bytes < MIN_HUGE_SLOTS_BYTES || native.hugePages === undefined) return undefined;
    const i = this.#slotArrays.findIndex((a) => a.length === length);
    if (i >= 0) {
      const slots = this.#slotArrays.splice(i, 1)[0]!;
      this.#bytes -= bytes;
      // Decommitted, its whole pages read as zeros: only the partial pages at its ends (none
      // when it begins on a huge page) keep old contents.
      if (native.decommit === undefined) slots.fill(0);
      else slots.fill(0, 0, PAGE_INTS).fill(0, length - PAGE_INTS);
      return slots;
    }
    return hugePageInts(length, true);
  }

  /** Takes back a key index table takeSlots() gave (smaller ones are left to the collector). */
  giveSlots(slots: Int32Array): void {
    if (slots.byteLength < MIN_HUGE_SLOTS_BYTES || !(slots.buffer instanceof SharedArrayBuffer)) return;
    // Decommitted even when dropped: a SharedArrayBuffer is collected late.
    native.decommit?.(slots);
    if (this.#bytes + slots.byteLength > this.maxBytes) return;
    this.#slotArrays.push(slots);
    this.#bytes += slots.byteLength;
    this.#residentBytes += native.decommit === undefined ? slots.byteLength : 0;
  }

  /**
   * Gives back memory nothing reads or writes any more: arena chunks, and a node array of which
   * the first `touched` entries were ever written. The node array goes first: a memtable that
   * starts with a large one never grows its own (each growth leaves garbage behind).
   */
  give(chunks: readonly Uint8Array[], nodes: Int32Array | undefined, touched = nodes?.length ?? 0): void {
    if (nodes !== undefined) {
      const arrays = this.#nodeArrays;
      let i = arrays.length;
      while (i > 0 && arrays[i - 1]!.nodes.length > nodes.length) i--;
      const resident = native.decommit === undefined ? touched : 0;
      // Whole: its untouched end is zeros already, and a decommit of part of a huge page would split it.
      native.decommit?.(nodes);
      arrays.splice(i, 0, { nodes, used: touched, touched: resident });
      this.#bytes += touched * 4;
      this.#residentBytes += resident * 4;
      // Over the bound, the smallest arrays go first: the next memtable wants the largest.
      while (this.#bytes > this.maxBytes && arrays.length > 0) {
        const dropped = arrays.shift()!;
        this.#bytes -= dropped.used * 4;
        this.#residentBytes -= dropped.touched * 4;
      }
    }
    for (const c of chunks) {
      if (c.byteLength !== this.chunkBytes) continue;
      // Decommitted even when dropped: a chunk of a slab is freed only with all of it.
      native.decommit?.(c);
      if (this.#bytes + c.byteLength > this.maxBytes) continue;
      this.#chunks.push(c);
      this.#bytes += c.byteLength;
      this.#residentBytes += residentOf(c);
    }
  }

  /** Drops everything kept (the engine closes). */
  clear(): void {
    this.#chunks.length = 0;
    this.#unused.length = 0;
    this.#slotArrays.length = 0;
    this.#nodeArrays.length = 0;
    this.#bytes = 0;
    this.#residentBytes = 0;
  }
}

const SLAB_CHUNKS = 16;
/** Key index tables this large or larger come from the pool (takeSlots). */
const MIN_HUGE_SLOTS_BYTES = 2 * HUGE_PAGE_BYTES;
/** A 4 KiB page in int32s (decommit gives back whole pages only). */
const PAGE_INTS = 1024;

/** What a pooled chunk keeps resident: all of it, unless it was decommitted (then its partial pages at most, counted as none). */
function residentOf(chunk: Uint8Array): number {
  return native.decommit === undefined ? chunk.byteLength : 0;
}
