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

/**
 * The furthest above `published` a completed range is kept in #done (2^20 slots, 8 MiB at
 * most); further ones (none in practice: writes in flight are what lies between) in a Map.
 */
const MAX_HELD_SPAN = 1 << 20;

export class SequenceClock {
  #last: SeqNum;
  #published: SeqNum;
  /**
   * Completed ranges above `published`, each at slot (first mod length): its count, 0 for
   * none. Every such first lies in published + 1 .. published + length (#hold grows it), so
   * slots never collide. With shards, writes complete out of order all the time: a Map of
   * first → last cost a set, a get and a delete each (0.2 µs a write of 4 shards' 300k).
   */
  #done = new Float64Array(256);
  #held = 0;
  /** Completed ranges further above `published` than #done may grow (MAX_HELD_SPAN): first → count. */
  readonly #far = new Map<SeqNum, number>();
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
    if (first !== this.#published + 1) {
      this.#hold(first, count);
      return;
    }
    this.#published = first + count - 1;
    while (this.#held > 0 || this.#far.size > 0) {
      const next = this.#published + 1;
      const slot = next & (this.#done.length - 1);
      let held = this.#done[slot]!;
      if (held > 0) {
        this.#done[slot] = 0;
        this.#held--;
      } else if (this.#far.size > 0 && (held = this.#far.get(next) ?? 0) > 0) {
        this.#far.delete(next);
      } else {
        break;
      }
      this.#published += held;
    }
    if (this.#waiters.length > 0) this.#wake();
  }

  /** Keeps [first, first + count), complete above a range that is not, until its turn. */
  #hold(first: SeqNum, count: number): void {
    invariant(first > this.#published && count > 0, 'a range completed twice, or empty');
    const span = first - this.#published;
    if (span > MAX_HELD_SPAN) {
      this.#far.set(first, count);
      return;
    }
    if (span > this.#done.length) this.#grow(span);
    this.#done[first & (this.#done.length - 1)] = count;
    this.#held++;
  }

  /** A #done of at least `span` slots (a power of two), the ranges held moved to their new slots. */
  #grow(span: number): void {
    const old = this.#done;
    let length = old.length * 2;
    while (length < span) length *= 2;
    const done = new Float64Array(length);
    // Slot i of the old array holds the range whose first is the number above `published` that
    // is i mod old.length (there is exactly one within the old length).
    const base = this.#published + 1;
    const oldMask = old.length - 1;
    for (let i = 0; i < old.length; i++) {
      if (old[i] === 0) continue;
      const first = base + ((i - (base & oldMask)) & oldMask);
      done[first & (length - 1)] = old[i]!;
    }
    this.#done = done;
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
