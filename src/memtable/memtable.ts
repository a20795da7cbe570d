// Memtable: the sorted, in-memory home of the newest writes of one shard.
//
// The engine adds every committed write here, reads it with get() and iterators, and, once
// approximateBytes reaches its budget, marks it immutable and flushes it to an L0 table.
// Single-threaded: calls never overlap, but an iterator may stay open across add() calls.

import { applyEntries, BATCH_HEADER_BYTES, getU32, getU64, getVarint, invalidArgument, invariant, ValueKind, visitBatchKeys, type InternalIterator, type RangeTombstone, type SeqNum } from '../base/index.js';
import type { SkipListEntries } from '../base/native.js';
import { MemtableIterator } from './iterator.js';
import type { MemtablePool } from './pool.js';
import { HEAD, prefixHi, prefixLo, SkipList, type SharedSkipList } from './skiplist.js';

export interface MemtableOptions {
  /**
   * Bytes per arena chunk; default 1 MiB. A key plus value larger than a quarter of a chunk
   * gets a chunk of its own. Between 64 bytes and 1 GiB.
   */
  arenaChunkBytes?: number;
  /**
   * Where the memory comes from and, after release(), goes back to; its chunkBytes sets the
   * arena chunk size (arenaChunkBytes must then be absent or equal). None: fresh allocations,
   * freed by the garbage collector.
   */
  pool?: MemtablePool;
  /**
   * The bytes this memtable is expected to reach (the engine's memtableBytes): its node array
   * is reserved for that up front, as untouched memory that costs nothing until written.
   * Default 0: the array starts small and grows by doubling.
   */
  expectedBytes?: number;
}

const DEFAULT_ARENA_CHUNK_BYTES = 1 << 20;
/** Versions of a key get() steps over from the newest before it searches for the snapshot's instead. */
const VERSIONS_WALKED = 8;
/** Fewer entries than this left in a batch are added one by one: the addon's call costs more than it saves (addBatch). */
const MIN_APPEND_RUN = 8;
/** What a range tombstone costs besides its keys' bytes: its object and two views. */
const RANGE_TOMBSTONE_OVERHEAD_BYTES = 160;

/**
 * An immutable memtable as it crosses postMessage to a worker thread (a flush): its nodes and
 * arena live in SharedArrayBuffers, so the worker reads the same memory, copying nothing.
 */
export interface SharedMemtable {
  list: SharedSkipList;
  chunkBytes: number;
  firstSeq: SeqNum | undefined;
  lastSeq: SeqNum | undefined;
  rangeTombstones: RangeTombstone[];
}

export class Memtable {
  readonly #list: SkipList;
  /**
   * Range tombstones, in the order added (sequence order). A plain list: they are few, and
   * readers build a RangeTombstoneSet over them and the tables' (src/base/range-tombstone.ts).
   */
  readonly #rangeTombstones: RangeTombstone[] = [];
  #rangeTombstoneBytes = 0;
  #immutable = false;
  #firstSeq: SeqNum | undefined;
  #lastSeq: SeqNum | undefined;
  #pool: MemtablePool | undefined;
  #openIterators = 0;
  #released = false;

  constructor(options: MemtableOptions = {}, shared?: SharedMemtable) {
    if (shared !== undefined) {
      this.#list = new SkipList(shared.chunkBytes, shared.list);
      this.#pool = undefined;
      this.#firstSeq = shared.firstSeq;
      this.#lastSeq = shared.lastSeq;
      this.#rangeTombstones = shared.rangeTombstones;
      this.#immutable = true;
      return;
    }
    const pool = options.pool;
    const chunkBytes = options.arenaChunkBytes ?? pool?.chunkBytes ?? DEFAULT_ARENA_CHUNK_BYTES;
    if (!Number.isInteger(chunkBytes) || chunkBytes < 64 || chunkBytes > 1 << 30) {
      throw invalidArgument(`arenaChunkBytes must be an integer from 64 to 2^30, got ${chunkBytes}`);
    }
    if (pool !== undefined && pool.chunkBytes !== chunkBytes) throw invalidArgument(`arenaChunkBytes ${chunkBytes} differs from the pool's ${pool.chunkBytes}`);
    this.#pool = pool;
    this.#list = new SkipList(chunkBytes, undefined, pool, options.expectedBytes ?? 0);
  }

