/**
 * ChangeFeed: the database's committed writes, one change per write, in sequence order across
 * every shard, read back from the shards' retained logs (each shard's ChangeLog, through its
 * WalSet) — never from a queue of writes kept in memory.
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
 *    delivered only if a Commit record for it is found in a participant's log; a batch with a
 *    part missing, or with no Commit where the logs are complete, was never committed (as
 *    recovery decides, src/shard/recovery-coordinator.ts) and is skipped.
 * 4. Memory: at most one chunk of log per shard (CHANGE_CHUNK_BYTES) and `maxBuffered`
 *    changes; a slow consumer makes the feed read later, not hold more.
 * 5. Every log the feed may still read is pinned (WalPin) from the moment the feed exists;
 *    the pins move forward as the shards' cursors move and are dropped when the feed ends
 *    (done, break, abort, error, or the database closing), as are its clock waiter, its timer
 *    and its abort listener.
 *
 * Steps of next(): hand out a buffered change if there is one; otherwise fill the buffer
 * (synchronous reads of the logs up to what is published); if nothing is deliverable, wait
 * for the next publication (live), or for a sync (durable, at most one every SYNC_INTERVAL_MS),
 * or end (not live, once everything up to the starting sequence was delivered).
 */

import { expiresAt, EXPIRY_BYTES, StrataError, ValueKind, type BatchEntry, type SeqNum } from '../base/index.js';
import type { ChangeLog, CommitSeen, SequenceClock, ShardCursor, ShardRecord } from '../engine/index.js';

