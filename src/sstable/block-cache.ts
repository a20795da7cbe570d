// A cache of decompressed, checked data blocks, shared by the readers of every table. Its
// bound is in bytes of block contents. Blocks are immutable and a file number names one file
// forever, so an entry never goes stale; evictFile() drops a deleted file's blocks early.
// A cursor that still holds an evicted block keeps using it: the cache bounds what it
// retains, not what is in use.
//
// Replacement is CLOCK (second chance), an approximation of least-recently-used: a hit only
// sets the entry's reference bit, where moving it to the front of a recency list would write
// to three entries scattered in memory on every hit. To make room, a hand sweeps the ring of
// entries from the oldest insert on, clearing set bits and evicting the first entry whose bit
// is clear. A block read once and never again goes first; a block hit since the hand last
// passed it stays for one more sweep.
//
// A reader looks its blocks up through the FileBlocks of its file (fileBlocks(), once at
// open), by block number: one map lookup per hit, no key to build.
//
// Admission, for point reads: a get() that misses asks admit() whether to cache the block.
// The first miss of a block is only remembered (a hash of file and block number in a small
// direct-mapped table: a window of recent misses); a second miss while
// it is remembered admits it. A block read once by a random get is then never copied into
// memory of its own (the reader reads it transiently, table-reader.ts), and does not push
// out blocks read more often. Iterators ask the same (a scan reads each block once: a range
// read again within the window is admitted); without the addon's mapping every block an
// iterator reads is cached.

import { invalidArgument } from '../base/errors.js';
import { native, type BlockSlots } from '../base/native.js';
import { Block } from './block-format.js';
import { BlockSlab, SLAB_MAX_BLOCK_BYTES } from './block-slab.js';

class Entry {
  prev: Entry = this;
  next: Entry = this;
  referenced = false;
  constructor(
    readonly file: FileBlocks,
    readonly blockNumber: number,
    readonly block: Block,
    readonly charge: number,
    /** Where the block's contents are in the slab, or -1 (memory of its own). */
    readonly place: number,
  ) {}
}

/** A block's byte in FileBlocks' bytes (native()): not cached, cached, cached and used since the clock hand passed. */
const NOT_CACHED = 0;
const CACHED = 1;
const REFERENCED = 2;

/** The cached blocks of one table file, by block number. Internal to src/sstable. */
export class FileBlocks {
  readonly entries = new Map<number, Entry>();
  /**
   * For point reads that run in the addon (native/table_get.c; set up by native()): a byte a
   * block (NOT_CACHED, CACHED, or REFERENCED once the addon served a read from it) and the
   * blocks' contents, which the addon searches in place.
   */
  #bytes: Uint8Array | undefined;
  #slots: BlockSlots | undefined;
  constructor(readonly fileNumber: number) {}

