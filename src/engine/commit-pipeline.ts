/**
 * CommitPipeline: concurrent writes become ordered, durable groups.
 *
 * Invariants:
 * 1. Sequence numbers are taken from the SequenceClock in submit(), before any await, so
 *    event-loop order is sequence order; groups reach the WAL in sequence order.
 * 2. At most one group is in flight: one WAL append (one write(2)) and at most one fdatasync
 *    per group. Writes submitted while a group is in flight wait and form the next group.
 * 3. A write is applied once its group's WAL append has completed; it becomes visible, and
 *    its caller is answered, once it is published: alone, once the clock publishes it (every
 *    lower sequence number is complete); as a shard of several, once its shard publishes it
 *    (ShardPublication: every earlier write of this shard is published), whatever the other
 *    shards have in flight.
 * 4. A failed append or sync fails every write of its group and every write after it: the
 *    pipeline never writes to that WAL again and never assumes a failed fsync succeeded.
 *    A failed write's sequence numbers are completed as holes, so other shards go on.
 * 5. A record submitted with submitRecord() (the two-phase commit's Prepare and Commit) is
 *    only written: no sequence number, nothing applied, answered once it is in the WAL.
 * 6. As a shard of several, a group of unsynced Batch records is taken at the end of the loop
 *    turn (setImmediate) when the database has many writes in flight besides its own
 *    (COALESCE_MIN_OTHERS): writers answered by the other shards' groups in this turn write
 *    again before it is taken, and join it, instead of each shard writing a group of a few
 *    writes as soon as one arrives. With fewer in flight it is taken at once, as with one shard.
 *
 * Steps: submit() encodes the batch, framed as a WAL record, straight into the buffer of the
 * last queued group (a new group when there is none, or it is full or behind a barrier).
 * The leader takes the groups in order: it runs the owner's beforeGroup() (which may switch
 * to a new memtable and WAL, or wait for a flush; writes keep joining the group meanwhile),
 * as a shard of several waits for a synced group's turn (SyncRounds; the same), takes the group, appends its buffer with one call, syncing once if any write asked for it,
 * shows the group's batches to beforeApply() (the memtable searches for all their keys at
 * once), applies the writes in order, publishes, and resolves every caller. Barriers (flush) run
 * between groups, after every write queued before them.
 */

import { batchEncodedLength, encodeBatchInto, invariant, type BatchEntry, type SeqNum, type StrataError } from '../base/index.js';
import { LoopTurns, nextTurn } from '../base/loop-turns.js';
import { RecordBuffer, RecordType } from '../wal/index.js';
import type { SequenceClock } from './sequence-clock.js';
import { answerAll, type PublishedWrite, type ShardPublication } from './shard-publication.js';
import type { SyncRounds } from './sync-rounds.js';

/**
 * Writes in flight besides a group's own from which a shard of several takes its unsynced group
 * at the end of the loop turn (invariant 6). With fewer, few join it and the turn costs more than
 * they save: 4 shards, 100-byte puts, writers awaiting each put: 4 writers 10% slower with every
 * group waiting, 16 the same, 64 and 256 writers 11-18% faster.
 */
const COALESCE_MIN_OTHERS = 16;
/** A group takes no more writes once its records reach this many bytes. */
const MAX_GROUP_BYTES = 4 * 1024 * 1024;
/**
 * A written group's buffer up to this size is kept for the next group: one allocation per
 * group, most of it garbage a moment later, made a lone synced writer's latency spiky.
 */
const MAX_SPARE_BYTES = 1024 * 1024;

export interface PendingWrite {
  readonly firstSeq: SeqNum;
  /** Entries of the batch; 0 for a record written with submitRecord(). */
  readonly count: number;
  /** Where the batch's encoding starts in its group's RecordBuffer (ignored when count is 0). */
  readonly payloadAt: number;
  /** Answers the caller with the write's last sequence number (0n for a record). */
  resolve(seq: bigint): void;
  reject(err: unknown): void;
  /** Its entry in the shard's publication (as a shard of several), set when it is queued. */
  published: object | undefined;
}

