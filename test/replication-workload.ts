// Shared by test/replication-cluster.long.test.ts and its child (test/replication-child.ts):
// the primary's write mix, the options of both sides, a dump of a database, and the oracle that
// says what a replica must hold at a given sequence number: a fresh database into which the
// primary's change feed is replayed up to that number.

import * as assert from 'uvu/assert';
import { open, type Database } from '../src/index.js';
import { batchKey, CRASH_RETENTION, crashValue, show, type Rng } from './helpers.js';

/** The primary: 4 shards (batches span them), merges of 'add', every log kept for the feed. */
export const PRIMARY_OPTIONS = { shards: 4, mergeOperator: 'add', changeRetention: CRASH_RETENTION } as const;
/** The replica's own open() options (its shard count is its own business). */
export const REPLICA_OPTIONS = { shards: 4, mergeOperator: 'add' } as const;
/** The oracle: one shard, the same merge operator. */
const ORACLE_OPTIONS = { mergeOperator: 'add' } as const;
/** Counters that merges of 1 (operator 'add') go to: one applied twice shows as a wrong count. */
export const COUNTERS = 16;
const MAX_EXTRA_VALUE_BYTES = 64;

type AnyDb = Database<Buffer, Buffer>;

/**
 * The primary's writes: puts of new keys, deletes of acknowledged puts, batches of 2-8 puts
 * (half with a hash tag of their own: one shard; half spread over the shards: two-phase
 * commits), merges of 1 into COUNTERS counters, and clears of an acknowledged batch's range.
 * Keys carry `tag` so that several runs on one database do not collide.
 */
export class WriteMix {
  #nextId = 0;
  readonly #deletable: string[] = [];
  readonly #clearable: string[] = [];
  readonly #rng: Rng;
  readonly #tag: string;
  /** Merges acknowledged per counter key. */
  readonly merges = new Map<string, number>();

  constructor(rng: Rng, tag: string) {
    this.#rng = rng;
    this.#tag = tag;
  }

  /** Issues one write; resolves to its sequence number once the database acknowledged it. */
  async one(db: AnyDb, sync: boolean): Promise<bigint> {
    const id = this.#nextId++;
    const r = this.#rng.float();
    if (r < 0.1 && this.#deletable.length > 0) {
      const key = this.#deletable.splice(this.#rng.int(this.#deletable.length), 1)[0]!;
      return db.del(key, { sync });
    }
    if (r < 0.14 && this.#clearable.length > 0) {
      const batch = this.#clearable.splice(this.#rng.int(this.#clearable.length), 1)[0]!;
      return db.clear({ gte: `b/${batch}/`, lt: `b/${batch}0` }, { sync });
    }
    if (r < 0.4) {
      const n = this.#rng.range(2, 8);
      const batch = `${this.#tag}/${id}/${n}`;
      const ops = Array.from({ length: n }, (_, j) => {
        const key = batchKey(batch, j);
        return { type: 'put' as const, key, value: crashValue(key, MAX_EXTRA_VALUE_BYTES) };
      });
      const seq = await db.batch(ops, { sync });
      this.#clearable.push(batch);
      return seq;
    }
    if (r < 0.52) {
      const key = `m/${this.#rng.int(COUNTERS)}`;
      const seq = await db.merge(key, 1n, { sync });
      this.merges.set(key, (this.merges.get(key) ?? 0) + 1);
      return seq;
    }
    const key = `p/${this.#tag}/${id}`;
    const seq = await db.put(key, crashValue(key, MAX_EXTRA_VALUE_BYTES), { sync });
    this.#deletable.push(key);
    return seq;
  }

