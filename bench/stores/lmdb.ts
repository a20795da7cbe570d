// LMDB through `lmdb` (lmdb-js). Writes are its asynchronous put/remove/batch, which lmdb-js
// commits off the main thread, batching the writes of one event turn into one transaction.
// Reads are its synchronous get and getRange, which is how lmdb-js is meant to be read.
//
// Durability is a setting of the environment, not of a write:
// - sync: false  → noSync: true: commits are not flushed; they survive a crash of the process.
// - sync: true   → the default overlappingSync, where a put's promise resolves at commit
//                  (visible) and the flush follows; with separateFlushed the promise carries a
//                  `flushed` promise, resolved once the commit is on disk. A sync write awaits
//                  that, so it resolves when durable, as stratadb's does.

import type { BatchPut, OpenSettings, Seeker, Store, StoreModule } from './store.js';
import { addToCounter } from './store.js';
import { loadPeer, peerVersion } from './peers.js';

/** Puts per write transaction of bulkLoad. */
const LOAD_TRANSACTION_PUTS = 100_000;

type WritePromise = Promise<boolean> & { flushed?: Promise<unknown> };

interface RootDatabase {
  put(key: Buffer, value: Buffer): WritePromise;
  remove(key: Buffer): WritePromise;
  batch(callback: () => void): WritePromise;
  transaction<T>(callback: () => T): Promise<T> & { flushed?: Promise<unknown> };
  transactionSync<T>(callback: () => T): T;
  putSync(key: Buffer, value: Buffer, options: { append?: boolean }): void;
  get(key: Buffer): Buffer | undefined;
  getBinaryFast(key: Buffer): Buffer | undefined;
  getRange(options?: { start?: Buffer; limit?: number }): Iterable<{ key: Buffer; value: Buffer }>;
  getStats(): Record<string, unknown>;
  flushed: Promise<unknown>;
  close(): Promise<void>;
}

class LmdbStore implements Store {
  readonly name = 'lmdb';
  readonly #db: RootDatabase;
  readonly #durable: boolean;

  constructor(db: RootDatabase, durable: boolean) {
    this.#db = db;
    this.#durable = durable;
  }

  #settle(write: WritePromise, sync: boolean): Promise<void> {
    if (sync !== this.#durable) throw new Error(`lmdb was opened for ${this.#durable ? 'durable' : 'non-durable'} writes`);
    if (!sync) return write.then(() => {});
    return write.then(() => write.flushed ?? this.#db.flushed).then(() => {});
  }

  put(key: Buffer, value: Buffer, sync: boolean): Promise<void> {
    return this.#settle(this.#db.put(key, value), sync);
  }

  del(key: Buffer, sync: boolean): Promise<void> {
    return this.#settle(this.#db.remove(key), sync);
  }

  batch(puts: BatchPut[], sync: boolean): Promise<void> {
    const db = this.#db;
    return this.#settle(
      db.batch(() => {
        for (const p of puts) void db.put(p.key, p.value);
      }),
      sync,
    );
  }

  async transfer(a: Buffer, b: Buffer, update: (a: Buffer | undefined, b: Buffer | undefined) => [Buffer, Buffer], sync: boolean): Promise<number> {
    const db = this.#db;
    // The callback runs inside LMDB's one write transaction (lmdb-js batches the callbacks of
    // one turn into it): reads and writes are serialized, so nothing ever conflicts.
    const done = db.transaction(() => {
      const [na, nb] = update(db.get(a), db.get(b));
      void db.put(a, na);
      void db.put(b, nb);
    });
    await this.#settle(done as unknown as WritePromise, sync);
    return 1;
  }

  increment(key: Buffer, by: bigint, sync: boolean): Promise<void> {
    const db = this.#db;
    const done = db.transaction(() => {
      void db.put(key, addToCounter(db.get(key), by));
    });
    return this.#settle(done as unknown as WritePromise, sync);
  }

  /**
   * lmdb-js's fastest load of sorted keys: putSync with append (MDB_APPEND: no search, pages
   * filled to the end) in large synchronous write transactions, the event loop getting a turn
   * between them.
   */
  async bulkLoad(pairs: Iterable<[Buffer, Buffer]>): Promise<void> {
    const db = this.#db;
    const it = pairs[Symbol.iterator]();
    for (let done = false; !done; ) {
      db.transactionSync(() => {
        for (let n = 0; n < LOAD_TRANSACTION_PUTS; n++) {
          const next = it.next();
          if (next.done === true) {
            done = true;
            return;
          }
          db.putSync(next.value[0], next.value[1], { append: true });
        }
      });
      await new Promise((resolve) => setImmediate(resolve));
    }
    await db.flushed;
  }

  get(key: Buffer): number {
    const value = this.#db.get(key);
    return value === undefined ? -1 : value.length;
  }

  getInto(key: Buffer): number {
    const value = this.#db.getBinaryFast(key);
    return value === undefined ? -1 : value.length;
  }

  async scan(chunk: number, onChunk: (entries: number, bytes: number) => Promise<void>): Promise<void> {
    let entries = 0;
    let bytes = 0;
    for (const { key, value } of this.#db.getRange()) {
      bytes += key.length + value.length;
      if (++entries === chunk) {
        await onChunk(entries, bytes);
        entries = bytes = 0;
      }
    }
    await onChunk(entries, bytes);
  }

  seeker(): Seeker {
    const db = this.#db;
    return {
      seek(key: Buffer): number {
        for (const { key: k, value } of db.getRange({ start: key, limit: 1 })) return k.length + value.length;
        return 0;
      },
      close() {},
    };
  }

  stats(): Record<string, unknown> {
    return this.#db.getStats();
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}

export const lmdb: StoreModule = {
  info: {
    name: 'lmdb',
    label: 'LMDB',
    packageName: 'lmdb',
    version: peerVersion('lmdb') ?? 'not installed',
    settings: 'binary keys and values, no compression; noSync for sync:false, overlappingSync + awaiting flushed for sync:true',
    transactions: { supported: true, how: 'db.transaction(callback): the callback runs in the single write transaction (serialized, no conflicts)' },
    increments: 'db.transaction(() => put(key, get(key) + by)): read and write in the single write transaction',
    changeFeed: { supported: false, how: 'lmdb-js keeps no log of writes to read back (a B+tree updated in place): in-process events at most' },
    getInto: { supported: true, how: 'db.getBinaryFast(key): a buffer lmdb-js reuses, valid until its next read' },
  },
  async open(dir: string, settings: OpenSettings): Promise<Store> {
    const { open } = loadPeer<{ open(options: object): RootDatabase }>('lmdb');
    const db = open({
      path: dir,
      encoding: 'binary',
      keyEncoding: 'binary',
      compression: false,
      noSync: !settings.durable,
      separateFlushed: settings.durable,
    });
    return new LmdbStore(db, settings.durable);
  },
};
