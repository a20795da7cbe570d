// LevelDB through `classic-level` (the abstract-level promise API): put, del and batch with
// { sync }, get, and iterators read with nextv() (scans) and seek() + next() (seekrandom).

import type { BatchPut, NextvIterator, OpenSettings, Seeker, Store, StoreModule } from './store.js';
import { addToCounter, CACHE_BYTES, KeyLocks, nextvSeeker, scanNextv, WRITE_BUFFER_BYTES } from './store.js';
import { loadPeer, peerVersion } from './peers.js';

interface LevelIterator {
  next(): Promise<[Buffer, Buffer] | undefined>;
  nextv(size: number): Promise<[Buffer, Buffer][]>;
  seek(target: Buffer): void;
  close(): Promise<void>;
}

interface ClassicLevel {
  open(): Promise<void>;
  put(key: Buffer, value: Buffer, options: object): Promise<void>;
  del(key: Buffer, options: object): Promise<void>;
  batch(ops: BatchPut[], options: object): Promise<void>;
  get(key: Buffer): Promise<Buffer | undefined>;
  iterator(): LevelIterator;
  getProperty(name: string): string;
  clear(options: object): Promise<void>;
  compactRange(start: Buffer, end: Buffer): Promise<void>;
  close(): Promise<void>;
}

type ClassicLevelClass = new (location: string, options: object) => ClassicLevel;

const SYNC = { sync: true };
const NO_SYNC = { sync: false };

class LevelStore implements Store {
  readonly name = 'leveldb';
  readonly #db: ClassicLevel;
  readonly #locks = new KeyLocks();

  constructor(db: ClassicLevel) {
    this.#db = db;
  }

  put(key: Buffer, value: Buffer, sync: boolean): Promise<void> {
    return this.#db.put(key, value, sync ? SYNC : NO_SYNC);
  }

  del(key: Buffer, sync: boolean): Promise<void> {
    return this.#db.del(key, sync ? SYNC : NO_SYNC);
  }

  batch(puts: BatchPut[], sync: boolean): Promise<void> {
    return this.#db.batch(puts, sync ? SYNC : NO_SYNC);
  }

  /** get + put, serialized per key (LevelDB has neither transactions nor merge). */
  increment(key: Buffer, by: bigint, sync: boolean): Promise<void> {
    return this.#locks.run(key, async () => this.put(key, addToCounter(await this.#db.get(key), by), sync));
  }

  async get(key: Buffer): Promise<number> {
    const value = await this.#db.get(key);
    return value === undefined ? -1 : value.length;
  }

  scan(chunk: number, onChunk: (entries: number, bytes: number) => Promise<void>): Promise<void> {
    return scanNextv(this.#db.iterator() as unknown as NextvIterator, chunk, onChunk);
  }

  seeker(): Seeker {
    return nextvSeeker(this.#db.iterator() as unknown as NextvIterator);
  }

  /** classic-level's clear(): it reads the range and deletes what it read (not atomic). */
  clear(gte: Buffer, lt: Buffer): Promise<void> {
    return this.#db.clear({ gte, lt });
  }

  compact(): Promise<void> {
    return this.#db.compactRange(Buffer.alloc(0), Buffer.alloc(64, 0xff));
  }

  stats(): Record<string, unknown> {
    return { stats: this.#db.getProperty('leveldb.stats') };
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}

export const leveldb: StoreModule = {
  info: {
    name: 'leveldb',
    label: 'LevelDB',
    packageName: 'classic-level',
    version: peerVersion('classic-level') ?? 'not installed',
    settings: `64 MiB write buffer, 32 MiB block cache (stratadb's budgets), Snappy, bloom 10 bits/key; sync per write`,
    transactions: { supported: false, how: 'LevelDB has no transactions, only atomic batches without reads' },
    increments: 'get + put, serialized per key in JavaScript (LevelDB has no merge operator)',
    changeFeed: { supported: false, how: "classic-level emits in-process 'write' events only: no sequence numbers, nothing to resume from after a restart" },
    getInto: { supported: false, how: 'classic-level makes a buffer for every value it reads' },
  },
  async open(dir: string, _settings: OpenSettings): Promise<Store> {
    const { ClassicLevel } = loadPeer<{ ClassicLevel: ClassicLevelClass }>('classic-level');
    const db = new ClassicLevel(dir, {
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
      writeBufferSize: WRITE_BUFFER_BYTES,
      cacheSize: CACHE_BYTES,
    });
    await db.open();
    return new LevelStore(db);
  },
};