  /**
   * `count` writes from `writers` concurrent writers; `onAck` sees each sequence number as it
   * resolves. Resolves to the highest one.
   */
  async run(db: AnyDb, count: number, writers: number, sync: boolean, onAck?: (seq: bigint, done: number) => void | Promise<void>): Promise<bigint> {
    let issued = 0;
    let done = 0;
    let highest = 0n;
    await Promise.all(
      Array.from({ length: writers }, async () => {
        while (issued < count) {
          issued++;
          const seq = await this.one(db, sync);
          if (seq > highest) highest = seq;
          await onAck?.(seq, ++done);
        }
      }),
    );
    return highest;
  }
}

/** Every entry of `db` (at `snapshot` when given), key → value, keys as latin1 strings. */
export async function dump(db: AnyDb, snapshot?: unknown): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const options = snapshot === undefined ? {} : { snapshot };
  for await (const [k, v] of db.iterator(options as object)) out.set(k.toString('latin1'), v);
  return out;
}

/** Fails naming the first differences between two dumps. */
export function assertSameEntries(actual: Map<string, Buffer>, expected: Map<string, Buffer>, what: string): void {
  const problems: string[] = [];
  for (const [k, v] of expected) {
    const a = actual.get(k);
    if (a === undefined) problems.push(`missing ${show(Buffer.from(k, 'latin1'), 40)}`);
    else if (!a.equals(v)) problems.push(`${show(Buffer.from(k, 'latin1'), 40)}: ${show(a, 24)} instead of ${show(v, 24)}`);
    if (problems.length >= 8) break;
  }
  if (problems.length < 8) {
    for (const k of actual.keys()) {
      if (!expected.has(k)) problems.push(`extra ${show(Buffer.from(k, 'latin1'), 40)}`);
      if (problems.length >= 8) break;
    }
  }
  if (problems.length > 0) {
    assert.unreachable(`${what}: ${actual.size} entries against ${expected.size} expected; first differences:\n  ${problems.join('\n  ')}`);
  }
}

/**
 * The state the primary had at a sequence number: a database of its own (in `dir`) into
 * which the primary's change feed is replayed, change by change, each as one batch.
 * REQUIRES: the primary keeps every log (PRIMARY_OPTIONS' retention) so that its feed from 0 is whole.
 */
export class Oracle {
  /** The primary sequence number replayed so far. */
  seq = 0n;
  readonly #db: AnyDb;

  private constructor(db: AnyDb) {
    this.#db = db;
  }

  static async open(dir: string): Promise<Oracle> {
    return new Oracle((await open(dir, ORACLE_OPTIONS)) as unknown as AnyDb);
  }

  /** Replays the changes of `primary` above `this.seq` up to and including `upTo`. REQUIRES: primary's feed reaches upTo (checked). */
  async advance(primary: AnyDb, upTo: bigint): Promise<void> {
    if (upTo <= this.seq) {
      assert.is(upTo, this.seq, `the oracle cannot go back from ${this.seq} to ${upTo}`);
      return;
    }
    for await (const change of primary.changes({ since: this.seq, live: false })) {
      if (change.seq > upTo) break;
      const ops = change.ops.map((op) => {
        switch (op.type) {
          case 'put':
            return { type: 'put' as const, key: op.key, value: op.value };
          case 'del':
            return { type: 'del' as const, key: op.key };
          case 'merge':
            return { type: 'merge' as const, key: op.key, value: op.value };
          case 'clear':
            return op.end === undefined ? { type: 'clear' as const, gte: op.key } : { type: 'clear' as const, gte: op.key, lt: op.end };
        }
      });
      await this.#db.batch(ops);
      this.seq = change.seq;
    }
    assert.is(this.seq, upTo, `the primary's change feed ends at ${this.seq}, below ${upTo}`);
  }

  dump(): Promise<Map<string, Buffer>> {
    return dump(this.#db);
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}

/** Polls `get()` every 20 ms until it is at least `target`; fails after `timeoutMs` naming `what` and the last value. */
export async function waitUntil(what: string, get: () => bigint, target: bigint, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (get() < target) {
    if (Date.now() > deadline) throw new Error(`${what}: ${get()} after ${timeoutMs} ms, waiting for ${target}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
