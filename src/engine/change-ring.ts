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
 *    The copy goes to the end of the newest slab (SLAB_BYTES, taken when the previous one is
 *    full, so a group costs no allocation of its own); nothing in a slab is written again while
 *    a group it holds is held. The slabs are cut from one allocation on huge pages
 *    (hugePageBytes), made at the first group and kept while the ring lives: a slab whose last
 *    group was dropped is filled again, and when the last feed detaches the memory is
 *    decommitted, not freed, so a feed opened later faults it back in as a few huge pages.
 *    Nothing outside the ring sees a slab (readers get copies). New memory costs the first
 *    write of each 4 KiB page a fault (here about 11 us: fresh slabs were 4.5% of a
 *    replicating primary's thread, and 3% of writers' time in a 4-shard feed's first 8 MiB).
 * 2. Held per commit group, in log order, which is sequence order (ChangeLog invariant 1):
 *    where its bytes are, its log and offset, and the first and last sequence numbers of its
 *    writes. A reader gets the records (change-record.ts, as read from the log) parsed from
 *    its own copy of the groups it reads, one copy a call of after() (at most about
 *    RING_READ_BYTES), taken from the reader's CopyArena: it may hand out views into it, which
 *    no other feed sees, and a view kept pins that arena's chunk, never a slab. A group held costs one object, not one per write
 *    (records held for long would outlive the young generation and burden the collector).
 * 3. Completeness: every Batch or Prepare record of this shard whose first sequence number is
 *    above `floor` and that has been appended is held, as is the Commit record of every such
 *    part that has one (a part held from before, below the floor, is looked up in the log).
 *    At attach() the floor is the clock's last allocated number (every later write is
 *    appended after); each group dropped raises it to the group's last number.
 * 4. Bounded: groups of at most RING_BYTES are held, plus the newest; the oldest go first. A
 *    slab is free again with its last group: memory is at most RING_BYTES and three slabs (a
 *    group larger than a slab gets memory of its own, let go with it).
 * 5. Filled only while a feed is attached: with none, the write path pays one test of a flag.
 */

import { getU32, getU64, hugePageBytes, piecesOf, type SeqNum } from '../base/index.js';
import { native } from '../base/native.js';
import { FramedRecordWalk, RecordType } from '../wal/index.js';
import { batchWriteOf, writeOf, type CommitSeen, type ShardRecord } from './change-record.js';
import { decodeCommit, isPrepare } from './two-phase-format.js';

/** Bytes of commit groups one shard's ring holds at most (invariant 4). */
export const RING_BYTES = 8 * 1024 * 1024;

/** Groups are copied into slabs of this size (a larger group gets one of its own). */
const SLAB_BYTES = 1024 * 1024;

/** A call of after() copies about this many bytes of groups at most (and always one group). */
const RING_READ_BYTES = 256 * 1024;

/**
 * Where one reader's copies of ring groups go (ChangeRing.after): chunks of RING_READ_BYTES
 * (or one larger copy), each filled before the next is allocated, so that a reader makes about
 * one allocation per RING_READ_BYTES read, not one per call (a feed over several shards calls
 * after() for each shard on each wake-up). A view kept pins at most one chunk.
 */
export class CopyArena {
  #chunk: Uint8Array | undefined;
  #used = 0;

  /** `length` bytes of the arena, for the caller alone. */
  take(length: number): Uint8Array {
    if (this.#chunk === undefined || this.#chunk.length - this.#used < length) {
      this.#chunk = Buffer.allocUnsafeSlow(Math.max(RING_READ_BYTES, length));
      this.#used = 0;
    }
    const bytes = this.#chunk.subarray(this.#used, this.#used + length);
    this.#used += length;
    return bytes;
  }
}