  /** This memtable's memory, for fromShared() in another thread. REQUIRES: immutable (checked). */
  toShared(): SharedMemtable {
    invariant(this.#immutable, 'only an immutable memtable is shared');
    return {
      list: this.#list.shared(),
      chunkBytes: this.#list.arena.chunkBytes,
      firstSeq: this.#firstSeq,
      lastSeq: this.#lastSeq,
      rangeTombstones: this.#rangeTombstones,
    };
  }

  /** An immutable memtable over memory another thread's toShared() handed over. */
  static fromShared(shared: SharedMemtable): Memtable {
    return new Memtable({}, shared);
  }

  /** Entries addBatch() had the addon link in (SkipList.appendRun; for tests). */
  get appendedInserts(): number {
    return this.#list.appendedInserts;
  }

  /** Entries the skip list placed from hintBatches()' searches (for tests). */
  get hintedInserts(): number {
    return this.#list.hintedInserts;
  }

  /**
   * Tells the skip list which entries the next add() calls bring: those of the batches encoded
   * at `ats` in `bytes` (src/base/batch-format.ts), in order, so that it finds where they all
   * go at once (SkipList.hint). Only a hint: add() checks each entry against it.
   */
  hintBatches(bytes: Uint8Array, ats: readonly number[]): void {
    const list = this.#list;
    // A group of one batch of keys in order goes to the addon (addBatch): its hints would go unused.
    if (ats.length === 1 && this.#appendsFirst(bytes, ats[0]!)) return;
    if (!list.beginHints()) return;
    for (const at of ats) visitBatchKeys(bytes, at, list);
    list.searchHinted();
  }

  /**
   * Adds one version, copying key and value into the arena; a RangeDelete (key: the range's
   * start, value: its end, empty for none) goes to the memtable's range tombstones, copied.
   * REQUIRES: the memtable is not immutable; seq is an integer in [0, 2^53); (key, seq) is
   * not already present. All checked with invariant().
   */
  add(seq: SeqNum, kind: ValueKind, key: Uint8Array, value: Uint8Array): void {
    invariant(!this.#immutable, 'add() to an immutable memtable');
    invariant(Number.isSafeInteger(seq) && seq >= 0, 'sequence numbers are integers in [0, 2^53)');
    if (kind === ValueKind.RangeDelete) {
      this.#rangeTombstones.push({ start: new Uint8Array(key), end: value.length === 0 ? undefined : new Uint8Array(value), seq });
      this.#rangeTombstoneBytes += key.length + value.length + RANGE_TOMBSTONE_OVERHEAD_BYTES;
    } else {
      this.#list.insert(seq, kind, key, value);
    }
    if (this.#firstSeq === undefined || seq < this.#firstSeq) this.#firstSeq = seq;
    if (this.#lastSeq === undefined || seq > this.#lastSeq) this.#lastSeq = seq;
  }

  /** Whether the batch encoded at `at` is long enough for addBatch() to try the addon, and its first key goes after every entry. */
  #appendsFirst(bytes: Uint8Array, at: number): boolean {
    if (getU32(bytes, at + 8) < MIN_APPEND_RUN) return false;
    // Past the first entry's kind, its key's length.
    const cursor = { offset: at + BATCH_HEADER_BYTES + 1 };
    const length = getVarint(bytes, cursor, bytes.length);
    return length >= 0 && this.#list.goesLast(bytes, cursor.offset, length);
  }

  /**
   * Adds every entry of the batch encoded at `at` in `bytes` (src/base/batch-format.ts), as
   * add() would one by one; the runs of entries that go after every entry (keys in order) are
   * linked in by the addon, many a call (SkipList.appendRun), the others through add().
   */
  addBatch(bytes: Uint8Array, at: number): void {
    invariant(!this.#immutable, 'add() to an immutable memtable');
    const list = this.#list;
    let seq = getU64(bytes, at);
    let left = getU32(bytes, at + 8);
    let p = at + BATCH_HEADER_BYTES;
    while (left >= MIN_APPEND_RUN) {
      const n = list.appendRun(bytes, p, seq, left);
      if (n > 0) {
        invariant(Number.isSafeInteger(seq + n - 1), 'sequence numbers are integers in [0, 2^53)');
        if (this.#firstSeq === undefined || seq < this.#firstSeq) this.#firstSeq = seq;
        if (this.#lastSeq === undefined || seq + n - 1 > this.#lastSeq) this.#lastSeq = seq + n - 1;
        p = list.appendedTo;
        seq += n;
        left -= n;
        if (left === 0) return;
      }
      // The entry it stopped at, one by one: when it went last too (the addon wanted room first:
      // a new arena chunk, a larger array; or the list was empty), the rest may follow in a run.
      const last = list.last();
      p = applyEntries(bytes, p, seq++, 1, this);
      left--;
      if (list.last() === last) break;
    }
    applyEntries(bytes, p, seq, left, this);
  }

  /** The range tombstones added, in sequence order. The array grows while the memtable is mutable. */
  get rangeTombstones(): readonly RangeTombstone[] {
    return this.#rangeTombstones;
  }

  /**
   * The newest version of `key` with seq <= snapshotSeq, a Delete included, or undefined.
   * Range tombstones are not consulted here: the reader applies them (rangeTombstones).
   * `value` is a view into the arena: it never changes until release().
   */
  get(key: Uint8Array, snapshotSeq: SeqNum): { seq: SeqNum; kind: ValueKind; value: Uint8Array } | undefined {
    const list = this.#list;
    // Empty (a database read after open, or not written for a while): no key to hash.
    if (list.count === 0) return undefined;
    const hi = prefixHi(key);
    const lo = prefixLo(key);
    let n = list.newestOf(key, hi, lo);
    if (n !== undefined) {
      // From the newest version back to the first the snapshot sees; a long way back, search.
      for (let steps = 0; n !== HEAD && list.compareUserKey(key, hi, lo, n) === 0; steps++) {
        if (list.seqOf(n) <= snapshotSeq) return { seq: list.seqOf(n), kind: list.kindOf(n), value: list.valueOf(n) };
        if (steps === VERSIONS_WALKED) break;
        n = list.next(n);
      }
      if (n === HEAD || list.compareUserKey(key, hi, lo, n) !== 0) return undefined;
    }
    n = list.findGreaterOrEqual(key, hi, lo, snapshotSeq, false);
    if (n === HEAD || list.compareUserKey(key, hi, lo, n) !== 0) return undefined;
    return { seq: list.seqOf(n), kind: list.kindOf(n), value: list.valueOf(n) };
  }

  /**
   * Its point entries in place, for a flush whose data blocks the addon encodes
   * (TableBuilder.addSkipListRun). REQUIRES: immutable and not released (checked); the
   * memtable stays unreleased while the run is read (a flush's, from fromShared(), is never released).
   */
  run(): SkipListEntries {
    invariant(this.#immutable && !this.#released, 'run() of a memtable that is not immutable, or released');
    return this.#list.run();
  }

  /**
   * A cursor over every entry in internal order; it sees adds made between its calls. Close
   * it: a released memtable keeps its memory from the pool while a cursor is open.
   */
  iterator(): InternalIterator {
    invariant(!this.#released, 'iterator() on a released memtable');
    this.#openIterators++;
    return new MemtableIterator(this.#list, () => {
      this.#openIterators--;
      this.#recycleIfUnused();
    });
  }

  /**
   * The owner is done with this memtable (flushed and dropped): its memory goes back to the
   * pool once the last open iterator closes. Views that get() returned must not be read after
   * this. REQUIRES: immutable (checked); no get() or iterator() after. Idempotent.
   */
  release(): void {
    invariant(this.#immutable, 'only an immutable memtable is released');
    this.#released = true;
    this.#recycleIfUnused();
  }

  #recycleIfUnused(): void {
    if (!this.#released || this.#openIterators > 0 || this.#pool === undefined) return;
    const pool = this.#pool;
    this.#pool = undefined;
    this.#list.recycle(pool);
  }

  /**
   * Bytes in use: arena bytes handed out (plus chunk tails that can no longer be used) and
   * node records (with their links). Spare capacity of the current arena chunk and of the
   * node array (which grows by doubling, or came larger from the pool) is not counted, so the
   * memory held is at most about twice the node part plus one chunk more.
   */
  get approximateBytes(): number {
    return this.#list.bytesInUse + this.#rangeTombstoneBytes;
  }

  /**
   * Memory this memtable holds (stats' memory figures): its arena chunks and node array with
   * their spare capacity, and its range tombstones. 0 once release() gave it back.
   */
  get allocatedBytes(): number {
    if (this.#released && this.#pool === undefined) return 0;
    return this.#list.allocatedBytes + this.#rangeTombstoneBytes;
  }

  /** The bytes of its key index (in allocatedBytes); 0 once immutable. */
  get keyIndexBytes(): number {
    return this.#list.indexBytes;
  }

  /** Entries added: point versions and range tombstones. */
  get entryCount(): number {
    return this.#list.count + this.#rangeTombstones.length;
  }

  /** The smallest sequence number added, or undefined while empty. */
  get firstSeq(): SeqNum | undefined {
    return this.#firstSeq;
  }

  /** The largest sequence number added, or undefined while empty. */
  get lastSeq(): SeqNum | undefined {
    return this.#lastSeq;
  }

  /**
   * From now on add() throws; reads and iterators go on. Idempotent. The key index goes
   * (SkipList.dropIndex): a flush does not read it, and the next memtable's takes its memory.
   */
  markImmutable(): void {
    this.#immutable = true;
    this.#list.dropIndex();
  }

  get immutable(): boolean {
    return this.#immutable;
  }
}
