/**
 * ChangeFeed: the database's committed writes, one change per write, in sequence order across
 * every shard, read from each shard's ring of newest writes in memory (ChangeRing) while the
 * feed keeps up, and read back from the shards' retained logs (ChangeLog, through its WalSet)
 * when it falls behind the ring or starts before it — never from a queue that grows.
 *
 * Invariants:
 * 1. A change is delivered once its sequence numbers are published (every write below it is
 *    in its log, or failed for good), and with `durable` once its log bytes are synced in
 *    every shard that holds a part of it: a power cut cannot take back a delivered change.
 * 2. Order: each shard's logs hold its writes in sequence order (ChangeLog invariant 1); the
 *    feed takes the smallest next write of all shards. Every write at or below the published
 *    sequence is readable (ChangeLog invariant 2), so no smaller one can still turn up.
 * 3. A batch across shards is delivered once, whole: its parts are its participants' Prepare
 *    records (adjacent in the merge: no other write's number lies in its range), and it is
 *    delivered only if a Commit record for it is found in a participant's log. Its numbers are
 *    published only after every Commit record was written or failed (ShardSet invariant 2), so
 *    a batch with a part missing or no Commit record was never committed (as recovery decides,
 *    src/shard/recovery-coordinator.ts: a write that failed part way) and is skipped. Its
 *    operations are listed in the order given (the places of PrepareInOrder records; shard by
 *    shard for Prepare records of the first layout), whichever source a part came from.
 * 4. Memory: at most one chunk of log per shard (CHANGE_CHUNK_BYTES), the chunk its copies
 *    of ring groups go to (CopyArena), and `maxBuffered` changes; a slow consumer makes the feed read later, not hold more. The rings are bounded
 *    and shared by every feed (ChangeRing invariant 4).
 * 5. Every log the feed may still read is pinned (WalPin) from the moment the feed exists;
 *    the pins move forward as the shards' positions move and are dropped when the feed ends
 *    (done, break, abort, error, or the database closing), as are its ring attachments, its
 *    clock waiter, its timer and its abort listener.
 * 6. Sources: `position` is the last number of the last change taken (delivered or skipped).
 *    Between changes, every write of a shard numbered at or below it was taken and none above
 *    (the merge takes the smallest; changes do not overlap). So a shard whose taken writes are
 *    used up reads from its ring when the ring holds everything above `position` (ChangeRing
 *    invariant 3), and from its logs again, from `position`, when the ring has dropped some.
 *    A `since` of the caller's may lie inside a batch: until the first change is taken the
 *    feed reads the logs, unless it starts at the end of everything written.
 *
 * Steps of next(): hand out a buffered change if there is one; otherwise fill the buffer
 * (synchronous: from the rings, or reads of the logs, up to what is published); if nothing is
 * deliverable, wait for the next publication (live: the clock wakes the feed when it publishes,
 * no timer), or for a sync (durable, at most one every SYNC_INTERVAL_MS), or end (not live,
 * once everything up to the starting sequence was delivered). With no step running, next()
 * hands out a buffered change at once.
 */

import { BatchReader, expiresAt, EXPIRY_BYTES, StrataError, ValueKind, type SeqNum } from '../base/index.js';
import type { LoopTurns } from '../base/loop-turns.js';
import { CopyArena, type ChangeLog, type CommitSeen, type SequenceClock, type ShardCursor, type ShardRecord } from '../engine/index.js';

export interface ChangeOp {
  /**
   * A merge is delivered as written: its operand, not the value it made (a feed reads the logs,
   * not the keys). 'clear': a range deletion (db.clear(), or a batch's { type: 'clear' }), of
   * [key, end).
   */
  type: 'put' | 'del' | 'merge' | 'clear';
  /** The key; for a clear, the first key of its range. */
  key: Buffer;
  /** Present for a put (the value) and a merge (the operand, as stored: 8 bytes for 'add'). */
  value?: Buffer;
  /** For a clear with an upper bound: the first key after its range. */
  end?: Buffer;
  /** For a put with a time-to-live: when it expires, in ms since the epoch. */
  expiresAt?: number;
}

