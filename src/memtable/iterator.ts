// A cursor over a memtable's entries in internal-key order.
//
// It holds only a node number. Nodes are never removed and their links are read afresh on
// every move, so inserts between two calls are seen by the moves after them, in order.

import { invariant, type InternalIterator, type SeqNum, type ValueKind } from '../base/index.js';
import { HEAD, prefixHi, prefixLo, type SkipList } from './skiplist.js';

export class MemtableIterator implements InternalIterator {
  readonly #list: SkipList;
  /** HEAD when not positioned at an entry. */
  #node = HEAD;
  /** The view key() last made, of node #keyNode: a merge asks for one key many times. */
  #keyNode = HEAD;
  #key: Uint8Array | undefined;

  #onClose: (() => void) | undefined;

  /** `onClose` is called once, at the first close(). */
  constructor(list: SkipList, onClose?: () => void) {
    this.#list = list;
    this.#onClose = onClose;
  }

  valid(): boolean {
    return this.#node !== HEAD;
  }

  seekToFirst(): void {
    this.#node = this.#list.next(HEAD);
  }

  seekToLast(): void {
    this.#node = this.#list.last();
  }

  seek(key: Uint8Array): void {
    this.#node = this.#list.findGreaterOrEqual(key, prefixHi(key), prefixLo(key), Infinity, false);
  }

  seekForPrev(key: Uint8Array): void {
    const after = this.#list.findGreaterOrEqual(key, prefixHi(key), prefixLo(key), -1, false);
    // prev(HEAD) is the last node: with nothing after `key`, the answer is the last entry.
    this.#node = this.#list.prev(after);
  }

  next(): void {
    invariant(this.#node !== HEAD, 'next() on an iterator that is not valid');
    this.#node = this.#list.next(this.#node);
  }

  prev(): void {
    invariant(this.#node !== HEAD, 'prev() on an iterator that is not valid');
    this.#node = this.#list.prev(this.#node);
  }

  key(): Uint8Array {
    const node = this.#node;
    invariant(node !== HEAD, 'key() on an iterator that is not valid');
    if (node !== this.#keyNode) {
      this.#key = this.#list.keyOf(node);
      this.#keyNode = node;
    }
    return this.#key!;
  }

  seq(): SeqNum {
    invariant(this.#node !== HEAD, 'seq() on an iterator that is not valid');
    return this.#list.seqOf(this.#node);
  }

  kind(): ValueKind {
    invariant(this.#node !== HEAD, 'kind() on an iterator that is not valid');
    return this.#list.kindOf(this.#node);
  }

  value(): Uint8Array {
    invariant(this.#node !== HEAD, 'value() on an iterator that is not valid');
    return this.#list.valueOf(this.#node);
  }

  /** Tells the memtable that this cursor is done (its memory may be reused). Idempotent. */
  close(): void {
    const onClose = this.#onClose;
    this.#onClose = undefined;
    this.#node = HEAD;
    onClose?.();
  }
}
