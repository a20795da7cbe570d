// Database: the public API. Checks every argument (INVALID_ARGUMENT before anything is
// written), converts strings to UTF-8 bytes, and hands the work to the shards (one engine
// each; a database of one shard is one engine).

import * as path from 'node:path';
import { closedError, compareBytes, invalidArgument, MAX_SEQ, ValueKind, type BatchEntry, type SeqNum } from './base/index.js';
import { nativeStatus, type NativeStatus } from './base/native.js';
import { resolveOptions, type EngineOptions, type Bounds, type Cursor, type ResolvedOptions } from './engine/index.js';
import { ShardSet, type Change, type ChangeFeed, type ShardedStats } from './shard/index.js';
import { writeIf } from './conditional-write.js';
import {
  describe,
  optionsObject,
  toBatch,
  putEntry,
  toClearRange,
  toConditionalWrite,
  toPutOptions,
  toKey,
  toOwnedKey,
  toSync,
  toValue,
  type BatchOperation,
  type BatchOperationLike,
  type Condition,
  type ConditionalWriteOptions,
  type Key,
  type PutOptions,
  type RangeOptions,
  type Value,
  type WriteOptions,
} from './input.js';
import { DatabaseIterator } from './iterator.js';
import { Snapshot } from './snapshot.js';
import { RetryLines, runTransaction, transactionArguments, type Transaction, type TransactionCounters, type TransactionHost, type TransactionOptions } from './transaction.js';

export interface OpenOptions extends EngineOptions {
  /**
   * Hash-partitions the keys over this many shards, each a complete engine with its own WAL
   * (syncs of different shards run at once). Fixed when the database is created; undefined
   * opens an existing database with its recorded count and creates a new one with 1. Opening
   * with another count than the recorded one fails with INVALID_ARGUMENT. Integer, 1 to 256.
   */
  shards?: number;
}

const MAX_SHARDS = 256;

export interface ReadOptions {
  /** Read at this snapshot instead of at the latest published write. */
  snapshot?: Snapshot;
}

export interface IteratorOptions extends ReadOptions {
  gt?: Key;
  gte?: Key;
  lt?: Key;
  lte?: Key;
  /** Descending key order. Default false. */
  reverse?: boolean;
  /** At most this many entries; -1 or Infinity for no limit (default). */
  limit?: number;
  /** Only keys that start with these bytes (together with gt/gte/lt/lte: keys within both). */
  prefix?: Key;
}

export interface ChangesOptions {
  /**
   * Deliver the writes whose sequence number is above this one (exclusive): a number a write
   * resolved to, or 0 for everything retained. Default: the current sequence (new writes only).
   * Older than the retained logs reach: OUT_OF_RANGE.
   */
  since?: bigint | number;
  /** Keep delivering new writes as they are published. false: end at the sequence current when the feed started. Default true. */
  live?: boolean;
  /**
   * Deliver a write only once its log bytes are synced, so that a power cut can never take back
   * a delivered change; a waiting feed syncs the logs itself, at most every few milliseconds.
   * Default false: delivered once visible to reads.
   */
  durable?: boolean;
  /** Ends the feed (the for await loop finishes) when it fires. */
  signal?: AbortSignal;
  /** Changes read ahead and held for the consumer at most. Default 1000. */
  maxBuffered?: number;
}

export type { Change, ChangeOp } from './shard/index.js';

export interface DatabaseStats extends ShardedStats, TransactionCounters {
  openIterators: number;
  /** Conditional writes (put, del, batch with ifAbsent or ifSeq) refused with CONFLICT. */
  conditionalWritesRefused: number;
  /** Writes held in memory for the validation of open transactions, and their approximate bytes. */
  conflictTracking: { writes: number; bytes: number };
  /** Whether the native addon is in use, which calls, why not, and what runs instead (nativeStatus()). */
  native: NativeStatus;
}

/** The entry db.getEntry() returns: a value and the sequence number of the write that stored it. */
export interface Entry {
  value: Buffer;
  seq: bigint;
}

const EMPTY = new Uint8Array(0);
const READ_OPTIONS = ['snapshot'] as const;
const ITERATOR_OPTIONS = ['snapshot', 'gt', 'gte', 'lt', 'lte', 'reverse', 'limit', 'prefix'] as const;
const CHANGES_OPTIONS = ['since', 'live', 'durable', 'signal', 'maxBuffered'] as const;
const TRANSACTION_ITERATOR_OPTIONS = ['gt', 'gte', 'lt', 'lte', 'reverse', 'limit', 'prefix'] as const;

