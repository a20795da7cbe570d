// Database: the public API. Checks every argument (INVALID_ARGUMENT before anything is
// written), encodes keys and values to bytes (src/encoding.ts; by default strings as UTF-8,
// bytes as they are), and hands the work to the shards (one engine each; a database of one
// shard is one engine).

import * as path from 'node:path';
import { bytesEqual, closedError, compareBytes, invalidArgument, StrataError, ValueKind, type BatchEntry, type SeqNum } from './base/index.js';
import { nativeStatus, type NativeStatus } from './base/native.js';
import { resolveOptions, type EngineOptions, type Bounds, type Cursor, type ResolvedOptions } from './engine/index.js';
import { MAX_SHARDS, ShardSet, type ChangeFeed, type Cut, type IngestPair, type ShardedStats } from './shard/index.js';
import { writeIf } from './conditional-write.js';
import { Codecs, decodeChanges, type DecodedBy, type DecodedChange, type EncodableBy, type Encoding } from './encoding.js';
import {
  describe,
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
  optionsObject,
  toBatch,
  putEntry,
  toClearRange,
  toConditionalWrite,
  toPutOptions,
  toKey,
  toOperand,
  toSync,
  toValue,
  type BatchOperation,
  type BatchOperationLike,
  type Condition,
  type ConditionalWriteOptions,
  type Key,
  type Operand,
  type PutOptions,
  type RangeOptions,
  type Value,
  type WriteOptions,
} from './input.js';
import { moveToStart, readAsync, readManyAsync, type AsyncReadHost } from './async-read.js';
import { ReadTarget } from './sstable/index.js';
import { createBackup, type BackupResult } from './backup.js';
import { tableFilePairs } from './ingest.js';
import { loadIdentity } from './identity.js';
import { DatabaseIterator } from './iterator.js';
import { LoopTurns, READ_CLOCK_EVERY } from './base/loop-turns.js';
import { Snapshot } from './snapshot.js';
import { RetryLines, runTransaction, transactionArguments, type Transaction, type TransactionCounters, type TransactionHost, type TransactionOptions } from './transaction.js';

export interface OpenOptions<KE extends Encoding = Encoding, VE extends Encoding = Encoding> extends EngineOptions {
  /**
   * Hash-partitions the keys over this many shards, each a complete engine with its own WAL
   * (syncs of different shards run at once). Fixed when the database is created; undefined
   * opens an existing database with its recorded count and creates a new one with 1. Opening
   * with another count than the recorded one fails with INVALID_ARGUMENT. Integer, 1 to 256.
   */
  shards?: number;
  /**
   * How keys are turned into bytes and back: 'buffer' (default), 'utf8', 'json', 'msgpack',
   * 'tuple' (arrays that sort element by element) or a codec { name, encode, decode }. Not
   * recorded in the database: reopen with the encodings it was written with.
   */
  keyEncoding?: KE;
  /** How values are turned into bytes and back; as keyEncoding. */
  valueEncoding?: VE;
}

export interface ReadOptions {
  /** Read at this snapshot instead of at the latest published write. */
  snapshot?: Snapshot;
  /** Decode the value with this encoding instead of the database's valueEncoding. */
  valueEncoding?: Encoding;
}

