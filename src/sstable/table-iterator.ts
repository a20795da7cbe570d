// A cursor over a whole table: a position in the table's index picks the data block, a
// block cursor walks inside it. Data blocks come through the reader (and its block cache).

import { closedError } from '../base/errors.js';
import type { InternalIterator } from '../base/internal-iterator.js';
import type { SeqNum, ValueKind } from '../base/internal-key.js';
import type { Block } from './block-format.js';
import { BlockIter } from './block-iter.js';
import type { TableIndex } from './table-index.js';

/** A buffer of the iterator's own that its blocks may be read into (TableBlockSource.block). */
export interface OwnBlockBuffer {
  buffer: Buffer | undefined;
}

/** What a TableIterator needs from its TableReader. */
export interface TableBlockSource {
  readonly index: TableIndex;
  /**
   * Data block `i` (in file order): a cached block, or one read into `own` (made or grown as
   * needed) without caching it, its bytes then valid until the iterator reads another block.
   */
  block(i: number, own: OwnBlockBuffer): Block;
  /** Called once, when the iterator closes. */
  release(): void;
}

export class TableIterator implements InternalIterator {
  #source: TableBlockSource | undefined;
  readonly #index: TableIndex;
  /** The data block #data walks; -1 or index.count when unpositioned. */
  #block = -1;
  readonly #data = new BlockIter();
  /** Cleared at the start of every move, so a move that throws leaves the cursor unpositioned. */
  #valid = false;
  /**
   * Where a block not in the cache is read (TableBlockSource.block): a key or value seen
   * through this cursor is a view of it until the cursor (or another cursor given the same
   * buffer) reads another block, which rewrites it, as InternalIterator allows.
   */
  readonly #own: OwnBlockBuffer;

  /** `own`: a buffer kept across the cursors of one level (LevelIterator), or a new one. */
  constructor(source: TableBlockSource, own: OwnBlockBuffer = { buffer: undefined }) {
    this.#source = source;
    this.#index = source.index;
    this.#own = own;
  }

  valid(): boolean {
    return this.#valid;
  }

  seekToFirst(): void {
    this.#valid = false;
    if (!this.#loadBlock(0)) return;
    this.#data.seekToFirst();
    this.#skipEmptyForward();
  }

  seekToLast(): void {
    this.#valid = false;
    if (!this.#loadBlock(this.#index.count - 1)) return;
    this.#data.seekToLast();
    this.#skipEmptyBackward();
  }

  seek(key: Uint8Array): void {
    this.#seekInternal(key, Infinity);
  }

  seekForPrev(key: Uint8Array): void {
    // -1 sorts after every sequence number: this finds the first entry of a larger user key.
    this.#seekInternal(key, -1);
    if (this.#valid) this.prev();
    else this.seekToLast();
  }

  next(): void {
    this.#valid = false;
    this.#checkOpen();
    this.#data.next();
    this.#skipEmptyForward();
  }

  prev(): void {
    this.#valid = false;
    this.#checkOpen();
    this.#data.prev();
    this.#skipEmptyBackward();
  }

  key(): Uint8Array {
    return this.#data.key();
  }

  seq(): SeqNum {
    return this.#data.seq();
  }

  kind(): ValueKind {
    return this.#data.kind();
  }

  value(): Uint8Array {
    return this.#data.value();
  }

  close(): void {
    const source = this.#source;
    if (source === undefined) return;
    this.#source = undefined;
    this.#valid = false;
    source.release();
  }

  /** Positions at the first entry at or after (key, seq) in internal order. */
  #seekInternal(key: Uint8Array, seq: number): void {
    this.#valid = false;
    const source = this.#checkOpen();
    const i = this.#index.find(key, seq);
    this.#block = i;
    if (i >= this.#index.count) return;
    this.#data.reset(source.block(i, this.#own));
    this.#data.seek(key, seq);
    this.#skipEmptyForward();
  }

  /** Loads data block `i`; false (and unpositioned) past either end. */
  #loadBlock(i: number): boolean {
    const source = this.#checkOpen();
    this.#block = i;
    if (i < 0 || i >= this.#index.count) {
      this.#valid = false;
      return false;
    }
    this.#data.reset(source.block(i, this.#own));
    return true;
  }

  #skipEmptyForward(): void {
    while (!this.#data.valid()) {
      if (!this.#loadBlock(this.#block + 1)) return;
      this.#data.seekToFirst();
    }
    this.#valid = true;
  }

  #skipEmptyBackward(): void {
    while (!this.#data.valid()) {
      if (!this.#loadBlock(this.#block - 1)) return;
      this.#data.seekToLast();
    }
    this.#valid = true;
  }

  #checkOpen(): TableBlockSource {
    if (this.#source === undefined) {
      this.#valid = false;
      throw closedError('table iterator');
    }
    return this.#source;
  }
}
