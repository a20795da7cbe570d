/**
 * CommitPipeline: concurrent writes become ordered, durable groups.
 *
 * Invariants:
 * 1. Sequence numbers are assigned in submit(), before any await, so event-loop order is
 *    sequence order; groups reach the WAL in sequence order.
 * 2. At most one group is in flight: one WAL append (one write(2)) and at most one fdatasync
 *    per group. Writes submitted while a group is in flight wait and form the next group.
 * 3. A write becomes visible (its entries are applied and the published sequence moves past
 *    it) only after its group's WAL append has completed, and with it every earlier write.
 * 4. A failed append or sync fails every write of its group and every write after it: the
 *    pipeline never writes to that WAL again and never assumes a failed fsync succeeded.
 *
 * Steps: submit() encodes the batch, framed as a WAL record, straight into the buffer of the
 * last queued group (a new group when there is none, or it is full or behind a barrier).
 * The leader takes the groups in order: it runs the owner's beforeGroup() (which may switch
 * to a new memtable and WAL, or wait for a flush; writes keep joining the group meanwhile),
 * takes the group, appends its buffer with one call, syncing once if any write asked for it,
 * applies the writes in order, publishes, and resolves every caller. Barriers (flush) run
 * between groups, after every write queued before them.
 */

import { batchEncodedLength, encodeBatchInto, invariant, type BatchEntry, type SeqNum, type StrataError } from '../base/index.js';
import { RecordBuffer, RecordType, type LogWriter } from '../wal/index.js';

/** A group takes no more writes once its records reach this many bytes. */
const MAX_GROUP_BYTES = 4 * 1024 * 1024;

export interface PendingWrite {
  readonly firstSeq: SeqNum;
  readonly entries: readonly BatchEntry[];
  resolve(): void;
  reject(err: unknown): void;
}

interface Group {
  readonly records: RecordBuffer;
  readonly writes: PendingWrite[];
  sync: boolean;
}

interface Barrier {
  readonly step: () => Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

export interface PipelineHooks {
  /** Runs before each group; may rotate the WAL or wait for room. A throw fails the pipeline. */
  beforeGroup(): Promise<void>;
  /** The WAL the next group goes to. */
  wal(): LogWriter;
  /** Applies one write whose WAL append completed (memtable insert). */
  apply(write: PendingWrite): void;
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
  #queue: (Group | Barrier)[] = [];
  #leading = false;
  #lastSeq: SeqNum;
  #publishedSeq: SeqNum;
  #error: StrataError | undefined;
  #idleWaiters: (() => void)[] = [];
  readonly stats: PipelineStats = { writes: 0, groups: 0, syncs: 0, walBytes: 0, largestGroup: 0 };

  constructor(lastSeq: SeqNum, hooks: PipelineHooks) {
    this.#lastSeq = lastSeq;
    this.#publishedSeq = lastSeq;
    this.#hooks = hooks;
  }

  /** The largest sequence number whose write, and every earlier one, is applied. */
  get publishedSeq(): SeqNum {
    return this.#publishedSeq;
  }

  get lastSeq(): SeqNum {
    return this.#lastSeq;
  }

  /** The error that stopped the pipeline, if any. */
  get error(): StrataError | undefined {
    return this.#error;
  }

  /** Queues one atomic batch. REQUIRES: entries validated and non-empty. */
  submit(entries: readonly BatchEntry[], sync: boolean): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    invariant(entries.length > 0, 'an empty batch is not submitted');
    const firstSeq = this.#lastSeq + 1;
    this.#lastSeq += entries.length;
    let group = this.#queue[this.#queue.length - 1];
    if (group === undefined || !('records' in group) || group.records.byteLength >= MAX_GROUP_BYTES) {
      group = { records: new RecordBuffer(), writes: [], sync: false };
      this.#queue.push(group);
    }
    const records = group.records;
    const at = records.begin(batchEncodedLength(entries));
    encodeBatchInto(records.bytes, at, firstSeq, entries);
    records.seal(RecordType.Batch);
    group.sync ||= sync;
    const writes = group.writes;
    const done = new Promise<void>((resolve, reject) => {
      writes.push({ firstSeq, entries, resolve, reject });
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
    this.#error ??= err;
    const queued = this.#queue;
    this.#queue = [];
    for (const item of queued) {
      if ('records' in item) for (const w of item.writes) w.reject(this.#error);
      else item.reject(this.#error);
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
        // From here on the group takes no more writes: later submits start the next one.
        this.#queue.shift();
        const { records, writes, sync } = head;
        this.stats.walBytes += records.byteLength;
        try {
          await this.#hooks.wal().addFramed(records, sync);
        } catch (err) {
          for (const w of writes) w.reject(err);
          this.fail(err as StrataError);
          break;
        }
        this.stats.groups++;
        this.stats.writes += writes.length;
        if (sync) this.stats.syncs++;
        if (writes.length > this.stats.largestGroup) this.stats.largestGroup = writes.length;
        for (const w of writes) this.#hooks.apply(w);
        const last = writes[writes.length - 1]!;
        this.#publishedSeq = last.firstSeq + last.entries.length - 1;
        for (const w of writes) w.resolve();
      }
    } finally {
      this.#leading = false;
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }
}