export interface IteratorOptions<KIn = Key> extends ReadOptions {
  /** Encode the bounds and decode the keys with this encoding instead of the database's keyEncoding. */
  keyEncoding?: Encoding;
  gt?: KIn;
  gte?: KIn;
  lt?: KIn;
  lte?: KIn;
  /** Descending key order. Default false. */
  reverse?: boolean;
  /** At most this many entries; -1 or Infinity for no limit (default). */
  limit?: number;
  /**
   * Only keys whose encoding starts with the encoding of this one (together with gt/gte/lt/lte:
   * keys within both): for bytes and strings, keys that start with it; for 'tuple' keys, the
   * tuples that start with its elements.
   */
  prefix?: KIn;
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

export type { BatchChange, Change, ChangeOp } from './shard/index.js';
import type { BatchChange, Change } from './shard/index.js';

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
export interface Entry<V = Buffer> {
  value: V;
  seq: bigint;
}

const EMPTY = new Uint8Array(0);
const READ_OPTIONS = ['snapshot', 'valueEncoding'] as const;
const ITERATOR_OPTIONS = ['snapshot', 'gt', 'gte', 'lt', 'lte', 'reverse', 'limit', 'prefix', 'keyEncoding', 'valueEncoding'] as const;
const CHANGES_OPTIONS = ['since', 'live', 'durable', 'signal', 'maxBuffered'] as const;
const INGEST_OPTIONS = [] as const;
const TRANSACTION_ITERATOR_OPTIONS = ['gt', 'gte', 'lt', 'lte', 'reverse', 'limit', 'prefix', 'keyEncoding', 'valueEncoding'] as const;

/**
 * One item of an ingest's source as key and value bytes (INVALID_ARGUMENT naming the item):
 * encoded with `codecs` (the database's encodings) for pairs given by the caller; table files'
 * pairs are bytes already (no `codecs`).
 */
function ingestPair(codecs: Codecs | undefined, item: unknown, index: number, out: IngestPair): void {
  if (!Array.isArray(item) || item.length !== 2) throw invalidArgument(`ingest: item ${index} is not a [key, value] pair: ${describe(item)}`);
  const key: unknown = item[0];
  const value: unknown = item[1];
  // Bytes that need no encoding and no check but their length go straight through: the
  // labels of the errors below cost a string a pair (a tenth of the packing thread's time).
  const raw = codecs === undefined || codecs.raw;
  out.key = raw && plainBytes(key, MAX_KEY_BYTES) ? key : codecs === undefined ? toKey(key, `ingest key ${index}`) : codecs.encodeKey(key, `ingest key ${index}`);
  out.value = raw && plainBytes(value, MAX_VALUE_BYTES) ? value : codecs === undefined ? toValue(value, `ingest value ${index}`) : codecs.encodeValue(value, `ingest value ${index}`);
}

/** Whether `x` is a non-empty Uint8Array of at most `limit` bytes (an empty one may be over a detached buffer: toKey says). */
function plainBytes(x: unknown, limit: number): x is Uint8Array {
  return x instanceof Uint8Array && x.length > 0 && x.length <= limit;
}

/** Opens (or creates) the database in directory `location`. */
export function open<KE extends Encoding = 'buffer', VE extends Encoding = 'buffer'>(
  location: string,
  options?: OpenOptions<KE, VE>,
): Promise<Database<DecodedBy<KE>, DecodedBy<VE>, EncodableBy<KE>, EncodableBy<VE>>> {
  return openDatabase(location, options, undefined);
}

async function openDatabase<KE extends Encoding, VE extends Encoding>(
  location: string,
  options: OpenOptions<KE, VE> | undefined,
  hiddenKey: Uint8Array | undefined,
): Promise<Database<DecodedBy<KE>, DecodedBy<VE>, EncodableBy<KE>, EncodableBy<VE>>> {
  if (typeof location !== 'string' || location.length === 0) throw invalidArgument('location must be a non-empty string');
  if (location.includes('\0')) throw invalidArgument('location must not contain a NUL character');
  const resolved = resolveOptions(options, ['shards', 'keyEncoding', 'valueEncoding']);
  const codecs = Codecs.of(options);
  const shards = (options as { shards?: unknown } | undefined)?.shards;
  if (shards !== undefined && (typeof shards !== 'number' || !Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS)) {
    throw invalidArgument(`option shards must be an integer from 1 to ${MAX_SHARDS}, got ${String(shards)}`);
  }
  const store = await ShardSet.open(path.resolve(location), resolved, shards);
  try {
    return new Database(store, resolved, codecs, { identity: await loadIdentity(resolved.fs, store.dir), hiddenKey });
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
}

/**
 * What a replica's owner (src/replication.ts) holds: the database, opened so that its own
 * writes reject with READ_ONLY and `hiddenKey` (the replica's applied position) never shows in
 * its reads or its change feed, and the one door its writes go through.
 */
export interface ReplicaAccess<K, V> {
  db: Database<K, V>;
  /** Writes `entries` as one atomic batch; resolves to its sequence number in the replica. */
  apply(entries: BatchEntry[], sync: boolean): Promise<bigint>;
  /** The value of `hiddenKey` (as bytes), read past the encodings. */
  hiddenValue(): Buffer | undefined;
}

/** @internal Opens a database as a replica (see ReplicaAccess); for src/replication.ts only. */
export function openReplica<KE extends Encoding = 'buffer', VE extends Encoding = 'buffer'>(
  location: string,
  options: OpenOptions<KE, VE> | undefined,
  hiddenKey: Uint8Array,
): Promise<ReplicaAccess<DecodedBy<KE>, DecodedBy<VE>>> {
  return openDatabase(location, options, hiddenKey).then((db) => Database.replicaAccess(db as unknown as Database<DecodedBy<KE>, DecodedBy<VE>>, hiddenKey));
}

/**
 * @internal A change feed of `db` with keys and values as bytes, whatever its encodings
 * (options as for changes()); for src/replication.ts only.
 */
export function changesAsBytes(db: Database<unknown, unknown, never, never>, options: ChangesOptions): AsyncIterableIterator<Change> {
  return Database.changesAsBytes(db, options);
}

/** The change feed for replication (changesAsBatches()). */
export interface BatchFeed {
  /** Every change the feed has at hand (at least one), or undefined once it ended. */
  nextMany(): Promise<BatchChange[] | undefined>;
  /** Ends the feed (as a `for await` that breaks does). */
  return(): Promise<unknown>;
}

/**
 * The change feed for replication: changesAsBytes(), taken many changes at a time, each with
 * the number of the change before it; a write of one shard comes as its batch's bytes
 * (BatchChange.batch: the write-batch format, src/base/batch-format.ts) without `ops`, where
 * the database hides no key (not a replica's: there every change has `ops`).
 */
export function changesAsBatches(db: Database<unknown, unknown, never, never>, options: ChangesOptions): BatchFeed {
  return Database.changesAsBatches(db, options);
}

/**
 * An open database. K and V are the types of keys and values as reads give them, KIn and VIn as
 * writes take them (by default Buffer, and Uint8Array or string: see open()'s encodings).
 */
export class Database<K = Buffer, V = Buffer, KIn = Key, VIn = Value> {
  readonly #engine: ShardSet;
  readonly #options: ResolvedOptions;
  readonly #codecs: Codecs;
  readonly #iterators = new Set<DatabaseIterator<unknown, unknown>>();
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
  /** What get() and iterators need to give the event loop its turns and to defer large blocks. */
  readonly #reads: AsyncReadHost = {
    turns: new LoopTurns(READ_CLOCK_EVERY),
    pin: (cut) => {
      this.#engine.pinSnapshot(cut);
      return () => this.#engine.releaseSnapshot(cut);
    },
  };
  /** Checkpoints, backups and ingests in progress: close() waits for them. */
  readonly #longCalls = new Set<Promise<unknown>>();
  #backups: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;
  readonly #identity: string;
  /** Set in a replica (openReplica): its writes are refused and this key is never shown. */
  readonly #hiddenKey: Uint8Array | undefined;

  /** @internal Use open(). */
  constructor(engine: ShardSet, options: ResolvedOptions, codecs: Codecs, role: { identity: string; hiddenKey: Uint8Array | undefined }) {
    this.#engine = engine;
    this.#options = options;
    this.#codecs = codecs;
    this.#identity = role.identity;
    this.#hiddenKey = role.hiddenKey;
    this.#transactionHost = {
      store: engine,
      codecs,
      retryLines: new RetryLines(),
      iterator: (o, cut, overlay) => {
        this.#checkOpen();
        return this.#openIterator(optionsObject(o, 'iterator options', TRANSACTION_ITERATOR_OPTIONS) ?? {}, cut, overlay);
      },
    };
  }

