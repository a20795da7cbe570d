/**
 * SequenceClock: hands out sequence numbers and decides which of them are published.
 *
 * One clock serves every shard of a database (one engine alone has its own), so that a
 * sequence number names one point in the whole database's history.
 *
 * Invariants:
 * 1. allocate() hands out strictly increasing, never reused ranges, on the one JavaScript
 *    thread, so event-loop order is sequence order.
 * 2. `published` is the largest S such that every range at or below S is complete: its write
 *    is in its WAL and in its memtable, or it failed and will never be anywhere. A read at
 *    `published` therefore sees one consistent cut across all shards.
 * 3. whenPublished(S) resolves once `published` >= S, in the order the ranges complete.
 * 4. An ingest may reserve a number S ahead (reserveAhead): until it is taken or given up,
 *    every allocation ends below S, and one that would not, or any made while the ingest
 *    installs (closeGate), must wait (mustWait; the caller parks it and allocates on resume,
 *    in the order parked). takeReserved() completes the numbers skipped below S as a hole and
 *    hands out S; the parked allocations then go on above it.
 */

import { invariant, type SeqNum } from '../base/index.js';

export class SequenceClock {
  #last: SeqNum;
  #published: SeqNum;
  /** Completed ranges above `published`: first → last. */
  readonly #done = new Map<SeqNum, SeqNum>();
  #waiters: { seq: SeqNum; resolve(): void }[] = [];
  /** The number an ingest reserved ahead (invariant 4). */
  #reserved: SeqNum | undefined;
  #gateClosed = false;
  #parked: (() => void)[] = [];

  constructor(lastSeq: SeqNum) {
    this.#last = lastSeq;
    this.#published = lastSeq;
  }

  /** The last sequence number handed out. */
  get last(): SeqNum {
    return this.#last;
  }

  get published(): SeqNum {
    return this.#published;
  }

  /** Moves the clock past `seq` (recovery). REQUIRES: nothing allocated and not complete. */
  advanceTo(seq: SeqNum): void {
    invariant(this.#last === this.#published, 'advanceTo() with writes in flight');
    if (seq > this.#last) this.#last = this.#published = seq;
  }

  /** The number an ingest reserved ahead, if any (invariant 4). */
  get reserved(): SeqNum | undefined {
    return this.#reserved;
  }

  /** Whether allocating `count` numbers now must wait for the ingest that reserved one (invariant 4). */
  mustWait(count: number): boolean {
    return this.#reserved !== undefined && (this.#gateClosed || this.#parked.length > 0 || this.#last + count >= this.#reserved);
  }

  /** Calls `resume` once allocations may go on (at once when nothing is reserved), in the order parked. */
  park(resume: () => void): void {
    if (this.#reserved === undefined) resume();
    else this.#parked.push(resume);
  }

  /** Reserves the number `gap` above the last one allocated; returns it. REQUIRES: none reserved. */
  reserveAhead(gap: number): SeqNum {
    invariant(this.#reserved === undefined, 'one reservation at a time');
    this.#reserved = this.#last + gap;
    return this.#reserved;
  }

  /** From now on every allocation waits, until takeReserved() or giveUpReserved(). */
  closeGate(): void {
    this.#gateClosed = true;
  }

  /**
   * Hands out the reserved number S (the caller completes it): the numbers between the last
   * one allocated and S complete as a hole, and the parked allocations go on above S.
   */
  takeReserved(): SeqNum {
    const seq = this.#reserved;
    invariant(seq !== undefined && seq > this.#last, 'takeReserved() without a reservation');
    const skipped = this.#last + 1;
    this.#last = seq;
    if (skipped < seq) this.complete(skipped, seq - skipped);
    this.#openGate();
    return seq;
  }

  /** Gives up the reservation (nothing was written at it); the parked allocations go on. */
  giveUpReserved(): void {
    this.#openGate();
  }

  #openGate(): void {
    this.#reserved = undefined;
    this.#gateClosed = false;
    const parked = this.#parked;
    this.#parked = [];
    for (const resume of parked) resume();
  }

  /** Reserves `count` consecutive sequence numbers; returns the first. */
  allocate(count: number): SeqNum {
    invariant(this.#reserved === undefined || !this.mustWait(count), 'an allocation that must wait for an ingest');
    const first = this.#last + 1;
    this.#last += count;
    return first;
  }

  /** Marks [first, first + count) complete (written and applied, or failed for good). */
  complete(first: SeqNum, count: number): void {
    const last = first + count - 1;
    if (first !== this.#published + 1) {
      this.#done.set(first, last);
      return;
    }
    this.#published = last;
    if (this.#done.size > 0) {
      for (let next = this.#done.get(this.#published + 1); next !== undefined; next = this.#done.get(this.#published + 1)) {
        this.#done.delete(this.#published + 1);
        this.#published = next;
      }
    }
    if (this.#waiters.length > 0) this.#wake();
  }

  /** Resolves once every sequence number up to `seq` is published. */
  whenPublished(seq: SeqNum): Promise<void> {
    if (seq <= this.#published) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ seq, resolve }));
  }

  /**
   * Calls `wake` once every sequence number up to `seq` is published (at once if it is);
   * returns a function that cancels the wait, so that a reader that stops waiting (a change
   * feed ended) leaves nothing behind.
   */
  onPublished(seq: SeqNum, wake: () => void): () => void {
    if (seq <= this.#published) {
      wake();
      return () => {};
    }
    const waiter = { seq, resolve: wake };
    this.#waiters.push(waiter);
    return () => {
      const i = this.#waiters.indexOf(waiter);
      if (i >= 0) this.#waiters.splice(i, 1);
    };
  }

  /** Waiters not yet woken (tests: nothing is left behind). */
  get waiting(): number {
    return this.#waiters.length;
  }

  #wake(): void {
    const waiting: { seq: SeqNum; resolve(): void }[] = [];
    for (const w of this.#waiters) {
      if (w.seq <= this.#published) w.resolve();
      else waiting.push(w);
    }
    this.#waiters = waiting;
  }
}
