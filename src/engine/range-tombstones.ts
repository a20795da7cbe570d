// The range tombstones one shard's reads must apply: those of its memtables and of the tables
// of its current version, gathered into one RangeTombstoneSet (src/base/range-tombstone.ts).
//
// The set is rebuilt only when what it is made of changed (a clear() into the memtable, a
// memtable switch, a new version); with no tombstone anywhere it is the empty set, and the
// read paths' check costs one comparison. A table's tombstones are read once, through the
// table cache, when a version first names it, and kept here (not in the cache, which may close
// the table) until the table is deleted.

import { KEY_ABOVE_ALL, RangeTombstoneSet, type InternalIterator, type RangeTombstone, type SeqNum, type ValueKind } from '../base/index.js';
import type { Version } from '../manifest/index.js';
import type { Memtable } from '../memtable/index.js';
import type { TableCache } from '../sstable/index.js';

export class RangeTombstoneView {
  readonly #tables: TableCache;
  /** Range tombstones of tables that hold some, by file number. */
  readonly #tableTombstones = new Map<number, readonly RangeTombstone[]>();
  #version: Version | undefined;
  #mem: Memtable | undefined;
  #memCount = -1;
  #imms = -1;
  #set = RangeTombstoneSet.EMPTY;

  constructor(tables: TableCache) {
    this.#tables = tables;
  }

  /** The tombstones of `mem`, `imms` and `version`. Synchronous: a table may be opened. */
  current(version: Version, mem: Memtable, imms: readonly { mem: Memtable }[]): RangeTombstoneSet {
    if (version === this.#version && mem === this.#mem && mem.rangeTombstones.length === this.#memCount && imms.length === this.#imms) return this.#set;
    const all: RangeTombstone[] = [...mem.rangeTombstones];
    for (const imm of imms) all.push(...imm.mem.rangeTombstones);
    for (const { table } of version.allFiles()) if (table.rangeDeletions > 0) all.push(...this.#ofTable(table.fileNumber));
    this.#set = all.length === 0 ? RangeTombstoneSet.EMPTY : new RangeTombstoneSet(all);
    this.#version = version;
    this.#mem = mem;
    this.#memCount = mem.rangeTombstones.length;
    this.#imms = imms.length;
    return this.#set;
  }

  /** Table `fileNumber` was deleted: its tombstones are not needed again. */
  forget(fileNumber: number): void {
    this.#tableTombstones.delete(fileNumber);
  }

  #ofTable(fileNumber: number): readonly RangeTombstone[] {
    let tombstones = this.#tableTombstones.get(fileNumber);
    if (tombstones === undefined) {
      const handle = this.#tables.acquire(fileNumber);
      try {
        tombstones = handle.reader.rangeTombstones;
      } finally {
        handle.release();
      }
      this.#tableTombstones.set(fileNumber, tombstones);
    }
    return tombstones;
  }
}

/**
 * One source of a read (a memtable's or a table's cursor, a level's) that steps over what a
 * range tombstone hides from it, instead of showing every covered entry to the merge above.
 * A tombstone visible at the read's sequence and newer than every entry of this source
 * (`maxSeq`) hides all of the source's entries in its fragment: the cursor seeks past the
 * fragment. What a clear() costs a scan before compaction is then a seek per source, not a
 * step per cleared key. Only forward moves skip (DbIterator never changes direction; a reverse
 * scan steps over covered entries one by one, and DbIterator hides them).
 */
export class TombstoneSkippingIterator implements InternalIterator {
  readonly #inner: InternalIterator;
  readonly #maxSeq: SeqNum;
  readonly #tombstones: RangeTombstoneSet;
  readonly #readSeq: SeqNum;

  constructor(inner: InternalIterator, maxSeq: SeqNum, tombstones: RangeTombstoneSet, readSeq: SeqNum) {
    this.#inner = inner;
    this.#maxSeq = maxSeq;
    this.#tombstones = tombstones;
    this.#readSeq = readSeq;
  }

  valid(): boolean {
    return this.#inner.valid();
  }

  seekToFirst(): void {
    this.#inner.seekToFirst();
    this.#skipForward();
  }

  seek(key: Uint8Array): void {
    this.#inner.seek(key);
    this.#skipForward();
  }

  next(): void {
    this.#inner.next();
    this.#skipForward();
  }

  seekToLast(): void {
    this.#inner.seekToLast();
  }

  seekForPrev(key: Uint8Array): void {
    this.#inner.seekForPrev(key);
  }

  prev(): void {
    this.#inner.prev();
  }

  key(): Uint8Array {
    return this.#inner.key();
  }

  seq(): SeqNum {
    return this.#inner.seq();
  }

  kind(): ValueKind {
    return this.#inner.kind();
  }

  value(): Uint8Array {
    return this.#inner.value();
  }

  close(): void {
    this.#inner.close();
  }

  #skipForward(): void {
    const inner = this.#inner;
    while (inner.valid()) {
      const key = inner.key();
      if (this.#tombstones.coveringSeq(key, this.#readSeq) <= this.#maxSeq) return;
      // The fragment's end is after `key`: each seek moves forward.
      inner.seek(this.#tombstones.fragmentEnd(key) ?? KEY_ABOVE_ALL);
    }
  }
}
