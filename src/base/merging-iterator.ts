// MergingIterator: one cursor over several, in internal-key order.
//
// The valid children sit in a binary heap ordered by their current entries: smallest on top
// while moving forward, largest on top while moving backward. A step moves the top child and
// sifts it down, so it costs about log2(children) comparisons instead of one per child; a read
// merges the memtables, every level-0 table and one cursor per deeper level, and a scan takes
// a step per entry. Changing direction repositions every other child just past the current
// entry, as LevelDB's merger does: children only know user-key seeks, so each is stepped over
// the versions of the current user key that lie on the wrong side of the current internal
// key; then the heap is rebuilt the other way round.

import { compareInternal } from './internal-key.js';
import type { InternalIterator } from './internal-iterator.js';
import type { SeqNum, ValueKind } from './internal-key.js';

export class MergingIterator implements InternalIterator {
  readonly #children: InternalIterator[];
  /** The valid children; #heap[0] is the current one. A heap for #forward's order. */
  readonly #heap: InternalIterator[] = [];
  #forward = true;

  constructor(children: InternalIterator[]) {
    this.#children = children;
  }

  valid(): boolean {
    return this.#heap.length > 0;
  }

  seekToFirst(): void {
    for (const c of this.#children) c.seekToFirst();
    this.#rebuild(true);
  }

  seekToLast(): void {
    for (const c of this.#children) c.seekToLast();
    this.#rebuild(false);
  }

  seek(key: Uint8Array): void {
    for (const c of this.#children) c.seek(key);
    this.#rebuild(true);
  }

  seekForPrev(key: Uint8Array): void {
    for (const c of this.#children) c.seekForPrev(key);
    this.#rebuild(false);
  }

  next(): void {
    const cur = this.#heap[0]!;
    if (!this.#forward) {
      const key = Uint8Array.from(cur.key());
      const seq = cur.seq();
      for (const c of this.#children) {
        if (c === cur) continue;
        c.seek(key);
        while (c.valid() && compareInternal(c.key(), c.seq(), key, seq) <= 0) c.next();
      }
      cur.next();
      this.#rebuild(true);
      return;
    }
    cur.next();
    this.#replaceTop(cur);
  }

  prev(): void {
    const cur = this.#heap[0]!;
    if (this.#forward) {
      const key = Uint8Array.from(cur.key());
      const seq = cur.seq();
      for (const c of this.#children) {
        if (c === cur) continue;
        c.seekForPrev(key);
        while (c.valid() && compareInternal(c.key(), c.seq(), key, seq) >= 0) c.prev();
      }
      cur.prev();
      this.#rebuild(false);
      return;
    }
    cur.prev();
    this.#replaceTop(cur);
  }

  key(): Uint8Array {
    return this.#heap[0]!.key();
  }

  seq(): SeqNum {
    return this.#heap[0]!.seq();
  }

  kind(): ValueKind {
    return this.#heap[0]!.kind();
  }

  value(): Uint8Array {
    return this.#heap[0]!.value();
  }

  close(): void {
    for (const c of this.#children) c.close();
    this.#heap.length = 0;
  }

  /** Whether child a's entry comes before child b's in the current direction. */
  #before(a: InternalIterator, b: InternalIterator): boolean {
    const c = compareInternal(a.key(), a.seq(), b.key(), b.seq());
    return this.#forward ? c < 0 : c > 0;
  }

  /** Makes a heap of the valid children for moving `forward` (or backward). */
  #rebuild(forward: boolean): void {
    this.#forward = forward;
    const heap = this.#heap;
    heap.length = 0;
    for (const c of this.#children) if (c.valid()) heap.push(c);
    for (let i = (heap.length >>> 1) - 1; i >= 0; i--) this.#siftDown(i);
  }

  /** The top child `top` has moved: drops it if it ran out, else puts it in its place. */
  #replaceTop(top: InternalIterator): void {
    const heap = this.#heap;
    if (!top.valid()) {
      const last = heap.pop()!;
      if (heap.length === 0) return;
      heap[0] = last;
    }
    this.#siftDown(0);
  }

  #siftDown(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const item = heap[i]!;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && this.#before(heap[right]!, heap[left]!)) child = right;
      if (!this.#before(heap[child]!, item)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = item;
  }
}
