// A randomized model test: thousands of seeded operations against the public API, each checked
// against a plain sorted map. Writes (single, batched, concurrent), reads (get, getSync,
// iterators with random bounds, direction, limit and seeks), snapshots read long after they
// were taken, iterators kept open across writes and flushes, flushes, and close + reopen;
// range deletions (db.clear() and clears inside batches) among all of them. Merges too (alone,
// in batches, bursts and transactions), with an operator that joins operands in order
// (test/merge-operator-fixture.ts), so an operand lost, doubled or out of order shows.
//
// A small memtable budget (the minimum, 64 KiB) and some 100 KB values make memtables rotate
// and level-0 tables pile up during a run, so reads merge many sources.
//
//   node test/run.js model                                   5 seeds × 2000 operations
//   STRATA_MODEL_SEEDS=50 STRATA_MODEL_OPS=20000 node test/run.js model
//   STRATA_MODEL_SEED=1234 STRATA_MODEL_SEEDS=1 node test/run.js model   one seed (to replay a failure)
//   STRATA_MODEL_SHARDS=4 node test/run.js model             only that shard count (default: 1 and 4)
//
// A failure names the seed and the index of the operation that disagreed. STRATA_MODEL_VERBOSE=1
// prints, per seed, the tables left per level and the time each kind of operation took;
// STRATA_KEEP_DIRS=1 keeps the database directories.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { open, type Database, type DatabaseIterator, type IteratorOptions, type Snapshot } from '../src/index.js';
import { assertEntries, assertValue, envInt, expectCode, Rng, show, SortedModel, withTempDir, type RangeOptions } from './helpers.js';

const FIRST_SEED = envInt('STRATA_MODEL_SEED') ?? 1;
const SEEDS = envInt('STRATA_MODEL_SEEDS') ?? 5;
const OPS = envInt('STRATA_MODEL_OPS') ?? 2000;
/** Every seed runs on one shard and on four (where most batches span shards: two-phase commit). */
const SHARD_COUNTS = envInt('STRATA_MODEL_SHARDS') !== undefined ? [envInt('STRATA_MODEL_SHARDS')!] : [1, 4];

/**
 * Small memtables, levels and files, so that flushes and compactions (automatic and
 * compactRange) interleave with everything else; odd seeds compact in a worker thread, even
 * seeds on the main thread.
 */
const optionsFor = (seed: number, shards: number) =>
  ({
    shards,
    memtableBytes: 64 * 1024,
    l0CompactionTrigger: 3,
    levelBaseBytes: 128 * 1024,
    levelMultiplier: 4,
    targetFileBytes: 64 * 1024,
    compactionWorkers: seed % 2,
    mergeOperator: { module: new URL('./merge-operator-fixture.js', import.meta.url).href, export: 'concat' },
  }) as const;

/** What the fixture's 'concat' operator makes of a value and one more operand. */
function concatOperand(prev: Uint8Array | undefined, operand: Uint8Array): Buffer {
  return Buffer.from([...(prev === undefined ? [] : [prev]), operand].map((b) => Buffer.from(b).toString()).join(','));
}

/** Short keys over a 3-byte alphabet (with the edge bytes 0x00 and 0xff): 121 keys of 0–4 bytes. */
const ALPHABET = [0x00, 0x61, 0xff];
const SHORT_LENGTH_WEIGHTS = { '0': 2, '1': 8, '2': 20, '3': 30, '4': 40 } as const;

/** How often each operation runs, relative to the others. */
const OP_WEIGHTS = {
  put: 25,
  del: 8,
  merge: 6,
  clear: 2,
  batch: 8,
  burst: 4,
  transaction: 4,
  get: 18,
  iterate: 12,
  seek: 5,
  openLingering: 2,
  stepLingering: 5,
  closeLingering: 1,
  snapshot: 3,
  snapshotRead: 6,
  snapshotRelease: 2,
  flush: 1.5,
  compactRange: 0.5,
  reopen: 0.5,
  stats: 0.5,
} as const;
type OpName = keyof typeof OP_WEIGHTS;

const MAX_LINGERING = 4;
const MAX_SNAPSHOTS = 6;

type WriteOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'merge'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };
type ClearRange = { gt?: Buffer; gte?: Buffer; lt?: Buffer; lte?: Buffer };
type BatchOp = WriteOp | ({ type: 'clear' } & ClearRange);

