// DbIterator: the user's view of a merged cursor: one entry per user key, the newest version
// at the iterator's snapshot, deletions hidden, bounds, direction and limit applied.
//
// The direction is fixed at creation (`reverse`), so the merged cursor never changes
// direction: forward it walks each user key's versions newest first and takes the first
// visible one; in reverse it walks them oldest first and keeps the last visible one. A
// visible Merge entry makes the key's value what its operator makes of the operands down to
// the next Put or Delete (MergeCollector, merge-chain.ts), in either direction.

import { compareBytes, ValueKind, type InternalIterator, type MergeOperator, type SeqNum } from '../base/index.js';
import { MergeCollector } from './merge-chain.js';

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
  /** The next entry as fresh copies, or undefined at the end. */
  next(): [Buffer, Buffer] | undefined;
  /** Idempotent. */
  close(): void;
}

export class DbIterator implements Cursor {
  readonly #it: InternalIterator;
  readonly #seq: SeqNum;
  readonly #bounds: Bounds;
  readonly #reverse: boolean;
  #remaining: number;
  readonly #onClose: () => void;
  /** Operands of the key at hand. */
  readonly #chain: MergeCollector;
  /** Whether the database has a merge operator (else there are no operands to collect). */
  readonly #merges: boolean;
  #started = false;
  #done = false;
  #closed = false;

  /** `onClose` runs once, when the iterator closes: it releases what the cursor pinned. */
  constructor(
    it: InternalIterator,
    seq: SeqNum,
    bounds: Bounds,
    reverse: boolean,
    limit: number,
    mergeOperator: MergeOperator | undefined,
    onClose: () => void,
  ) {
    this.#onClose = onClose;
    this.#chain = new MergeCollector(mergeOperator);
    this.#merges = mergeOperator !== undefined;
    this.#it = it;
    this.#seq = seq;
    this.#bounds = bounds;
    this.#reverse = reverse;
    this.#remaining = limit < 0 ? Infinity : limit;
  }

  /**
   * Repositions: the next entry is the first at or after `target` (at or before it in
   * reverse), within the bounds. The limit keeps counting.
   */
  seek(target: Uint8Array): void {
    const { lower, upper } = this.#bounds;
    this.#started = true;
    this.#done = false;
    if (!this.#reverse) {
      this.#it.seek(lower !== undefined && compareBytes(target, lower) < 0 ? lower : target);
    } else {
      this.#it.seekForPrev(upper !== undefined && compareBytes(target, upper) > 0 ? upper : target);
    }
  }

  /** The next entry as fresh copies, or undefined at the end. */
  next(): [Buffer, Buffer] | undefined {
    if (this.#done || this.#remaining <= 0) return undefined;
    if (!this.#started) this.#start();
    const entry = this.#reverse ? this.#prevVisible() : this.#nextVisible();
    if (entry === undefined) this.#done = true;
    else this.#remaining--;
    return entry;
  }

  /** Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#it.close();
    this.#onClose();
  }

  #start(): void {
    this.#started = true;
    const { lower, upper } = this.#bounds;
    if (!this.#reverse) {
      if (lower !== undefined) this.#it.seek(lower);
      else this.#it.seekToFirst();
    } else if (upper !== undefined) this.#it.seekForPrev(upper);
    else this.#it.seekToLast();
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
      while (it.valid() && compareBytes(it.key(), key) === 0) {
        if (merging) {
          merging = !this.#chain.addOlder(it.kind(), it.value());
        } else if (!decided && it.seq() <= this.#seq) {
          decided = true;
          const kind = it.kind();
          if (kind === ValueKind.Put && !skip) found = Buffer.from(it.value());
          else if (kind === ValueKind.Merge && !skip) {
            this.#chain.reset();
            merging = chained = !this.#chain.addOlder(kind, it.value());
          }
        }
        it.next();
      }
      if (chained) found = this.#chain.resolveNewestFirst(key);
      if (found !== undefined) return [key, found];
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
          newestKind = it.kind();
          newestValue = newestKind === ValueKind.Put ? Buffer.from(it.value()) : undefined;
          if (this.#merges) this.#chain.addNewer(newestKind, it.value());
        }
        it.prev();
      }
      if (!skip && newestKind === ValueKind.Put) return [key, newestValue as Buffer];
      if (!skip && newestKind === ValueKind.Merge) return [key, this.#chain.resolveOldestFirst(key)];
    }
    return undefined;
  }
}