/** Where a shard of several publishes its writes: `owner`'s shard `shard`. */
export interface PublishedIn {
  readonly owner: ShardPublication;
  readonly shard: number;
  /** When its synced groups may start (with the other shards', in rounds). */
  readonly syncRounds: SyncRounds;
}

interface Group {
  readonly records: RecordBuffer;
  readonly writes: PendingWrite[];
  sync: boolean;
  /** Holds a record of submitRecord() (a Prepare or a Commit), not Batch records alone. */
  mixed: boolean;
}

interface Barrier {
  readonly step: () => Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

export interface PipelineHooks {
  /** Runs before each group; may rotate the WAL or wait for room. A throw fails the pipeline. */
  beforeGroup(): Promise<void>;
  /**
   * Appends the group's framed records to the WAL with one append, syncing once when `sync`
   * (WalSet.append: the current log's LogWriter.addFramed(), after syncing older logs when a
   * synced group needs them).
   */
  append(records: RecordBuffer, sync: boolean): Promise<void>;
  /**
   * Applies one write whose WAL append completed (memtable insert): its batch is encoded at
   * `at` in `bytes`, the group's buffer as the log received it (src/base/batch-format.ts;
   * applyBatch() walks it). The caller's buffers may have changed since submit(), and what
   * reads see must be what recovery would replay. `bytes` is valid only during the call.
   */
  apply(bytes: Uint8Array, at: number): void;
  /**
   * Sees the batches of a group's writes, encoded at `ats` in `bytes`, before apply()
   * is called for each of them in that order (Memtable.hintBatches). Valid only during the call.
   */
  beforeApply?: ((bytes: Uint8Array, ats: readonly number[]) => void) | undefined;
  /**
   * Sees each group once its WAL append completed, before any of its writes is applied or
   * published: `records` are the group's framed records as the log received them, valid only
   * during the call (the change feed's ring copies them when a feed is open). When the group
   * holds Batch records alone (no submitRecord()), `writes` of them, numbered `firstSeq` to
   * `lastSeq`; otherwise firstSeq is -1 and the records say what they are.
   */
  appended?(records: Uint8Array, firstSeq: SeqNum, lastSeq: SeqNum, writes: number): void;
  /** Called once, when the pipeline stops for good with `err`. */
  failed(err: StrataError): void;
}

export interface PipelineStats {
  writes: number;
  groups: number;
  syncs: number;
  walBytes: number;
  largestGroup: number;
}

export class CommitPipeline {
  readonly #hooks: PipelineHooks;
  readonly #clock: SequenceClock;
  readonly #publication: PublishedIn | undefined;
  #queue: (Group | Barrier)[] = [];
  #leading = false;
  #spare: RecordBuffer | undefined;
  /** Writes a group's apply loop published, to answer after it (reused). */
  readonly #answers: PublishedWrite[] = [];
  /** The payload offsets handed to beforeApply (reused). */
  readonly #ats: number[] = [];
  /**
   * A group whose append was written in the call completes on the microtask queue: writers
   * that await each write would hold the event loop for ever. Past TURN_BUDGET_MS of groups,
   * the next waits for a turn of the loop.
   */
  readonly #turns = new LoopTurns();
  #error: StrataError | undefined;
  #idleWaiters: (() => void)[] = [];
  readonly stats: PipelineStats = { writes: 0, groups: 0, syncs: 0, walBytes: 0, largestGroup: 0 };

  /** `publication`: where this pipeline's writes are published, as a shard of several. */
  constructor(clock: SequenceClock, hooks: PipelineHooks, publication?: PublishedIn) {
    this.#clock = clock;
    this.#hooks = hooks;
    this.#publication = publication;
  }

  /** The error that stopped the pipeline, if any. */
  get error(): StrataError | undefined {
    return this.#error;
  }

