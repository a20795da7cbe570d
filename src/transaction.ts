// Optimistic transactions: db.transaction(async (tx) => { ... }).
//
// A transaction reads at one snapshot (plus its own writes) and buffers its writes. The
// snapshot is a cut: each shard at its own published sequence, S_i for shard i (one S with one
// shard; ShardSet.cut()). At commit it is validated against the writes made since: if any key
// it read, or any key in a range it iterated, was written above S_i (i the key's shard) by
// someone else, its reads may be stale; it runs
// again at a new snapshot (after a short random backoff), and after the last retry rejects
// with CONFLICT. Otherwise its writes go out as one atomic batch (across shards, the two-phase
// commit). Serializable for what it read: a committed transaction read nothing that changed
// between its snapshot and its commit point, so it is as if it ran at that point alone.
//
// The writes since S are known from the WriteTracker (src/shard/write-tracker.ts), which
// ShardSet.write() fills while any transaction is open; no table is read to validate.
//
// Steps of one attempt:
// 1. ShardSet.openReader(): the tracker records every write above the cut's lowest number
//    from now on; the cut pinned.
// 2. The callback runs; tx.get/iterator read at the cut and record what they read (a key with
//    its shard's S_i); put/del buffer.
// 3. In one synchronous step: the transaction ends (tx refuses further calls with CLOSED),
//    its reads are validated against the tracker, and, when nothing conflicts, its batch is
//    submitted; ShardSet.write() allocates the batch's sequence numbers before it returns, so
//    no other write can come between the validation and the commit point.
// 4. The reader closes (the cut unpinned; the tracker may prune); the commit is awaited.
// A throw from the callback ends the attempt at step 2 with nothing written; the error
// propagates and nothing retries.

import { closedError, compareBytes, conflictError, invalidArgument, ValueKind, type BatchEntry, type SeqNum } from './base/index.js';
import type { Bounds, Cursor } from './engine/index.js';
import { keyString, lowest, type Cut, type ShardSet, type TrackedRange } from './shard/index.js';
import { describe, optionsObject, toOperand, type Key, type Operand, type Value } from './input.js';
import type { Codecs } from './encoding.js';
import type { DatabaseIterator } from './iterator.js';
import type { IteratorOptions } from './database.js';

export interface TransactionOptions {
  /**
   * How many times the callback may run again after a conflict before the transaction
   * rejects with CONFLICT. Integer, 0 to 10,000. Default 16.
   */
  retries?: number;
  /** As for batch(): resolve only after fdatasync. Default: the database's `sync` option. */
  sync?: boolean;
}

/** The options a transaction's iterator takes: a database iterator's, without `snapshot`. */
export type TransactionIteratorOptions<KIn = Key> = Omit<IteratorOptions<KIn>, 'snapshot'>;

export const DEFAULT_RETRIES = 16;
const MAX_RETRIES = 10_000;
/** Backoff before retry n, when it does not queue: uniform in [0, min(2^n, this)) ms. */
const MAX_BACKOFF_MS = 32;
const TRANSACTION_OPTIONS = ['retries', 'sync'] as const;

/** What a transaction counts, kept by its Database and reported by stats(). */
export interface TransactionCounters {
  transactionsCommitted: number;
  transactionsRetried: number;
  transactionsFailed: number;
  transactionsAborted: number;
}

/** What a Transaction needs of its Database. */
export interface TransactionHost {
  readonly store: ShardSet;
  /** The database's key and value encodings. */
  readonly codecs: Codecs;
  readonly retryLines: RetryLines;
  /**
   * A database iterator at `cut` (pinned by the transaction) over `options` (an iterator's,
   * without snapshot), its cursor opened without a limit and wrapped by `overlay`.
   */
  iterator(options: unknown, cut: Cut, overlay: (base: Cursor, bounds: Bounds, reverse: boolean, limit: number) => Cursor): DatabaseIterator<unknown, unknown>;
}

