// stratadb through its public API: put/del/batch with { sync }, get(), and iterators read with
// nextv() (scans) and seek() + next() (seekrandom).

import { readFileSync } from 'node:fs';
import { open, type Database } from '../../src/index.js';
import type { BatchPut, NextvIterator, OpenSettings, Seeker, Store, StoreInfo, StoreModule } from './store.js';
import { nextvSeeker, scanNextv } from './store.js';

const packageJson = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

const info: StoreInfo = {
  name: 'stratadb',
  label: 'stratadb',
  packageName: 'stratadb',
  version: packageJson.version,
  settings: 'defaults: 64 MiB memtable, 32 MiB block cache, LZ4, bloom 10 bits/key; sync per write',
  transactions: { supported: true, how: 'db.transaction(): optimistic, validated at commit, retried on conflict' },
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
    return new StrataStore(await open(dir, { shards: settings.shards }));
  },
};