  /**
   * Queues one atomic batch; resolves to the batch's last sequence number, as a bigint: the
   * public API hands it on as it is, so that a write costs one promise, not two (a .then()
   * converting a number would be a second). REQUIRES: entries validated and non-empty.
   */
  submit(entries: readonly BatchEntry[], sync: boolean): Promise<bigint> {
    if (this.#error) return Promise.reject(this.#error);
    invariant(entries.length > 0, 'an empty batch is not submitted');
    const firstSeq = this.#clock.allocate(entries.length);
    const group = this.#openGroup();
    const records = group.records;
    const length = batchEncodedLength(entries);
    const at = records.begin(length);
    try {
      encodeBatchInto(records.bytes, at, firstSeq, entries);
    } catch (err) {
      // Validated input cannot throw here; should it anyway, the write costs nothing: its
      // record is dropped and its sequence numbers complete as a hole.
      records.abandon();
      this.#clock.complete(firstSeq, entries.length);
      throw err;
    }
    records.seal(RecordType.Batch);
    return this.#join(group, firstSeq, entries.length, at, sync);
  }

  /**
   * Queues one record of `type` whose `length` payload bytes `encode` writes at `at` in
   * `out`. It takes no sequence number and applies nothing; it resolves once in the WAL.
   */
  submitRecord(type: number, length: number, encode: (out: Uint8Array, at: number) => void, sync: boolean): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    const group = this.#openGroup();
    const records = group.records;
    const at = records.begin(length);
    try {
      encode(records.bytes, at);
    } catch (err) {
      records.abandon();
      throw err;
    }
    records.seal(type);
    group.mixed = true;
    // A record has no sequence number: the value it resolves to (0n) means nothing.
    return this.#join(group, 0, 0, at, sync) as Promise<unknown> as Promise<void>;
  }

  /** The last group in the queue if it takes more writes, or a new one. */
  #openGroup(): Group {
    let group = this.#queue[this.#queue.length - 1];
    if (group === undefined || !('records' in group) || group.records.byteLength >= MAX_GROUP_BYTES) {
      group = { records: this.#spare ?? new RecordBuffer(), writes: [], sync: false, mixed: false };
      this.#spare = undefined;
      this.#queue.push(group);
    }
    return group;
  }

  #join(group: Group, firstSeq: SeqNum, count: number, payloadAt: number, sync: boolean): Promise<bigint> {
    group.sync ||= sync;
    const writes = group.writes;
    const publication = this.#publication;
    const done = new Promise<bigint>((resolve, reject) => {
      const write: PendingWrite = { firstSeq, count, payloadAt, resolve, reject, published: undefined };
      // In the synchronous step of the allocation (ShardPublication.enter()).
      if (count > 0 && publication !== undefined) write.published = publication.owner.enter(publication.shard, write);
      writes.push(write);
    });
    if (!this.#leading) void this.#lead();
    return done;
  }

