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
 *    Nothing in the copy is written again.
 * 2. Held per commit group, in log order, which is sequence order (ChangeLog invariant 1):
 *    the group's bytes, its log and offset, and the first and last sequence numbers of its
 *    writes. A reader gets the records (change-record.ts, as read from the log) parsed from
 *    its own copy of a group's bytes (after()): it may hand out views into them, which no other
 *    feed sees; and a group held costs one object, not one per write (records held for long
 *    would outlive the young generation and burden the collector).
 * 3. Completeness: every Batch or Prepare record of this shard whose first sequence number is
 *    above `floor` and that has been appended is held, as is the Commit record of every such
 *    part that has one (a part held from before, below the floor, is looked up in the log).
 *    At attach() the floor is the clock's last allocated number (every later write is
 *    appended after); each group dropped raises it to the group's last number.
 * 4. Bounded: groups of at most RING_BYTES are held, plus the newest; the oldest go first.
 * 5. Filled only while a feed is attached: with none, the write path pays one test of a flag.
 */

import { getU32, getU64, type SeqNum } from '../base/index.js';
import { forEachFramedRecord, RecordType } from '../wal/index.js';
import { writeOf, type CommitSeen, type ShardRecord } from './change-record.js';
import { decodeCommit, isPrepare } from './two-phase-format.js';

/** Bytes of commit groups one shard's ring holds at most (invariant 4). */
export const RING_BYTES = 8 * 1024 * 1024;

interface RingGroup {
  readonly bytes: Uint8Array;
  readonly log: number;
  /** Where the group starts in its log. */
  readonly offset: number;
  readonly firstSeq: SeqNum;
  readonly lastSeq: SeqNum;
  /** Batches across shards with a part here (their Commit records go with the group). */
  readonly parts: SeqNum[] | undefined;
}

export class ChangeRing {
  #feeds = 0;
  /** Groups in log order from #head on; below #head, dropped slots. */
  #groups: RingGroup[] = [];
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
    this.#groups = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#commits.clear();
  }

  /** Bytes of the groups held (stats' memory figures). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Groups held (tests). */
  get size(): number {
    return this.#groups.length - this.#head;
  }

  /**
   * Takes the records of a group just appended to log `log` at `offset`: `group` is the
   * pipeline's buffer, valid only during the call (copied: invariant 1).
   */
  add(group: Uint8Array, log: number, offset: number): void {
    // The constructor copies (Buffer#slice would not).
    const bytes = new Uint8Array(group);
    let firstSeq = -1;
    let lastSeq = -1;
    let parts: SeqNum[] | undefined;
    forEachFramedRecord(bytes, (type, payloadAt, end) => {
      let first: SeqNum;
      let last: SeqNum;
      if (type === RecordType.Batch) {
        first = getU64(bytes, payloadAt);
        last = first + getU32(bytes, payloadAt + 8) - 1;
      } else if (isPrepare(type)) {
        const part = writeOf(type, bytes, payloadAt, end, log, offset + end, false) as Extract<ShardRecord, { kind: 'part' }>;
        (parts ??= []).push(part.txn);
        first = part.firstSeq;
        last = part.lastSeq;
      } else {
        if (type === RecordType.Commit) {
          // A part held has its batch's number above the floor (no record of this shard lies
          // inside another batch's range); one at or below it was dropped, or came before attach().
          const txn = decodeCommit(bytes.subarray(payloadAt, end));
          if (txn > this.#floor) this.#commits.set(txn, { log, end: offset + end });
        }
        return;
      }
      if (firstSeq < 0) firstSeq = first;
      lastSeq = last;
    });
    if (firstSeq < 0) return;
    this.#groups.push({ bytes, log, offset, firstSeq, lastSeq, parts });
    this.#bytes += bytes.length;
    while (this.#bytes > this.#limitBytes && this.#groups.length - this.#head > 1) this.#dropOldest();
  }

  /**
   * Up to about `max` records whose first sequence number is above `seq`, in order, parsed
   * from the reader's own copy of their groups (invariant 2); undefined when the ring may not
   * hold them all (`seq` is below its floor: the caller reads the logs).
   */
  after(seq: SeqNum, max: number): ShardRecord[] | undefined {
    if (seq < this.#floor || this.#feeds === 0) return undefined;
    const groups = this.#groups;
    let lo = this.#head;
    let hi = groups.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (groups[mid]!.lastSeq > seq) hi = mid;
      else lo = mid + 1;
    }
    const out: ShardRecord[] = [];
    for (let g = lo; g < groups.length && out.length < max; g++) {
      const group = groups[g]!;
      const own = Buffer.from(group.bytes);
      forEachFramedRecord(own, (type, payloadAt, end) => {
        if (type !== RecordType.Batch && !isPrepare(type)) return;
        // Its first number, from the head: records at or below `seq` are not parsed further.
        if (type === RecordType.Batch && getU64(own, payloadAt) <= seq) return;
        const record = writeOf(type, own, payloadAt, end, group.log, group.offset + end, true);
        if (record !== undefined && record.firstSeq > seq) out.push(record);
      });
    }
    return out;
  }

  /** The Commit record of batch `txn`, if this ring holds it. */
  commitOf(txn: SeqNum): CommitSeen | undefined {
    return this.#commits.get(txn);
  }

  #dropOldest(): void {
    const group = this.#groups[this.#head]!;
    this.#groups[this.#head++] = undefined as unknown as RingGroup;
    this.#bytes -= group.bytes.length;
    if (group.lastSeq > this.#floor) this.#floor = group.lastSeq;
    if (group.parts !== undefined) for (const txn of group.parts) this.#commits.delete(txn);
    // Shift out the dropped slots once they are half the array: amortized O(1) a group.
    if (this.#head > 64 && this.#head * 2 > this.#groups.length) {
      this.#groups = this.#groups.slice(this.#head);
      this.#head = 0;
    }
  }
}