/** Checks a transaction's arguments before anything runs: INVALID_ARGUMENT otherwise. */
export function transactionArguments(fn: unknown, options: unknown, defaultSync: boolean): { retries: number; sync: boolean } {
  if (typeof fn !== 'function') throw invalidArgument(`a transaction needs a callback function, got ${describe(fn)}`);
  const o = optionsObject(options, 'transaction options', TRANSACTION_OPTIONS);
  const retries = o?.['retries'] ?? DEFAULT_RETRIES;
  if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0 || retries > MAX_RETRIES) {
    throw invalidArgument(`option retries must be an integer from 0 to ${MAX_RETRIES}, got ${typeof retries === 'number' ? String(retries) : describe(retries)}`);
  }
  const sync = o?.['sync'] ?? defaultSync;
  if (typeof sync !== 'boolean') throw invalidArgument(`option sync must be a boolean, got ${describe(sync)}`);
  return { retries, sync };
}

/** Runs `fn` as an optimistic transaction (module comment). REQUIRES: arguments checked. */
export async function runTransaction<T>(
  host: TransactionHost,
  fn: (tx: Transaction) => T | Promise<T>,
  settings: { retries: number; sync: boolean },
  counters: TransactionCounters,
): Promise<T> {
  const store = host.store;
  /** Called when this attempt ends, to let the next retry in the line of its key go. */
  let leaveLine: (() => void) | undefined;
  try {
    for (let attempt = 0; ; attempt++) {
      const opened = store.openReader();
      const cut = opened instanceof Promise ? await opened : opened;
      const state = new TransactionState(host, cut);
      let readerOpen = true;
      let conflict: Conflict | undefined;
      try {
        let result: T;
        try {
          // A callback that returns a value (not a promise) commits without a hop through the
          // microtask queue: see openReader().
          const returned = fn(new Transaction(state));
          result = isPromiseLike(returned) ? await returned : returned;
        } catch (err) {
          counters.transactionsAborted++;
          throw err;
        }
        // A commit that would wait for an ingest would land above it: wait first (the
        // tracker's cut then makes this attempt conflict).
        state.end();
        const tracked: string[] = [];
        const entries = state.entries(tracked);
        while (entries.length > 0 && store.writeMustWait(entries)) await store.whenWritesGo();
        // Step 3: from here to the submission, no await (module comment).
        conflict = state.conflict();
        if (conflict === undefined) {
          const committed = entries.length > 0 ? store.write(entries, settings.sync, tracked) : undefined;
          readerOpen = false;
          store.closeReader(cut);
          await committed;
          counters.transactionsCommitted++;
          return result;
        }
      } finally {
        state.end();
        if (readerOpen) store.closeReader(cut);
        leaveLine?.();
        leaveLine = undefined;
      }
      if (attempt >= settings.retries) {
        counters.transactionsFailed++;
        throw conflictError(
          `the transaction conflicted with a write at sequence ${conflict.seq} (it read at ${lowest(cut)}) on each of its ${attempt + 1} attempts; nothing was written`,
        );
      }
      counters.transactionsRetried++;
      // The next attempt reads at a snapshot that holds the conflicting write. Transactions
      // that collided on one key retry one after another (host.retryLines), each once the one
      // before it committed or failed: retrying all at once, the first would commit and the
      // rest collide again, round after round. The random wait spreads out retries that do not
      // queue (a conflict with the tracker's cut) and bounds how long a slow callback ahead can
      // hold the line.
      const waitMs = Math.random() * Math.min(2 ** attempt, MAX_BACKOFF_MS);
      if (conflict.key === undefined) await sleep(waitMs);
      else leaveLine = await host.retryLines.join(conflict.key, 2 * MAX_BACKOFF_MS);
      await store.whenPublished(conflict.seq);
    }
  } finally {
    leaveLine?.();
  }
}

/** A write above a transaction's snapshot that its reads missed; no key when the tracker's cut. */
interface Conflict {
  seq: SeqNum;
  key: string | undefined;
}

function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Transactions waiting to retry after a conflict on a key, in the order they conflicted: each
 * goes once the one before it has ended its attempt, or after a bounded wait.
 */
export class RetryLines {
  readonly #tails = new Map<string, Promise<void>>();

