/**
 * ChangeRing: the newest writes of one shard's log, kept in memory while a change feed is
 * open, so that a feed that keeps up is served without reading back, checksumming and
 * decoding what the engine has just written. A feed that falls behind the ring reads the logs
 * (ChangeLog) as before; the ring is never a queue that a slow consumer makes grow.
 *
 * Invariants:
 * 1. Filled by the commit pipeline right after each group's append, before any of its writes
 *    is published (CommitPipeline's `appended` hook), with one copy of the group's bytes: the
 *    pipeline reuses its buffer for the next group, and a feed may read a record long after.
 *    A copy is one memcpy per group, less than the allocation of a buffer per group would
 *    cost; nothing in it is written again, so records are views into it.
 * 2. Records are held in log order, which is sequence order (ChangeLog invariant 1), each with
 *    the log and offset where it ends, as a record read from the log (change-record.ts).
 * 3. Completeness: every Batch or Prepare record of this shard whose first sequence number is
 *    above `floor` and that has been appended is held, as is the Commit record of every such
 *    part that has one (a part held from before, below the floor, is looked up in the log). At attach() the floor is the clock's last allocated number (every later
 *    write is appended after), and each record dropped raises it to that record's last number.
 * 4. Bounded: records of at most RING_BYTES (their batch bytes) are held; the oldest go first.
 * 5. Filled only while a feed is attached: with none, the write path pays one test of a flag.
 */

import type { SeqNum } from '../base/index.js';
import { forEachFramedRecord, RecordType } from '../wal/index.js';
import { writeOf, type CommitSeen, type ShardRecord } from './change-record.js';
import { decodeCommit } from './two-phase-format.js';

/** Bytes of records one shard's ring holds at most (invariant 4). */
export const RING_BYTES = 8 * 1024 * 1024;

export class ChangeRing {
  #feeds = 0;
  /** Records in log order from #head on; below #head, dropped slots. */
  #records: ShardRecord[] = [];
  #head = 0;
  #bytes = 0;
  #floor: SeqNum = 0;
  /** Commit records of the held parts, by batch (invariant 3). */
  readonly #commits = new Map<SeqNum, CommitSeen>();
  readonly #limitBytes: number;

  constructor(limitBytes = RING_BYTES) {
    this.#limitBytes = limitBytes;
  }

  /** Whether a feed is attached: the pipeline hands over its groups only then. */
  get active(): boolean {
    return this.#feeds > 0;
  }

  /** A feed starts using the ring; `lastAllocated` is the clock's last sequence number (invariant 3). */
  attach(lastAllocated: SeqNum): void {
    if (this.#feeds++ === 0) this.#floor = lastAllocated;
  }

  /** A feed is done with the ring; the last one empties it. */
  detach(): void {
    if (--this.#feeds > 0) return;
    this.#records = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#commits.clear();
  }

  /** Records held (tests). */
  get size(): number {
    return this.#records.length - this.#head;
  }

  /**
   * Takes the records of a group just appended to log `log` at `offset`: `group` is the
   * pipeline's buffer, valid only during the call (copied: invariant 1).
   */
  add(group: Uint8Array, log: number, offset: number): void {
    // A plain Uint8Array (the constructor copies; Buffer#slice would not): the feed copies out
    // of its views, cheaper than of a Buffer's.
    const bytes = new Uint8Array(group);
    forEachFramedRecord(bytes, (type, payloadAt, end) => {
      if (type === RecordType.Commit) {
        // A part held has its batch's number above the floor (no record of this shard lies
        // inside another batch's range); one at or below it was dropped, or came before attach().
        const txn = decodeCommit(bytes.subarray(payloadAt, end));
        if (txn > this.#floor) this.#commits.set(txn, { log, end: offset + end });
        return;
      }
      const record = writeOf(type, bytes, payloadAt, end, log, offset + end);
      if (record === undefined) return;
      this.#records.push(record);
      this.#bytes += end - payloadAt;
    });
    while (this.#bytes > this.#limitBytes && this.#head < this.#records.length) this.#dropOldest();
  }

  /**
   * Up to `max` records whose first sequence number is above `seq`, in order; undefined when
   * the ring may not hold them all (`seq` is below its floor: the caller reads the logs).
   */
  after(seq: SeqNum, max: number): ShardRecord[] | undefined {
    if (seq < this.#floor || this.#feeds === 0) return undefined;
    const records = this.#records;
    let lo = this.#head;
    let hi = records.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (records[mid]!.firstSeq > seq) hi = mid;
      else lo = mid + 1;
    }
    return records.slice(lo, Math.min(records.length, lo + max));
  }

  /** The Commit record of batch `txn`, if this ring holds it. */
  commitOf(txn: SeqNum): CommitSeen | undefined {
    return this.#commits.get(txn);
  }

  #dropOldest(): void {
    const record = this.#records[this.#head]!;
    this.#records[this.#head++] = undefined as unknown as ShardRecord;
    this.#bytes -= record.batchEnd - record.batchAt;
    if (record.lastSeq > this.#floor) this.#floor = record.lastSeq;
    if (record.kind === 'part') this.#commits.delete(record.txn);
    // Shift out the dropped slots once they are half the array: amortized O(1) a record.
    if (this.#head > 1024 && this.#head * 2 > this.#records.length) {
      this.#records = this.#records.slice(this.#head);
      this.#head = 0;
    }
  }
}
