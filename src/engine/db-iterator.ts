// DbIterator: the user's view of a merged cursor: one entry per user key, the newest version
// at the iterator's snapshot, deletions hidden, bounds, direction and limit applied.
//
// The direction is fixed at creation (`reverse`), so the merged cursor never changes
// direction: forward it walks each user key's versions newest first and takes the first
// visible one; in reverse it walks them oldest first and keeps the last visible one. A version
// reads as a deletion when a range tombstone visible at the snapshot and newer than it covers
// its key (RangeTombstoneSet.hides), or when it is a put that expired by the wall-clock time
// the iterator was created at (src/base/ttl.ts). A visible Merge entry makes the key's value
// what its operator makes of the operands down to the next Put or Delete, as seen by those
// rules (MergeCollector, merge-chain.ts), in either direction.

import { compareBytes, expiresAt, liveValue, ValueKind, type InternalIterator, type MergeOperator, type RangeTombstoneSet, type SeqNum } from '../base/index.js';
import { MergeCollector } from './merge-chain.js';

/** What, besides its sequence number, decides what an iterator sees. */
export interface ReadView {
  readonly rangeTombstones: RangeTombstoneSet;
  /** Wall-clock time of the read (ms since the epoch): puts that expired by then read as deleted. */
  readonly nowMs: number;
  /** The database's merge operator, if it has one. */
  readonly mergeOperator: MergeOperator | undefined;
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
  readonly #it: InternalIterator;
  readonly #seq: SeqNum;
  readonly #rangeTombstones: RangeTombstoneSet;
  readonly #nowMs: number;
  readonly #bounds: Bounds;
  readonly #reverse: boolean;
  #remaining: number;
  readonly #onClose: () => void;
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
  readonly #tablesReady: (target: Uint8Array | undefined) => Promise<void> | undefined;

  /**
   * `onClose` runs once, when the iterator closes: it releases what the cursor pinned.
   * `tablesReady(target)`: undefined when the tables a positioning at `target` reads are open,
   * else a promise that settles once they are (ready()).
   */
  constructor(
    it: InternalIterator,
    seq: SeqNum,
    view: ReadView,
    bounds: Bounds,
    reverse: boolean,
    limit: number,
    onClose: () => void,
    tablesReady: (target: Uint8Array | undefined) => Promise<void> | undefined = () => undefined,
  ) {
    this.#onClose = onClose;
    this.#tablesReady = tablesReady;
    this.#chain = new MergeCollector(view.mergeOperator);
    this.#merges = view.mergeOperator !== undefined;
    this.#it = it;
    this.#seq = seq;
    this.#rangeTombstones = view.rangeTombstones;
    this.#nowMs = view.nowMs;
    this.#bounds = bounds;
    this.#reverse = reverse;
    this.#remaining = limit < 0 ? Infinity : limit;
    this.#target = reverse ? bounds.upper : bounds.lower;
  }

  /**
   * Repositions: the next entry is the first at or after `target` (at or before it in
   * reverse), within the bounds. The limit keeps counting. The cursor moves at the next next().
   */
  seek(target: Uint8Array): void {
    const { lower, upper } = this.#bounds;
    this.#positioned = false;
    this.#done = false;
    if (!this.#reverse) this.#target = lower !== undefined && compareBytes(target, lower) < 0 ? lower : target;
    else this.#target = upper !== undefined && compareBytes(target, upper) > 0 ? upper : target;
  }

  ready(): Promise<void> | undefined {
    if (this.#positioned || this.#done || this.#closed || this.#remaining <= 0) return undefined;
    return this.#tablesReady(this.#target);
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
    this.#it.close();
    this.#onClose();
  }

  #position(): void {
    this.#positioned = true;
    const target = this.#target;
    if (!this.#reverse) {
      if (target !== undefined) this.#it.seek(target);
      else this.#it.seekToFirst();
    } else if (target !== undefined) this.#it.seekForPrev(target);
    else this.#it.seekToLast();
  }

  /**
   * The kind a version of `key` at `seq` reads as: Put (its bytes, an expiry stripped, in
   * #seen), Merge (the operand in #seen), or Delete (a deletion, an expired put, or a version a
   * range tombstone newer than it hides).
   */
  #see(key: Uint8Array, seq: SeqNum, kind: ValueKind, value: Uint8Array): ValueKind {
    this.#seen = EMPTY;
    this.#seenExpiry = undefined;
    if (kind === ValueKind.Delete || this.#rangeTombstones.hides(key, seq, this.#seq)) return ValueKind.Delete;
    if (kind === ValueKind.Merge) {
      this.#seen = value;
      return kind;
    }
    const live = liveValue(kind, value, this.#nowMs);
    if (live === undefined) return ValueKind.Delete;
    this.#seen = live;
    if (kind === ValueKind.PutWithExpiry) this.#seenExpiry = expiresAt(value);
    return ValueKind.Put;
  }

  #nextVisible(): [Buffer, Buffer] | undefined {
    const it = this.#it;
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
    const it = this.#it;
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