/** Opens (or creates) the database in directory `location`. */
export async function open(location: string, options?: OpenOptions): Promise<Database> {
  if (typeof location !== 'string' || location.length === 0) throw invalidArgument('location must be a non-empty string');
  if (location.includes('\0')) throw invalidArgument('location must not contain a NUL character');
  const resolved = resolveOptions(options, ['shards']);
  const shards = (options as { shards?: unknown } | undefined)?.shards;
  if (shards !== undefined && (typeof shards !== 'number' || !Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS)) {
    throw invalidArgument(`option shards must be an integer from 1 to ${MAX_SHARDS}, got ${String(shards)}`);
  }
  const store = await ShardSet.open(path.resolve(location), resolved, shards);
  return new Database(store, resolved);
}

export class Database {
  readonly #engine: ShardSet;
  readonly #options: ResolvedOptions;
  readonly #iterators = new Set<DatabaseIterator>();
  readonly #snapshots = new Set<Snapshot>();
  readonly #feeds = new Set<ChangeFeed>();
  readonly #counters: TransactionCounters & { conditionalWritesRefused: number } = {
    transactionsCommitted: 0,
    transactionsRetried: 0,
    transactionsFailed: 0,
    transactionsAborted: 0,
    conditionalWritesRefused: 0,
  };
  readonly #transactionHost: TransactionHost;
  #closing: Promise<void> | undefined;

  /** @internal Use open(). */
  constructor(engine: ShardSet, options: ResolvedOptions) {
    this.#engine = engine;
    this.#options = options;
    this.#transactionHost = {
      store: engine,
      retryLines: new RetryLines(),
      iterator: (o, seq, overlay) => {
        this.#checkOpen();
        return this.#openIterator(optionsObject(o, 'iterator options', TRANSACTION_ITERATOR_OPTIONS) ?? {}, seq, overlay);
      },
    };
  }

  /** The database directory (absolute). */
  get location(): string {
    return this.#engine.dir;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * The latest published sequence number: every write that resolved to this number or less
   * is visible to reads. Throws CLOSED after close().
   */
  get sequence(): bigint {
    this.#checkOpen();
    return BigInt(this.#engine.publishedSeq);
  }

  /**
   * Resolves once the write is in the WAL (after fdatasync with sync: true) and visible to
   * reads, to the write's sequence number: where it landed in the database's one history
   * (changes() delivers it under that number). With `ifAbsent` or `ifSeq`, writes only if the
   * condition holds at the write's commit point, else rejects with CONFLICT and writes nothing.
   * With `ttl` (milliseconds, or the database's `ttl` option), the value reads as deleted from
   * `ttl` ms after the call on, by the database's clock.
   */
  put(key: Key, value: Value, options?: PutOptions): Promise<bigint> {
    try {
      this.#checkOpen();
      const k = toKey(key);
      const v = toValue(value);
      const { sync, condition, ttl } = toPutOptions(options, this.#options.sync);
      const entry = putEntry(k, v, ttl, this.#options.clock);
      return condition === undefined ? this.#engine.write([entry], sync) : this.#writeIf([entry], [condition], sync);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Deletes `key` (a missing key is not an error). Durability, result and conditions as for put(). */
  del(key: Key, options?: ConditionalWriteOptions): Promise<bigint> {
    try {
      this.#checkOpen();
      const entry = { kind: ValueKind.Delete, key: toKey(key), value: EMPTY };
      const { sync, condition } = toConditionalWrite(options, this.#options.sync);
      return condition === undefined ? this.#engine.write([entry], sync) : this.#writeIf([entry], [condition], sync);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Deletes every key in `range` ({ gt | gte, lt | lte }; none: every key) in one atomic write
   * of one small log record, whatever the number of keys: a range tombstone. Keys written
   * after it stay; reads and iterators at an earlier snapshot still see the old keys.
   * Compaction reclaims the space later (compactRange() at once). With shards, one batch
   * across every shard. Resolves to the write's sequence number; a range that holds no key
   * (gte 'a', lt 'a') writes nothing. A lower bound above the upper one: INVALID_ARGUMENT.
   */
  clear(range?: RangeOptions, options?: WriteOptions): Promise<bigint> {
    try {
      this.#checkOpen();
      const entry = toClearRange(range);
      const sync = toSync(options, this.#options.sync);
      if (entry === undefined) return Promise.resolve(BigInt(this.#engine.publishedSeq));
      return this.#engine.write([entry], sync);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Applies every operation or none, also across a crash. Resolves to the batch's sequence
   * number: the highest it used. An empty batch resolves at once, to the current sequence. An
   * operation may carry a condition (`ifAbsent`, `ifSeq`, as for put()): if any fails, the
   * batch rejects with CONFLICT and nothing is written.
   */
  batch(operations: readonly (BatchOperation | BatchOperationLike)[], options?: WriteOptions): Promise<bigint> {
    try {
      this.#checkOpen();
      const conditions: Condition[] = [];
      const entries = toBatch(operations, conditions, this.#options.clock);
      const sync = toSync(options, this.#options.sync);
      if (entries.length === 0) return Promise.resolve(BigInt(this.#engine.publishedSeq));
      return conditions.length === 0 ? this.#engine.write(entries, sync) : this.#writeIf(entries, conditions, sync);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #writeIf(entries: BatchEntry[], conditions: Condition[], sync: boolean): Promise<bigint> {
    return writeIf(this.#engine, entries, conditions, sync, () => this.#counters.conditionalWritesRefused++);
  }

  /**
   * Runs `fn` as an optimistic transaction and resolves to what it returns. `tx.get()` and
   * `tx.iterator()` read one snapshot plus the transaction's own writes; `tx.put()` and
   * `tx.del()` are buffered and committed as one atomic batch when `fn` returns, unless a key
   * it read (or a key in a range it iterated) was written by someone else since its snapshot:
   * then `fn` runs again, up to `retries` times, and the promise rejects with CONFLICT after
   * the last. A throw from `fn` writes nothing and rejects with that error. `fn` may run more
   * than once: keep its effects outside the database idempotent.
   */
  transaction<T>(fn: (tx: Transaction) => T | Promise<T>, options?: TransactionOptions): Promise<T> {
    try {
      this.#checkOpen();
      const settings = transactionArguments(fn, options, this.#options.sync);
      return runTransaction(this.#transactionHost, fn, settings, this.#counters);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The value of `key`, or undefined when it has none. */
  get(key: Key, options?: ReadOptions): Promise<Buffer | undefined> {
    try {
      return Promise.resolve(this.getSync(key, options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** get() without the promise: reads are served on the calling thread. */
  getSync(key: Key, options?: ReadOptions): Buffer | undefined {
    this.#checkOpen();
    const k = toKey(key);
    return this.#engine.get(k, this.#readSeq(options));
  }

  /**
   * The value of `key` with the sequence number of the write that stored it (for a later
   * put or del with `ifSeq`), or undefined when it has none.
   */
  getEntry(key: Key, options?: ReadOptions): Promise<Entry | undefined> {
    try {
      return Promise.resolve(this.getEntrySync(key, options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** getEntry() without the promise. */
  getEntrySync(key: Key, options?: ReadOptions): Entry | undefined {
    this.#checkOpen();
    const k = toKey(key);
    const entry = this.#engine.getEntry(k, this.#readSeq(options));
    return entry === undefined ? undefined : { value: entry.value, seq: BigInt(entry.seq) };
  }

  /** A cursor over a key range at one snapshot; see DatabaseIterator. */
  iterator(options?: IteratorOptions): DatabaseIterator {
    this.#checkOpen();
    const o = (optionsObject(options, 'iterator options', ITERATOR_OPTIONS) ?? {}) as IteratorOptions;
    return this.#openIterator(o, undefined, undefined);
  }

  /**
   * An iterator over `o` at `at` (already pinned by the caller; default: the snapshot's, or
   * the published sequence), its cursor wrapped by `overlay` (which then applies the limit).
   */
  #openIterator(
    o: IteratorOptions,
    at: SeqNum | undefined,
    overlay: ((base: Cursor, bounds: Bounds, reverse: boolean, limit: number) => Cursor) | undefined,
  ): DatabaseIterator {
    const bounds = toBounds(o);
    const reverse = o.reverse ?? false;
    if (typeof reverse !== 'boolean') throw invalidArgument(`option reverse must be a boolean, got ${describe(reverse)}`);
    const limit = o.limit ?? -1;
    if (typeof limit !== 'number' || Number.isNaN(limit) || (limit !== Infinity && (!Number.isInteger(limit) || limit < -1))) {
      throw invalidArgument(`option limit must be an integer >= -1 or Infinity, got ${String(limit)}`);
    }
    // The iterator pins its sequence itself, also when reading through a snapshot: the user
    // may release the snapshot while the iterator is still open.
    const snap = o.snapshot;
    const seq =
      at !== undefined ? this.#engine.pinSnapshot(at) : snap === undefined ? this.#engine.acquireSnapshot() : this.#engine.pinSnapshot(this.#snapshotSeq(snap));
    const release = () => this.#engine.releaseSnapshot(seq);
    let iterator: DatabaseIterator;
    try {
      const n = limit === Infinity ? -1 : limit;
      const base = this.#engine.iterator(seq, bounds, reverse, overlay === undefined ? n : -1);
      const cursor = overlay === undefined ? base : overlay(base, bounds, reverse, n);
      iterator = new DatabaseIterator(cursor, () => {
        this.#iterators.delete(iterator);
        release();
      });
    } catch (err) {
      release();
      throw err;
    }
    this.#iterators.add(iterator);
    return iterator;
  }

  /**
   * The committed writes, one change per put, del or batch, in sequence order across all shards,
   * read back from the retained logs: `for await (const { seq, ops } of db.changes({ since }))`.
   * A batch across shards is one change, delivered once it committed everywhere. Throws
   * INVALID_ARGUMENT for bad options and OUT_OF_RANGE when `since` is older than the logs
   * retained (option changeRetention); the feed ends with CLOSED when the database closes.
   * Breaking out of the loop releases everything the feed held.
   */
  changes(options?: ChangesOptions): AsyncIterableIterator<Change> {
    this.#checkOpen();
    const o = optionsObject(options, 'changes options', CHANGES_OPTIONS) ?? {};
    const live = o['live'] ?? true;
    const durable = o['durable'] ?? false;
    if (typeof live !== 'boolean') throw invalidArgument(`option live must be a boolean, got ${describe(live)}`);
    if (typeof durable !== 'boolean') throw invalidArgument(`option durable must be a boolean, got ${describe(durable)}`);
    const signal = o['signal'];
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidArgument(`option signal must be an AbortSignal, got ${describe(signal)}`);
    const maxBuffered = o['maxBuffered'] ?? 1000;
    if (typeof maxBuffered !== 'number' || !Number.isInteger(maxBuffered) || maxBuffered < 1 || maxBuffered > 1_000_000) {
      throw invalidArgument(`option maxBuffered must be an integer from 1 to 1000000, got ${String(maxBuffered)}`);
    }
    const since = toSince(o['since'], this.#engine.publishedSeq);
    const feed = this.#engine.changes({ since, live, durable, signal, maxBuffered }, (f) => this.#feeds.delete(f));
    if (!feed.ended) this.#feeds.add(feed);
    return feed;
  }

  /** Pins the current state for reads until release(). */
  snapshot(): Snapshot {
    this.#checkOpen();
    const seq = this.#engine.acquireSnapshot();
    const snap: Snapshot = new Snapshot(this, seq, () => {
      this.#snapshots.delete(snap);
      this.#engine.releaseSnapshot(seq);
    });
    this.#snapshots.add(snap);
    return snap;
  }

  /** Writes every memtable to tables; resolves when they are recorded in the MANIFEST. */
  flush(): Promise<void> {
    try {
      this.#checkOpen();
      return this.#engine.flush();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Compacts the keys in [start, end] (everything by default; either end may be omitted) down
   * to the deepest level, dropping overwritten versions and deletions no snapshot needs.
   * Resolves when done.
   */
  compactRange(start?: Key, end?: Key): Promise<void> {
    try {
      this.#checkOpen();
      const from = start === undefined ? undefined : toOwnedKey(start, 'start');
      const to = end === undefined ? undefined : toOwnedKey(end, 'end');
      return this.#engine.compactRange(from, to);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * About how many bytes of table files hold the keys in [start, end) (either end may be
   * omitted): estimated from the tables' indexes, without reading data. Writes still in the
   * memtable and the log are not counted; flush() first to count them. After a clear() the
   * bytes it deleted count until compaction rewrites them (compactRange()).
   */
  approximateSize(start?: Key, end?: Key): Promise<number> {
    try {
      this.#checkOpen();
      const from = start === undefined ? undefined : toKey(start, 'start');
      const to = end === undefined ? undefined : toKey(end, 'end');
      return Promise.resolve(this.#engine.approximateSize(from, to));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  stats(): DatabaseStats {
    this.#checkOpen();
    return {
      ...this.#engine.stats(),
      openIterators: this.#iterators.size,
      ...this.#counters,
      conflictTracking: this.#engine.tracker.size,
      native: nativeStatus(),
    };
  }

  /**
   * Waits for the writes in flight, closes iterators, releases snapshots, syncs the WAL and
   * releases the directory lock; rejects with IO_ERROR, after releasing everything, when that
   * sync fails. Idempotent; every other call afterwards fails with CLOSED.
   */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      for (const feed of [...this.#feeds]) feed.fail(closedError('database'));
      for (const it of [...this.#iterators]) it.closeSync();
      for (const snap of [...this.#snapshots]) snap.release();
      this.#closing = this.#engine.close();
    }
    return this.#closing;
  }

  #checkOpen(): void {
    if (this.#closing !== undefined) throw closedError('database');
  }

  #readSeq(options: ReadOptions | undefined): SeqNum {
    const snap = optionsObject(options, 'read options', READ_OPTIONS)?.['snapshot'];
    return snap === undefined ? this.#engine.publishedSeq : this.#snapshotSeq(snap);
  }

  #snapshotSeq(snap: unknown): SeqNum {
    if (!Snapshot.isSnapshot(snap)) throw invalidArgument(`option snapshot must be a Snapshot from db.snapshot(), got ${describe(snap)}`);
    const seq = snap.seqFor(this);
    if (seq === undefined) throw invalidArgument('the snapshot belongs to another database');
    return Math.min(seq, MAX_SEQ);
  }
}

/** A feed's `since`: a non-negative safe integer, as a bigint or a number; `current` when absent. */
function toSince(since: unknown, current: SeqNum): SeqNum {
  if (since === undefined) return current;
  if (typeof since === 'bigint' && since >= 0n && since <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(since);
  if (typeof since === 'number' && Number.isSafeInteger(since) && since >= 0) return since;
  throw invalidArgument(`option since must be a non-negative integer (a sequence number), got ${typeof since === 'bigint' ? `${since}n` : describe(since)}`);
}

/** Each bound read once; absent is undefined (null is a wrong type, not "no bound"). */
function toBounds(o: IteratorOptions): Bounds {
  const { gt, gte, lt, lte } = o;
  if (gt !== undefined && gte !== undefined) throw invalidArgument('give at most one of gt and gte');
  if (lt !== undefined && lte !== undefined) throw invalidArgument('give at most one of lt and lte');
  const bounds: Bounds = { lowerInclusive: gt === undefined, upperInclusive: lt === undefined };
  if (gt !== undefined) bounds.lower = toOwnedKey(gt, 'option gt');
  else if (gte !== undefined) bounds.lower = toOwnedKey(gte, 'option gte');
  if (lt !== undefined) bounds.upper = toOwnedKey(lt, 'option lt');
  else if (lte !== undefined) bounds.upper = toOwnedKey(lte, 'option lte');
  const prefix = o.prefix;
  if (prefix !== undefined) narrowToPrefix(bounds, toOwnedKey(prefix, 'option prefix'));
  return bounds;
}

/** Narrows `bounds` to the keys that start with `prefix`: [prefix, the first key past them). */
function narrowToPrefix(bounds: Bounds, prefix: Uint8Array): void {
  if (bounds.lower === undefined || compareBytes(prefix, bounds.lower) > 0) {
    bounds.lower = prefix;
    bounds.lowerInclusive = true;
  }
  const end = prefixEnd(prefix);
  if (end !== undefined && (bounds.upper === undefined || compareBytes(end, bounds.upper) <= 0)) {
    bounds.upper = end;
    bounds.upperInclusive = false;
  }
}

/** The smallest key above every key starting with `prefix`; undefined when there is none (all 0xff). */
function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i] !== 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i]!++;
      return end;
    }
  }
  return undefined;
}
