// Independent shards (src/engine/shard-publication.ts): a write in one shard is answered once
// its shard published it, whatever another shard has in flight; reads take a cut, each shard
// at its own published sequence, that never shows half of a batch across shards nor a write
// without one that was answered before it was made.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as path from 'node:path';
import { open, type Database } from '../src/index.js';
import { NodeFileSystem, type FileSystem, type WritableFile } from '../src/base/index.js';
import { shardOf } from '../src/shard/index.js';
import { SyncRounds } from '../src/engine/sync-rounds.js';
import { SequenceClock } from '../src/engine/sequence-clock.js';
import { ShardPublication } from '../src/engine/shard-publication.js';
import { Rng, withTempDir } from './helpers.js';

/** Keys `${prefix}N` of shard `shard` of `shards`, the first `count` found. */
function keysIn(shard: number, shards: number, prefix: string, count: number): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) if (shardOf(Buffer.from(`${prefix}${i}`), shards) === shard) keys.push(`${prefix}${i}`);
  return keys;
}

/**
 * A file system whose syncs of files under `held` paths wait until release() (a slow disk
 * queue, or a sync of a large group in flight).
 */
class HeldSyncs {
  readonly fs: FileSystem;
  held: string | undefined;
  #waiting: (() => void)[] = [];

  constructor() {
    const base = new NodeFileSystem();
    const gate = (file: string) => (this.held !== undefined && file.includes(this.held) ? new Promise<void>((r) => this.#waiting.push(r)) : Promise.resolve());
    const wrap = (f: WritableFile): WritableFile =>
      new Proxy(f, {
        get: (target, prop) => {
          if (prop === 'sync') return async () => (await gate(target.path), target.sync());
          // Without appendAndSync the WAL appends, then syncs: the sync above is held.
          if (prop === 'appendAndSync') return undefined;
          const v = Reflect.get(target, prop, target) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    this.fs = new Proxy(base, {
      get: (target, prop) => {
        if (prop === 'createWritable') return async (file: string) => wrap(await target.createWritable(file));
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  release(): void {
    this.held = undefined;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const go of waiting) go();
  }
}

const settled = (p: Promise<unknown>) => {
  const state = { done: false };
  p.then(
    () => (state.done = true),
    () => (state.done = true),
  );
  return state;
};

const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 5));
};

test('a synced write in one shard is answered while another shard holds a sync; a cut shows it without the held write', async () => {
  await withTempDir(async (dir) => {
    const held = new HeldSyncs();
    const db = await open(path.join(dir, 'db'), { shards: 2, fs: held.fs });
    const [a] = keysIn(0, 2, 'a', 1);
    const [b] = keysIn(1, 2, 'b', 1);
    held.held = `${path.sep}shard-0${path.sep}`;
    const slow = db.put(a!, 'A', { sync: true });
    const slowState = settled(slow);
    while (held.waiting === 0) await turns(1);
    const seqB = await db.put(b!, 'B', { sync: true });
    assert.is(slowState.done, false, 'the write in shard 0 still waits for its sync');
    assert.is((await db.get(b!))?.toString(), 'B', 'the answered write is visible at once');
    assert.is(await db.get(a!), undefined, 'the held write is not');
    const snap = db.snapshot();
    assert.ok(db.sequence < seqB, 'db.sequence stays in global order: below the held write');
    held.release();
    const seqA = await slow;
    assert.ok(seqA < seqB, 'the held write took the lower number');
    assert.is(await db.get(a!, { snapshot: snap }), undefined, 'the snapshot taken before stays as it was');
    assert.is((await db.get(b!, { snapshot: snap }))?.toString(), 'B');
    snap.release();
    assert.is(db.sequence, seqB, 'once both are done, db.sequence reaches the last');
    await db.close();
  });
});

test('a batch across shards behind a held write of one participant shows in none of its shards until it shows in all', async () => {
  await withTempDir(async (dir) => {
    const held = new HeldSyncs();
    const db = await open(path.join(dir, 'db'), { shards: 3, fs: held.fs });
    const [a0, a1] = keysIn(0, 3, 'a', 2);
    const [b0, b1] = keysIn(1, 3, 'b', 2);
    const [c0] = keysIn(2, 3, 'c', 1);
    held.held = `${path.sep}shard-0${path.sep}`;
    const first = db.put(a0!, 'first', { sync: true });
    while (held.waiting === 0) await turns(1);
    // Its part in shard 0 waits behind the held sync; its part in shard 1 is written at once.
    const across = db.batch([
      { type: 'put', key: a1!, value: 'x' },
      { type: 'put', key: b0!, value: 'x' },
    ]);
    const acrossState = settled(across);
    // Shard 1 after the batch: waits for it. Shard 2 has nothing to do with it: goes on.
    const after = db.put(b1!, 'after');
    const afterState = settled(after);
    await db.put(c0!, 'free', { sync: true });
    await turns(4);
    assert.is(acrossState.done, false, 'the batch waits for the earlier write of its participant shard 0');
    assert.is(afterState.done, false, 'a later write of shard 1 waits for the batch before it there');
    assert.equal((await db.getMany([a1!, b0!, b1!])).map((v) => v?.toString()), [undefined, undefined, undefined], 'no half of the batch, nothing after it');
    const rows = [];
    for await (const [k] of db.iterator()) rows.push(k.toString());
    assert.equal(rows, [c0], 'an iterator shows the free shard only');
    held.release();
    await Promise.all([first, across, after]);
    assert.equal((await db.getMany([a0!, a1!, b0!, b1!, c0!])).map((v) => v?.toString()), ['first', 'x', 'x', 'after', 'free']);
    const stats = db.stats();
    assert.is(stats.batchesAcrossShards, 1, 'one batch across shards');
    assert.is(stats.batchesInOneShard, 3, 'three writes within one shard');
    await db.close();
  });
});

test('a transaction reads each shard at its entry of the cut: a write it saw is no conflict, one it did not see is', async () => {
  await withTempDir(async (dir) => {
    const held = new HeldSyncs();
    const db = await open(path.join(dir, 'db'), { shards: 2, fs: held.fs });
    const [a0] = keysIn(0, 2, 'a', 1);
    const [b0, b1] = keysIn(1, 2, 'b', 2);
    // A transaction kept open, so that the tracker records the writes below.
    let finish!: () => void;
    const open0 = db.transaction(async (tx) => {
      await tx.get('zzz');
      await new Promise<void>((r) => (finish = r));
    });
    await turns(1);
    held.held = `${path.sep}shard-0${path.sep}`;
    const slow = db.put(a0!, 'held', { sync: true });
    while (held.waiting === 0) await turns(1);
    await db.put(b0!, 'seen');
    // Reads b0 (answered, above the cut's lowest number, below shard 1's entry): no conflict.
    let runs = 0;
    await db.transaction(async (tx) => {
      runs++;
      assert.is((await tx.get(b0!))?.toString(), 'seen');
      tx.put(b1!, 'from the transaction');
    });
    assert.is(runs, 1, 'a write the transaction saw is no conflict');
    assert.is((await db.get(b1!))?.toString(), 'from the transaction');
    // Reads a0, whose write is above shard 0's entry (not visible yet): a conflict, then a retry
    // that sees it once it is published.
    const seen: (string | undefined)[] = [];
    const second = db.transaction(async (tx) => {
      seen.push((await tx.get(a0!))?.toString());
      tx.put(b1!, 'again');
    });
    await turns(4);
    held.release();
    await Promise.all([slow, second]);
    assert.equal(seen, [undefined, 'held'], 'the first attempt missed the held write and conflicted; the retry saw it');
    finish();
    await open0;
    await db.close();
  });
});

test('ShardPublication.unpublished counts the writes entered and not yet published, a batch across shards once', () => {
  const clock = new SequenceClock(0);
  const publication = new ShardPublication(clock, 3);
  const answered: bigint[] = [];
  const write = (count: number) => ({ firstSeq: clock.allocate(count), count, resolve: (seq: bigint) => answered.push(seq) });
  const a = write(1);
  const ta = publication.enter(0, a);
  const b = write(2);
  const tb = publication.enterAcross([0, 2], b);
  const c = write(1);
  const tc = publication.enter(1, c);
  assert.is(publication.unpublished, 3);
  // b waits for a (before it in shard 0); c, alone in shard 1, is published at once.
  publication.complete(tb);
  publication.complete(tc);
  assert.is(publication.unpublished, 2);
  assert.equal(answered, [4n]);
  publication.complete(ta);
  assert.is(publication.unpublished, 0);
  assert.equal(answered, [4n, 1n, 3n]);
});

test('SyncRounds: synced groups started in one turn form a round; a later one waits for its end, or a bounded time', async () => {
  const rounds = new SyncRounds();
  // A first round of 200 ms: rounds take about that long, so the bound is about 400 ms.
  assert.is(rounds.start(), undefined);
  await new Promise((r) => setTimeout(r, 200));
  rounds.end();
  assert.is(rounds.start(), undefined, 'the first opens a round');
  assert.is(rounds.start(), undefined, 'another in the same turn joins it');
  await new Promise((r) => setImmediate(r));
  let started = false;
  const later = rounds.start()!;
  assert.ok(later instanceof Promise, 'after the turn, a new one waits');
  void later.then(() => (started = true));
  rounds.end();
  await turns(1);
  assert.is(started, false, 'it waits while a sync of the round is in flight');
  rounds.end();
  await later;
  rounds.end();
  // A round whose sync never ends holds a later group for a bounded time only.
  assert.is(rounds.start(), undefined);
  await new Promise((r) => setImmediate(r));
  const t = performance.now();
  await rounds.start();
  assert.ok(performance.now() - t < 5000, 'the wait is bounded');
});

/**
 * The model: writers make three kinds of writes at once, readers take cuts (snapshots,
 * iterators, getMany) and check each against what must hold in any cut.
 * - pairs: a batch across two shards puts one round number under both keys: a cut shows the
 *   same round under both (never half a batch);
 * - chains: a writer puts round r under a key of one shard, waits for the answer, then under a
 *   key of another shard: a cut that shows the second at r shows the first at r or later;
 * - locals: a batch of two keys of one shard, as pairs;
 * and a reader that saw a chain write answered (`answered`) before it took its cut sees it.
 */
async function runModel(db: Database, shards: number, seed: number, ms: number): Promise<{ cuts: number; writes: number }> {
  const rng = new Rng(seed);
  const W = 6;
  const pairKeys = Array.from({ length: W }, (_, w) => [keysIn(w % shards, shards, `p${w}a`, 1)[0]!, keysIn((w + 1) % shards, shards, `p${w}b`, 1)[0]!] as const);
  const chainKeys = Array.from({ length: W }, (_, w) => [keysIn((w + 2) % shards, shards, `c${w}a`, 1)[0]!, keysIn((w + 3) % shards, shards, `c${w}b`, 1)[0]!] as const);
  const localKeys = Array.from({ length: W }, (_, w) => keysIn(w % shards, shards, `l${w}`, 2) as [string, string]);
  const answered = new Array<number>(W).fill(0);
  let stop = false;
  let writes = 0;
  let cuts = 0;
  const round = (v: Buffer | undefined) => (v === undefined ? 0 : Number(v.toString()));
  const writers = Array.from({ length: W }, async (_, w) => {
    const local = new Rng(seed * 31 + w);
    for (let r = 1; !stop; r++) {
      const sync = local.u32() % 4 === 0;
      const [pa, pb] = pairKeys[w]!;
      const [ca, cb] = chainKeys[w]!;
      const [la, lb] = localKeys[w]!;
      await Promise.all([
        db.batch(
          [
            { type: 'put', key: pa, value: String(r) },
            { type: 'put', key: pb, value: String(r) },
          ],
          { sync },
        ),
        (async () => {
          await db.put(ca, String(r), { sync: !sync });
          answered[w] = r;
          await db.put(cb, String(r), { sync });
        })(),
        db.batch([
          { type: 'put', key: la, value: String(r) },
          { type: 'put', key: lb, value: String(r) },
        ]),
      ]);
      writes += 5;
    }
  });
  const check = (get: (key: string) => Buffer | undefined, known: readonly number[], what: string) => {
    for (let w = 0; w < W; w++) {
      const [pa, pb] = pairKeys[w]!;
      assert.is(round(get(pa)), round(get(pb)), `${what}: writer ${w}'s batch across shards shows whole`);
      const [la, lb] = localKeys[w]!;
      assert.is(round(get(la)), round(get(lb)), `${what}: writer ${w}'s batch in one shard shows whole`);
      const [ca, cb] = chainKeys[w]!;
      const first = round(get(ca));
      assert.ok(round(get(cb)) <= first, `${what}: writer ${w}'s second chain write (${round(get(cb))}) shows without the first (${first}), answered before it was made`);
      assert.ok(first >= known[w]!, `${what}: writer ${w}'s chain write ${known[w]} was answered before the cut, the cut shows ${first}`);
    }
  };
  const allKeys = [...pairKeys.flat(), ...chainKeys.flat(), ...localKeys.flat()];
  const readers = Array.from({ length: 3 }, async (_, reader) => {
    while (!stop) {
      const known = [...answered];
      const kind = (rng.u32() + reader) % 3;
      if (kind === 0) {
        const snap = db.snapshot();
        await new Promise((r) => setTimeout(r, rng.u32() % 3));
        const values = new Map<string, Buffer | undefined>();
        for (const k of allKeys) values.set(k, await db.get(k, { snapshot: snap }));
        snap.release();
        check((k) => values.get(k), known, 'a snapshot');
      } else if (kind === 1) {
        const values = new Map<string, Buffer>();
        for await (const [k, v] of db.iterator()) {
          values.set(k.toString(), v);
          if (values.size % 7 === 0) await new Promise((r) => setImmediate(r));
        }
        check((k) => values.get(k), known, 'an iterator');
      } else {
        const got = await db.getMany(allKeys);
        const values = new Map(allKeys.map((k, i) => [k, got[i]]));
        check((k) => values.get(k), known, 'a getMany');
      }
      cuts++;
      await new Promise((r) => setImmediate(r));
    }
  });
  // At least `ms`, and until enough happened to mean something (a loaded machine is slow).
  const started = Date.now();
  while (Date.now() - started < ms || cuts < 30 || writes < 300) {
    if (Date.now() - started > 60_000) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  stop = true;
  await Promise.all([...writers, ...readers]);
  return { cuts, writes };
}

for (const shards of [2, 4, 8]) {
  test(`model (${shards} shards): cuts never show half a batch, nor a write without an earlier answered one`, async () => {
    await withTempDir(async (dir) => {
      const db = await open(path.join(dir, 'db'), { shards, memtableBytes: 256 * 1024 });
      const { cuts, writes } = await runModel(db, shards, 17 + shards, 1500);
      assert.ok(cuts >= 30 && writes >= 300, `${cuts} cuts checked, ${writes} writes`);
      const stats = db.stats();
      assert.ok(stats.batchesAcrossShards > 0 && stats.batchesInOneShard > 0, 'both kinds of batch ran');
      await db.close();
      // After a reopen every shard holds every write (the last rounds agree per writer).
      const again = await open(path.join(dir, 'db'));
      const snap = again.snapshot();
      assert.is(snap.sequence, Number(again.sequence), 'reopened, nothing in flight: the cut is the published sequence');
      snap.release();
      await again.close();
    });
  });
}

test.run();
