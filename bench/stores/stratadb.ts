// stratadb through its public API: put/del/batch with { sync }, get(), and iterators read with
// nextv() (scans) and seek() + next() (seekrandom).

import { readFileSync } from 'node:fs';
import { open, type Database } from '../../src/index.js';
import type { BatchPut, FeedChange, NextvIterator, OpenSettings, Seeker, Store, StoreInfo, StoreModule } from './store.js';
import { nextvSeeker, scanNextv } from './store.js';

const packageJson = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

const info: StoreInfo = {
  name: 'stratadb',
  label: 'stratadb',
  packageName: 'stratadb',
  version: packageJson.version,
  settings: "defaults (and mergeOperator 'add'): 64 MiB memtable, 32 MiB block cache, LZ4, bloom 10 bits/key; sync per write",
  transactions: { supported: true, how: 'db.transaction(): optimistic, validated at commit, retried on conflict' },
  increments: "db.merge(key, by) with mergeOperator 'add': no read, folded by reads and compactions",
  changeFeed: { supported: true, how: 'db.changes(): a live feed, durable: false' },
  getInto: { supported: true, how: "db.getInto(key, target): into the caller's buffer, reused" },
};

class StrataStore implements Store {
  readonly name = 'stratadb';
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  put(key: Buffer, value: Buffer, sync: boolean): Promise<unknown> {
    return this.#db.put(key, value, { sync });
  }

  del(key: Buffer, sync: boolean): Promise<unknown> {
    return this.#db.del(key, { sync });
  }

  batch(puts: BatchPut[], sync: boolean): Promise<unknown> {
    return this.#db.batch(puts, { sync });
  }

  async bulkLoad(pairs: Iterable<[Buffer, Buffer]>): Promise<void> {
    await this.#db.ingest(pairs);
  }

  async get(key: Buffer): Promise<number> {
    const value = await this.#db.get(key);
    return value === undefined ? -1 : value.length;
  }

  async getInto(key: Buffer, target: Buffer): Promise<number> {
    return (await this.#db.getInto(key, target)) ?? -1;
  }

  scan(chunk: number, onChunk: (entries: number, bytes: number) => Promise<void>): Promise<void> {
    return scanNextv(this.#db.iterator() as unknown as NextvIterator, chunk, onChunk);
  }

  seeker(): Seeker {
    return nextvSeeker(this.#db.iterator() as unknown as NextvIterator);
  }

  async transfer(a: Buffer, b: Buffer, update: (a: Buffer | undefined, b: Buffer | undefined) => [Buffer, Buffer], sync: boolean): Promise<number> {
    let runs = 0;
    await this.#db.transaction(
      (tx) => {
        runs++;
        const [na, nb] = update(tx.getSync(a), tx.getSync(b));
        tx.put(a, na);
        tx.put(b, nb);
      },
      { sync },
    );
    return runs;
  }

  increment(key: Buffer, by: bigint, sync: boolean): Promise<unknown> {
    return this.#db.merge(key, by, { sync });
  }

  flush(): Promise<void> {
    return this.#db.flush();
  }

  changes(): AsyncIterableIterator<FeedChange> {
    return this.#db.changes();
  }

  clear(gte: Buffer, lt: Buffer): Promise<unknown> {
    return this.#db.clear({ gte, lt });
  }

  compact(): Promise<void> {
    return this.#db.compactRange();
  }

  putWithTtl(key: Buffer, value: Buffer, ttlMs: number): Promise<unknown> {
    return this.#db.put(key, value, { ttl: ttlMs });
  }

  stats(): Record<string, unknown> {
    return { ...this.#db.stats() };
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}

export const stratadb: StoreModule = {
  info,
  async open(dir: string, settings: OpenSettings): Promise<Store> {
    return new StrataStore(await open(dir, { shards: settings.shards, mergeOperator: 'add' }));
  },
};
