// The one interface the workloads drive every store through. Each adapter maps it onto the
// store's own natural API (promises, callbacks, or synchronous calls where that is how the
// library is meant to be used), with the same durability: a write with `sync` resolves only
// once it would survive a power cut; without it, once it would survive a crash of the process.

export const STORE_NAMES = ['stratadb', 'rocksdb', 'leveldb', 'lmdb', 'sqlite'] as const;
export type StoreName = (typeof STORE_NAMES)[number];

export interface OpenSettings {
  /**
   * Whether this run's writes ask for sync. LMDB and SQLite fix durability per environment
   * or connection rather than per write, so they are opened for one or the other.
   */
  durable: boolean;
  /** stratadb's shard count; 1 unless the engine accepts more. */
  shards: number;
}

/** One committed write as a change feed delivers it. */
export interface FeedChange {
  seq: bigint;
  ops: readonly { key: Buffer; value?: Buffer }[];
}

/** One put of a batch, in the abstract-level shape, which stratadb and the Level stores take as is. */
export interface BatchPut {
  type: 'put';
  key: Buffer;
  value: Buffer;
}

/** A cursor for seekrandom: moves to the first key at or after a target and reads that entry. */
export interface Seeker {
  /** Bytes of the entry found (key and value), or 0 past the last key. */
  seek(key: Buffer): Promise<number> | number;
  close(): Promise<void> | void;
}

export interface Store {
  readonly name: StoreName;
  put(key: Buffer, value: Buffer, sync: boolean): Promise<unknown>;
  del(key: Buffer, sync: boolean): Promise<unknown>;
  /** Applies all the puts atomically. */
  batch(puts: BatchPut[], sync: boolean): Promise<unknown>;
  /** The value's length, or -1 when the key is absent. Synchronous where the store's get is. */
  get(key: Buffer): Promise<number> | number;
  /**
   * get() without a buffer of its own a read, in the store's way (StoreInfo.getInto; stratadb:
   * into `target`). Absent where the store has none.
   */
  getInto?(key: Buffer, target: Buffer): Promise<number> | number;
  /**
   * Reads every entry in key order. Calls `onChunk` each time at least `chunk` entries have
   * been read since the previous call (and once at the end) with the entries and bytes read
   * since then, and awaits it.
   */
  scan(chunk: number, onChunk: (entries: number, bytes: number) => Promise<void>): Promise<void>;
  seeker(): Seeker;
  /**
   * One transaction (the transfer workload): reads `a` and `b`, writes `update`'s new values
   * for both, atomically and isolated from the other transactions in flight; a store that
   * validates optimistically retries on conflict. Resolves to the number of times `update`
   * ran (1 without a conflict). Absent where the store's binding has no transactions.
   */
  transfer?(a: Buffer, b: Buffer, update: (a: Buffer | undefined, b: Buffer | undefined) => [Buffer, Buffer], sync: boolean): Promise<number>;
  /**
   * Adds `by` to the counter under `key` (8 bytes, a signed little-endian integer; missing is
   * 0), in the store's best way (StoreInfo.increments), so that concurrent increments of one
   * key are never lost (the incr workload).
   */
  increment(key: Buffer, by: bigint, sync: boolean): Promise<unknown>;
  /** Writes what is in memory to the store's files, where the store has such a step (readlarge reads from tables). */
  flush?(): Promise<void>;
  /**
   * Loads `pairs` (keys ascending, into an empty store) through the store's fastest path for
   * that; durable as a sync: false write. Absent where the store has none.
   */
  bulkLoad?(pairs: Iterable<[Buffer, Buffer]>): Promise<void>;
  /**
   * A live change feed from now on (the changes workload): every committed write once, in
   * order, under the number its put resolved to (put() resolves to that number, a bigint).
   * Absent where the store has no such feed.
   */
  changes?(): AsyncIterableIterator<FeedChange>;
  /** Deletes every key in [gte, lt) (clearrange). Absent where the store has no such call. */
  clear?(gte: Buffer, lt: Buffer): Promise<unknown>;
  /** Compacts the whole key space, returning the space of deleted data (clearrange, ttl). */
  compact?(): Promise<void>;
  /** A put that expires after `ttlMs` (ttl). Absent where the store has no time-to-live. */
  putWithTtl?(key: Buffer, value: Buffer, ttlMs: number): Promise<unknown>;
  /** Store figures worth keeping (internal counters), read before close. */
  stats(): Record<string, unknown>;
  close(): Promise<void>;
}

