// StrataLevel: stratadb behind the abstract-level (v3) interface, so that code written for
// `level` or `classic-level` runs on stratadb by changing its import.
//
// abstract-level owns the public methods: argument checks, encodings, deferred open, events,
// hooks, sublevels, chained batches and the lifetime of iterators and snapshots. This class
// supplies its private methods (_open, _get, _put, ...), which receive keys and values
// already encoded to a format declared below, and it uses only stratadb's public API. Two
// public methods of classic-level's are its own (additionalMethods): approximateSize() and
// compactRange(), which do their own encoding and deferred open, as classic-level's do.
//
// Every read (get, getMany, has, an iterator's cursor) takes its snapshot in the call itself:
// implicitSnapshots holds. get and getMany go through stratadb's get and getMany, so that long
// runs of them let the event loop turn and large values are read off the main thread.

import { AbstractLevel, type AbstractDatabaseOptions } from 'abstract-level';
import { open, type BatchOperation, type Database, type OpenOptions, type RangeOptions, type ReadOptions } from '../index.js';
import { decoderFor, innerSnapshot, keyBytes, valueBytes, writeOptions, type Encoded } from './codec.js';
import { LevelError, rethrow, toLevelError } from './errors.js';
import {
  openCursor,
  StrataIterator,
  StrataKeyIterator,
  StrataValueIterator,
  toStrataRange,
  type PrivateIteratorOptions,
  type PrivateRangeOptions,
} from './iterator.js';
import { StrataSnapshot } from './snapshot.js';

/**
 * stratadb's open() options that the adapter passes on: all but the encodings, which are
 * abstract-level's (it encodes before the private methods see the data; stratadb then stores
 * the bytes as they are, with its default 'buffer' encodings).
 */
type EngineOpenOptions = Omit<OpenOptions, 'keyEncoding' | 'valueEncoding'>;

/** Constructor options: abstract-level's (encodings, passive) and stratadb's open() options. */
export type StrataLevelOptions<K, V> = AbstractDatabaseOptions<K, V> & EngineOpenOptions;

// Every option name of stratadb's open(). _open() passes these on and ignores the rest:
// abstract-level hands _open() every constructor option, userland ones included, and stratadb
// refuses unknown names. The type makes the compiler check this list against OpenOptions both
// ways, so a new engine option fails the build here until it is added.
const ENGINE_OPTIONS: { readonly [K in keyof Required<EngineOpenOptions>]: true } = {
  shards: true,
  hashTags: true,
  changeRetention: true,
  conflictTrackingBytes: true,
  mergeOperator: true,
  createIfMissing: true,
  errorIfExists: true,
  memtableBytes: true,
  maxImmutableMemtables: true,
  blockCacheBytes: true,
  maxOpenFiles: true,
  openTablesAhead: true,
  blockBytes: true,
  compression: true,
  bloomBitsPerKey: true,
  sync: true,
  walRecovery: true,
  walPreallocateBytes: true,
  l0CompactionTrigger: true,
  l0SlowdownTrigger: true,
  l0StopTrigger: true,
  levelBaseBytes: true,
  levelMultiplier: true,
  targetFileBytes: true,
  compactionWorkers: true,
  compactionWorkerHeapBytes: true,
  backgroundNice: true,
  onRecoverySkip: true,
  ttl: true,
  clock: true,
  fs: true,
};

/** Keys a clear() with a limit or a snapshot deletes per batch: bounds the memory it holds. */
const CLEAR_BATCH_KEYS = 1024;

interface PrivateReadOptions {
  keyEncoding: string;
  valueEncoding: string;
  snapshot?: unknown;
}

interface PrivateBatchOperation {
  type: 'put' | 'del';
  key: Encoded;
  value?: Encoded;
}

function readOptions(options: { snapshot?: unknown }): ReadOptions | undefined {
  const snapshot = innerSnapshot(options.snapshot);
  return snapshot === undefined ? undefined : { snapshot };
}

export class StrataLevel<KDefault = string, VDefault = string> extends AbstractLevel<Encoded, KDefault, VDefault> {
  readonly #location: string;
  #db: Database | undefined;

  /** `location`: the database directory. Opening starts at once (abstract-level's deferred open). */
  constructor(location: string, options?: StrataLevelOptions<KDefault, VDefault>) {
    // Truthful: every trait below is exercised by abstract-level's suite (test/level.test.ts).
    super(
      {
        encodings: { buffer: true, view: true, utf8: true },
        implicitSnapshots: true,
        explicitSnapshots: true,
        permanence: true,
        seek: true,
        createIfMissing: true,
        errorIfExists: true,
        has: true,
        getSync: true,
        signals: { iterators: true },
        additionalMethods: { approximateSize: true, compactRange: true },
        // getSync is a manifest key of abstract-level 3 that its typings do not list yet.
      } as ConstructorParameters<typeof AbstractLevel>[0],
      options,
    );
    if (typeof location !== 'string' || location.length === 0) {
      throw new TypeError("The first argument 'location' must be a non-empty string");
    }
    this.#location = location;
  }