interface RingGroup {
  /** The group's bytes are slab[at, at + length). */
  readonly slab: Uint8Array;
  readonly at: number;
  readonly length: number;
  /** Batch and Prepare records in the group. */
  readonly writes: number;
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
  /** The slab groups are copied into, filled up to #slabUsed. */
  #slab: Uint8Array | undefined;
  #slabUsed = 0;
  /** The memory slabs are cut from (invariant 1), made at the first group. */
  #memory: Uint8Array | undefined;
  /** Slabs of #memory holding no group. */
  #free: Uint8Array[] = [];
  #floor: SeqNum = 0;
  /** Commit records of the held parts, by batch (invariant 3). */
  readonly #commits = new Map<SeqNum, CommitSeen>();
  readonly #limitBytes: number;
  readonly #slabBytes: number;
  /** add() and after() walk records with it, one call at a time. */
  readonly #walk = new FramedRecordWalk();

  /** `slabBytes`: SLAB_BYTES but in tests. */
  constructor(limitBytes = RING_BYTES, slabBytes = SLAB_BYTES) {
    this.#limitBytes = limitBytes;
    this.#slabBytes = slabBytes;
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
    this.#slab = undefined;
    this.#slabUsed = 0;
    this.#commits.clear();
    if (this.#memory !== undefined) {
      native.decommit?.(this.#memory);
      this.#free = piecesOf(this.#memory, this.#slabBytes);
    }
  }

  /** A slab for a group of `length` bytes (invariants 1 and 4). */
  #newSlab(length: number): Uint8Array {
    if (length > this.#slabBytes) return Buffer.allocUnsafeSlow(length);
    if (this.#memory === undefined) {
      this.#memory = hugePageBytes((Math.ceil(this.#limitBytes / this.#slabBytes) + 3) * this.#slabBytes, false);
      this.#free = piecesOf(this.#memory, this.#slabBytes);
    }
    // Invariant 4 bounds the slabs in use by what #memory holds; should it not, a slab of its own.
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(this.#slabBytes);
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
   * pipeline's buffer, valid only during the call (copied: invariant 1). A group of Batch
   * records alone comes with what a walk of them would find (`knownWrites` of them, numbered
   * `knownFirst` to `knownLast`: CommitPipeline's appended hook) and is not walked; with
   * `knownFirst` -1 the records are read.
   */
  add(group: Uint8Array, log: number, offset: number, knownFirst = -1, knownLast = -1, knownWrites = 0): void {
    if (knownFirst >= 0) {
      this.#hold(group, log, offset, knownWrites, knownFirst, knownLast, undefined);
      return;
    }
    // A loop of its own, not a callback a record: this is the write path's cost of a feed.
    const walk = this.#walk;
    let firstSeq = -1;
    let lastSeq = -1;
    let writes = 0;
    let parts: SeqNum[] | undefined;
    // Where the last write's batch is when it is a Batch record: its last number is read once, after the walk.
    let lastBatchAt = -1;
    walk.start();
    while (walk.next(group)) {
      const type = walk.type;
      if (type === RecordType.Batch) {
        if (firstSeq < 0) firstSeq = getU64(group, walk.payloadAt);
        lastBatchAt = walk.payloadAt;
        writes++;
      } else if (isPrepare(type)) {
        const part = writeOf(type, group, walk.payloadAt, walk.end, log, offset + walk.end, false) as Extract<ShardRecord, { kind: 'part' }>;
        (parts ??= []).push(part.txn);
        if (firstSeq < 0) firstSeq = part.firstSeq;
        lastSeq = part.lastSeq;
        lastBatchAt = -1;
        writes++;
      } else if (type === RecordType.Commit) {
        // A part held has its batch's number above the floor (no record of this shard lies
        // inside another batch's range); one at or below it was dropped, or came before attach().
        const txn = decodeCommit(group.subarray(walk.payloadAt, walk.end));
        if (txn > this.#floor) this.#commits.set(txn, { log, end: offset + walk.end });
      }
    }
    if (lastBatchAt >= 0) lastSeq = getU64(group, lastBatchAt) + getU32(group, lastBatchAt + 8) - 1;
    if (firstSeq < 0) return;
    this.#hold(group, log, offset, writes, firstSeq, lastSeq, parts);
  }

  /** Copies `group` into the newest slab and holds it (invariants 1, 2 and 4). */
  #hold(group: Uint8Array, log: number, offset: number, writes: number, firstSeq: SeqNum, lastSeq: SeqNum, parts: SeqNum[] | undefined): void {
    let slab = this.#slab;
    if (slab === undefined || slab.length - this.#slabUsed < group.length) {
      // Not zeroed: only what add() copied in is ever read.
      slab = this.#slab = this.#newSlab(group.length);
      this.#slabUsed = 0;
    }
    const at = this.#slabUsed;
    slab.set(group, at);
    this.#slabUsed += group.length;
    this.#groups.push({ slab, at, length: group.length, writes, log, offset, firstSeq, lastSeq, parts });
    this.#bytes += group.length;
    while (this.#bytes > this.#limitBytes && this.#groups.length - this.#head > 1) this.#dropOldest();
  }

  /**
   * Up to about `max` records whose first sequence number is above `seq`, in order, parsed
   * from the reader's own copy of their groups, made in `arena` (invariant 2): one copy a call,
   * the `bytes` of every record it returns; undefined when
   * the ring may not hold them all (`seq` is below its floor: the caller reads the logs).
   */
  after(seq: SeqNum, max: number, arena = new CopyArena()): ShardRecord[] | undefined {
    if (seq < this.#floor || this.#feeds === 0) return undefined;
    const groups = this.#groups;
    let lo = this.#head;
    let hi = groups.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (groups[mid]!.lastSeq > seq) hi = mid;
      else lo = mid + 1;
    }
    if (lo === groups.length) return [];
    // The groups read: [lo, upTo), copied back to back into one buffer of the reader's.
    let upTo = lo;
    let bytes = 0;
    for (let writes = 0; upTo < groups.length && writes < max && (upTo === lo || bytes < RING_READ_BYTES); upTo++) {
      writes += groups[upTo]!.writes;
      bytes += groups[upTo]!.length;
    }
    const own = arena.take(bytes);
    for (let g = lo, to = 0; g < upTo; g++) {
      const group = groups[g]!;
      own.set(group.slab.subarray(group.at, group.at + group.length), to);
      to += group.length;
    }
    const out: ShardRecord[] = [];
    const walk = this.#walk;
    for (let g = lo, from = 0; g < upTo; g++) {
      const group = groups[g]!;
      const groupEnd = from + group.length;
      walk.start(from);
      while (walk.end < groupEnd && walk.next(own)) {
        const type = walk.type;
        if (type === RecordType.Batch) {
          // Its first number is its head's: one at or below `seq` is not parsed further.
          const firstSeq = getU64(own, walk.payloadAt);
          if (firstSeq > seq) out.push(batchWriteOf(firstSeq, own, walk.payloadAt, walk.end, group.log, group.offset + walk.end - from, true));
        } else if (isPrepare(type)) {
          const part = writeOf(type, own, walk.payloadAt, walk.end, group.log, group.offset + walk.end - from, true)!;
          if (part.firstSeq > seq) out.push(part);
        }
      }
      from = groupEnd;
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
    this.#bytes -= group.length;
    // Groups fill slabs in order: a slab none of the held groups is in is free (invariant 1).
    const slab = group.slab;
    if (slab !== this.#slab && slab !== this.#groups[this.#head]?.slab && slab.buffer === this.#memory?.buffer) this.#free.push(slab);
    if (group.lastSeq > this.#floor) this.#floor = group.lastSeq;
    if (group.parts !== undefined) for (const txn of group.parts) this.#commits.delete(txn);
    // Shift out the dropped slots once they are half the array: amortized O(1) a group.
    if (this.#head > 64 && this.#head * 2 > this.#groups.length) {
      this.#groups = this.#groups.slice(this.#head);
      this.#head = 0;
    }
  }
}