  /** Runs `step` between groups, after every write submitted before this call. */
  barrier(step: () => Promise<void>): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ step, resolve, reject });
      if (!this.#leading) void this.#lead();
    });
  }

  /** Resolves once nothing is queued or in flight. */
  drain(): Promise<void> {
    if (!this.#leading && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops the pipeline: queued and later writes fail with `err`. */
  fail(err: StrataError): void {
    const first = this.#error === undefined;
    this.#error ??= err;
    if (first) this.#hooks.failed(this.#error);
    const queued = this.#queue;
    this.#queue = [];
    for (const item of queued) {
      if ('records' in item) this.#failWrites(item.writes, this.#error);
      else item.reject(this.#error);
    }
  }

  /** Rejects `writes`; their sequence numbers complete as holes that nothing will fill. */
  #failWrites(writes: readonly PendingWrite[], err: unknown): void {
    for (const w of writes) {
      w.reject(err);
      if (w.count > 0) this.#clock.complete(w.firstSeq, w.count);
      if (w.published !== undefined) this.#publication!.owner.complete(w.published);
    }
  }

  async #lead(): Promise<void> {
    this.#leading = true;
    try {
      while (this.#queue.length > 0 && !this.#error) {
        const head = this.#queue[0]!;
        if (!('records' in head)) {
          this.#queue.shift();
          try {
            await head.step();
            head.resolve();
          } catch (err) {
            head.reject(err);
          }
          continue;
        }
        try {
          await this.#hooks.beforeGroup();
        } catch (err) {
          this.fail(err as StrataError);
          break;
        }
        // As a shard of several, an unsynced group of Batch records waits for the end of the
        // loop turn while many writes besides its own are in flight (invariant 6); it takes more
        // writes meanwhile.
        const publication = this.#publication;
        if (publication !== undefined && !head.sync && !head.mixed && publication.owner.unpublished - head.writes.length >= COALESCE_MIN_OTHERS) {
          await nextTurn();
        }
        // As a shard of several, a synced group starts with the other shards' (SyncRounds);
        // it takes more writes while it waits.
        const rounds = head.sync ? publication?.syncRounds : undefined;
        if (rounds !== undefined) {
          const turn = rounds.start();
          if (turn !== undefined) await turn;
        }
        // fail() (another shard's failure) may have come while this waited: it failed this
        // group's writes already, and nothing more goes to the log.
        if (this.#error) {
          rounds?.end();
          break;
        }
        // From here on the group takes no more writes: later submits start the next one.
        this.#queue.shift();
        const { records, writes, sync } = head;
        this.stats.walBytes += records.byteLength;
        try {
          await this.#hooks.append(records, sync);
        } catch (err) {
          this.#failWrites(writes, err);
          this.fail(err as StrataError);
          break;
        } finally {
          rounds?.end();
        }
        this.stats.groups++;
        this.stats.writes += writes.length;
        if (sync) this.stats.syncs++;
        if (writes.length > this.stats.largestGroup) this.stats.largestGroup = writes.length;
        let lastSeq = 0;
        /** Operations applied to the memtable: what the turn is weighed by (a 1,000-put batch is 1,000 reads' worth). */
        let applied = 0;
        const bytes = records.bytes;
        const appended = this.#hooks.appended;
        if (appended !== undefined) {
          const last = writes[writes.length - 1];
          if (head.mixed || last === undefined) appended(bytes.subarray(0, records.byteLength), -1, -1, 0);
          else appended(bytes.subarray(0, records.byteLength), writes[0]!.firstSeq, last.firstSeq + last.count - 1, writes.length);
        }
        const answers = this.#answers;
        const beforeApply = this.#hooks.beforeApply;
        if (beforeApply !== undefined) {
          const ats = this.#ats;
          ats.length = 0;
          for (const w of writes) if (w.count > 0) ats.push(w.payloadAt);
          beforeApply(bytes, ats);
        }
        try {
          for (const w of writes) {
            if (w.count === 0) {
              // A Prepare or Commit record is answered at once: its batch's publication may wait
              // for it, and a write later in this group may wait for that publication.
              w.resolve(0n);
              continue;
            }
            this.#hooks.apply(bytes, w.payloadAt);
            applied += w.count;
            lastSeq = w.firstSeq + w.count - 1;
            this.#clock.complete(w.firstSeq, w.count);
            // As a shard of several: published in this shard's order, answered below.
            if (w.published !== undefined) this.#publication!.owner.complete(w.published, answers);
          }
        } finally {
          // The writes the loop published, answered together, in the same step.
          if (answers.length > 0) {
            answerAll(answers);
            answers.length = 0;
          }
        }
        // Only now: the writes above were applied from this buffer.
        if (records.capacity <= MAX_SPARE_BYTES) {
          records.reset();
          this.#spare = records;
        }
        // As a shard of several, they were answered above as published. (Resolving a record's
        // promise again does nothing.)
        if (this.#publication === undefined) {
          if (lastSeq <= this.#clock.published) answerAll(writes);
          else void this.#clock.whenPublished(lastSeq).then(() => answerAll(writes));
        }
        const turn = this.#turns.due(applied);
        if (turn !== undefined) await turn;
      }
    } finally {
      this.#leading = false;
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }
}

