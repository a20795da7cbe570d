// MergingIterator: one cursor over several, in internal-key order.
//
// Children are few (memtables, level-0 tables, one per deeper level), so the smallest (or
// largest) child is found by a linear scan rather than a heap. Changing direction
// repositions every other child just past the current entry, as LevelDB's merger does:
// children only know user-key seeks, so each is stepped over the versions of the current
// user key that lie on the wrong side of the current internal key.

import { compareInternal } from './internal-key.js';
import type { InternalIterator } from './internal-iterator.js';
import type { SeqNum, ValueKind } from './internal-key.js';

export class MergingIterator implements InternalIterator {
  readonly #children: InternalIterator[];
  #current: InternalIterator | undefined;
  #forward = true;

  constructor(children: InternalIterator[]) {
    this.#children = children;
  }

  valid(): boolean {
    return this.#current !== undefined;
  }

  seekToFirst(): void {
    for (const c of this.#children) c.seekToFirst();
    this.#forward = true;
    this.#findSmallest();
  }

  seekToLast(): void {
    for (const c of this.#children) c.seekToLast();
    this.#forward = false;
    this.#findLargest();
  }

  seek(key: Uint8Array): void {
    for (const c of this.#children) c.seek(key);
    this.#forward = true;
    this.#findSmallest();
  }

  seekForPrev(key: Uint8Array): void {
    for (const c of this.#children) c.seekForPrev(key);
    this.#forward = false;
    this.#findLargest();
  }

  next(): void {
    const cur = this.#current!;
    if (!this.#forward) {
      const key = Uint8Array.from(cur.key());
      const seq = cur.seq();
      for (const c of this.#children) {
        if (c === cur) continue;
        c.seek(key);
        while (c.valid() && compareInternal(c.key(), c.seq(), key, seq) <= 0) c.next();
      }
      this.#forward = true;
    }
    cur.next();
    this.#findSmallest();
  }

  prev(): void {
    const cur = this.#current!;
    if (this.#forward) {
      const key = Uint8Array.from(cur.key());
      const seq = cur.seq();
      for (const c of this.#children) {
        if (c === cur) continue;
        c.seekForPrev(key);
        while (c.valid() && compareInternal(c.key(), c.seq(), key, seq) >= 0) c.prev();
      }
      this.#forward = false;
    }
    cur.prev();
    this.#findLargest();
  }

  key(): Uint8Array {
    return this.#current!.key();
  }

  seq(): SeqNum {
    return this.#current!.seq();
  }

  kind(): ValueKind {
    return this.#current!.kind();
  }

  value(): Uint8Array {
    return this.#current!.value();
  }

  close(): void {
    for (const c of this.#children) c.close();
    this.#current = undefined;
  }

  #findSmallest(): void {
    let best: InternalIterator | undefined;
    for (const c of this.#children) {
      if (!c.valid()) continue;
      if (best === undefined || compareInternal(c.key(), c.seq(), best.key(), best.seq()) < 0) best = c;
    }
    this.#current = best;
  }

  #findLargest(): void {
    let best: InternalIterator | undefined;
    for (const c of this.#children) {
      if (!c.valid()) continue;
      if (best === undefined || compareInternal(c.key(), c.seq(), best.key(), best.seq()) > 0) best = c;
    }
    this.#current = best;
  }
}
