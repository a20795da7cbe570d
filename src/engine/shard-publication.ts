/**
 * ShardPublication: what is published in each shard of a database of several shards. The one
 * owner of that answer: commit pipelines, the two-phase commit and reads all ask it.
 *
 * The SequenceClock's `published` is global: every number at or below it is complete in every
 * shard. Waiting for it makes a write in one shard wait for the slowest sync in flight in any
 * other. Here each shard has its own watermark instead, and a write is answered once it is
 * published in its own shard.
 *
 * Each shard keeps, in sequence order, the writes allocated to it that are not yet published
 * in it (its queue). A write joins the queues of the shards it touches in the same synchronous
 * step in which the clock allocates its numbers, so every queue is in ascending order.
 *
 * Invariants:
 * 1. published(i) is the first number of shard i's oldest unpublished write, minus one; with
 *    none, the clock's last allocated number. It never goes down: a write allocated later
 *    takes numbers above the clock's last.
 * 2. A write in one shard is published once it is complete (in its WAL and memtable, or
 *    failed for good) and every write before it in its shard's queue is published.
 * 3. A batch across shards is one entry, in the queue of every participant. It is published
 *    once it is complete and it is the oldest unpublished write of every participant; then it
 *    leaves every queue in the same synchronous step. Hence at any instant of the event loop,
 *    for each such batch, either published(i) covers its part in every participant i, or in
 *    none: a cut (the vector of published(i), read in one synchronous step) never shows half
 *    of it. A batch waits only for writes with lower numbers, so no two wait for each other.
 * 4. Each write's `resolve` is called once, in the synchronous step in which it is published:
 *    by complete(), or by its caller when it asked for the answers (a commit group's, answered
 *    together after its loop). For a failed write, whose promise was already rejected, the call
 *    does nothing.
 *
 * A cut is consistent: it shows a write only if it shows every write that was published
 * before it anywhere (each published(i) only grows), and every batch whole (invariant 3). A
 * write answered before a cut is taken is in it.
 */

import { invariant, type SeqNum } from '../base/index.js';
import type { SequenceClock } from './sequence-clock.js';

/** A write as the queues hold it. */
export interface PublishedWrite {
  readonly firstSeq: SeqNum;
  readonly count: number;
  /** Answers the write's caller with its last sequence number, once published. */
  resolve(seq: bigint): void;
}

interface Entry {
  readonly write: PublishedWrite;
  /** The shard of a write in one shard (-1 for a batch across shards). */
  readonly shard: number;
  /** Participants of a batch across shards, ascending; undefined for a write in one shard. */
  readonly shards: readonly number[] | undefined;
  complete: boolean;
}

/** Shard `i` reads at `cut[i]`: one consistent cut of every shard (invariant 3). */
export type Cut = readonly SeqNum[];

/** A cut's lowest number: every write at or below it is visible to a reader at the cut. */
export function lowest(cut: Cut): SeqNum {
  let min = cut[0]!;
  for (let i = 1; i < cut.length; i++) if (cut[i]! < min) min = cut[i]!;
  return min;
}

/** A queue of entries with a moving head; the dropped front is reclaimed now and then. */
class Queue {
  items: Entry[] = [];
  head = 0;

  peek(): Entry | undefined {
    return this.items[this.head];
  }

  shift(): void {
    this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

export class ShardPublication {
  readonly #clock: SequenceClock;
  readonly #queues: Queue[];
  #unpublished = 0;

  constructor(clock: SequenceClock, shards: number) {
    this.#clock = clock;
    this.#queues = Array.from({ length: shards }, () => new Queue());
  }

  /** Writes entered and not yet published, in every shard (a batch across shards counts once). */
  get unpublished(): number {
    return this.#unpublished;
  }

  /** The largest S such that every write to shard `shard` at or below S is published (invariant 1). */
  published(shard: number): SeqNum {
    const head = this.#queues[shard]!.peek();
    return head === undefined ? this.#clock.last : head.write.firstSeq - 1;
  }

  /** Every shard's published(), read in one step: a consistent cut. */
  cut(): SeqNum[] {
    const cut = new Array<SeqNum>(this.#queues.length);
    for (let i = 0; i < cut.length; i++) cut[i] = this.published(i);
    return cut;
  }

  /**
   * Queues `write`, whose numbers were just allocated, in shard `shard`. Returns the token that
   * complete() takes. REQUIRES: called in the synchronous step of the allocation.
   */
  enter(shard: number, write: PublishedWrite): object {
    const entry: Entry = { write, shard, shards: undefined, complete: false };
    this.#queues[shard]!.items.push(entry);
    this.#unpublished++;
    return entry;
  }

  /** enter() for a batch across `shards` (ascending): one entry in each of their queues. */
  enterAcross(shards: readonly number[], write: PublishedWrite): object {
    const entry: Entry = { write, shard: -1, shards, complete: false };
    for (const s of shards) this.#queues[s]!.items.push(entry);
    this.#unpublished++;
    return entry;
  }

  /**
   * Marks an entered write complete; publishes what that allows (invariants 2, 3). The writes
   * published are answered now, or, given `answers`, pushed there for the caller to answer
   * (answerAll) before its synchronous step ends: a commit group's, answered together.
   */
  complete(token: object, answers?: PublishedWrite[]): void {
    const entry = token as Entry;
    invariant(!entry.complete, 'a write completed twice');
    entry.complete = true;
    // Only a queue's head can be published: an entry behind it waits for the head's turn. No
    // queue's head is ever complete after a step (#advance publishes it), so a batch across
    // shards that is not the head of all its participants' queues waits for the writes before
    // it, whose publication reaches it: one participant's queue is enough to look at.
    if (entry.shards === undefined) {
      if (this.#queues[entry.shard]!.peek() === entry) this.#advance(entry.shard, answers);
    } else this.#advance(entry.shards[0]!, answers);
  }

  /** Publishes the complete heads of shard `first`'s queue, and of every shard that this unblocks. */
  #advance(first: number, answers: PublishedWrite[] | undefined): void {
    const queues = this.#queues;
    let work: number[] | undefined;
    for (let s: number | undefined = first; s !== undefined; s = work?.pop()) {
      const queue = queues[s]!;
      for (let head = queue.peek(); head !== undefined && head.complete; head = queue.peek()) {
        if (head.shards === undefined) {
          queue.shift();
          this.#unpublished--;
          if (answers === undefined) answer(head.write);
          else answers.push(head.write);
          continue;
        }
        if (!head.shards.every((p) => queues[p]!.peek() === head)) break;
        for (const p of head.shards) {
          queues[p]!.shift();
          if (p !== s) (work ??= []).push(p);
        }
        this.#unpublished--;
        if (answers === undefined) answer(head.write);
        else answers.push(head.write);
      }
    }
  }
}

/** Answers each of `writes` (published) with its last sequence number, in order. */
export function answerAll(writes: readonly PublishedWrite[]): void {
  for (let i = 0; i < writes.length; i++) answer(writes[i]!);
}

function answer(w: PublishedWrite): void {
  w.resolve(BigInt(w.firstSeq + w.count - 1));
}
