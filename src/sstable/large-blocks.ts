// Blocks of megabytes (a large value is stored alone in a block of its size) are read without
// holding the event loop: reading, checking and decompressing a 64 MiB block on the loop's
// thread takes about half a second, and copying it out another 50 ms.
//
// An asynchronous read (Database.get) runs its synchronous lookup with `deferring` set. A
// reader that reaches a block of LARGE_BLOCK_BYTES or more (in the file, or once decompressed:
// a value of megabytes that compresses well) throws a BlockDeferred instead of
// reading it; the caller pins its sequence number, awaits `load` (readPhysicalBlockAsync: the
// native readBlockAsync does read, checksum and decompression as one job on libuv's thread
// pool; the fallback reads and decompresses there and checksums in slices), hands the block back
// with ready() and runs the lookup again, which then finds it. The lookup is synchronous from
// start to end each time, so it sees one version of the tree; the second run may meet another
// large block (the first was compacted away meanwhile) and defer again.
//
// Large blocks bypass the block cache: a cached one would be copied out on every get (50 ms
// for 64 MiB) and would push out thousands of small blocks. A block loaded for one read
// belongs to that read alone, so copyOut() hands its value to the caller without a copy.
// Synchronous reads (getSync, iterators, compactions) read large blocks synchronously, as before.
//
// getInto(key, target) lends its target (a ReadTarget) to the first large block its lookup
// defers: the block's contents are read into the target when they fit (readPhysicalBlockAsync's
// `into`), and the value, a view of them, is moved to the target's start. A read of megabytes
// then makes no memory of its own, and the garbage collector, which runs a full collection for
// about every 64 MiB of new buffers, has nothing to collect (README, readlarge). Later large
// blocks of the same lookup (the first held no visible version of the key) are read into
// memory of their own: the first is still in use by the lookup run again.

import type { Block } from './block-format.js';

/** A block whose payload, or whose contents once decompressed, is this large or larger is a large block (TableReader decides). */
export const LARGE_BLOCK_BYTES = 1 << 20;

/**
 * Thrown by a table reader asked for a large block while deferring, or by the table cache asked
 * for a table it has not opened (blockNumber -1; table-cache.ts). Not an error: a request.
 */
export class BlockDeferred {
  constructor(
    readonly fileNumber: number,
    readonly blockNumber: number,
    /**
     * Reads and checks the block, or opens the table (undefined: nothing to hand back, the
     * table cache keeps the reader): CORRUPTION and IO_ERROR as a synchronous read.
     */
    readonly load: Promise<Block | undefined>,
  ) {}
}

/** getInto's target: lent to at most one large block of its lookup. */
export class ReadTarget {
  lent = false;
  constructor(readonly bytes: Uint8Array) {}
}

export class LargeBlocks {
  /** Set while an asynchronous read runs its lookup: large blocks not ready are deferred. */
  deferring = false;
  /** Blocks loaded for the lookup being run again, by file and block number. */
  #ready: { fileNumber: number; blockNumber: number; block: Block }[] = [];
  /** The target of the getInto whose lookup is running, if any. */
  #target: ReadTarget | undefined;

  /** A block loaded for the current lookup, or undefined. Internal to src/sstable. */
  ready(fileNumber: number, blockNumber: number): Block | undefined {
    for (const r of this.#ready) if (r.fileNumber === fileNumber && r.blockNumber === blockNumber) return r.block;
    return undefined;
  }

  /**
   * Runs `lookup` with `blocks` at hand and large blocks deferred, and forgets the blocks
   * after. Throws BlockDeferred when it needs one more. `target`: getInto's, to lend.
   */
  runDeferring<T>(blocks: readonly BlockDeferredResult[], lookup: () => T, target?: ReadTarget): T {
    this.deferring = true;
    this.#ready = blocks as BlockDeferredResult[];
    this.#target = target;
    try {
      return lookup();
    } finally {
      this.deferring = false;
      this.#ready = [];
      this.#target = undefined;
    }
  }

  /** The running getInto's target for a large block to be read into, once a lookup; else undefined. Internal to src/sstable. */
  lendTarget(): Uint8Array | undefined {
    const target = this.#target;
    if (target === undefined || target.lent) return undefined;
    target.lent = true;
    return target.bytes;
  }

  /**
   * `view` as a Buffer of its own: a copy, except for a value inside a block loaded for the
   * lookup that is running, which no one else holds: that is handed over as it is.
   */
  copyOut(view: Uint8Array): Buffer {
    if (view.byteLength >= LARGE_BLOCK_BYTES) {
      for (const r of this.#ready) if (r.block.data.buffer === view.buffer) return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
    }
    return Buffer.from(view);
  }
}

export type BlockDeferredResult = { fileNumber: number; blockNumber: number; block: Block };
