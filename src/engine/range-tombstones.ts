// The range tombstones one shard's reads must apply: those of its memtables and of the tables
// of its current version, gathered into one RangeTombstoneSet (src/base/range-tombstone.ts).
//
// The set is rebuilt only when what it is made of changed (a clear() into the memtable, a
// memtable switch, a new version); with no tombstone anywhere it is the empty set, and the
// read paths' check costs one comparison. A table's tombstones are read once, through the
// table cache, when a version first names it, and kept here (not in the cache, which may close
// the table) until the table is deleted.

import { RangeTombstoneSet, type RangeTombstone } from '../base/index.js';
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
