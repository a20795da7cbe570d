// RocksDB through the `rocksdb` npm package (the abstract-leveldown callback API): put, del
// and batch with { sync }, get, and iterators read with next() (which fills a cache of up to
// 16 KB per native call; after a seek it reads one entry).

import type { BatchPut, OpenSettings, Seeker, Store, StoreModule } from './store.js';
import { addToCounter, CACHE_BYTES, KeyLocks, viaCallback, WRITE_BUFFER_BYTES } from './store.js';
import { loadPeer, peerVersion } from './peers.js';

type Callback = (err?: Error | null) => void;

interface LevelDownIterator {
  next(cb: (err: Error | null | undefined, key?: Buffer, value?: Buffer) => void): void;
  seek(target: Buffer): void;
  end(cb: Callback): void;
}

interface LevelDown {
  open(options: object, cb: Callback): void;
  put(key: Buffer, value: Buffer, options: object, cb: Callback): void;
  del(key: Buffer, options: object, cb: Callback): void;
  batch(ops: BatchPut[], options: object, cb: Callback): void;
  get(key: Buffer, options: object, cb: (err: Error | null | undefined, value?: Buffer) => void): void;
  iterator(options: object): LevelDownIterator;
  getProperty(name: string): string;
  compactRange(start: Buffer, end: Buffer, cb: Callback): void;
  close(cb: Callback): void;
}

const SYNC = { sync: true };
const NO_SYNC = { sync: false };
const AS_BUFFER = { asBuffer: true };

// This API reports a missing key as an error; RocksDB's status text is its only mark.
const isNotFound = (err: Error) => err.message.startsWith('NotFound');

function nextEntry(it: LevelDownIterator): Promise<[Buffer, Buffer] | undefined> {
  return new Promise((resolve, reject) =>
    it.next((err, key, value) => {
      if (err) reject(err);
      else resolve(key === undefined || value === undefined ? undefined : [key, value]);
    }),
  );
}

class RocksStore implements Store {
  readonly name = 'rocksdb';
  readonly #db: LevelDown;
  readonly #locks = new KeyLocks();

  constructor(db: LevelDown) {
    this.#db = db;
  }

  put(key: Buffer, value: Buffer, sync: boolean): Promise<void> {
    return viaCallback((done) => this.#db.put(key, value, sync ? SYNC : NO_SYNC, done));
  }

  del(key: Buffer, sync: boolean): Promise<void> {
    return viaCallback((done) => this.#db.del(key, sync ? SYNC : NO_SYNC, done));
  }

  /** The whole key space (the bench's keys are 16 bytes; 64 bytes of 0xff sort after them all). */
  compact(): Promise<void> {
    return viaCallback((done) => this.#db.compactRange(Buffer.alloc(0), Buffer.alloc(64, 0xff), done));
  }

  batch(puts: BatchPut[], sync: boolean): Promise<void> {
    return viaCallback((done) => this.#db.batch(puts, sync ? SYNC : NO_SYNC, done));
  }

  get(key: Buffer): Promise<number> {
    return new Promise((resolve, reject) =>
      this.#db.get(key, AS_BUFFER, (err, value) => {
        if (err) {
          if (isNotFound(err)) resolve(-1);
          else reject(err);
        } else resolve(value === undefined ? -1 : value.length);
      }),
    );
  }

  /** get + put, serialized per key (the binding has no transactions and no merge operator). */
  increment(key: Buffer, by: bigint, sync: boolean): Promise<void> {
    return this.#locks.run(key, async () => {
      const value = await new Promise<Buffer | undefined>((resolve, reject) =>
        this.#db.get(key, AS_BUFFER, (err, v) => (err ? (isNotFound(err) ? resolve(undefined) : reject(err)) : resolve(v))),
      );
      await this.put(key, addToCounter(value, by), sync);
    });
  }

  async scan(chunk: number, onChunk: (entries: number, bytes: number) => Promise<void>): Promise<void> {
    const it = this.#db.iterator({ keyAsBuffer: true, valueAsBuffer: true });
    try {
      let entries = 0;
      let bytes = 0;
      for (let entry = await nextEntry(it); entry !== undefined; entry = await nextEntry(it)) {
        bytes += entry[0].length + entry[1].length;
        if (++entries === chunk) {
          await onChunk(entries, bytes);
          entries = bytes = 0;
        }
      }
      await onChunk(entries, bytes);
    } finally {
      await viaCallback((done) => it.end(done));
    }
  }

  seeker(): Seeker {
    const it = this.#db.iterator({ keyAsBuffer: true, valueAsBuffer: true });
    return {
      async seek(key: Buffer): Promise<number> {
        it.seek(key);
        const entry = await nextEntry(it);
        return entry === undefined ? 0 : entry[0].length + entry[1].length;
      },
      close: () => viaCallback((done) => it.end(done)),
    };
  }

  stats(): Record<string, unknown> {
    const property = (name: string) => {
      try {
        return this.#db.getProperty(name);
      } catch {
        return undefined;
      }
    };
    return {
      levels: property('rocksdb.levelstats'),
      pendingCompactionBytes: property('rocksdb.estimate-pending-compaction-bytes'),
      liveDataBytes: property('rocksdb.estimate-live-data-size'),
    };
  }

  close(): Promise<void> {
    return viaCallback((done) => this.#db.close(done));
  }
}

export const rocksdb: StoreModule = {
  info: {
    name: 'rocksdb',
    label: 'RocksDB',
    packageName: 'rocksdb',
    version: peerVersion('rocksdb') ?? 'not installed',
    settings: `64 MiB write buffer, 32 MiB block cache (stratadb's budgets), Snappy, bloom 10 bits/key; sync per write`,
    transactions: {
      supported: false,
      how: 'the rocksdb binding (Level/rocksdb, leveldown API) exposes no TransactionDB or OptimisticTransactionDB, only atomic batches without reads',
    },
    increments: 'get + put, serialized per key in JavaScript (the binding exposes no merge operator)',
    changeFeed: { supported: false, how: 'RocksDB has GetUpdatesSince, but the rocksdb binding (leveldown API) does not expose it' },
    getInto: { supported: false, how: 'RocksDB has PinnableSlice reads, but the rocksdb binding (leveldown API) makes a buffer for every value' },
  },
  async open(dir: string, _settings: OpenSettings): Promise<Store> {
    const RocksDB = loadPeer<(location: string) => LevelDown>('rocksdb');
    const db = RocksDB(dir);
    await viaCallback((done) =>
      db.open({ createIfMissing: true, writeBufferSize: WRITE_BUFFER_BYTES, cacheSize: CACHE_BYTES, compression: true }, done),
    );
    return new RocksStore(db);
  },
};