  /** The database directory, as given to the constructor. */
  get location(): string {
    return this.#location;
  }

  #database(): Database {
    // abstract-level calls the private methods only while the database is open.
    if (this.#db === undefined) throw new Error('stratadb level adapter: private method called while the database is closed');
    return this.#db;
  }

  async _open(options: Record<string, unknown>): Promise<void> {
    const engineOptions: Record<string, unknown> = {};
    for (const name of Object.keys(ENGINE_OPTIONS)) {
      if (options[name] !== undefined) engineOptions[name] = options[name];
    }
    // classic-level's compression is a boolean (Snappy or none); take it rather than refuse it.
    const compression = engineOptions['compression'];
    if (typeof compression === 'boolean') engineOptions['compression'] = compression ? 'lz4' : 'none';
    try {
      this.#db = await open(this.#location, engineOptions as OpenOptions);
    } catch (err) {
      throw toLevelError(err);
    }
  }

  async _close(): Promise<void> {
    const db = this.#db;
    this.#db = undefined;
    await db?.close().catch(rethrow);
  }

  async _get(key: Encoded, options: PrivateReadOptions): Promise<Encoded | undefined> {
    let value: Buffer | undefined;
    try {
      value = await this.#database().get(keyBytes(key), readOptions(options));
    } catch (err) {
      throw toLevelError(err);
    }
    return value === undefined ? undefined : decoderFor(options.valueEncoding)(value);
  }

  _getSync(key: Encoded, options: PrivateReadOptions): Encoded | undefined {
    let value: Buffer | undefined;
    try {
      value = this.#database().getSync(keyBytes(key), readOptions(options));
    } catch (err) {
      throw toLevelError(err);
    }
    return value === undefined ? undefined : decoderFor(options.valueEncoding)(value);
  }

  async _getMany(keys: Encoded[], options: PrivateReadOptions): Promise<(Encoded | undefined)[]> {
    const db = this.#database();
    const decode = decoderFor(options.valueEncoding);
    let values: (Buffer | undefined)[];
    try {
      // Every key is read at the sequence number of the call.
      values = await db.getMany(keys.map(keyBytes), readOptions(options));
    } catch (err) {
      throw toLevelError(err);
    }
    return values.map((value) => (value === undefined ? undefined : decode(value)));
  }

  async _has(key: Encoded, options: { snapshot?: unknown }): Promise<boolean> {
    try {
      return this.#database().getSync(keyBytes(key), readOptions(options)) !== undefined;
    } catch (err) {
      throw toLevelError(err);
    }
  }

  async _hasMany(keys: Encoded[], options: { snapshot?: unknown }): Promise<boolean[]> {
    const db = this.#database();
    try {
      const read = readOptions(options);
      return keys.map((key) => db.getSync(keyBytes(key), read) !== undefined);
    } catch (err) {
      throw toLevelError(err);
    }
  }

  async _put(key: Encoded, value: Encoded, options: { sync?: unknown }): Promise<void> {
    await this.#database().put(keyBytes(key), valueBytes(value), writeOptions(options)).catch(rethrow);
  }

  async _del(key: Encoded, options: { sync?: unknown }): Promise<void> {
    await this.#database().del(keyBytes(key), writeOptions(options)).catch(rethrow);
  }

  async _batch(operations: PrivateBatchOperation[], options: { sync?: unknown }): Promise<void> {
    const ops: BatchOperation[] = new Array(operations.length);
    for (let i = 0; i < operations.length; i++) {
      const op = operations[i]!;
      ops[i] = op.type === 'put'
        ? { type: 'put', key: keyBytes(op.key), value: valueBytes(op.value as Encoded) }
        : { type: 'del', key: keyBytes(op.key) };
    }
    await this.#database().batch(ops, writeOptions(options)).catch(rethrow);
  }