export interface Change {
  /** The sequence number the write resolved to: the highest it used. */
  seq: bigint;
  /** The write's operations, in the order given to batch() (see README for batches across shards). */
  ops: ChangeOp[];
}

/**
 * A change as a feed opened with `asBatches` gives it (nextMany()): a write of one shard as its
 * batch's bytes (src/base/batch-format.ts, as the log holds it; a view no other feed sees) and
 * no `ops`; a batch across shards as `ops`, as any feed gives it. Its numbers are plain numbers
 * (a bigint a change was a cost of its own).
 */
export interface BatchChange {
  seq: number;
  /** The `seq` of the change the feed gave before it (the feed's `since` for its first). */
  prev: number;
  ops: ChangeOp[];
  batch?: Uint8Array;
  /** With `batch`: the shard whose log holds it. */
  shard?: number;
}

export interface FeedOptions {
  /** Deliver writes above this sequence number. */
  since: SeqNum;
  /** Give each one-shard write as its batch's bytes (BatchChange), not decoded. */
  asBatches?: boolean;
  live: boolean;
  durable: boolean;
  maxBuffered: number;
  signal: AbortSignal | undefined;
  /**
   * The database's reads' turns (src/base/loop-turns.ts): a long run of changes handed out
   * from memory, or of feeds that end at once, lets the event loop turn. None: never waits.
   */
  turns?: LoopTurns | undefined;
}

/** A durable feed causes at most one sync of the logs per this many milliseconds. */
export const SYNC_INTERVAL_MS = 2;

/**
 * Operations a fill decodes at most (it may go past by one write): each fill is one run of work
 * on the event loop, between two looks at the database's turns. Bounded by changes alone
 * (maxBuffered), a fill of 1,000 batches of 1,000 puts decoded a million operations at once.
 */
const FILL_MAX_ENTRIES = 4096;

/** Records taken from a ring at a time. */
const RING_READ_RECORDS = 1024;

/** The ops of a BatchChange with a batch. */
const NO_OPS: ChangeOp[] = [];

/** A shard's copyBuffer before its first ring read. */
const NO_COPY = new ArrayBuffer(0);

interface ShardState {
  readonly shard: number;
  readonly log: ChangeLog;
  /** Reads the logs; undefined while the shard reads its ring (invariant 6). */
  cursor: ShardCursor | undefined;
  readonly pin: { advance(from: number): Promise<void>; drop(): Promise<void> };
  /** The log the pin holds from (moved only forward, and only when it moves: a move deletes logs). */
  pinnedFrom: number;
  queue: ShardRecord[];
  at: number;
  /**
   * The ArrayBuffer and offset of the copy the queued records read from the ring are parsed
   * from (one copy a ring read: ChangeRing.after), looked up once a read, not once a change.
   */
  copyBuffer: ArrayBufferLike;
  copyBase: number;
  /** Everything its log held when last read is queued. */
  caughtUp: boolean;
}

type Fill = 'more' | 'idle' | 'unsynced';