/** The expected behaviour of one iterator: its entries (no limit) in its order, a position and the limit. */
class ModelCursor {
  #pos = 0;
  #returned = 0;
  constructor(
    readonly entries: readonly [Buffer, Buffer][],
    readonly reverse: boolean,
    readonly limit: number,
  ) {}

  next(): [Buffer, Buffer] | undefined {
    if (this.#returned >= this.limit) return undefined;
    const e = this.entries[this.#pos];
    if (e === undefined) return undefined;
    this.#pos++;
    this.#returned++;
    return e;
  }

  /** Iterator.seek(): the next entry is the first at or after `target` (reverse: at or before); the limit keeps counting. */
  seek(target: Buffer): void {
    const n = this.entries.length;
    let at = 0;
    while (at < n) {
      const c = Buffer.compare(this.entries[at]![0], target);
      if (this.reverse ? c <= 0 : c >= 0) break;
      at++;
    }
    this.#pos = at;
  }
}

interface Lingering {
  it: DatabaseIterator;
  model: ModelCursor;
  label: string;
  /** The snapshot it reads at, when given one; else it pins its own. */
  snapshot: TakenSnapshot | undefined;
}

interface TakenSnapshot {
  snap: Snapshot;
  model: SortedModel;
  takenAt: number;
}

class Run {
  readonly rng: Rng;
  readonly model = new SortedModel();
  db!: Database;
  readonly longKeys: Buffer[] = [];
  lingering: Lingering[] = [];
  snapshots: TakenSnapshot[] = [];
  opIndex = -1;
  /** Per operation: how many ran and the milliseconds they took (printed with STRATA_MODEL_VERBOSE=1). */
  readonly counts: Partial<Record<OpName, { n: number; ms: number }>> = {};

  constructor(
    readonly seed: number,
    readonly dir: string,
    readonly shards: number,
  ) {
    this.rng = new Rng(seed);
  }

  // -------------------------------------------------------------------------------------------
  // Random input

  key(): Buffer {
    const rng = this.rng;
    if (rng.chance(0.85)) {
      const len = Number(rng.weighted(SHORT_LENGTH_WEIGHTS));
      const k = Buffer.alloc(len);
      for (let i = 0; i < len; i++) k[i] = rng.pick(ALPHABET);
      return k;
    }
    if (this.longKeys.length > 0 && rng.chance(0.5)) return rng.pick(this.longKeys);
    // A longer key, often sharing a prefix with the short ones; now and then a large one.
    const len = rng.chance(0.05) ? rng.range(1000, 3000) : rng.range(5, 40);
    const k = Buffer.alloc(len);
    for (let i = 0; i < len; i++) k[i] = i < 3 || rng.chance(0.5) ? rng.pick(ALPHABET) : rng.int(256);
    if (this.longKeys.length < 200) this.longKeys.push(k);
    return k;
  }

  /** A key that is in the model most of the time (when there is one). */
  presentKey(p = 0.7): Buffer {
    const keys = this.model.keys();
    if (keys.length > 0 && this.rng.chance(p)) return this.rng.pick(keys);
    return this.key();
  }

  value(): Buffer {
    const rng = this.rng;
    const r = rng.float();
    if (r < 0.05) return Buffer.alloc(0);
    if (r < 0.07) return rng.bytes(rng.range(90_000, 110_000));
    return rng.bytes(rng.range(1, 300));
  }

  /** Passes bytes as a Buffer or as a plain Uint8Array view into a larger buffer (non-zero byteOffset). */
  asInput(bytes: Buffer): Uint8Array {
    if (!this.rng.chance(0.2)) return bytes;
    const pad = this.rng.range(1, 7);
    const backing = new Uint8Array(bytes.length + 2 * pad).fill(0xee);
    backing.set(bytes, pad);
    return backing.subarray(pad, pad + bytes.length);
  }

  /** A merge operand: short ASCII, so that the model's concatenation matches the operator's. */
  operand(): Buffer {
    return Buffer.from(`m${this.opIndex}.${this.rng.int(100)}`);
  }

  writeOp(): WriteOp {
    if (this.rng.chance(0.15)) return { type: 'merge', key: this.asInput(this.presentKey(0.5)), value: this.asInput(this.operand()) };
    return this.rng.chance(0.75)
      ? { type: 'put', key: this.asInput(this.key()), value: this.asInput(this.value()) }
      : { type: 'del', key: this.asInput(this.presentKey()) };
  }

  syncOption(): { sync?: boolean } | undefined {
    const r = this.rng.float();
    if (r < 0.02) return { sync: true };
    if (r < 0.1) return { sync: false };
    return undefined;
  }

  /** Random bounds (each side absent about a third of the time), direction and limit. */
  rangeOptions(): RangeOptions {
    const rng = this.rng;
    const o: RangeOptions = {};
    if (rng.chance(0.65)) o[rng.chance(0.5) ? 'gt' : 'gte'] = this.presentKey(0.5);
    if (rng.chance(0.65)) o[rng.chance(0.5) ? 'lt' : 'lte'] = this.presentKey(0.5);
    if (rng.chance(0.4)) o.reverse = true;
    const r = rng.float();
    if (r < 0.1) o.limit = -1;
    else if (r < 0.15) o.limit = 0;
    else if (r < 0.45) o.limit = rng.range(1, 20);
    return o;
  }

  static describeRange(o: RangeOptions): string {
    const parts: string[] = [];
    for (const b of ['gt', 'gte', 'lt', 'lte'] as const) if (o[b] !== undefined) parts.push(`${b}: ${show(o[b])}`);
    if (o.reverse) parts.push('reverse');
    if (o.limit !== undefined) parts.push(`limit: ${o.limit}`);
    return `{ ${parts.join(', ')} }`;
  }

  // -------------------------------------------------------------------------------------------
  // Model updates

  applyToModel(model: SortedModel, ops: readonly BatchOp[]): void {
    for (const op of ops) {
      if (op.type === 'put') model.set(op.key, op.value);
      else if (op.type === 'merge') model.set(op.key, concatOperand(model.get(op.key), op.value));
      else if (op.type === 'del') model.delete(op.key);
      else model.clear(op);
    }
  }

  /** A clear's range: random bounds (a lower bound above the upper one when `inverted` allows it). */
  clearRange(inverted: boolean): ClearRange {
    const o = this.rangeOptions();
    const r: ClearRange = {};
    for (const b of ['gt', 'gte', 'lt', 'lte'] as const) if (o[b] !== undefined) r[b] = o[b];
    const lower = r.gt ?? r.gte;
    const upper = r.lt ?? r.lte;
    if (!inverted && lower !== undefined && upper !== undefined && Buffer.compare(lower, upper) > 0) {
      const lowerName = r.gt !== undefined ? 'gt' : 'gte';
      const upperName = r.lt !== undefined ? 'lt' : 'lte';
      r[lowerName] = upper;
      r[upperName] = lower;
    }
    return r;
  }

  // -------------------------------------------------------------------------------------------
  // Operations

  async step(name: OpName): Promise<string> {
    const rng = this.rng;
    switch (name) {
      case 'put': {
        const key = this.asInput(this.key());
        const value = this.asInput(this.value());
        await this.db.put(key, value, this.syncOption());
        this.model.set(key, value);
        return `put ${show(key)} = ${show(value)}`;
      }
      case 'del': {
        const key = this.asInput(this.presentKey());
        await this.db.del(key, this.syncOption());
        this.model.delete(key);
        return `del ${show(key)}`;
      }
      case 'merge': {
        const key = this.asInput(this.presentKey(0.5));
        const operand = this.asInput(this.operand());
        await this.db.merge(key, operand, this.syncOption());
        this.applyToModel(this.model, [{ type: 'merge', key, value: operand }]);
        return `merge ${show(key)} ${show(operand)}`;
      }
      case 'clear': {
        const range = this.clearRange(true);
        const lower = range.gt ?? range.gte;
        const upper = range.lt ?? range.lte;
        if (lower !== undefined && upper !== undefined && Buffer.compare(lower, upper) > 0) {
          await expectCode(() => this.db.clear(range, this.syncOption()), 'INVALID_ARGUMENT', `clear(${Run.describeRange(range)})`);
          return `clear(${Run.describeRange(range)}): refused`;
        }
        await this.db.clear(range, this.syncOption());
        this.model.clear(range);
        return `clear(${Run.describeRange(range)})`;
      }
      case 'batch': {
        const ops: BatchOp[] = [];
        const n = rng.range(1, 10);
        for (let i = 0; i < n; i++) ops.push(rng.chance(0.05) ? { type: 'clear', ...this.clearRange(false) } : this.writeOp());
        // Now and then the same key twice in one batch: the later entry wins.
        const first = ops.find((o): o is WriteOp => o.type !== 'clear');
        if (first !== undefined && rng.chance(0.2)) ops.push({ type: 'put', key: first.key, value: this.value() });
        await this.db.batch(ops, this.syncOption());
        this.applyToModel(this.model, ops);
        return `batch of ${ops.length}`;
      }
      case 'burst': {
        // Concurrent writes: sequence numbers are assigned in call order, so the model applies them so.
        const writes: Promise<unknown>[] = [];
        const applied: WriteOp[][] = [];
        const n = rng.range(2, 12);
        for (let i = 0; i < n; i++) {
          const r = rng.float();
          if (r < 0.3) {
            const ops = [this.writeOp(), this.writeOp(), this.writeOp()];
            writes.push(this.db.batch(ops, this.syncOption()));
            applied.push(ops);
          } else {
            const op = this.writeOp();
            writes.push(
              op.type === 'put'
                ? this.db.put(op.key, op.value, this.syncOption())
                : op.type === 'merge'
                  ? this.db.merge(op.key, op.value, this.syncOption())
                  : this.db.del(op.key, this.syncOption()),
            );
            applied.push([op]);
          }
        }
        await Promise.all(writes);
        for (const ops of applied) this.applyToModel(this.model, ops);
        return `burst of ${n} concurrent writes`;
      }
      case 'transaction': {
        // Alone, so it commits on its first run. Its reads must see the model as it was plus
        // its own writes so far (`view`); a thrown callback must leave the model as it was.
        const view = this.model.clone();
        const ops: WriteOp[] = [];
        const abort = rng.chance(0.1);
        const steps = rng.range(1, 8);
        let runs = 0;
        const ABORT = new Error('abort');
        try {
          await this.db.transaction(async (tx) => {
            runs++;
            for (let i = 0; i < steps; i++) {
              const r = rng.float();
              if (r < 0.4) {
                const key = this.presentKey();
                assertValue(await tx.get(this.asInput(key)), view.get(key), `tx.get ${show(key)}`);
              } else if (r < 0.55) {
                const o = this.rangeOptions();
                assertEntries(await this.readIterator(tx.iterator(o)), view.range(o), `tx.iterator ${Run.describeRange(o)}`);
              } else {
                const op = this.writeOp();
                if (op.type === 'put') tx.put(op.key, op.value);
                else if (op.type === 'merge') tx.merge(op.key, op.value);
                else tx.del(op.key);
                this.applyToModel(view, [op]);
                ops.push(op);
              }
            }
            if (abort) throw ABORT;
          });
        } catch (err) {
          if (err !== ABORT) throw err;
        }
        assert.is(runs, 1, 'a transaction alone commits on its first run');
        if (!abort) this.applyToModel(this.model, ops);
        return `transaction of ${steps} steps${abort ? ', thrown' : ''}`;
      }
      case 'get': {
        const key = this.presentKey();
        const sync = rng.chance(0.3);
        const got = sync ? this.db.getSync(this.asInput(key)) : await this.db.get(this.asInput(key));
        assertValue(got, this.model.get(key), `${sync ? 'getSync' : 'get'} ${show(key)}`);
        return `get ${show(key)}`;
      }
      case 'iterate': {
        const o = this.rangeOptions();
        const got = await this.readIterator(this.db.iterator(o as IteratorOptions));
        assertEntries(got, this.model.range(o), `iterator ${Run.describeRange(o)}`);
        return `iterate ${Run.describeRange(o)}`;
      }
      case 'seek': {
        const o = this.rangeOptions();
        const it = this.db.iterator(o as IteratorOptions);
        const cursor = this.cursorFor(this.model, o);
        const trace: string[] = [];
        try {
          for (let round = 0; round < 3; round++) {
            const reads = rng.range(0, 4);
            for (let i = 0; i < reads; i++) this.compareStep(it, cursor, `iterator ${Run.describeRange(o)} after ${trace.join(', ')}`);
            trace.push(`${reads} reads`);
            const target = this.presentKey(0.5);
            it.seek(this.asInput(target));
            cursor.seek(target);
            trace.push(`seek ${show(target)}`);
          }
          for (let i = 0; i < 5; i++) this.compareStep(it, cursor, `iterator ${Run.describeRange(o)} after ${trace.join(', ')}`);
        } finally {
          await it.close();
        }
        return `seek on ${Run.describeRange(o)}: ${trace.join(', ')}`;
      }
      case 'openLingering': {
        if (this.lingering.length >= MAX_LINGERING) return 'skip';
        const o = this.rangeOptions();
        let snapshot: TakenSnapshot | undefined;
        if (this.snapshots.length > 0 && rng.chance(0.3)) snapshot = rng.pick(this.snapshots);
        const label = `iterator ${Run.describeRange(o)} opened at op ${this.opIndex}${snapshot ? ` on the snapshot of op ${snapshot.takenAt}` : ''}`;
        const it = this.db.iterator({ ...(o as IteratorOptions), ...(snapshot ? { snapshot: snapshot.snap } : {}) });
        this.lingering.push({ it, model: this.cursorFor(snapshot ? snapshot.model : this.model.clone(), o), label, snapshot });
        return `open ${label}`;
      }
      case 'stepLingering': {
        if (this.lingering.length === 0) return 'skip';
        const l = rng.pick(this.lingering);
        if (rng.chance(0.2)) {
          const target = this.presentKey(0.5);
          l.it.seek(target);
          l.model.seek(target);
        }
        const reads = rng.range(1, 6);
        for (let i = 0; i < reads; i++) this.compareStep(l.it, l.model, l.label);
        return `${reads} reads from ${l.label}`;
      }
      case 'closeLingering': {
        if (this.lingering.length === 0) return 'skip';
        const l = this.lingering.splice(rng.int(this.lingering.length), 1)[0]!;
        await l.it.close();
        await expectCode(() => l.it.next(), 'CLOSED', 'next() on a closed iterator');
        return `close ${l.label}`;
      }
      case 'snapshot': {
        if (this.snapshots.length >= MAX_SNAPSHOTS) return 'skip';
        this.snapshots.push({ snap: this.db.snapshot(), model: this.model.clone(), takenAt: this.opIndex });
        return 'snapshot';
      }
      case 'snapshotRead': {
        if (this.snapshots.length === 0) return 'skip';
        const s = rng.pick(this.snapshots);
        if (rng.chance(0.6)) {
          const key = this.presentKey();
          assertValue(await this.db.get(key, { snapshot: s.snap }), s.model.get(key), `get ${show(key)} at the snapshot of op ${s.takenAt}`);
          return `get ${show(key)} at the snapshot of op ${s.takenAt}`;
        }
        const o = this.rangeOptions();
        const got = await this.readIterator(this.db.iterator({ ...(o as IteratorOptions), snapshot: s.snap }));
        assertEntries(got, s.model.range(o), `iterator ${Run.describeRange(o)} at the snapshot of op ${s.takenAt}`);
        return `iterate ${Run.describeRange(o)} at the snapshot of op ${s.takenAt}`;
      }
      case 'snapshotRelease': {
        if (this.snapshots.length === 0) return 'skip';
        const s = this.snapshots[rng.int(this.snapshots.length)]!;
        // An open iterator reading at this snapshot keeps it in use.
        if (this.lingering.some((l) => l.snapshot === s)) return 'skip';
        this.snapshots.splice(this.snapshots.indexOf(s), 1);
        s.snap.release();
        await expectCode(() => this.db.get(this.key(), { snapshot: s.snap }), 'CLOSED', 'get() through a released snapshot');
        return `release the snapshot of op ${s.takenAt}`;
      }
      case 'flush': {
        await this.db.flush();
        return 'flush';
      }
      case 'compactRange': {
        const o = this.rangeOptions();
        const start = o.gt ?? o.gte;
        const end = o.lt ?? o.lte;
        await this.db.compactRange(start, end);
        return `compactRange(${show(start)}, ${show(end)})`;
      }
      case 'reopen': {
        await this.reopen();
        return 'close and reopen';
      }
      case 'stats': {
        const s = this.db.stats();
        assert.is(s.openIterators, this.lingering.length, 'stats().openIterators counts the open iterators');
        const pinned = this.snapshots.length + this.lingering.length;
        assert.is(s.liveSnapshots, pinned, 'stats().liveSnapshots counts snapshots and iterators (each iterator pins, also one reading through a snapshot)');
        return 'stats';
      }
    }
  }

  cursorFor(model: SortedModel, o: RangeOptions): ModelCursor {
    const limit = o.limit === undefined || o.limit < 0 ? Infinity : o.limit;
    return new ModelCursor(model.range({ ...o, limit: -1 }), o.reverse ?? false, limit);
  }

  compareStep(it: DatabaseIterator, cursor: ModelCursor, what: string): void {
    const got = it.nextSync();
    const want = cursor.next();
    assertEntries(got ? [got] : [], want ? [want] : [], what);
  }

  /** Reads an iterator to its end, in one of the ways the API offers. */
  async readIterator(it: DatabaseIterator): Promise<[Buffer, Buffer][]> {
    const out: [Buffer, Buffer][] = [];
    const way = this.rng.int(4);
    try {
      if (way === 0) {
        for await (const e of it) out.push(e);
      } else if (way === 1) {
        for (let e = await it.next(); e !== undefined; e = await it.next()) out.push(e);
      } else if (way === 2) {
        for (let e = it.nextSync(); e !== undefined; e = it.nextSync()) out.push(e);
      } else {
        const n = this.rng.range(1, 8);
        for (;;) {
          const chunk = await it.nextv(n);
          out.push(...chunk);
          if (chunk.length < n) break;
        }
      }
    } finally {
      await it.close();
    }
    return out;
  }

  async reopen(): Promise<void> {
    const lingering = this.lingering;
    const snapshots = this.snapshots;
    this.lingering = [];
    this.snapshots = [];
    await this.db.close();
    for (const l of lingering) await expectCode(() => l.it.next(), 'CLOSED', `${l.label} after close()`);
    for (const s of snapshots) assert.ok(s.snap.released, `close() releases the snapshot of op ${s.takenAt}`);
    await expectCode(() => this.db.get(this.key()), 'CLOSED', 'get() after close()');
    this.db = await open(this.dir, optionsFor(this.seed, this.shards));
    await this.checkAll('after reopen');
  }

  async checkAll(when: string): Promise<void> {
    const got: [Buffer, Buffer][] = [];
    for await (const e of this.db.iterator()) got.push(e);
    assertEntries(got, this.model.range(), `full scan ${when}`);
    for (const k of this.model.keys()) assertValue(this.db.getSync(k), this.model.get(k), `getSync ${show(k)} ${when}`);
  }

  async run(ops: number): Promise<void> {
    this.db = await open(this.dir, optionsFor(this.seed, this.shards));
    const recent: string[] = [];
    try {
      for (this.opIndex = 0; this.opIndex < ops; this.opIndex++) {
        const name = this.rng.weighted(OP_WEIGHTS);
        recent.push(`#${this.opIndex} ${name}`);
        if (recent.length > 8) recent.shift();
        const started = performance.now();
        const done = await this.step(name);
        const c = (this.counts[name] ??= { n: 0, ms: 0 });
        c.n++;
        c.ms += performance.now() - started;
        recent[recent.length - 1] = `#${this.opIndex} ${done}`;
      }
      this.opIndex = ops;
      await this.checkAll('at the end');
      const stats = this.db.stats();
      assert.ok(stats.levels.some((l) => l.files > 0), 'the run wrote tables (memtables rotated or were flushed)');
      await this.db.compactRange();
      await this.checkAll('after compacting everything');
      const compacted = this.db.stats();
      assert.ok(compacted.compactions > 0, 'the run compacted');
      assert.is(compacted.levels[0]!.files, 0, 'compactRange() empties level 0');
      if (process.env['STRATA_MODEL_VERBOSE']) {
        const ops = Object.entries(this.counts).map(([op, c]) => `${op} ${c.n}× ${c.ms.toFixed(0)} ms`);
        const files = stats.levels.map((l) => l.files).join('/');
        console.log(`seed ${this.seed}: ${this.model.size} keys, tables per level ${files}, ${stats.flushes} flushes; ${ops.join(', ')}`);
      }
      await this.reopen();
    } catch (err) {
      const e = err as Error;
      e.message =
        `seed ${this.seed}, ${this.shards} shards, op ${this.opIndex} of ${ops} (replay: STRATA_MODEL_SEED=${this.seed} STRATA_MODEL_SEEDS=1 STRATA_MODEL_OPS=${ops} STRATA_MODEL_SHARDS=${this.shards}): ${e.message}\n` +
        `  last operations:\n    ${recent.join('\n    ')}`;
      throw e;
    } finally {
      await this.db.close().catch(() => {});
    }
  }
}

for (const shards of SHARD_COUNTS) {
  for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
    test(`${shards} shard${shards > 1 ? 's' : ''}, seed ${seed}: ${OPS} random operations agree with a sorted in-memory map`, async () => {
      await withTempDir(async (dir) => {
        await new Run(seed, dir, shards).run(OPS);
      });
    });
  }
}

test.run();