  /**
   * Deletes the range as one atomic write (a range tombstone, Database.clear()): keys written
   * into the range after it stay, and a concurrent write is either before it (deleted) or after
   * it (kept), never half. With a `limit`, or an explicit snapshot (only what that snapshot
   * holds is deleted), a range tombstone does not say it: then the range is read and what was
   * read is deleted in batches of CLEAR_BATCH_KEYS, not atomically, as classic-level does.
   */
  async _clear(options: PrivateRangeOptions): Promise<void> {
    const db = this.#database();
    if (options.limit < 0 && options.snapshot === undefined) {
      const range: RangeOptions = {};
      const lower = options.gte ?? options.gt;
      const upper = options.lte ?? options.lt;
      const lowerBytes = lower === undefined ? undefined : keyBytes(lower);
      const upperBytes = upper === undefined ? undefined : keyBytes(upper);
      // A lower bound above the upper one holds no key: nothing to clear (stratadb refuses it).
      if (lowerBytes !== undefined && upperBytes !== undefined && Buffer.compare(lowerBytes, upperBytes) > 0) return;
      if (lowerBytes !== undefined) range[options.gte !== undefined ? 'gte' : 'gt'] = lowerBytes;
      if (upperBytes !== undefined) range[options.lte !== undefined ? 'lte' : 'lt'] = upperBytes;
      await db.clear(range).catch(rethrow);
      return;
    }
    let cursor;
    try {
      cursor = db.iterator(toStrataRange(options, true));
    } catch (err) {
      throw toLevelError(err);
    }
    try {
      for (;;) {
        const ops: BatchOperation[] = [];
        while (ops.length < CLEAR_BATCH_KEYS) {
          const entry = cursor.nextSync();
          if (entry === undefined) break;
          ops.push({ type: 'del', key: entry[0] });
        }
        if (ops.length > 0) await db.batch(ops);
        if (ops.length < CLEAR_BATCH_KEYS) return;
      }
    } catch (err) {
      throw toLevelError(err);
    } finally {
      await cursor.close();
    }
  }

  /**
   * About how many bytes of table files hold the keys in [start, end), as classic-level's
   * (Database.approximateSize(): writes still in the memtable are not counted). `start` and
   * `end` go through the key encoding (options.keyEncoding, else the database's).
   */
  async approximateSize(start: unknown, end: unknown, options?: { keyEncoding?: string }): Promise<number> {
    if (arguments.length < 2) throw new TypeError("The arguments 'start' and 'end' are required");
    if (this.status === 'opening') return this.deferAsync(() => this.approximateSize(start, end, options));
    const [from, to] = this.#encodedRange(start, end, options, 'approximateSize');
    return this.#database().approximateSize(from, to).catch(rethrow);
  }

  /**
   * Compacts the keys in [start, end] down to the deepest level, as classic-level's: the space
   * of deleted and overwritten keys (a clear() included) comes back. Database.compactRange().
   */
  async compactRange(start: unknown, end: unknown, options?: { keyEncoding?: string }): Promise<void> {
    if (arguments.length < 2) throw new TypeError("The arguments 'start' and 'end' are required");
    if (this.status === 'opening') return this.deferAsync(() => this.compactRange(start, end, options));
    const [from, to] = this.#encodedRange(start, end, options, 'compactRange');
    await this.#database().compactRange(from, to).catch(rethrow);
  }

  #encodedRange(start: unknown, end: unknown, options: { keyEncoding?: string } | undefined, what: string): [Uint8Array, Uint8Array] {
    if (this.status !== 'open') throw new LevelError('LEVEL_DATABASE_NOT_OPEN', `Database is not open: cannot call ${what}()`);
    const name = typeof options === 'object' && options !== null ? options.keyEncoding : undefined;
    // The transcoder's typings are generic over the database's key type; callers pass anything.
    const encoding = (name === undefined ? this.keyEncoding() : this.keyEncoding(name as 'utf8')) as { encode(v: unknown): unknown };
    return [keyBytes(encoding.encode(start) as Encoded), keyBytes(encoding.encode(end) as Encoded)];
  }

  _iterator(options: PrivateIteratorOptions): StrataIterator {
    const cursor = openCursor(this.#database(), options);
    try {
      return new StrataIterator(this as StrataLevel<unknown, unknown>, options, cursor);
    } catch (err) {
      void cursor?.close();
      throw err;
    }
  }

  _keys(options: PrivateIteratorOptions): StrataKeyIterator {
    const cursor = openCursor(this.#database(), options);
    try {
      return new StrataKeyIterator(this as StrataLevel<unknown, unknown>, options, cursor);
    } catch (err) {
      void cursor?.close();
      throw err;
    }
  }

  _values(options: PrivateIteratorOptions): StrataValueIterator {
    const cursor = openCursor(this.#database(), options);
    try {
      return new StrataValueIterator(this as StrataLevel<unknown, unknown>, options, cursor);
    } catch (err) {
      void cursor?.close();
      throw err;
    }
  }

  _snapshot(options: { owner: object }): StrataSnapshot {
    let inner;
    try {
      inner = this.#database().snapshot();
    } catch (err) {
      throw toLevelError(err);
    }
    try {
      return new StrataSnapshot(options, inner);
    } catch (err) {
      inner.release();
      throw err;
    }
  }
}