export class ChangeFeed implements AsyncIterableIterator<Change> {
  readonly #shards: ShardState[];
  readonly #clock: SequenceClock;
  readonly #options: FeedOptions;
  /** A feed that is not live ends here: the sequence published when it started. */
  readonly #endSeq: SeqNum;
  readonly #onEnd: (feed: ChangeFeed) => void;
  #buffer: Change[] = [];
  #next = 0;
  #ended = false;
  /** Delivered by the next call to next(), then the feed is done. */
  #failure: unknown;
  /** Ends the wait in progress (a publication, a sync, the end). */
  #wake: (() => void) | undefined;
  #cancelWait: (() => void) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastSyncAt = -Infinity;
  /** How long the last sync took, from its start to its answer (ms). */
  #lastSyncTook = 0;
  /** Invariant 6. */
  #position: SeqNum;
  /** Whether `position` is the end of a change (or of everything written): rings may serve. */
  #atBoundary: boolean;
  /** The last number of the last change delivered (`since` before the first): BatchChange.prev. */
  #lastDelivered: SeqNum;
  /** Operations the last fill decoded (its weight in the database's turns). */
  #filledEntries = 0;
  /** Changes delivered from the rings and from the logs (tests). */
  readonly delivered = { ring: 0, log: 0 };
  /** This feed's copies of ring groups (ChangeRing invariant 2): no other feed sees them. */
  readonly #arena = new CopyArena();
  readonly #decoder = new OpsDecoder();
  /** Steps begun by next() and not yet settled (each ends by counting itself out). */
  #steps = 0;
  #lastStep: Promise<unknown> = Promise.resolve();
  /** Settles once the pins are dropped and the logs they alone held deleted. */
  #released: Promise<unknown> = Promise.resolve();
  readonly #onAbort = () => this.#end();

