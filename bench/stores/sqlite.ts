// SQLite through `better-sqlite3` (version 12; 13 needs Node 22), whose API is synchronous:
// each call runs on the main thread, and the adapter returns settled promises. One table
// `kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID` in WAL mode. A put is one autocommit
// INSERT OR REPLACE; a batch is one transaction, as better-sqlite3's db.transaction() makes.
//
// Durability is a setting of the connection: synchronous = FULL syncs the WAL at every
// commit (sync: true); NORMAL syncs only at checkpoints, so a commit survives a crash of the
// process but not of the machine (sync: false).

import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { BatchPut, OpenSettings, Seeker, Store, StoreModule } from './store.js';
import { CACHE_BYTES } from './store.js';
import { loadPeer, peerVersion } from './peers.js';

interface Statement {
  run(...params: unknown[]): unknown;
  get(...params: unknown[]): unknown;
  iterate(...params: unknown[]): IterableIterator<unknown>;
  pluck(): Statement;
  raw(): Statement;
}

interface SqliteDatabase {
  pragma(source: string): unknown;
  exec(source: string): void;
  prepare(source: string): Statement;
  transaction<A extends unknown[]>(fn: (...args: A) => void): ((...args: A) => void) & { immediate(...args: A): void };
  close(): void;
}

type SqliteClass = new (file: string) => SqliteDatabase;

const settled = Promise.resolve();

class SqliteStore implements Store {
  readonly name = 'sqlite';
  readonly #db: SqliteDatabase;
  readonly #durable: boolean;
  readonly #put: Statement;
  readonly #del: Statement;
  readonly #get: Statement;
  readonly #scan: Statement;
  readonly #seek: Statement;
  readonly #putMany: (puts: BatchPut[]) => void;
  readonly #increment: Statement;
  readonly #transfer: { immediate(a: Buffer, b: Buffer, update: (a: Buffer | undefined, b: Buffer | undefined) => [Buffer, Buffer]): void };

  constructor(db: SqliteDatabase, durable: boolean) {
    this.#db = db;
    this.#durable = durable;
    this.#put = db.prepare('INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)');
    this.#del = db.prepare('DELETE FROM kv WHERE k = ?');
    this.#get = db.prepare('SELECT v FROM kv WHERE k = ?').pluck();
    this.#scan = db.prepare('SELECT k, v FROM kv ORDER BY k').raw();
    this.#seek = db.prepare('SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT 1').raw();
    this.#increment = db.prepare('INSERT INTO counters (k, n) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET n = n + excluded.n');
    const put = this.#put;
    this.#putMany = db.transaction((puts: BatchPut[]) => {
      for (const p of puts) put.run(p.key, p.value);
    });
    const get = this.#get;
    // BEGIN IMMEDIATE takes the write lock before the reads: better-sqlite3 is synchronous, so
    // each transaction runs whole on the main thread and none ever conflicts.
    this.#transfer = db.transaction((a: Buffer, b: Buffer, update: (a: Buffer | undefined, b: Buffer | undefined) => [Buffer, Buffer]) => {
      const [na, nb] = update(get.get(a) as Buffer | undefined, get.get(b) as Buffer | undefined);
      put.run(a, na);
      put.run(b, nb);
    });
  }

  #check(sync: boolean): void {
    if (sync !== this.#durable) throw new Error(`sqlite was opened with synchronous = ${this.#durable ? 'FULL' : 'NORMAL'}`);
  }

  put(key: Buffer, value: Buffer, sync: boolean): Promise<void> {
    try {
      this.#check(sync);
      this.#put.run(key, value);
      return settled;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  del(key: Buffer, sync: boolean): Promise<void> {
    try {
      this.#check(sync);
      this.#del.run(key);
      return settled;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  batch(puts: BatchPut[], sync: boolean): Promise<void> {
    try {
      this.#check(sync);
      this.#putMany(puts);
      return settled;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  transfer(a: Buffer, b: Buffer, update: (a: Buffer | undefined, b: Buffer | undefined) => [Buffer, Buffer], sync: boolean): Promise<number> {
    try {
      this.#check(sync);
      this.#transfer.immediate(a, b, update);
      return Promise.resolve(1);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  increment(key: Buffer, by: bigint, sync: boolean): Promise<void> {
    try {
      this.#check(sync);
      this.#increment.run(key, by);
      return settled;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  get(key: Buffer): number {
    const value = this.#get.get(key) as Buffer | undefined;
    return value === undefined ? -1 : value.length;
  }

  async scan(chunk: number, onChunk: (entries: number, bytes: number) => Promise<void>): Promise<void> {
    let entries = 0;
    let bytes = 0;
    for (const row of this.#scan.iterate()) {
      const [k, v] = row as [Buffer, Buffer];
      bytes += k.length + v.length;
      if (++entries === chunk) {
        await onChunk(entries, bytes);
        entries = bytes = 0;
      }
    }
    await onChunk(entries, bytes);
  }

  seeker(): Seeker {
    const seek = this.#seek;
    return {
      seek(key: Buffer): number {
        const row = seek.get(key) as [Buffer, Buffer] | undefined;
        return row === undefined ? 0 : row[0].length + row[1].length;
      },
      close() {},
    };
  }

  stats(): Record<string, unknown> {
    return {
      pageCount: this.#db.pragma('page_count'),
      freelistCount: this.#db.pragma('freelist_count'),
    };
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}

export const sqlite: StoreModule = {
  info: {
    name: 'sqlite',
    label: 'SQLite',
    packageName: 'better-sqlite3',
    version: peerVersion('better-sqlite3') ?? 'not installed',
    settings: 'WAL mode, WITHOUT ROWID table, 32 MiB page cache; synchronous FULL for sync:true, NORMAL for sync:false',
    transactions: { supported: true, how: 'BEGIN IMMEDIATE (better-sqlite3 db.transaction().immediate): serialized, no conflicts' },
    increments: 'INSERT INTO counters ... ON CONFLICT (k) DO UPDATE SET n = n + excluded.n: one statement, an INTEGER column',
    changeFeed: { supported: false, how: 'better-sqlite3 exposes no update hook or session extension; the WAL file is not a feed' },
    getInto: { supported: false, how: 'better-sqlite3 makes a buffer for every blob it reads' },
  },
  async open(dir: string, settings: OpenSettings): Promise<Store> {
    const Sqlite = loadPeer<SqliteClass>('better-sqlite3');
    mkdirSync(dir, { recursive: true });
    const db = new Sqlite(join(dir, 'kv.sqlite'));
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${settings.durable ? 'FULL' : 'NORMAL'}`);
    db.pragma(`cache_size = -${CACHE_BYTES / 1024}`);
    db.exec('CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID');
    db.exec('CREATE TABLE IF NOT EXISTS counters (k BLOB PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID');
    return new SqliteStore(db, settings.durable);
  },
};
