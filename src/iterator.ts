// DatabaseIterator: the public cursor (not named Iterator, which would shadow the global
// Iterator type in a TypeScript module that imports it). Entries come as [key, value]
// Buffers (fresh copies), in key order (reverse: descending), at one snapshot for the
// iterator's whole life.
//
//   for await (const [key, value] of db.iterator({ gte: 'a', lt: 'b' })) { ... }
//
// Leaving a for-await loop (break, throw or the end) closes the iterator. An iterator used
// with next() must be closed by its user; until then it pins a snapshot and the table files
// it reads.

import { closedError, invalidArgument } from './base/index.js';
import type { Cursor } from './engine/index.js';
import { describe, toKey } from './input.js';
import type { LoopTurns } from './loop-turns.js';

export class DatabaseIterator implements AsyncIterable<[Buffer, Buffer]> {
  #cursor: Cursor | undefined;
  #onClose: (() => void) | undefined;
  /** The database's: long runs of next() give the event loop a turn (loop-turns.ts). */
  readonly #turns: LoopTurns | undefined;

  /** @internal Created by Database.iterator(). */
  constructor(cursor: Cursor, onClose: () => void, turns?: LoopTurns) {
    this.#cursor = cursor;
    this.#onClose = onClose;
    this.#turns = turns;
  }

  get closed(): boolean {
    return this.#cursor === undefined;
  }

  /** The next entry, or undefined at the end (or past the limit). */
  next(): Promise<[Buffer, Buffer] | undefined> {
    try {
      const entry = this.nextSync();
      return this.#turns === undefined ? Promise.resolve(entry) : this.#turns.settle(entry);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** next() without the promise: the engine reads synchronously anyway. */
  nextSync(): [Buffer, Buffer] | undefined {
    if (this.#cursor === undefined) throw closedError('iterator');
    return this.#cursor.next();
  }

  /** Up to `n` entries (an integer >= 0, or Infinity); fewer only at the end. */
  async nextv(n: number): Promise<[Buffer, Buffer][]> {
    if (typeof n !== 'number' || !(Number.isInteger(n) || n === Infinity) || n < 0) {
      throw invalidArgument(`nextv() takes an integer >= 0 or Infinity, got ${typeof n === 'number' ? String(n) : describe(n)}`);
    }
    const out: [Buffer, Buffer][] = [];
    while (out.length < n) {
      const entry = this.nextSync();
      if (entry === undefined) break;
      out.push(entry);
    }
    const turn = this.#turns?.due();
    if (turn !== undefined) await turn;
    return out;
  }

  /**
   * Moves to the first key at or after `target` (reverse: at or before), within the
   * iterator's bounds and at its snapshot.
   */
  seek(target: Uint8Array | string): void {
    if (this.#cursor === undefined) throw closedError('iterator');
    this.#cursor.seek(toKey(target, 'seek target'));
  }

  /** Releases the snapshot and files the iterator pins. Idempotent. */
  async close(): Promise<void> {
    this.closeSync();
  }

  /** @internal */
  closeSync(): void {
    const cursor = this.#cursor;
    if (cursor === undefined) return;
    this.#cursor = undefined;
    cursor.close();
    this.#onClose?.();
    this.#onClose = undefined;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<[Buffer, Buffer]> {
    try {
      const turns = this.#turns;
      for (let entry = this.nextSync(); entry !== undefined; entry = this.nextSync()) {
        const turn = turns?.due();
        if (turn !== undefined) await turn;
        yield entry;
      }
    } finally {
      this.closeSync();
    }
  }
}