export interface ChangeOp {
  /** 'clear': a range deletion (db.clear(), or a batch's { type: 'clear' }), of [key, end). */
  type: 'put' | 'del' | 'clear';
  /** The key; for a clear, the first key of its range. */
  key: Buffer;
  /** Present for a put. */
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

export interface FeedOptions {
  /** Deliver writes above this sequence number. */
  since: SeqNum;
  live: boolean;
  durable: boolean;
  maxBuffered: number;
  signal: AbortSignal | undefined;
}

/** A durable feed causes at most one sync of the logs per this many milliseconds. */
export const SYNC_INTERVAL_MS = 2;

interface ShardState {
  readonly log: ChangeLog;
  readonly cursor: ShardCursor;
  readonly pin: { advance(from: number): Promise<void>; drop(): Promise<void> };
  queue: ShardRecord[];
  at: number;
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
  #running: Promise<unknown> | undefined;
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
      this.#shards = logs.map((log, i) => {
        const cursor = fromEnd ? log.cursorAtEnd(i, options.since) : log.cursor(i, log.startLog(options.since), options.since);
        void pins[i]!.advance(cursor.log).catch(() => {});
        return { log, cursor, pin: pins[i]!, queue: [], at: 0, caughtUp: false };
      });
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
    // One step at a time: a second call waits for the first.
    const step = (this.#running ?? Promise.resolve()).then(
      () => this.#step(),
      () => this.#step(),
    );
    this.#running = step.catch(() => {});
    return step;
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
    for (;;) {
      if (this.#next < this.#buffer.length) {
        const value = this.#buffer[this.#next]!;
        this.#buffer[this.#next++] = undefined as unknown as Change;
        return { done: false, value };
      }
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
      if (this.#buffer.length > 0) continue;
      if (state === 'more') continue;
      if (state === 'idle' && !this.#options.live) {
        this.#end();
        continue;
      }
      await (state === 'unsynced' ? this.#waitForSync() : this.#waitForPublication(limit + 1));
    }
  }

  /** Reads what the logs hold up to `limit` into the buffer (invariants 1 to 4). */
  #fill(limit: SeqNum): Fill {
    const out: Change[] = [];
    this.#buffer = out;
    this.#next = 0;
    const shards = this.#shards;
    // Read again what was read to its end before: more may be there now.
    for (const s of shards) if (s.at === s.queue.length) s.caughtUp = false;
    while (out.length < this.#options.maxBuffered) {
      let min: ShardState | undefined;
      for (const s of shards) {
        if (s.at === s.queue.length && !s.caughtUp) this.#refill(s);
        const head = s.queue[s.at];
        if (head && (min === undefined || head.firstSeq < min.queue[min.at]!.firstSeq)) min = s;
      }
      const head = min?.queue[min.at];
      if (min === undefined || head === undefined || head.lastSeq > limit) break;
      if (head.kind === 'batch') {
        if (this.#options.durable && !min.log.isDurable(head.log, head.end)) return 'unsynced';
        out.push({ seq: BigInt(head.lastSeq), ops: opsOf(head.entries) });
        min.at++;
        continue;
      }
      const across = this.#batchAcross(head.txn, head.participants);
      if (across === 'pending') break;
      if (across === 'unsynced') return 'unsynced';
      if (across !== 'skipped' && across.lastSeq > this.#options.since) out.push({ seq: BigInt(across.lastSeq), ops: across.ops });
    }
    // A Commit record is needed until the merge reaches its batch: drop those of batches it passed.
    let next = Infinity;
    for (const s of shards) next = Math.min(next, s.queue[s.at]?.firstSeq ?? Infinity);
    for (const s of shards) {
      void s.pin.advance(s.cursor.log).catch(() => {});
      if (next !== Infinity) for (const txn of s.cursor.commits.keys()) if (txn < next) s.cursor.commits.delete(txn);
    }
    return out.length === this.#options.maxBuffered ? 'more' : 'idle';
  }

  #refill(s: ShardState): void {
    s.queue = s.cursor.read();
    s.at = 0;
    s.caughtUp = s.queue.length === 0;
  }

  /**
   * Batch `txn` across `participants`, whose part is the smallest next write (invariant 3):
   * taken from the queues whole, or skipped, or 'pending'/'unsynced' and left in place.
   */
  #batchAcross(txn: SeqNum, participants: readonly number[]): { lastSeq: SeqNum; ops: ChangeOp[] } | 'skipped' | 'pending' | 'unsynced' {
    const parts: { shard: ShardState; part: Extract<ShardRecord, { kind: 'part' }> }[] = [];
    for (const p of participants) {
      const shard = this.#shards[p];
      if (shard === undefined) continue;
      if (shard.at === shard.queue.length && !shard.caughtUp) this.#refill(shard);
      const head = shard.queue[shard.at];
      if (head?.kind === 'part' && head.txn === txn) parts.push({ shard, part: head });
    }
    // Its numbers are published (the caller checked), so every part that was written is
    // readable: a part missing now is missing for good.
    let commit: { shard: ShardState; seen: CommitSeen } | undefined;
    let pending = false;
    if (parts.length === participants.length) {
      for (const { shard, part } of parts) {
        const seen = shard.cursor.commits.get(txn) ?? shard.log.findCommit(txn, part.log, part.end);
        if (seen === 'pending') pending = true;
        else if (seen !== 'absent') {
          commit = { shard, seen };
          break;
        }
      }
      if (commit === undefined && pending) return 'pending';
    }
    if (commit !== undefined && this.#options.durable) {
      const synced = parts.every(({ shard, part }) => shard.log.isDurable(part.log, part.end)) && commit.shard.log.isDurable(commit.seen.log, commit.seen.end);
      if (!synced) return 'unsynced';
    }
    for (const { shard } of parts) {
      shard.at++;
      shard.cursor.commits.delete(txn);
    }
    if (commit === undefined) return 'skipped';
    const ops: ChangeOp[] = [];
    let lastSeq = 0;
    for (const { part } of parts) {
      // A range deletion is in every part (router.ts): it is one operation of the batch.
      for (const op of opsOf(part.entries, part === parts[0]!.part)) ops.push(op);
      lastSeq = Math.max(lastSeq, part.lastSeq);
    }
    return { lastSeq, ops };
  }

  #waitForPublication(seq: SeqNum): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#cancelWait = this.#clock.onPublished(seq, resolve);
    }).finally(() => this.#stopWaiting());
  }

  /** Syncs the shards holding unsynced bytes, at most every SYNC_INTERVAL_MS (invariant 1). */
  #waitForSync(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
      const sync = () => {
        this.#timer = undefined;
        if (this.#ended) return resolve();
        this.#lastSyncAt = performance.now();
        const syncs = this.#shards.filter((s) => s.log.unsynced).map((s) => s.log.sync());
        Promise.all(syncs).then(
          () => resolve(),
          (err: unknown) => {
            this.fail(err);
            resolve();
          },
        );
      };
      const wait = this.#lastSyncAt + SYNC_INTERVAL_MS - performance.now();
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
      s.cursor.close();
      s.queue = [];
      drops.push(s.pin.drop().catch(() => {}));
    }
    this.#released = Promise.all(drops);
    this.#onEnd(this);
  }
}

/** The public operations of a write's entries (copies: the log chunk is not kept). */
function opsOf(entries: readonly BatchEntry[], withRanges = true): ChangeOp[] {
  const ops: ChangeOp[] = [];
  for (const e of entries) {
    if (e.kind === ValueKind.RangeDelete) {
      if (withRanges) ops.push(e.value.length === 0 ? { type: 'clear', key: Buffer.from(e.key) } : { type: 'clear', key: Buffer.from(e.key), end: Buffer.from(e.value) });
    } else if (e.kind === ValueKind.PutWithExpiry) {
      ops.push({ type: 'put', key: Buffer.from(e.key), value: Buffer.from(e.value.subarray(EXPIRY_BYTES)), expiresAt: expiresAt(e.value) });
    } else {
      ops.push(e.kind === ValueKind.Put ? { type: 'put', key: Buffer.from(e.key), value: Buffer.from(e.value) } : { type: 'del', key: Buffer.from(e.key) });
    }
  }
  return ops;
}