  /**
   * Opens a feed over `logs` (shard order). Synchronous: the logs are pinned before anything
   * else can release them, and a `since` older than every shard retains throws OUT_OF_RANGE.
   */
  constructor(logs: readonly ChangeLog[], clock: SequenceClock, options: FeedOptions, onEnd: (feed: ChangeFeed) => void) {
    this.#clock = clock;
    this.#options = options;
    this.#onEnd = onEnd;
    this.#endSeq = clock.published;
    this.#position = options.since;
    this.#lastDelivered = options.since;
    const pins = logs.map((log) => log.pinAll());
    try {
      const floor = Math.max(...logs.map((log) => log.floor()));
      if (options.since < floor) {
        throw new StrataError(
          'OUT_OF_RANGE',
          `changes since ${options.since} are no longer retained: the oldest sequence a feed can start from is ${floor} (option changeRetention keeps more)`,
        );
      }
      // With nothing in flight, every write so far is at or below the published sequence and
      // ends before each current log's completed bytes: a feed of new writes starts there,
      // without reading the logs from their start.
      const fromEnd = options.since === clock.published && clock.last === clock.published;
      this.#atBoundary = fromEnd;
      this.#shards = logs.map((log, i) => {
        const cursor = fromEnd ? log.cursorAtEnd(i, options.since) : log.cursor(i, log.startLog(options.since), options.since);
        void pins[i]!.advance(cursor.log).catch(() => {});
        return { shard: i, log, cursor, pin: pins[i]!, pinnedFrom: cursor.log, queue: [], at: 0, copyBuffer: NO_COPY, copyBase: 0, caughtUp: false };
      });
      // Attached last: nothing above can throw after it.
      for (const log of logs) log.ring.attach(clock.last);
    } catch (err) {
      for (const pin of pins) void pin.drop().catch(() => {});
      throw err;
    }
    if (options.signal?.aborted) this.#end();
    else options.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Change>> {
    // Each call counts as a read of the database's (loop-turns.ts): a feed that hands out its
    // buffer from memory, or ends at once, settles on the microtask queue alone, and a scan of
    // 50,000 retained changes held the event loop for 520 ms (a 1 ms timer never fired).
    const turn = this.#options.turns?.due();
    // One step at a time: a second call waits for the first. With none running, a buffered
    // change is handed out at once: one promise a change, not a chain of them.
    if (turn === undefined && this.#steps === 0 && this.#next < this.#buffer.length) return Promise.resolve(this.#take());
    const before = this.#steps++ === 0 ? turn : this.#lastStep.then(() => turn);
    const step = before === undefined ? this.#step() : before.then(() => this.#step());
    this.#lastStep = step.then(noop, noop);
    return step;
  }

  /**
   * Every change buffered (at least one), or undefined once the feed is done: one promise a
   * fill of the buffer, not one a change (the replication publisher takes changes this way).
   * Not to be mixed with a next() still pending.
   */
  async nextMany(): Promise<Change[] | undefined> {
    const first = await this.next();
    if (first.done === true) return undefined;
    const out = [first.value];
    const buffer = this.#buffer;
    for (let i = this.#next; i < buffer.length; i++) out.push(buffer[i]!);
    // Delivered: the buffer holds none of them any longer (as #take() does for one).
    buffer.length = 0;
    this.#buffer = [];
    this.#next = 0;
    return out;
  }

  #take(): IteratorResult<Change> {
    const value = this.#buffer[this.#next]!;
    this.#buffer[this.#next++] = undefined as unknown as Change;
    return { done: false, value };
  }

  /**
   * Ends the feed (a `for await` that breaks calls it): pins, waits and listeners released.
   * Resolves once the logs only this feed held are deleted.
   */
  async return(): Promise<IteratorResult<Change>> {
    this.#end();
    await this.#released;
    return { done: true, value: undefined };
  }

  /** Ends the feed with `err`, handed to the consumer by its next (or pending) next(). */
  fail(err: unknown): void {
    if (this.#ended) return;
    this.#failure = err;
    this.#end();
  }

  get ended(): boolean {
    return this.#ended;
  }

  async #step(): Promise<IteratorResult<Change>> {
    try {
      for (;;) {
        if (this.#next < this.#buffer.length) return this.#take();
        if (this.#ended) {
          const failure = this.#failure;
          if (failure !== undefined) {
            this.#failure = undefined;
            throw failure;
          }
          return { done: true, value: undefined };
        }
        const limit = this.#options.live ? this.#clock.published : this.#endSeq;
        let state: Fill;
        try {
          state = this.#fill(limit);
        } catch (err) {
          this.fail(err);
          continue;
        }
        const turn = this.#options.turns?.due(Math.max(1, this.#filledEntries));
        if (turn !== undefined) await turn;
        if (this.#buffer.length > 0) continue;
        if (state === 'more') continue;
        if (state === 'idle' && !this.#options.live) {
          this.#end();
          continue;
        }
        await (state === 'unsynced' ? this.#waitForSync() : this.#waitForPublication(limit + 1));
      }
    } finally {
      this.#steps--;
    }
  }

  /** Reads what the logs hold up to `limit` into the buffer (invariants 1 to 4). */
  #fill(limit: SeqNum): Fill {
    const out: Change[] = [];
    this.#buffer = out;
    this.#next = 0;
    const shards = this.#shards;
    const { durable, maxBuffered } = this.#options;
    const asBatches = this.#options.asBatches === true;
    const decoder = this.#decoder;
    // The last change's number, and as a bigint: BigInt(n) is a call into the runtime, the
    // next number (most often) an addition.
    let lastSeq = -1;
    let lastBig = 0n;
    // Read again what was read to its end before: more may be there now.
    for (const s of shards) if (s.at === s.queue.length) s.caughtUp = false;
    let entries = 0;
    while (out.length < maxBuffered && entries < FILL_MAX_ENTRIES) {
      // The shard with the smallest next write, and the smallest next write of the others.
      let min: ShardState | undefined;
      let minFirst = Infinity;
      let otherFirst = Infinity;
      for (const s of shards) {
        if (s.at === s.queue.length && !s.caughtUp) this.#refill(s);
        const head = s.queue[s.at];
        if (head === undefined) continue;
        if (head.firstSeq < minFirst) {
          otherFirst = minFirst;
          minFirst = head.firstSeq;
          min = s;
        } else if (head.firstSeq < otherFirst) otherFirst = head.firstSeq;
      }
      const head = min?.queue[min.at];
      if (min === undefined || head === undefined || head.lastSeq > limit) break;
      if (head.kind === 'batch') {
        // The shard's writes are taken in a run while they come before every other shard's
        // next one: no search of the shards a change.
        const { queue, copyBuffer, copyBase } = min;
        let at = min.at;
        let position = this.#position;
        let taken = 0;
        let state: Fill | undefined;
        for (let write = head; ; ) {
          if (durable && !min.log.isDurable(write.log, write.end)) {
            state = 'unsynced';
            break;
          }
          at++;
          if (write.lastSeq > position) {
            if (asBatches) {
              const change: BatchChange = { seq: write.lastSeq, prev: this.#lastDelivered, ops: NO_OPS, batch: decoder.batchOf(write, copyBuffer, copyBase), shard: min.shard };
              out.push(change as unknown as Change);
            } else {
              lastBig = write.lastSeq === lastSeq + 1 ? lastBig + 1n : BigInt(write.lastSeq);
              out.push({ seq: lastBig, ops: decoder.opsOf(write, copyBuffer, copyBase) });
            }
            lastSeq = position = this.#lastDelivered = write.lastSeq;
            taken++;
            entries += write.lastSeq - write.firstSeq + 1;
          }
          if (at === queue.length || out.length === maxBuffered || entries >= FILL_MAX_ENTRIES) break;
          const next = queue[at]!;
          if (next.kind !== 'batch' || next.firstSeq >= otherFirst || next.lastSeq > limit) break;
          write = next;
        }
        min.at = at;
        if (taken > 0) this.#took(position, min.cursor === undefined, taken);
        this.#filledEntries = entries;
        if (state !== undefined) return state;
        continue;
      }
      const across = this.#batchAcross(head.txn, head.participants);
      if (across === 'unsynced') {
        this.#filledEntries = entries;
        return 'unsynced';
      }
      if (across.ops !== undefined && across.lastSeq > this.#position) {
        if (asBatches) out.push({ seq: across.lastSeq, prev: this.#lastDelivered, ops: across.ops } satisfies BatchChange as unknown as Change);
        else out.push({ seq: BigInt(across.lastSeq), ops: across.ops });
        this.#lastDelivered = across.lastSeq;
        entries += across.ops.length;
        this.#took(across.lastSeq, across.fromRing);
      } else this.#took(across.lastSeq, undefined);
    }
    // A Commit record is needed until the merge reaches its batch: drop those of batches it passed.
    let next = Infinity;
    for (const s of shards) next = Math.min(next, s.queue[s.at]?.firstSeq ?? Infinity);
    for (const s of shards) {
      const cursor = s.cursor;
      // In its ring, a shard may have to read its logs again from its next write on.
      const from = cursor?.log ?? s.queue[s.at]?.log ?? s.log.currentLog;
      if (from > s.pinnedFrom) {
        s.pinnedFrom = from;
        void s.pin.advance(from).catch(() => {});
      }
      if (cursor !== undefined && next !== Infinity) for (const txn of cursor.commits.keys()) if (txn < next) cursor.commits.delete(txn);
    }
    this.#filledEntries = entries;
    return out.length === maxBuffered || entries >= FILL_MAX_ENTRIES ? 'more' : 'idle';
  }

  /** A change ending at `lastSeq` was taken: delivered from a ring or the logs, or skipped (undefined). Invariant 6. */
  #took(lastSeq: SeqNum, fromRing: boolean | undefined, changes = 1): void {
    if (lastSeq > this.#position) this.#position = lastSeq;
    this.#atBoundary = true;
    if (fromRing === true) this.delivered.ring += changes;
    else if (fromRing === false) this.delivered.log += changes;
  }

  /** Queues the next writes of shard `s`, from its ring when that holds them all (invariant 6). */
  #refill(s: ShardState): void {
    if (this.#atBoundary) {
      const fromRing = s.log.ring.after(this.#position, RING_READ_RECORDS, this.#arena);
      if (fromRing !== undefined) {
        s.cursor?.close();
        s.cursor = undefined;
        s.queue = fromRing;
        s.at = 0;
        s.caughtUp = fromRing.length === 0;
        const copy = fromRing[0]?.bytes;
        if (copy !== undefined) {
          s.copyBuffer = copy.buffer;
          s.copyBase = copy.byteOffset;
        }
        return;
      }
    }
    // Behind the ring: back to the logs, where the pin held them (the next write's log on).
    s.cursor ??= s.log.cursor(s.shard, s.log.startLog(this.#position), this.#position);
    s.queue = s.cursor.read();
    s.at = 0;
    s.caughtUp = s.queue.length === 0;
  }

  /**
   * Batch `txn` across `participants`, whose part is the smallest next write (invariant 3):
   * taken from the queues whole, with its operations, or skipped (no ops), or left in place
   * ('unsynced').
   */
  #batchAcross(txn: SeqNum, participants: readonly number[]): { lastSeq: SeqNum; ops: ChangeOp[] | undefined; fromRing: boolean } | 'unsynced' {
    const parts: { shard: ShardState; part: Extract<ShardRecord, { kind: 'part' }> }[] = [];
    for (const p of participants) {
      const shard = this.#shards[p];
      if (shard === undefined) continue;
      if (shard.at === shard.queue.length && !shard.caughtUp) this.#refill(shard);
      const head = shard.queue[shard.at];
      if (head?.kind === 'part' && head.txn === txn) parts.push({ shard, part: head });
    }
    // Its numbers are published (the caller checked), so every part and every Commit record
    // that was written is readable: one missing now is missing for good.
    let commit: { shard: ShardState; seen: CommitSeen } | undefined;
    if (parts.length === participants.length) {
      for (const { shard, part } of parts) {
        const seen = shard.cursor?.commits.get(txn) ?? shard.log.ring.commitOf(txn) ?? shard.log.findCommit(txn, part.log, part.end);
        if (seen !== 'absent' && seen !== 'pending') {
          commit = { shard, seen };
          break;
        }
      }
    }
    if (commit !== undefined && this.#options.durable) {
      const synced = parts.every(({ shard, part }) => shard.log.isDurable(part.log, part.end)) && commit.shard.log.isDurable(commit.seen.log, commit.seen.end);
      if (!synced) return 'unsynced';
    }
    let lastSeq = 0;
    let fromRing = true;
    for (const { shard, part } of parts) {
      shard.at++;
      shard.cursor?.commits.delete(txn);
      lastSeq = Math.max(lastSeq, part.lastSeq);
      fromRing &&= shard.cursor === undefined;
    }
    return { lastSeq, ops: commit === undefined ? undefined : this.#decoder.opsAcross(parts), fromRing };
  }

  #waitForPublication(seq: SeqNum): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#cancelWait = this.#clock.onPublished(seq, resolve);
    }).finally(() => this.#stopWaiting());
  }

  /**
   * Syncs the shards holding unsynced bytes (invariant 1), at most every SYNC_INTERVAL_MS and at
   * most half the time: a sync that took t ms is followed by the next 2t ms after its start at
   * the earliest. Where writes come fast, syncs back to back kept a core's thread in fdatasync(2)
   * and woke the writers' thread for each (a replicating primary, 600k puts from 64 writers: a
   * sync answered in about 6 ms at the median, so they now come about every 12 ms; a fixed
   * 10 ms against 2 ms gave 224k-249k writes/s against 216k-234k); where writes come slowly, a
   * sync takes well under a millisecond and the feed waits 2 ms as before.
   */
  #waitForSync(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
      const sync = () => {
        this.#timer = undefined;
        if (this.#ended) return resolve();
        const started = performance.now();
        this.#lastSyncAt = started;
        const syncs = this.#shards.filter((s) => s.log.unsynced).map((s) => s.log.sync());
        Promise.all(syncs).then(
          () => {
            this.#lastSyncTook = performance.now() - started;
            resolve();
          },
          (err: unknown) => {
            this.fail(err);
            resolve();
          },
        );
      };
      const wait = this.#lastSyncAt + Math.max(SYNC_INTERVAL_MS, 2 * this.#lastSyncTook) - performance.now();
      if (wait > 0) this.#timer = setTimeout(sync, wait);
      else sync();
    }).finally(() => this.#stopWaiting());
  }

  #stopWaiting(): void {
    this.#wake = undefined;
    this.#cancelWait?.();
    this.#cancelWait = undefined;
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#cancelWait?.();
    this.#cancelWait = undefined;
    this.#wake?.();
    const drops: Promise<void>[] = [];
    for (const s of this.#shards ?? []) {
      s.cursor?.close();
      s.queue = [];
      s.log.ring.detach();
      drops.push(s.pin.drop().catch(() => {}));
    }
    this.#released = Promise.all(drops);
    this.#onEnd(this);
  }
}

function noop(): void {}

/**
 * The operation a log entry stands for: the one place where a kind of entry becomes what a
 * feed delivers (a new kind of write gets its case here). The key and value are the bytes at
 * [keyAt, keyEnd) and [valueAt, valueEnd) of `buffer`, handed out as views: no other feed sees
 * them (opsOf).
 */
function changeOp(kind: ValueKind, buffer: ArrayBufferLike, keyAt: number, keyEnd: number, valueAt: number, valueEnd: number): ChangeOp {
  // A put first, in a function small enough to be inlined where it is called (once a change).
  if (kind === ValueKind.Put) return { type: 'put', key: view(buffer, keyAt, keyEnd), value: view(buffer, valueAt, valueEnd) };
  return otherChangeOp(kind, buffer, keyAt, keyEnd, valueAt, valueEnd);
}

function otherChangeOp(kind: ValueKind, buffer: ArrayBufferLike, keyAt: number, keyEnd: number, valueAt: number, valueEnd: number): ChangeOp {
  switch (kind) {
    case ValueKind.Delete:
      return { type: 'del', key: view(buffer, keyAt, keyEnd) };
    case ValueKind.Merge:
      return { type: 'merge', key: view(buffer, keyAt, keyEnd), value: view(buffer, valueAt, valueEnd) };
    case ValueKind.PutWithExpiry: {
      const value = view(buffer, valueAt, valueEnd);
      return { type: 'put', key: view(buffer, keyAt, keyEnd), value: value.subarray(EXPIRY_BYTES), expiresAt: expiresAt(value) };
    }
    case ValueKind.RangeDelete:
      // A range's end is empty when it has none.
      return valueEnd === valueAt
        ? { type: 'clear', key: view(buffer, keyAt, keyEnd) }
        : { type: 'clear', key: view(buffer, keyAt, keyEnd), end: view(buffer, valueAt, valueEnd) };
    default:
      throw new StrataError('NOT_SUPPORTED', `the change feed cannot show a write of kind ${String(kind)}`);
  }
}

/**
 * A Buffer over buffer[at, end), built as Buffer.from(arrayBuffer, offset, length) and
 * Buffer#subarray build theirs (Node's Buffer[Symbol.species], its FastBuffer: a Uint8Array
 * whose prototype is Buffer.prototype) without their argument checks, which a feed keeping up
 * with fillrandom paid twice a change (Buffer#subarray alone was a fifth of its CPU time).
 */
function view(buffer: ArrayBufferLike, at: number, end: number): Buffer {
  return new BufferView(buffer, at, end - at);
}

type BufferViewClass = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => Buffer;

/** Buffer[Symbol.species] where it builds real Buffers (checked once); else Buffer.from. */
const BufferView: BufferViewClass = (() => {
  const species = (Buffer as unknown as { [Symbol.species]?: unknown })[Symbol.species];
  if (typeof species === 'function') {
    const probe = new (species as BufferViewClass)(new ArrayBuffer(4), 1, 2);
    if (Buffer.isBuffer(probe) && Object.getPrototypeOf(probe) === Buffer.prototype && probe.byteOffset === 1 && probe.length === 2) return species as BufferViewClass;
  }
  return function (buffer: ArrayBufferLike, byteOffset: number, length: number) {
    return Buffer.from(buffer, byteOffset, length);
  } as unknown as BufferViewClass;
})();

/**
 * Turns a write's batch into its operations (one decoder a feed, reused write after write:
 * "deliver from a reused structure"). Keys and values are views into bytes no other feed
 * sees: the ring's copy of the commit groups made for this feed (ShardRecord.owned), or else
 * a copy of the batch made here (a chunk of log is large: a key kept must not keep it).
 */
class OpsDecoder {
  readonly #reader = new BatchReader();

  /**
   * The operations of `record`'s batch, in order. A record read from a ring (owned) is parsed
   * from its shard's copy: `copyBuffer` at `copyBase` (ShardState).
   */
  opsOf(record: ShardRecord, copyBuffer: ArrayBufferLike, copyBase: number): ChangeOp[] {
    let bytes = record.bytes;
    let at = record.batchAt;
    let end = record.batchEnd;
    let buffer = copyBuffer;
    let base = copyBase;
    if (!record.owned) {
      const copy = Buffer.allocUnsafe(end - at);
      copy.set(bytes.subarray(at, end));
      bytes = copy;
      at = 0;
      end = bytes.length;
      buffer = copy.buffer;
      base = copy.byteOffset;
    }
    // Offsets into the batch become offsets into its ArrayBuffer.
    const reader = this.#reader;
    const count = reader.start(bytes, at, end);
    // Most writes are one operation: their array is made to measure, not grown by push().
    const ops: ChangeOp[] = count === 1 ? [undefined as unknown as ChangeOp] : [];
    for (let i = 0; reader.next(bytes); i++) {
      ops[i] = changeOp(reader.kind, buffer, base + reader.keyAt, base + reader.keyEnd, base + reader.valueAt, base + reader.valueEnd);
    }
    return ops;
  }

  /**
   * The bytes of `record`'s batch, as a view no other feed sees (opsOf), its kinds checked
   * (a kind the feed cannot show is NOT_SUPPORTED, as in opsOf).
   */
  batchOf(record: ShardRecord, copyBuffer: ArrayBufferLike, copyBase: number): Uint8Array {
    const { bytes, batchAt, batchEnd } = record;
    const reader = this.#reader;
    reader.start(bytes, batchAt, batchEnd);
    while (reader.next(bytes)) if (reader.kind > ValueKind.PutWithExpiry) otherChangeOp(reader.kind, copyBuffer, 0, 0, 0, 0);
    if (!record.owned) return Buffer.from(bytes.subarray(batchAt, batchEnd));
    return view(copyBuffer, copyBase + batchAt, copyBase + batchEnd);
  }

  /** The operations of a batch across shards from its parts, in the order given when every part says it (invariant 3). */
  opsAcross(parts: readonly { shard: ShardState; part: Extract<ShardRecord, { kind: 'part' }> }[]): ChangeOp[] {
    const ops: ChangeOp[] = [];
    if (parts.some((p) => p.part.places === undefined)) {
      // A range deletion is in every part (router.ts): it is one operation of the batch.
      for (const { shard, part } of parts) {
        for (const op of this.opsOf(part, shard.copyBuffer, shard.copyBase)) if (op.type !== 'clear' || part === parts[0]!.part) ops.push(op);
      }
      return ops;
    }
    for (const { shard, part } of parts) {
      const places = part.places!;
      const partOps = this.opsOf(part, shard.copyBuffer, shard.copyBase);
      if (places.length !== partOps.length) throw new StrataError('CORRUPTION', `batch ${part.txn}: ${places.length} places for ${partOps.length} operations`);
      for (let i = 0; i < partOps.length; i++) ops[places[i]!] = partOps[i]!;
    }
    for (let i = 0; i < ops.length; i++) {
      if (ops[i] === undefined) throw new StrataError('CORRUPTION', `batch ${parts[0]?.part.txn}: its parts leave place ${i} empty`);
    }
    return ops;
  }
}
