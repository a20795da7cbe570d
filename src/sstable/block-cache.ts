// An LRU cache of decompressed, checked data blocks, shared by the readers of every table.
// Its bound is in bytes of block contents. Blocks are immutable and a file number names one
// file forever, so an entry never goes stale; evictFile() drops a deleted file's blocks early.
// A cursor that still holds an evicted block keeps using it: the cache bounds what it
// retains, not what is in use.

import { invalidArgument } from '../base/errors.js';
import type { Block } from './block-format.js';

class Entry {
  prev: Entry = this;
  next: Entry = this;
  constructor(
    readonly fileNumber: number,
    readonly offset: number,
    readonly block: Block | undefined,
    readonly charge: number,
  ) {}
}

export class BlockCache {
  readonly #capacityBytes: number;
  #usedBytes = 0;
  #hits = 0;
  #misses = 0;
  readonly #files = new Map<number, Map<number, Entry>>();
  /** Sentinel of the recency list: #lru.next is the most recently used entry. */
  readonly #lru = new Entry(-1, -1, undefined, 0);

  /** `capacityBytes`: bytes of decompressed block contents kept; 0 keeps none. */
  constructor(capacityBytes: number) {
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 0) throw invalidArgument(`block cache capacity must be a whole number of bytes, not ${capacityBytes}`);
    this.#capacityBytes = capacityBytes;
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

  /** Drops every block of `fileNumber` (its file is being deleted). */
  evictFile(fileNumber: number): void {
    const blocks = this.#files.get(fileNumber);
    if (blocks === undefined) return;
    for (const e of blocks.values()) this.#unlink(e);
    this.#files.delete(fileNumber);
  }

  /** The cached block at `offset` of `fileNumber`, counted as a hit or a miss. Internal to src/sstable. */
  lookup(fileNumber: number, offset: number): Block | undefined {
    const e = this.#files.get(fileNumber)?.get(offset);
    if (e === undefined) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    if (this.#lru.next !== e) {
      this.#detach(e);
      this.#attachFront(e);
    }
    return e.block;
  }

  /** Caches `block`, evicting least recently used blocks to stay within capacity. Internal to src/sstable. */
  insert(fileNumber: number, offset: number, block: Block): void {
    const charge = block.data.byteLength;
    if (charge > this.#capacityBytes) return;
    let blocks = this.#files.get(fileNumber);
    if (blocks === undefined) {
      blocks = new Map();
      this.#files.set(fileNumber, blocks);
    }
    const old = blocks.get(offset);
    if (old !== undefined) this.#unlink(old);
    while (this.#usedBytes + charge > this.#capacityBytes) this.#evictOldest();
    const e = new Entry(fileNumber, offset, block, charge);
    blocks.set(offset, e);
    this.#attachFront(e);
    this.#usedBytes += charge;
  }

  #evictOldest(): void {
    const e = this.#lru.prev;
    const blocks = this.#files.get(e.fileNumber)!;
    blocks.delete(e.offset);
    if (blocks.size === 0) this.#files.delete(e.fileNumber);
    this.#detach(e);
    this.#usedBytes -= e.charge;
  }

  /** Removes `e` from the list, the accounting and its file's map. */
  #unlink(e: Entry): void {
    this.#detach(e);
    this.#usedBytes -= e.charge;
    this.#files.get(e.fileNumber)?.delete(e.offset);
  }

  #detach(e: Entry): void {
    e.prev.next = e.next;
    e.next.prev = e.prev;
    e.prev = e;
    e.next = e;
  }

  #attachFront(e: Entry): void {
    const head = this.#lru;
    e.next = head.next;
    e.prev = head;
    head.next.prev = e;
    head.next = e;
  }
}
