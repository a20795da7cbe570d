// DbIterator: the user's view of a merged cursor: one entry per user key, the newest version
// at the iterator's snapshot, deletions hidden, bounds, direction and limit applied.
//
// The direction is fixed at creation (`reverse`), so the merged cursor never changes
// direction: forward it walks each user key's versions newest first and takes the first
// visible one; in reverse it walks them oldest first and keeps the last visible one. That
// version is hidden, as a deletion is, when a range tombstone visible at the snapshot and
// newer than it covers its key (RangeTombstoneSet.hides), or when it is a put that expired by
// the wall-clock time the iterator was created at (src/base/ttl.ts).

import { compareBytes, liveValue, type InternalIterator, type RangeTombstoneSet, type SeqNum, type ValueKind } from '../base/index.js';

/** What, besides its sequence number, decides what an iterator sees. */
export interface ReadView {
  readonly rangeTombstones: RangeTombstoneSet;
  /** Wall-clock time of the read (ms since the epoch): puts that expired by then read as deleted. */
  readonly nowMs: number;
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
  /** The next entry as fresh copies, or undefined at the end. */
  next(): [Buffer, Buffer] | undefined;
  /** Idempotent. */
  close(): void;
}

export class DbIterator implements Cursor {
  readonly #it: InternalIterator;
  readonly #seq: SeqNum;
  readonly #rangeTombstones: RangeTombstoneSet;
  readonly #nowMs: number;
  readonly #bounds: Bounds;
  readonly #reverse: boolean;
  #remaining: number;
  readonly #onClose: () => void;
  #started = false;
  #done = false;
  #closed = false;

  /** `onClose` runs once, when the iterator closes: it releases what the cursor pinned. */
  constructor(it: InternalIterator, seq: SeqNum, view: ReadView, bounds: Bounds, reverse: boolean, limit: number, onClose: () => void) {
    this.#onClose = onClose;
    this.#it = it;
    this.#seq = seq;
    this.#rangeTombstones = view.rangeTombstones;
    this.#nowMs = view.nowMs;
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
      while (it.valid() && compareBytes(it.key(), key) === 0) {
        if (!decided && it.seq() <= this.#seq) {
          decided = true;
          const value = skip ? undefined : liveValue(it.kind(), it.value(), this.#nowMs);
          if (value !== undefined && !this.#rangeTombstones.hides(key, it.seq(), this.#seq)) found = Buffer.from(value);
        }
        it.next();
      }
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
      let newestValue: Buffer | undefined;
      let newestSeq = 0;
      while (it.valid() && compareBytes(it.key(), key) === 0) {
        if (it.seq() <= this.#seq) {
          newestSeq = it.seq();
          const value = liveValue(it.kind() as ValueKind, it.value(), this.#nowMs);
          newestValue = value === undefined ? undefined : Buffer.from(value);
        }
        it.prev();
      }
      if (!skip && newestValue !== undefined && !this.#rangeTombstones.hides(key, newestSeq, this.#seq)) return [key, newestValue];
    }
    return undefined;
  }
}