  /** @internal See openReplica(). */
  static replicaAccess<K, V>(replica: Database<K, V>, hiddenKey: Uint8Array): ReplicaAccess<K, V> {
    return {
      db: replica,
      apply: (entries, sync) => {
        try {
          replica.#checkOpen();
          return replica.#engine.write(entries, sync);
        } catch (err) {
          return Promise.reject(err);
        }
      },
      hiddenValue: () => {
        replica.#checkOpen();
        return replica.#engine.get(hiddenKey, replica.#engine.cut());
      },
    };
  }

  /** @internal The shard of `db` that holds the key bytes `key`; for src/replication.ts only. */
  static shardOfKey(db: Database<unknown, unknown, never, never>, key: Uint8Array): number {
    return db.#engine.shardOf(key);
  }

  /** @internal Option backgroundNice of `db`: replicate()'s publishing thread runs that far below. */
  static backgroundNice(db: Database<unknown, unknown, never, never>): number {
    return db.#options.backgroundNice;
  }

  /** @internal See changesAsBytes(). */
  static changesAsBytes(db: Database<unknown, unknown, never, never>, options: ChangesOptions): AsyncIterableIterator<Change> {
    return db.#changes(options, true) as AsyncIterableIterator<Change>;
  }

  /** @internal See changesAsBatches(). */
  static changesAsBatches(db: Database<unknown, unknown, never, never>, options: ChangesOptions): BatchFeed {
    if (db.#hiddenKey === undefined) return db.#changes(options, true, true) as unknown as ChangeFeed as unknown as BatchFeed;
    // A replica's feed: its changes, hidden key left out, numbered as the feed above numbers them.
    let prev = Number(options.since ?? db.#engine.publishedSeq);
    const feed = db.#changes(options, true) as AsyncIterableIterator<Change>;
    return {
      nextMany: async () => {
        const r = await feed.next();
        if (r.done === true) return undefined;
        const seq = Number(r.value.seq);
        const change: BatchChange = { seq, prev, ops: r.value.ops };
        prev = seq;
        return [change];
      },
      return: () => feed.return!(),
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
   * The database's identity: 32 hex digits drawn when it was created (the IDENTITY file,
   * src/identity.ts). A checkpoint, backup or restore gets an identity of its own.
   */
  get identity(): string {
    return this.#identity;
  }

  /** Whether writes through this handle are refused with READ_ONLY (a replica's database: follow()). */
  get readOnly(): boolean {
    return this.#hiddenKey !== undefined;
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
  put<KE extends Encoding | undefined = undefined, VE extends Encoding | undefined = undefined>(
    key: InputOf<KE, KIn>,
    value: InputOf<VE, VIn>,
    options?: PutOptions & { keyEncoding?: KE; valueEncoding?: VE },
  ): Promise<bigint> {
    try {
      this.#checkWritable();
      const { sync, condition, ttl } = toPutOptions(options, this.#options.sync);
      const codecs = Codecs.of(options, this.#codecs);
      const entry = putEntry(codecs.encodeKey(key), codecs.encodeValue(value), ttl, this.#options.clock);
      return condition === undefined ? this.#engine.write([entry], sync) : this.#writeIf([entry], [condition], sync);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Deletes `key` (a missing key is not an error). Durability, result and conditions as for put(). */
  del<KE extends Encoding | undefined = undefined>(key: InputOf<KE, KIn>, options?: ConditionalWriteOptions & { keyEncoding?: KE }): Promise<bigint> {
    try {
      this.#checkWritable();
      const { sync, condition } = toConditionalWrite(options, this.#options.sync);
      const entry = { kind: ValueKind.Delete, key: Codecs.of(options, this.#codecs).encodeKey(key), value: EMPTY };
      return condition === undefined ? this.#engine.write([entry], sync) : this.#writeIf([entry], [condition], sync);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Adds `operand` to `key`'s merge operands: reads then see what the database's merge
   * operator (option mergeOperator) makes of the key's value and its operands, in sequence
   * order. For 'add', `operand` may be a bigint or a safe integer. Without a merge operator,
   * or with an operand the operator refuses, rejects with INVALID_ARGUMENT and writes nothing.
   * Durability and result as for put().
   */
  merge(key: KIn, operand: Operand, options?: WriteOptions): Promise<bigint> {
    try {
      this.#checkWritable();
      const entry = { kind: ValueKind.Merge, key: this.#codecs.encodeKey(key), value: toOperand(operand, this.#engine.mergeOperator) };
      return this.#engine.write([entry], toSync(options, this.#options.sync));
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
  clear<KE extends Encoding | undefined = undefined>(range?: RangeOptions<InputOf<KE, KIn>>, options?: WriteOptions & { keyEncoding?: KE }): Promise<bigint> {
    try {
      this.#checkWritable();
      const sync = toSync(options, this.#options.sync);
      const codecs = Codecs.of(options, this.#codecs);
      const entry = toClearRange(range, (k, what) => codecs.encodeKey(k, what));
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
  batch<KE extends Encoding | undefined = undefined, VE extends Encoding | undefined = undefined>(
    operations: readonly (BatchOperation<InputOf<KE, KIn>, InputOf<VE, VIn>> | BatchOperationLike<InputOf<KE, KIn>, InputOf<VE, VIn>>)[],
    options?: WriteOptions & { keyEncoding?: KE; valueEncoding?: VE },
  ): Promise<bigint> {
    try {
      this.#checkWritable();
      const sync = toSync(options, this.#options.sync);
      const conditions: Condition[] = [];
      const entries = toBatch(operations, conditions, Codecs.of(options, this.#codecs), this.#engine.mergeOperator, this.#options.clock);
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
  transaction<T>(fn: (tx: Transaction<K, V, KIn, VIn>) => T | Promise<T>, options?: TransactionOptions): Promise<T> {
    try {
      this.#checkWritable();
      const settings = transactionArguments(fn, options, this.#options.sync);
      return runTransaction(this.#transactionHost, fn as (tx: Transaction) => T | Promise<T>, settings, this.#counters);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The value of `key`, or undefined when it has none. */
  get<E extends Encoding | undefined = undefined>(key: KIn, options?: ReadOptions & { valueEncoding?: E }): Promise<ValueOf<E, V> | undefined> {
    try {
      this.#checkOpen();
      const cut = this.#readCut(options);
      const codecs = Codecs.of(options, this.#codecs);
      const k = codecs.encodeKey(key);
      const read = readAsync(this.#reads, this.#engine.largeBlocksOf(k), cut, () => (this.#isHidden(k) ? undefined : this.#engine.get(k, cut)));
      return (codecs.raw ? read : read.then((v) => (v === undefined ? undefined : codecs.decodeValue(v)))) as Promise<ValueOf<E, V> | undefined>;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * The values of `keys`, in order (undefined where a key has none), all read at one snapshot:
   * one call and one promise for many point reads.
   */
  getMany<E extends Encoding | undefined = undefined>(keys: readonly KIn[], options?: ReadOptions & { valueEncoding?: E }): Promise<(ValueOf<E, V> | undefined)[]> {
    try {
      this.#checkOpen();
      if (!Array.isArray(keys)) throw invalidArgument(`getMany() takes an array of keys, got ${describe(keys)}`);
      const cut = this.#readCut(options);
      const codecs = Codecs.of(options, this.#codecs);
      const ks = keys.map((k) => codecs.encodeKey(k));
      const engine = this.#engine;
      const read = readManyAsync(this.#reads, ks, cut, (k) => engine.largeBlocksOf(k), (k) => (this.#isHidden(k) ? undefined : engine.get(k, cut)));
      if (codecs.raw) return read as Promise<(ValueOf<E, V> | undefined)[]>;
      return read.then((vs) => vs.map((v) => (v === undefined ? undefined : (codecs.decodeValue(v) as ValueOf<E, V>))));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * get() into `target`, for values of megabytes read often: resolves to the value's length
   * (its bytes at target's start when it fits; else target's bytes are unspecified and a
   * larger target reads it), or undefined when `key` has no value. A large value is read off
   * the event loop's thread straight into `target` when its block fits there (the value's
   * length, its key's and 2 × blockBytes more are enough), so that reading gigabytes of values
   * allocates nothing for the garbage collector to collect (the value is then moved to
   * target's start on the thread pool). Leave `target` alone until the promise settles (as
   * fs.read's buffer): do not read, write or transfer it meanwhile.
   */
  getInto(key: KIn, target: Uint8Array, options?: ReadOptions): Promise<number | undefined> {
    try {
      this.#checkOpen();
      if (!(target instanceof Uint8Array)) throw invalidArgument(`getInto() takes a Uint8Array to read into, got ${describe(target)}`);
      const cut = this.#readCut(options);
      const k = Codecs.of(options, this.#codecs).encodeKey(key);
      const read = readAsync(this.#reads, this.#engine.largeBlocksOf(k), cut, () => (this.#isHidden(k) ? undefined : this.#engine.getInto(k, cut, target)), new ReadTarget(target));
      return read.then((found) => (found === undefined ? undefined : found.at === 0 ? found.length : moveToStart(target, found.at, found.length)));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** get() without the promise: reads are served on the calling thread. */
  getSync<E extends Encoding | undefined = undefined>(key: KIn, options?: ReadOptions & { valueEncoding?: E }): ValueOf<E, V> | undefined {
    this.#checkOpen();
    const cut = this.#readCut(options);
    const codecs = Codecs.of(options, this.#codecs);
    const k = codecs.encodeKey(key);
    const value = this.#isHidden(k) ? undefined : this.#engine.get(k, cut);
    return (value === undefined || codecs.raw ? value : codecs.decodeValue(value)) as ValueOf<E, V> | undefined;
  }

  /**
   * The value of `key` with the sequence number of the write that stored it (for a later
   * put or del with `ifSeq`), or undefined when it has none.
   */
  getEntry<E extends Encoding | undefined = undefined>(key: KIn, options?: ReadOptions & { valueEncoding?: E }): Promise<Entry<ValueOf<E, V>> | undefined> {
    try {
      this.#checkOpen();
      const cut = this.#readCut(options);
      const codecs = Codecs.of(options, this.#codecs);
      const k = codecs.encodeKey(key);
      return readAsync(this.#reads, this.#engine.largeBlocksOf(k), cut, () => {
        const entry = this.#isHidden(k) ? undefined : this.#engine.getEntry(k, cut);
        if (entry === undefined) return undefined;
        return { value: (codecs.raw ? entry.value : codecs.decodeValue(entry.value)) as ValueOf<E, V>, seq: BigInt(entry.seq) };
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** getEntry() without the promise. */
  getEntrySync<E extends Encoding | undefined = undefined>(key: KIn, options?: ReadOptions & { valueEncoding?: E }): Entry<ValueOf<E, V>> | undefined {
    this.#checkOpen();
    const cut = this.#readCut(options);
    const codecs = Codecs.of(options, this.#codecs);
    const k = codecs.encodeKey(key);
    const entry = this.#isHidden(k) ? undefined : this.#engine.getEntry(k, cut);
    if (entry === undefined) return undefined;
    return { value: (codecs.raw ? entry.value : codecs.decodeValue(entry.value)) as ValueOf<E, V>, seq: BigInt(entry.seq) };
  }

  /** A cursor over a key range at one snapshot; see DatabaseIterator. */
  iterator<KE extends Encoding | undefined = undefined, VE extends Encoding | undefined = undefined>(
    options?: IteratorOptions<InputOf<KE, KIn>> & { keyEncoding?: KE; valueEncoding?: VE },
  ): DatabaseIterator<ValueOf<KE, K>, ValueOf<VE, V>> {
    this.#checkOpen();
    const o = (optionsObject(options, 'iterator options', ITERATOR_OPTIONS) ?? {}) as IteratorOptions<unknown>;
    const hidden = this.#hiddenKey;
    const overlay = hidden === undefined ? undefined : (base: Cursor, _b: Bounds, _r: boolean, limit: number) => new HidingCursor(base, hidden, limit);
    return this.#openIterator(o, undefined, overlay) as DatabaseIterator<ValueOf<KE, K>, ValueOf<VE, V>>;
  }

  /**
   * An iterator over `o` at the cut `at` (already pinned by the caller; default: the
   * snapshot's, or the current one), its cursor wrapped by `overlay` (which then applies the
   * limit).
   */
  #openIterator(
    o: IteratorOptions<unknown>,
    at: Cut | undefined,
    overlay: ((base: Cursor, bounds: Bounds, reverse: boolean, limit: number) => Cursor) | undefined,
  ): DatabaseIterator<unknown, unknown> {
    const codecs = Codecs.of(o, this.#codecs);
    const bounds = toBounds(o, codecs);
    const reverse = o.reverse ?? false;
    if (typeof reverse !== 'boolean') throw invalidArgument(`option reverse must be a boolean, got ${describe(reverse)}`);
    const limit = o.limit ?? -1;
    if (typeof limit !== 'number' || Number.isNaN(limit) || (limit !== Infinity && (!Number.isInteger(limit) || limit < -1))) {
      throw invalidArgument(`option limit must be an integer >= -1 or Infinity, got ${String(limit)}`);
    }
    // The iterator pins its sequence itself, also when reading through a snapshot: the user
    // may release the snapshot while the iterator is still open.
    const snap = o.snapshot;
    const cut =
      at !== undefined ? this.#engine.pinSnapshot(at) : snap === undefined ? this.#engine.acquireSnapshot() : this.#engine.pinSnapshot(this.#snapshotCut(snap));
    const release = () => this.#engine.releaseSnapshot(cut);
    let iterator: DatabaseIterator<unknown, unknown>;
    try {
      const n = limit === Infinity ? -1 : limit;
      const base = this.#engine.iterator(cut, bounds, reverse, overlay === undefined ? n : -1);
      const cursor = overlay === undefined ? base : overlay(base, bounds, reverse, n);
      iterator = new DatabaseIterator(
        cursor,
        () => {
          this.#iterators.delete(iterator);
          release();
        },
        codecs,
        this.#reads.turns,
      );
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
  changes(options?: ChangesOptions): AsyncIterableIterator<DecodedChange<K, V>> {
    return this.#changes(options, false) as AsyncIterableIterator<DecodedChange<K, V>>;
  }

  #changes(options: ChangesOptions | undefined, asBytes: boolean, asBatches = false): AsyncIterableIterator<DecodedChange<K, V>> | AsyncIterableIterator<Change> {
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
    const feed = this.#engine.changes({ since, live, durable, signal, maxBuffered, asBatches, turns: this.#reads.turns }, (f) => this.#feeds.delete(f));
    if (!feed.ended) this.#feeds.add(feed);
    const shown = this.#hiddenKey === undefined ? feed : withoutKey(feed, this.#hiddenKey);
    return asBytes || this.#codecs.raw ? (shown as AsyncIterableIterator<DecodedChange<K, V>>) : decodeChanges<K, V>(shown, this.#codecs);
  }

  /** Pins the current state for reads until release(). */
  snapshot(): Snapshot {
    this.#checkOpen();
    const cut = this.#engine.acquireSnapshot();
    const snap: Snapshot = new Snapshot(this, cut, () => {
      this.#snapshots.delete(snap);
      this.#engine.releaseSnapshot(cut);
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
   * Writes an openable copy of the database, as of the moment of the call, to the new directory
   * `dir` (it must not exist): tables hard-linked where the file system allows, copied
   * otherwise. Writes and reads go on meanwhile. Resolves to the sequence number the copy is
   * at (every write that resolved to it or less is in the copy, no later one); opening the copy
   * reports it as its `sequence`.
   */
  checkpoint(dir: string): Promise<bigint> {
    try {
      this.#checkOpen();
      if (typeof dir !== 'string' || dir.length === 0 || dir.includes('\0')) throw invalidArgument('checkpoint: dir must be a non-empty string');
      return this.#longCall(this.#engine.checkpoint(this.#options.fs, path.resolve(dir)).then((r) => BigInt(r.sequence)));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Loads sorted pairs straight into tables, bypassing the log and the memtables: all of them
   * or (on any error, or a crash at any moment) none. `source` is an iterable or async
   * iterable of [key, value] pairs in strictly ascending key order, or an array of paths of
   * table files written with TableFileWriter (`stratadb/ingest`), their keys ascending across
   * the files. Unsorted or repeated keys, or a file that is not a table, reject with
   * INVALID_ARGUMENT; a damaged file with CORRUPTION. The ingest takes one sequence number,
   * above every write before the call, to which it resolves; reads go on while it runs, and
   * writes wait for it (they resolve after it, above its sequence number). No options yet.
   */
  ingest(source: Iterable<readonly [KIn, VIn]> | AsyncIterable<readonly [KIn, VIn]> | readonly string[], options?: Record<string, never>): Promise<bigint> {
    try {
      this.#checkWritable();
      optionsObject(options, 'ingest options', INGEST_OPTIONS);
      const files = Array.isArray(source) && source.length > 0 && source.every((s) => typeof s === 'string');
      const pairs: Iterable<unknown> | AsyncIterable<unknown> = files ? tableFilePairs(this.#options.fs, source as readonly string[]) : (source as Iterable<unknown>);
      if (pairs === null || typeof pairs !== 'object' || !(Symbol.iterator in pairs || Symbol.asyncIterator in pairs)) {
        throw invalidArgument(`ingest: source must be an iterable of [key, value] pairs or an array of table file paths, got ${describe(source)}`);
      }
      return this.#longCall(this.#engine.ingest(this.#options.fs, pairs, ingestPair.bind(undefined, files ? undefined : this.#codecs)).then((r) => BigInt(r.sequence)));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Adds a backup of the database, as of the moment of the call, to `backupDir` (created if
   * missing): numbered, incremental (a file the directory already holds is not copied again),
   * every file checksummed (src/backup.ts). Writes and reads go on meanwhile. Restore with
   * restoreBackup(); list with listBackups(); trim with purgeOldBackups().
   */
  backup(backupDir: string): Promise<BackupResult> {
    try {
      this.#checkOpen();
      if (typeof backupDir !== 'string' || backupDir.length === 0 || backupDir.includes('\0')) throw invalidArgument('backup: backupDir must be a non-empty string');
      const fs = this.#options.fs;
      const checkpoint = (dir: string) => this.#engine.checkpoint(fs, dir).then((r) => BigInt(r.sequence));
      // One at a time: a backup removes the checkpoints that backups cut short left behind.
      const run = this.#backups.then(() => createBackup(fs, this.location, path.resolve(backupDir), checkpoint));
      this.#backups = run.catch(() => {});
      return this.#longCall(run);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Tracks `work` until it settles, so that close() waits for it. */
  #longCall<T>(work: Promise<T>): Promise<T> {
    const tracked = work.catch(() => undefined);
    this.#longCalls.add(tracked);
    void tracked.then(() => this.#longCalls.delete(tracked));
    return work;
  }

  /**
   * Compacts the keys in [start, end] (everything by default; either end may be omitted) down
   * to the deepest level, dropping overwritten versions and deletions no snapshot needs.
   * Resolves when done.
   */
  compactRange(start?: KIn, end?: KIn): Promise<void> {
    try {
      this.#checkOpen();
      const from = start === undefined ? undefined : this.#codecs.encodeOwnedKey(start, 'start');
      const to = end === undefined ? undefined : this.#codecs.encodeOwnedKey(end, 'end');
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
      const calls = [...this.#longCalls];
      this.#closing = Promise.all(calls).then(() => this.#engine.close(true));
    }
    return this.#closing;
  }

  #checkOpen(): void {
    if (this.#closing !== undefined) throw closedError('database');
  }

  #isHidden(key: Uint8Array): boolean {
    return this.#hiddenKey !== undefined && bytesEqual(key, this.#hiddenKey);
  }

  #checkWritable(): void {
    this.#checkOpen();
    if (this.#hiddenKey !== undefined) throw new StrataError('READ_ONLY', `${this.location} is a replica: only its replication stream changes it`);
  }

  #readCut(options: ReadOptions | undefined): Cut {
    const snap = optionsObject(options, 'read options', READ_OPTIONS)?.['snapshot'];
    return snap === undefined ? this.#engine.cut() : this.#snapshotCut(snap);
  }

  #snapshotCut(snap: unknown): Cut {
    if (!Snapshot.isSnapshot(snap)) throw invalidArgument(`option snapshot must be a Snapshot from db.snapshot(), got ${describe(snap)}`);
    const cut = snap.cutFor(this);
    if (cut === undefined) throw invalidArgument('the snapshot belongs to another database');
    return cut;
  }
}

/**
 * A replica's cursor: `base` without `hidden` (the replica's applied position), at most `limit`
 * entries (-1: no limit).
 */
class HidingCursor implements Cursor {
  readonly #base: Cursor;
  readonly #hidden: Uint8Array;
  #remaining: number;

  constructor(base: Cursor, hidden: Uint8Array, limit: number) {
    this.#base = base;
    this.#hidden = hidden;
    this.#remaining = limit;
  }

  seek(target: Uint8Array): void {
    this.#base.seek(target);
  }

  ready(): Promise<void> | undefined {
    return this.#base.ready();
  }

  next(): [Buffer, Buffer] | undefined {
    if (this.#remaining === 0) return undefined;
    let entry = this.#base.next();
    while (entry !== undefined && bytesEqual(entry[0], this.#hidden)) entry = this.#base.next();
    if (entry !== undefined && this.#remaining > 0) this.#remaining--;
    return entry;
  }

  close(): void {
    this.#base.close();
  }
}

/** A replica's change feed: `feed` without the operations on `hidden`; a change left with none is skipped. */
function withoutKey(feed: AsyncIterableIterator<Change>, hidden: Uint8Array): AsyncIterableIterator<Change> {
  const shown: AsyncIterableIterator<Change> = {
    next: async () => {
      for (;;) {
        const r = await feed.next();
        if (r.done === true) return r;
        const ops = r.value.ops.filter((op) => !bytesEqual(op.key, hidden));
        if (ops.length > 0) return { done: false, value: { seq: r.value.seq, ops } };
      }
    },
    return: async (value?: unknown) => {
      await feed.return?.(value);
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]: () => shown,
  };
  return shown;
}

/** A feed's `since`: a non-negative safe integer, as a bigint or a number; `current` when absent. */
function toSince(since: unknown, current: SeqNum): SeqNum {
  if (since === undefined) return current;
  if (typeof since === 'bigint' && since >= 0n && since <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(since);
  if (typeof since === 'number' && Number.isSafeInteger(since) && since >= 0) return since;
  throw invalidArgument(`option since must be a non-negative integer (a sequence number), got ${typeof since === 'bigint' ? `${since}n` : describe(since)}`);
}

/** What a read with a per-call encoding E gives: its decoded type, else the database's T. */
type ValueOf<E, T> = E extends Encoding ? DecodedBy<E> : T;
/** What a write with a per-call encoding E takes: its input type, else the database's T. */
type InputOf<E, T> = E extends Encoding ? EncodableBy<E> : T;

/** Each bound read once and encoded; absent is undefined (null is a wrong type, not "no bound"). */
function toBounds(o: IteratorOptions<unknown>, codecs: Codecs): Bounds {
  const { gt, gte, lt, lte } = o;
  if (gt !== undefined && gte !== undefined) throw invalidArgument('give at most one of gt and gte');
  if (lt !== undefined && lte !== undefined) throw invalidArgument('give at most one of lt and lte');
  const bounds: Bounds = { lowerInclusive: gt === undefined, upperInclusive: lt === undefined };
  if (gt !== undefined) bounds.lower = codecs.encodeOwnedKey(gt, 'option gt');
  else if (gte !== undefined) bounds.lower = codecs.encodeOwnedKey(gte, 'option gte');
  if (lt !== undefined) bounds.upper = codecs.encodeOwnedKey(lt, 'option lt');
  else if (lte !== undefined) bounds.upper = codecs.encodeOwnedKey(lte, 'option lte');
  const prefix = o.prefix;
  if (prefix !== undefined) narrowToPrefix(bounds, codecs.encodeOwnedKey(prefix, 'option prefix'));
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