  /** The file's `blocks` bytes and slots, made on first call with every cached block in them. */
  native(blocks: number): { bytes: Uint8Array; slots: BlockSlots } {
    if (this.#bytes === undefined || this.#slots === undefined || this.#bytes.length !== blocks) {
      this.#bytes = new Uint8Array(blocks);
      this.#slots = native.blockSlots!(blocks);
      for (const [n, e] of this.entries) this.cached(n, e.block.data);
    }
    return { bytes: this.#bytes, slots: this.#slots };
  }

  /** Internal to BlockCache: block `n` now cached with `contents` (or, with null, no longer), for the addon. */
  cached(n: number, contents: Uint8Array | null): void {
    const bytes = this.#bytes;
    if (bytes === undefined || n >= bytes.length) return;
    bytes[n] = contents === null ? NOT_CACHED : CACHED;
    native.setBlockSlot!(this.#slots!, n, contents);
  }

  /** Internal to BlockCache: whether the addon served a read from block `n` since the last call, which clears it. */
  takeReference(n: number): boolean {
    const bytes = this.#bytes;
    if (bytes === undefined || bytes[n] !== REFERENCED) return false;
    bytes[n] = CACHED;
    return true;
  }
}

export class BlockCache {
  readonly #capacityBytes: number;
  #usedBytes = 0;
  #hits = 0;
  #misses = 0;
  #hitsInPlace = 0;
  /** Where insertCopy() copies blocks to; made on its first call. */
  #slab: BlockSlab | undefined;
  #unplaced = 0;
  /** Every file that has had a reader since its last evictFile(). */
  readonly #files = new Map<number, FileBlocks>();
  /** The clock hand: the next entry a sweep looks at, the oldest insert; undefined when empty. */
  #hand: Entry | undefined;

  /** Hashes of blocks a point read missed once (0: empty slot): admit()'s memory. */
  readonly #missedOnce: Int32Array;
  /** 32 less log2 of #missedOnce's length: a hash's top bits pick its slot. */
  readonly #slotShift: number;

  /** `capacityBytes`: bytes of decompressed block contents kept; 0 keeps none. */
  constructor(capacityBytes: number) {
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 0) throw invalidArgument(`block cache capacity must be a whole number of bytes, not ${capacityBytes}`);
    this.#capacityBytes = capacityBytes;
    // About one slot per 16 of the 4 KiB blocks the cache holds, a power of two from 64 to
    // 2^20: a block missed twice within about that many misses is admitted. Measured on 1M
    // uniformly random gets (README, Benchmarks): a window as large as the cache admitted
    // nearly every block read twice, and the copies cost more than the hits saved.
    const slotBits = Math.min(20, Math.max(6, Math.ceil(Math.log2(Math.max(1, capacityBytes / 4096 / 16)))));
    this.#missedOnce = new Int32Array(1 << slotBits);
    this.#slotShift = 32 - slotBits;
  }

  get capacityBytes(): number {
    return this.#capacityBytes;
  }

  get hits(): number {
    return this.#hits;
  }

  get misses(): number {
    return this.#misses;
  }

  get usedBytes(): number {
    return this.#usedBytes;
  }

  /**
   * The blocks of table `fileNumber`, for a reader of it to look up and insert through.
   * Internal to src/sstable.
   */
  fileBlocks(fileNumber: number): FileBlocks {
    let file = this.#files.get(fileNumber);
    if (file === undefined) {
      file = new FileBlocks(fileNumber);
      this.#files.set(fileNumber, file);
    }
    return file;
  }

  /** Drops every block of `fileNumber` (its file is being deleted). */
  evictFile(fileNumber: number): void {
    const file = this.#files.get(fileNumber);
    if (file === undefined) return;
    for (const e of file.entries.values()) this.#remove(e);
    this.#files.delete(fileNumber);
  }

  /** Block `blockNumber` of `file`, counted as a hit or a miss. Internal to src/sstable. */
  lookup(file: FileBlocks, blockNumber: number): Block | undefined {
    const e = file.entries.get(blockNumber);
    if (e === undefined) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    e.referenced = true;
    return e.block;
  }

  /** Counts the misses (blocks read past the cache) and hits of a point read run in the addon (native/table_get.c). */
  count(misses: number, hits: number): void {
    this.#misses += misses;
    this.#hits += hits;
    this.#hitsInPlace += hits;
  }

  /** Hits the addon served by searching the cached block in place (of `hits`; for tests). */
  get hitsInPlace(): number {
    return this.#hitsInPlace;
  }

  /** admit()'s window and its slot shift, which the addon's point read uses as admit() does (native/table_get.c). */
  get admission(): { window: Int32Array; slotShift: number } {
    return { window: this.#missedOnce, slotShift: this.#slotShift };
  }

  /**
   * For a point read that missed block `blockNumber` of `file`: whether to cache it (its
   * second miss since its first was remembered) or read it transiently (a first miss, now
   * remembered). Internal to src/sstable.
   */
  admit(file: FileBlocks, blockNumber: number): boolean {
    const hash = (Math.imul(file.fileNumber, 0x9e3779b1) ^ Math.imul(blockNumber + 1, 0x85ebca77)) | 1;
    const slot = hash >>> this.#slotShift;
    if (this.#missedOnce[slot] === hash) {
      this.#missedOnce[slot] = 0;
      return true;
    }
    this.#missedOnce[slot] = hash;
    return false;
  }

  /** Caches `block`, evicting blocks to stay within capacity. Internal to src/sstable. */
  insert(file: FileBlocks, blockNumber: number, block: Block): void {
    const charge = block.data.byteLength;
    if (charge > this.#capacityBytes) return;
    this.#makeRoom(file, blockNumber, charge);
    this.#link(new Entry(file, blockNumber, block, charge, -1));
  }

  /**
   * Caches block `blockNumber` of `file`, whose checked `contents` (a transient read's, which
   * the next read overwrites) are copied into the slab: the block returned is lent (Block.lent,
   * block-slab.ts). Where the slab has no place for it, into memory of its own (not lent).
   * Internal to src/sstable.
   */
  insertCopy(file: FileBlocks, blockNumber: number, contents: Uint8Array, path: string, fileOffset: number): Block {
    const charge = contents.byteLength;
    if (charge > this.#capacityBytes || charge > SLAB_MAX_BLOCK_BYTES) {
      const block = new Block(Buffer.from(contents), path, fileOffset);
      this.insert(file, blockNumber, block);
      return block;
    }
    this.#makeRoom(file, blockNumber, charge);
    // A slab a little larger than the capacity: places are whole granules.
    this.#slab ??= new BlockSlab(this.#capacityBytes + (this.#capacityBytes >>> 3));
    const slab = this.#slab;
    const place = slab.take(charge);
    if (place < 0) this.#unplaced++;
    let block: Block;
    try {
      block = place < 0 ? new Block(Buffer.from(contents), path, fileOffset) : new Block(slab.fill(place, contents), path, fileOffset, true);
    } catch (err) {
      if (place >= 0) slab.give(place);
      throw err;
    }
    this.#link(new Entry(file, blockNumber, block, charge, place));
    return block;
  }

  /** Places handed out by the slab (for tests: each cached block's, no more). */
  get slabPlaces(): number {
    return this.#slab?.taken ?? 0;
  }

  /** Blocks insertCopy() copied into memory of their own, for want of a place in the slab (for tests). */
  get unplaced(): number {
    return this.#unplaced;
  }

  /** Makes room for `charge` more bytes, block `blockNumber` of `file` first. */
  #makeRoom(file: FileBlocks, blockNumber: number, charge: number): void {
    const old = file.entries.get(blockNumber);
    if (old !== undefined) this.#remove(old);
    while (this.#usedBytes + charge > this.#capacityBytes) this.#evictOne();
  }

  /** Adds `e` to its file's map and to the ring, just behind the hand. */
  #link(e: Entry): void {
    const { file, blockNumber, block, charge } = e;
    file.entries.set(blockNumber, e);
    file.cached(blockNumber, block.data);
    this.#usedBytes += charge;
    const hand = this.#hand;
    if (hand === undefined) {
      this.#hand = e;
      return;
    }
    // Just behind the hand: the newest insert is the last a sweep reaches.
    e.prev = hand.prev;
    e.next = hand;
    hand.prev.next = e;
    hand.prev = e;
  }

  #evictOne(): void {
    let e = this.#hand!;
    // Both marks are cleared as the hand passes: the one get() sets here and the addon's.
    while (e.file.takeReference(e.blockNumber) || e.referenced) {
      e.referenced = false;
      e = e.next;
    }
    this.#hand = e;
    this.#remove(e);
  }

  /** Takes `e` out of the ring, the accounting and its file's map. */
  #remove(e: Entry): void {
    if (e.next === e) this.#hand = undefined;
    else {
      if (this.#hand === e) this.#hand = e.next;
      e.prev.next = e.next;
      e.next.prev = e.prev;
    }
    e.prev = e;
    e.next = e;
    this.#usedBytes -= e.charge;
    e.file.entries.delete(e.blockNumber);
    e.file.cached(e.blockNumber, null);
    if (e.place >= 0) this.#slab!.give(e.place);
  }
}
