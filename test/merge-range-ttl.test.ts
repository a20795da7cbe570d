// Merge operands meeting range tombstones and expiring puts: a clear or an expiry ends a key's
// chain of operands as a deletion does, in point reads, iterators (both directions), snapshots,
// and after flushes and compactions (which fold operands, drop what tombstones cover and turn
// expired puts into deletions). Each case is checked in memory, after a flush, and after a
// full compaction, on 1 and 3 shards.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { open, type Database } from '../src/index.js';
import { withTempDir } from './helpers.js';

const n = (v: Buffer | undefined) => (v === undefined ? undefined : v.readBigInt64LE(0));
const counter = (x: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(x);
  return b;
};

/** What every read path says of `keys`: get, a forward scan and a reverse scan must agree. */
async function readAll(db: Database, keys: string[], snapshot?: ReturnType<Database['snapshot']>): Promise<Record<string, bigint | undefined>> {
  const o = snapshot === undefined ? {} : { snapshot };
  const got: Record<string, bigint | undefined> = {};
  for (const k of keys) got[k] = n(await db.get(k, o));
  const forward: Record<string, bigint> = {};
  for await (const [k, v] of db.iterator(o)) forward[k.toString()] = n(v)!;
  const reverse: Record<string, bigint> = {};
  for await (const [k, v] of db.iterator({ ...o, reverse: true })) reverse[k.toString()] = n(v)!;
  const present = Object.fromEntries(Object.entries(got).filter(([, v]) => v !== undefined));
  assert.equal(forward, present, 'a forward scan agrees with get');
  assert.equal(reverse, present, 'a reverse scan agrees with get');
  return got;
}

for (const shards of [1, 3]) {
  test(`a clear ends the merge chains it covers; operands after it start from nothing (${shards} shard(s))`, () =>
    withTempDir(async (dir) => {
      const db = await open(dir, { shards, mergeOperator: 'add', memtableBytes: 64 * 1024 });
      const keys = ['a', 'b', 'c', 'm', 'z'];
      for (const k of keys) await db.put(k, counter(100n));
      for (const k of keys) await db.merge(k, 5n);
      const before = db.snapshot();
      await db.clear({ gte: 'b', lt: 'n' }); // b, c, m
      for (const k of ['a', 'c', 'z']) await db.merge(k, 1n);
      const want = { a: 106n, b: undefined, c: 1n, m: undefined, z: 106n };
      const wantBefore = { a: 105n, b: 105n, c: 105n, m: 105n, z: 105n };
      assert.equal(await readAll(db, keys), want, 'in memory');
      assert.equal(await readAll(db, keys, before), wantBefore, 'a snapshot from before the clear');
      await db.flush();
      assert.equal(await readAll(db, keys), want, 'after a flush');
      assert.equal(await readAll(db, keys, before), wantBefore, 'the snapshot, after a flush');
      await db.compactRange();
      assert.equal(await readAll(db, keys, before), wantBefore, 'the snapshot, after a compaction');
      before.release();
      await db.compactRange();
      assert.equal(await readAll(db, keys), want, 'after a compaction with no snapshot held');
      await db.close();
      const again = await open(dir, { mergeOperator: 'add' });
      assert.equal(await readAll(again, keys), want, 'after a reopen');
      await again.close();
    }));

  test(`merges over a put that expires read over nothing once it has expired, also after compaction (${shards} shard(s))`, () =>
    withTempDir(async (dir) => {
      const clock = { now: 1_700_000_000_000 };
      const db = await open(dir, { shards, mergeOperator: 'add', clock: () => clock.now });
      await db.put('k', counter(1000n), { ttl: 1000 });
      await db.merge('k', 7n);
      await db.merge('k', 3n);
      await db.put('q', counter(50n));
      await db.merge('q', 1n);
      assert.equal(await readAll(db, ['k', 'q']), { k: 1010n, q: 51n }, 'before the expiry');
      await db.flush();
      await db.compactRange();
      // A compaction before the expiry must not fold the operands into a put that outlives it.
      assert.equal(await readAll(db, ['k', 'q']), { k: 1010n, q: 51n }, 'compacted before the expiry');
      clock.now += 1000;
      assert.equal(await readAll(db, ['k', 'q']), { k: 10n, q: 51n }, 'after the expiry: the operands over nothing');
      await db.compactRange();
      assert.equal(await readAll(db, ['k', 'q']), { k: 10n, q: 51n }, 'compacted after the expiry');
      await db.merge('k', 1n);
      assert.equal(await readAll(db, ['k', 'q']), { k: 11n, q: 51n });
      await db.close();
    }));
}

test('a batch mixing merges and a clear applies them in order: a merge before the clear is cleared, one after it stays', () =>
  withTempDir(async (dir) => {
    const db = await open(dir, { shards: 2, mergeOperator: 'add' });
    await db.put('x', counter(10n));
    await db.batch([
      { type: 'merge', key: 'x', value: 1n },
      { type: 'merge', key: 'y', value: 2n },
      { type: 'clear', gte: 'x', lt: 'z' },
      { type: 'merge', key: 'y', value: 4n },
    ]);
    assert.equal(await readAll(db, ['x', 'y']), { x: undefined, y: 4n });
    const ops = [];
    for await (const c of db.changes({ since: 1n, live: false })) ops.push(...c.ops.map((o) => o.type));
    assert.equal(ops, ['merge', 'merge', 'clear', 'merge'], 'the feed lists the batch in the order given, the clear once');
    await db.close();
  }));

test.run();
