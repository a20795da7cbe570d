// DbIterator: the user's view of a merged cursor: one entry per user key, the newest version
// at the iterator's snapshot, deletions hidden, bounds, direction and limit applied.
//
// The direction is fixed at creation (`reverse`), so the merged cursor never changes
// direction: forward it walks each user key's versions newest first and takes the first
// visible one; in reverse it walks them oldest first and keeps the last visible one. A version
// reads as a deletion when a range tombstone visible at the snapshot and newer than it covers
// its key (RangeTombstoneSet.hides), or when it is a put that expired by the wall-clock time
// of its source (below; src/base/ttl.ts). A visible Merge entry makes the key's value what its
// operator makes of the operands down to the next Put or Delete, as seen by those rules
// (MergeCollector, merge-chain.ts), in either direction.
//
// The merged cursor comes from a ReadSource: the memtables and the version of one moment,
// pinned. A seek() that finds its source stale (a flush, a compaction or a memtable switch
// since) takes a fresh one at the same snapshot, as RocksDB's iterators that refresh with an
// explicit snapshot: a long-lived iterator used for many seeks reads the compacted tree, not
// the tables it was created over, and does not keep them on disk. What it sees does not change:
// the snapshot (which the caller has pinned) keeps every version visible at its sequence
// number through compactions; a fresh source's clock is read anew, and compaction's ttl
// filter only deletes puts that had expired by its own earlier clock.

import { compareBytes, expiresAt, liveValue, ValueKind, type InternalIterator, type MergeOperator, type RangeTombstoneSet, type SeqNum } from '../base/index.js';
import { MergeCollector } from './merge-chain.js';

/** A merged cursor over one state of the database, and what a read of it needs. */
export interface ReadSource {
  readonly it: InternalIterator;
  /** The range tombstones of that state. */
  readonly rangeTombstones: RangeTombstoneSet;
  /** Wall-clock time of the source (ms since the epoch): puts that expired by then read as deleted. */
  readonly nowMs: number;
  /** Whether the database has moved on since (a fresh source would read other tables or memtables). */
  stale(): boolean;
  /**
   * undefined when the tables a positioning at `target` reads are open, else a promise that
   * settles once they are (ready()).
   */
  tablesReady(target: Uint8Array | undefined): Promise<void> | undefined;
  /** Closes the cursor and releases what the source pinned. Once. */
  release(): void;
}

export interface Bounds {
  lower?: Uint8Array;
  lowerInclusive: boolean;
  upper?: Uint8Array;
  upperInclusive: boolean;
}

/** A user-key cursor: what the public Iterator drives (one shard's DbIterator, or shards merged). */
export interface Cursor {
  /** The next entry is the first at or after `target` (at or before it in reverse), within bounds. */
  seek(target: Uint8Array): void;
  /**
   * undefined when next() can run without opening a table; else a promise that settles once
   * the tables next() will position in are open (opened off the event loop's thread). next()
   * works either way: an asynchronous caller awaits this first so that the event loop's thread
   * never waits for a table's index and filter to be read (tens of ms for a large table).
   */
  ready(): Promise<void> | undefined;
  /** The next entry as fresh copies, or undefined at the end. */
  next(): [Buffer, Buffer] | undefined;
  /** Idempotent. */
  close(): void;
}

const EMPTY = new Uint8Array(0);

export class DbIterator implements Cursor {
  readonly #openSource: () => ReadSource;
  #source: ReadSource;
  readonly #seq: SeqNum;
  readonly #bounds: Bounds;
  readonly #reverse: boolean;
  #remaining: number;
  /** Operands of the key at hand. */
  readonly #chain: MergeCollector;
  /** Whether the database has a merge operator (else there are no operands to collect). */
  readonly #merges: boolean;
  /** The bytes of the version #see() last looked at, as a read sees them. */
  #seen: Uint8Array = EMPTY;
  /** When the put #see() last looked at expires (ms since the epoch), if it does. */
  #seenExpiry: number | undefined;
  #expiresAtMs: number | undefined;
  /** Where next() positions the cursor before it reads (undefined: the first entry, or the last), until #positioned. */
  #target: Uint8Array | undefined;
  #positioned = false;
  #done = false;
  #closed = false;

  /**
   * `openSource` makes a source of the database's present state at `seq` (which the caller
   * keeps pinned until close()): once now, and again at a seek() that finds the last one stale.
   */
  constructor(
    openSource: () => ReadSource,
    seq: SeqNum,
    mergeOperator: MergeOperator | undefined,
    bounds: Bounds,
    reverse: boolean,
    limit: number,
  ) {
    this.#openSource = openSource;
    this.#source = openSource();
    this.#chain = new MergeCollector(mergeOperator);
    this.#merges = mergeOperator !== undefined;
    this.#seq = seq;
    this.#bounds = bounds;
    this.#reverse = reverse;
    this.#remaining = limit < 0 ? Infinity : limit;
    this.#target = reverse ? bounds.upper : bounds.lower;
  }

