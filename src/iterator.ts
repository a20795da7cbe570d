// DatabaseIterator: the public cursor (not named Iterator, which would shadow the global
// Iterator type in a TypeScript module that imports it). Entries come as [key, value]
// decoded with the database's encodings (by default Buffers: fresh copies), in the order of
// the encoded keys (reverse: descending), at one snapshot for the iterator's whole life.
//
//   for await (const [key, value] of db.iterator({ gte: 'a', lt: 'b' })) { ... }
//
// Leaving a for-await loop (break, throw or the end) closes the iterator. An iterator used
// with next() must be closed by its user; until then it pins a snapshot and the table files
// it reads.
//
// The asynchronous reads (next(), nextv(), for await) first wait for the tables the cursor is
// about to position in to be opened off the event loop's thread (Cursor.ready): at the first
// read and after each seek(). The synchronous ones (nextSync()) open them in the call.

import { closedError, invalidArgument } from './base/index.js';
import type { Cursor } from './engine/index.js';
import type { Codecs } from './encoding.js';
import { describe } from './input.js';
import { TURN_BUDGET_MS, type LoopTurns } from './base/loop-turns.js';

/** Entries of a nextv() batch between two looks at the clock (a power of two). */
const BUDGET_CHECK_EVERY = 64;

export class DatabaseIterator<K = Buffer, V = Buffer> implements AsyncIterable<[K, V]> {
  #cursor: Cursor | undefined;
  #onClose: (() => void) | undefined;
  readonly #codecs: Codecs;
  /** The database's: long runs of next() give the event loop a turn (loop-turns.ts). */
  readonly #turns: LoopTurns | undefined;

  /** @internal Created by Database.iterator(). */
  constructor(cursor: Cursor, onClose: () => void, codecs: Codecs, turns?: LoopTurns) {
    this.#cursor = cursor;
    this.#onClose = onClose;
    this.#codecs = codecs;
    this.#turns = turns;
  }

  get closed(): boolean {
    return this.#cursor === undefined;
  }

  /** The next entry, or undefined at the end (or past the limit). */
  next(): Promise<[K, V] | undefined> {
    const wait = this.#whenReadable();
    return wait === undefined ? this.#read() : wait.then(() => this.#read());
  }

  /**
   * undefined when a read may run now; else a promise that settles once it may: after the turn
   * of the event loop that is due, then once the tables the cursor positions in are open.
   */
  #whenReadable(): Promise<void> | undefined {
    const wait = this.#turns?.pending ?? this.#cursor?.ready();
    return wait === undefined ? undefined : this.#afterWaits(wait);
  }

  async #afterWaits(first: Promise<void>): Promise<void> {
    await first;
    for (let turn = this.#turns?.pending; turn !== undefined; turn = this.#turns?.pending) await turn;
    const ready = this.#cursor?.ready();
    if (ready !== undefined) await ready;
  }

  /** next() once the cursor is ready (or was waited for once: it then opens what it still needs). */
  #read(): Promise<[K, V] | undefined> {
    try {
      const entry = this.nextSync();
      return this.#turns === undefined ? Promise.resolve(entry) : this.#turns.settle(entry);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** next() without the promise: the engine reads synchronously anyway. */
  nextSync(): [K, V] | undefined {
    if (this.#cursor === undefined) throw closedError('iterator');
    const entry = this.#cursor.next();
    return (entry === undefined || this.#codecs.raw ? entry : this.#codecs.decodeEntry(entry)) as [K, V] | undefined;
  }

  /** Up to `n` entries (an integer >= 0, or Infinity); fewer only at the end. */
  async nextv(n: number): Promise<[K, V][]> {
    if (typeof n !== 'number' || !(Number.isInteger(n) || n === Infinity) || n < 0) {
      throw invalidArgument(`nextv() takes an integer >= 0 or Infinity, got ${typeof n === 'number' ? String(n) : describe(n)}`);
    }
    const wait = this.#whenReadable();
    if (wait !== undefined) await wait;
    // The batch counts from its start in the run of reads (a turn due is waited for first).
    const turns = this.#turns;
    const due = turns?.due(0);
    if (due !== undefined) await due;
    const out: [K, V][] = [];
    const started = turns === undefined ? 0 : performance.now();
    while (out.length < n) {
      const entry = this.nextSync();
      if (entry === undefined) break;
      out.push(entry);
      // A batch that has held the loop for the reads' budget ends there, with fewer than n
      // entries (as nextv() may return before the end): its caller's next call comes after the
      // loop's turn (below). Code not yet compiled by V8 read 1,000 entries in 15-25 ms.
      if ((out.length & (BUDGET_CHECK_EVERY - 1)) === 0 && turns !== undefined && performance.now() - started >= TURN_BUDGET_MS) break;
    }
    // A call that found nothing counts as one read: a loop of them must let the loop turn too.
    const turn = turns?.due(Math.max(1, out.length));
    if (turn !== undefined) await turn;
    return out;
  }

  /**
   * Moves to the first key at or after `target` (reverse: at or before), within the
   * iterator's bounds and at its snapshot. `target` is encoded as the iterator's keys are.
   */
  seek(target: K | Uint8Array | string): void {
    if (this.#cursor === undefined) throw closedError('iterator');
    this.#cursor.seek(this.#codecs.encodeKey(target, 'seek target'));
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

  async *[Symbol.asyncIterator](): AsyncGenerator<[K, V]> {
    try {
      const turns = this.#turns;
      for (;;) {
        const ready = this.#cursor?.ready();
        if (ready !== undefined) await ready;
        const entry = this.nextSync();
        // The end counts as a read too: a loop of scans over an empty range, each ending at
        // once, held the event loop for as long as it ran (a timer never fired).
        const turn = turns?.due();
        if (turn !== undefined) await turn;
        if (entry === undefined) break;
        yield entry;
      }
    } finally {
      this.closeSync();
    }
  }
}