/** What the bench records about a store: its package, version and the settings it ran with. */
export interface StoreInfo {
  name: StoreName;
  label: string;
  packageName: string;
  version: string;
  settings: string;
  /** How the store runs the transfer workload's transactions, or why it cannot. */
  transactions: { supported: boolean; how: string };
  /** How the store runs the incr workload's increments. */
  increments: string;
  /** How the store offers the changes workload's feed of committed writes, or why it cannot. */
  changeFeed: { supported: boolean; how: string };
  /** How the store reads a value without a buffer of its own (readlarge-into), or why it cannot. */
  getInto: { supported: boolean; how: string };
}

export interface StoreModule {
  info: StoreInfo;
  open(dir: string, settings: OpenSettings): Promise<Store>;
}

/**
 * Memory budgets given to every store that has such knobs, so that no store wins by memory
 * alone: stratadb's defaults.
 */
export const WRITE_BUFFER_BYTES = 64 * 1024 * 1024;
export const CACHE_BYTES = 32 * 1024 * 1024;

/** A counter's 8 bytes (signed, little-endian) after adding `by` to `value` (missing: 0). */
export function addToCounter(value: Buffer | undefined, by: bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigInt64LE(BigInt.asIntN(64, (value === undefined || value.length !== 8 ? 0n : value.readBigInt64LE(0)) + by));
  return out;
}

/**
 * Runs read-modify-write steps of one key one after another (those of different keys at
 * once): how an application serializes get + put on a store without transactions.
 */
export class KeyLocks {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: Buffer, step: () => Promise<T>): Promise<T> {
    const id = key.toString('latin1');
    const ahead = this.#tails.get(id);
    const mine = (ahead === undefined ? step() : ahead.then(step, step)).finally(() => {
      if (this.#tails.get(id) === settledMine) this.#tails.delete(id);
    });
    const settledMine = mine.catch(() => {});
    this.#tails.set(id, settledMine);
    return mine;
  }
}

/** Turns a Node-style callback API into a promise. */
export function viaCallback(call: (done: (err?: Error | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => call((err) => (err ? reject(err) : resolve())));
}

/** An iterator in the shape stratadb and the Level stores share. */
export interface NextvIterator {
  nextv(n: number): Promise<[Buffer, Buffer][]>;
  next(): Promise<[Buffer, Buffer] | undefined>;
  seek(key: Buffer): void;
  close(): Promise<void>;
}

/** Store.scan over such an iterator. */
export async function scanNextv(it: NextvIterator, chunk: number, onChunk: (entries: number, bytes: number) => Promise<void>): Promise<void> {
  try {
    let entries = 0;
    let bytes = 0;
    // nextv() may return fewer entries than asked before the end; only an empty one ends.
    for (let batch = await it.nextv(chunk); batch.length > 0; batch = await it.nextv(chunk)) {
      for (const [k, v] of batch) bytes += k.length + v.length;
      entries += batch.length;
      if (entries >= chunk) {
        await onChunk(entries, bytes);
        entries = bytes = 0;
      }
    }
    await onChunk(entries, bytes);
  } finally {
    await it.close();
  }
}

/** Store.seeker over such an iterator. */
export function nextvSeeker(it: NextvIterator): Seeker {
  return {
    async seek(key: Buffer): Promise<number> {
      it.seek(key);
      const entry = await it.next();
      return entry === undefined ? 0 : entry[0].length + entry[1].length;
    },
    close: () => it.close(),
  };
}