  /**
   * Repositions: the next entry is the first at or after `target` (at or before it in
   * reverse), within the bounds. The limit keeps counting. The cursor moves at the next next(),
   * over a fresh source when this one is stale (see the top).
   */
  seek(target: Uint8Array): void {
    const { lower, upper } = this.#bounds;
    if (!this.#closed && this.#source.stale()) {
      const fresh = this.#openSource();
      this.#source.release();
      this.#source = fresh;
    }
    this.#positioned = false;
    this.#done = false;
    if (!this.#reverse) this.#target = lower !== undefined && compareBytes(target, lower) < 0 ? lower : target;
    else this.#target = upper !== undefined && compareBytes(target, upper) > 0 ? upper : target;
  }

  ready(): Promise<void> | undefined {
    if (this.#positioned || this.#done || this.#closed || this.#remaining <= 0) return undefined;
    return this.#source.tablesReady(this.#target);
  }

  /** The next entry as fresh copies, or undefined at the end. */
  next(): [Buffer, Buffer] | undefined {
    if (this.#done || this.#remaining <= 0) return undefined;
    if (!this.#positioned) this.#position();
    const entry = this.#reverse ? this.#prevVisible() : this.#nextVisible();
    if (entry === undefined) this.#done = true;
    else this.#remaining--;
    return entry;
  }

  /**
   * When the value next() last returned expires (ms since the epoch), or undefined when it does
   * not: that of its put, or for merge operands that of the put they apply to. Forward only.
   */
  get expiresAtMs(): number | undefined {
    return this.#expiresAtMs;
  }

  /** Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#source.release();
  }

  #position(): void {
    this.#positioned = true;
    const target = this.#target;
    const it = this.#source.it;
    if (!this.#reverse) {
      if (target !== undefined) it.seek(target);
      else it.seekToFirst();
    } else if (target !== undefined) it.seekForPrev(target);
    else it.seekToLast();
  }

  /**
   * The kind a version of `key` at `seq` reads as: Put (its bytes, an expiry stripped, in
   * #seen), Merge (the operand in #seen), or Delete (a deletion, an expired put, or a version a
   * range tombstone newer than it hides).
   */
  #see(key: Uint8Array, seq: SeqNum, kind: ValueKind, value: Uint8Array): ValueKind {
    this.#seen = EMPTY;
    this.#seenExpiry = undefined;
    if (kind === ValueKind.Delete || this.#source.rangeTombstones.hides(key, seq, this.#seq)) return ValueKind.Delete;
    if (kind === ValueKind.Merge) {
      this.#seen = value;
      return kind;
    }
    const live = liveValue(kind, value, this.#source.nowMs);
    if (live === undefined) return ValueKind.Delete;
    this.#seen = live;
    if (kind === ValueKind.PutWithExpiry) this.#seenExpiry = expiresAt(value);
    return ValueKind.Put;
  }

  #nextVisible(): [Buffer, Buffer] | undefined {
    const it = this.#source.it;
    const { lower, lowerInclusive, upper, upperInclusive } = this.#bounds;
    while (it.valid()) {
      const key = Buffer.from(it.key());
      if (upper !== undefined) {
        const c = compareBytes(key, upper);
        if (c > 0 || (c === 0 && !upperInclusive)) return undefined;
      }
      const skip = lower !== undefined && !lowerInclusive && compareBytes(key, lower) === 0;
      let found: Buffer | undefined;
      let decided = false;
      let merging = false;
      let chained = false;
      let expiry: number | undefined;
      while (it.valid() && compareBytes(it.key(), key) === 0) {
        if (merging) {
          merging = !this.#chain.addOlder(this.#see(key, it.seq(), it.kind(), it.value()), this.#seen);
          if (!merging) expiry = this.#seenExpiry;
        } else if (!decided && it.seq() <= this.#seq) {
          decided = true;
          const kind = this.#see(key, it.seq(), it.kind(), it.value());
          expiry = this.#seenExpiry;
          if (kind === ValueKind.Put && !skip) found = Buffer.from(this.#seen);
          else if (kind === ValueKind.Merge && !skip) {
            this.#chain.reset();
            merging = chained = !this.#chain.addOlder(kind, this.#seen);
          }
        }
        it.next();
      }
      if (chained) found = this.#chain.resolveNewestFirst(key);
      if (found !== undefined) {
        this.#expiresAtMs = expiry;
        return [key, found];
      }
    }
    return undefined;
  }

  #prevVisible(): [Buffer, Buffer] | undefined {
    const it = this.#source.it;
    const { lower, lowerInclusive, upper, upperInclusive } = this.#bounds;
    while (it.valid()) {
      const key = Buffer.from(it.key());
      if (lower !== undefined) {
        const c = compareBytes(key, lower);
        if (c < 0 || (c === 0 && !lowerInclusive)) return undefined;
      }
      const skip = upper !== undefined && !upperInclusive && compareBytes(key, upper) === 0;
      let newestKind: ValueKind | undefined;
      let newestValue: Uint8Array | undefined;
      this.#chain.reset();
      while (it.valid() && compareBytes(it.key(), key) === 0) {
        if (it.seq() <= this.#seq) {
          newestKind = this.#see(key, it.seq(), it.kind(), it.value());
          newestValue = newestKind === ValueKind.Put ? Buffer.from(this.#seen) : undefined;
          if (this.#merges) this.#chain.addNewer(newestKind, this.#seen);
        }
        it.prev();
      }
      if (!skip && newestKind === ValueKind.Put) return [key, newestValue as Buffer];
      if (!skip && newestKind === ValueKind.Merge) return [key, this.#chain.resolveOldestFirst(key)];
    }
    return undefined;
  }
}