  /** Waits for this key's turn; returns the call that ends it. */
  async join(key: string, maxWaitMs: number): Promise<() => void> {
    const ahead = this.#tails.get(key);
    let leave!: () => void;
    const mine = new Promise<void>((resolve) => (leave = resolve));
    this.#tails.set(key, mine);
    if (ahead !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([ahead, new Promise<void>((resolve) => (timer = setTimeout(resolve, maxWaitMs)))]);
      clearTimeout(timer);
    }
    return () => {
      leave();
      if (this.#tails.get(key) === mine) this.#tails.delete(key);
    };
  }
}

/**
 * The handle a transaction's callback gets. Reads see the transaction's snapshot plus its own
 * writes; writes are buffered until the commit. After the callback's transaction ended
 * (committed, conflicted or thrown), every call fails with CLOSED.
 */
export class Transaction<K = Buffer, V = Buffer, KIn = Key, VIn = Value> {
  readonly #state: TransactionState;

  /** @internal Created by Database.transaction(). */
  constructor(state: TransactionState) {
    this.#state = state;
  }

  /** The value of `key` at the snapshot, or as this transaction wrote it. */
  get(key: KIn): Promise<V | undefined> {
    try {
      return Promise.resolve(this.#state.get(key) as V | undefined);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** get() without the promise. */
  getSync(key: KIn): V | undefined {
    return this.#state.get(key) as V | undefined;
  }

  /**
   * A cursor over a key range at the snapshot, with this transaction's writes made before
   * this call laid over it. The whole range (its bounds, not only the entries read) then
   * counts as read: a write into it by someone else conflicts.
   */
  iterator(options?: TransactionIteratorOptions<KIn>): DatabaseIterator<K, V> {
    return this.#state.iterator(options) as DatabaseIterator<K, V>;
  }

  /** Buffers a put; written at the commit. */
  put(key: KIn, value: VIn): void {
    this.#state.write(ValueKind.Put, key, value);
  }

  /** Buffers a delete; written at the commit. */
  del(key: KIn): void {
    this.#state.write(ValueKind.Delete, key, undefined);
  }

  /**
   * Buffers a merge operand (as db.merge() takes it); written at the commit. It is a write, not
   * a read: a blind merge conflicts with nothing. get() and iterators of this transaction see
   * the operand applied to the snapshot's value (and the value read that way counts as read).
   */
  merge(key: Key, operand: Operand): void {
    this.#state.merge(key, operand);
  }

  /** Whether the transaction's attempt this handle belongs to has ended. */
  get ended(): boolean {
    return this.#state.ended;
  }
}

const EMPTY = new Uint8Array(0);

/**
 * A transaction's own write of a key: a put or a delete, or (kind Merge) the merge operands
 * it added to the key's value at the snapshot, oldest first, `value` then unused.
 */
interface OwnWrite extends BatchEntry {
  operands?: Uint8Array[];
}

/** One attempt's reads and writes. @internal */
export class TransactionState {
  readonly #host: TransactionHost;
  readonly #cut: Cut;
  #ended = false;
  /** Keys read from the database (tracker form) → the sequence number they were read at. */
  readonly #reads = new Map<string, SeqNum>();
  /** Ranges iterated, and the iterators open: made by the first iterator (most transactions have none). */
  #ranges: TrackedRange[] | undefined;
  /** Buffered writes by key (tracker form), bytes owned. */
  readonly #writes = new Map<string, OwnWrite>();
  #iterators: Set<DatabaseIterator<unknown, unknown>> | undefined;

  constructor(host: TransactionHost, cut: Cut) {
    this.#host = host;
    this.#cut = cut;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** The value of `key`, decoded. */
  get(key: unknown): unknown {
    this.#checkOpen();
    const codecs = this.#host.codecs;
    const k = codecs.encodeKey(key);
    const tracked = keyString(k);
    const own = this.#writes.get(tracked);
    let value: Buffer | undefined;
    if (own !== undefined && own.kind !== ValueKind.Merge) value = own.kind === ValueKind.Put ? Buffer.from(own.value) : undefined;
    else {
      const store = this.#host.store;
      this.#reads.set(tracked, store.seqIn(this.#cut, k));
      const base = store.get(k, this.#cut);
      value = own === undefined ? base : Buffer.from(this.#mergeOwn(own, base));
    }
    return value === undefined || codecs.raw ? value : codecs.decodeValue(value);
  }

  /** Adds a merge operand (never encoded) to `key` (encoded with the database's key encoding). */
  merge(key: unknown, operand: Operand): void {
    this.#checkOpen();
    const op = this.#host.store.mergeOperator;
    const k = Buffer.from(this.#host.codecs.encodeKey(key));
    const v = Buffer.from(toOperand(operand, op));
    const tracked = keyString(k);
    const own = this.#writes.get(tracked);
    if (own === undefined || own.kind === ValueKind.Merge) {
      this.#writes.set(tracked, { kind: ValueKind.Merge, key: k, value: EMPTY, operands: [...(own?.operands ?? []), v] });
    } else {
      // After its own put or delete, the transaction knows the value beneath: the merge is a put.
      const value = op!.fullMerge(k, own.kind === ValueKind.Put ? own.value : undefined, [v]);
      this.#writes.set(tracked, { kind: ValueKind.Put, key: k, value });
    }
  }

  /** The value of a key with the transaction's merge operands `own` laid over `base`. */
  #mergeOwn(own: OwnWrite, base: Uint8Array | undefined): Uint8Array {
    return this.#host.store.mergeOperator!.fullMerge(own.key, base, own.operands!);
  }

  iterator(options: unknown): DatabaseIterator<unknown, unknown> {
    this.#checkOpen();
    const ranges = (this.#ranges ??= []);
    const iterators = (this.#iterators ??= new Set());
    const it = this.#host.iterator(options, this.#cut, (base, bounds, reverse, limit) => {
      ranges.push(trackedRange(bounds));
      return new OverlayCursor(base, this.#ownIn(bounds, reverse), reverse, limit, (own, value) => this.#mergeOwn(own, value), () =>
        iterators.delete(it),
      );
    });
    iterators.add(it);
    return it;
  }

  write(kind: ValueKind, key: unknown, value: unknown): void {
    this.#checkOpen();
    const codecs = this.#host.codecs;
    // Copies: the commit comes later, and the caller may reuse its buffers at once.
    const k = Buffer.from(codecs.encodeKey(key));
    const v = kind === ValueKind.Delete ? EMPTY : Buffer.from(codecs.encodeValue(value));
    this.#writes.set(keyString(k), { kind, key: k, value: v });
  }

  /** Ends the attempt: closes its iterators; every later call fails with CLOSED. Idempotent. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#iterators !== undefined) for (const it of [...this.#iterators]) it.closeSync();
  }

  /**
   * A write above the snapshot that this attempt's reads missed, or undefined when there is
   * none (or nothing to commit). Fails safe: when the tracker had to drop entries above the snapshot
   * (its memory bound), any read conflicts.
   */
  conflict(): Conflict | undefined {
    // Without writes there is nothing to commit, and what it read was one consistent snapshot.
    if (this.#writes.size === 0) return undefined;
    if (this.#reads.size === 0 && this.#ranges === undefined) return undefined;
    const store = this.#host.store;
    const tracker = store.tracker;
    const least = lowest(this.#cut);
    if (least < tracker.cut) return { seq: tracker.cut, key: undefined };
    for (const [key, readAt] of this.#reads) {
      const seq = tracker.writtenAfter(key, readAt);
      if (seq > 0) return { seq, key };
    }
    if (this.#ranges === undefined) return undefined;
    // A write in a range is one the iterator missed if it is above the cut in its key's shard.
    const cut = this.#cut;
    const readAt = cut.length === 1 ? undefined : (key: string) => store.seqIn(cut, Buffer.from(key, 'latin1'));
    for (const range of this.#ranges) {
      const hit = tracker.writtenInRangeAfter(range, least, readAt);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  /**
   * The buffered writes, as one batch: a key's merge operands as one (folded) or several Merge
   * entries. Pushes each entry's key in tracker form onto `tracked`.
   */
  entries(tracked: string[]): BatchEntry[] {
    const entries: BatchEntry[] = [];
    for (const [k, w] of this.#writes) {
      if (w.operands === undefined) {
        entries.push(w);
        tracked.push(k);
        continue;
      }
      const folded = w.operands.length > 1 ? this.#host.store.mergeOperator!.partialMerge?.(w.key, w.operands) : w.operands[0];
      for (const value of folded === undefined ? w.operands : [folded]) {
        entries.push({ kind: ValueKind.Merge, key: w.key, value });
        tracked.push(k);
      }
    }
    return entries;
  }

  /** This attempt's writes within `bounds`, in the iterator's order. */
  #ownIn(bounds: Bounds, reverse: boolean): OwnWrite[] {
    const own = [...this.#writes.values()].filter((e) => withinBounds(e.key, bounds));
    own.sort((a, b) => compareBytes(a.key, b.key));
    if (reverse) own.reverse();
    return own;
  }

  #checkOpen(): void {
    if (this.#ended) throw closedError('transaction');
  }
}

function withinBounds(key: Uint8Array, b: Bounds): boolean {
  if (b.lower !== undefined) {
    const c = compareBytes(key, b.lower);
    if (b.lowerInclusive ? c < 0 : c <= 0) return false;
  }
  if (b.upper !== undefined) {
    const c = compareBytes(key, b.upper);
    if (b.upperInclusive ? c > 0 : c >= 0) return false;
  }
  return true;
}

function trackedRange(b: Bounds): TrackedRange {
  const r: TrackedRange = { lowerInclusive: b.lowerInclusive, upperInclusive: b.upperInclusive };
  if (b.lower !== undefined) r.lower = keyString(b.lower);
  if (b.upper !== undefined) r.upper = keyString(b.upper);
  return r;
}

/**
 * A transaction's writes laid over a database cursor: where both hold a key, the
 * transaction's write wins (a delete hides the key). `own` is sorted in the cursor's
 * direction and within its bounds; the limit counts merged entries.
 */
class OverlayCursor implements Cursor {
  readonly #base: Cursor;
  readonly #own: readonly OwnWrite[];
  readonly #reverse: boolean;
  /** The value of a key the transaction merged into: its operands over the database's value. */
  readonly #merge: (own: OwnWrite, base: Uint8Array | undefined) => Uint8Array;
  readonly #onClose: () => void;
  #remaining: number;
  #i = 0;
  #head: [Buffer, Buffer] | undefined;
  #loaded = false;

  constructor(
    base: Cursor,
    own: readonly OwnWrite[],
    reverse: boolean,
    limit: number,
    merge: (own: OwnWrite, base: Uint8Array | undefined) => Uint8Array,
    onClose: () => void,
  ) {
    this.#base = base;
    this.#merge = merge;
    this.#own = own;
    this.#reverse = reverse;
    this.#remaining = limit < 0 ? Infinity : limit;
    this.#onClose = onClose;
  }

  seek(target: Uint8Array): void {
    this.#base.seek(target);
    this.#loaded = false;
    const own = this.#own;
    let lo = 0;
    let hi = own.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareBytes(own[mid]!.key, target);
      if (this.#reverse ? c > 0 : c < 0) lo = mid + 1;
      else hi = mid;
    }
    this.#i = lo;
  }

  ready(): Promise<void> | undefined {
    return this.#base.ready();
  }

  next(): [Buffer, Buffer] | undefined {
    while (this.#remaining > 0) {
      if (!this.#loaded) {
        this.#head = this.#base.next();
        this.#loaded = true;
      }
      const own = this.#own[this.#i];
      const head = this.#head;
      if (own === undefined && head === undefined) return undefined;
      // Which comes first in the cursor's direction: < 0 the own write, > 0 the database's.
      let c: number;
      if (own === undefined) c = 1;
      else if (head === undefined) c = -1;
      else c = this.#reverse ? compareBytes(head[0], own.key) : compareBytes(own.key, head[0]);
      if (c > 0) {
        this.#loaded = false;
        this.#remaining--;
        return head;
      }
      this.#i++;
      if (c === 0) this.#loaded = false;
      if (own!.kind === ValueKind.Delete) continue;
      this.#remaining--;
      if (own!.kind === ValueKind.Merge) return [Buffer.from(own!.key), Buffer.from(this.#merge(own!, c === 0 ? head![1] : undefined))];
      return [Buffer.from(own!.key), Buffer.from(own!.value)];
    }
    return undefined;
  }

  close(): void {
    this.#base.close();
    this.#onClose();
  }
}
