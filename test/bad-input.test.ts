// Bad input costs nothing: what a hostile or careless caller passes is refused with
// INVALID_ARGUMENT before anything is written, the database goes on, and what a write stored
// is what the caller passed at the call, whatever it does with its buffers afterwards.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { open, Snapshot, StrataError, type Database } from '../src/index.js';
import { expectCode, withTempDir } from './helpers.js';

const SHARDS = [1, 4];

async function withDb(shards: number, fn: (db: Database, dir: string) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const db = await open(dir, { shards });
    try {
      await fn(db, dir);
    } finally {
      await db.close();
    }
  });
}

function detached(bytes: number): Uint8Array {
  const view = new Uint8Array(bytes);
  structuredClone(view.buffer, { transfer: [view.buffer] });
  return view;
}

/** A resizable ArrayBuffer (ES2024; Node 20 has it, the ES2022 lib does not declare it). */
type ResizableBufferConstructor = new (length: number, options: { maxByteLength: number }) => ArrayBuffer & { resize(length: number): void };

function shrunk(): Uint8Array {
  const buffer = new (ArrayBuffer as unknown as ResizableBufferConstructor)(16, { maxByteLength: 16 });
  const view = new Uint8Array(buffer, 8, 8);
  buffer.resize(4);
  return view;
}

for (const shards of SHARDS) {
  test(`a key or value over a detached or shrunk buffer is INVALID_ARGUMENT and the database goes on (${shards} shard(s))`, () =>
    withDb(shards, async (db) => {
      for (const [what, bad] of [['detached', detached(8)], ['shrunk', shrunk()]] as const) {
        await expectCode(() => db.put(bad, 'v'), 'INVALID_ARGUMENT', `put with a ${what} key`);
        await expectCode(() => db.put('k', bad), 'INVALID_ARGUMENT', `put with a ${what} value`);
        await expectCode(() => db.del(bad), 'INVALID_ARGUMENT', `del with a ${what} key`);
        await expectCode(() => db.batch([{ type: 'put', key: 'a', value: '1' }, { type: 'put', key: 'b', value: bad }]), 'INVALID_ARGUMENT', `batch with a ${what} value`);
        await expectCode(() => db.get(bad), 'INVALID_ARGUMENT', `get with a ${what} key`);
        assert.throws(() => db.iterator({ gte: bad }), (err: unknown) => err instanceof StrataError && err.code === 'INVALID_ARGUMENT');
      }
      assert.is(await db.get('a'), undefined, 'the batch with a bad operation wrote nothing');
      await db.put('after', 'still writable', { sync: true });
      await db.batch([{ type: 'put', key: 'x', value: '1' }, { type: 'put', key: 'y', value: '2' }]);
      assert.is((await db.get('after'))?.toString(), 'still writable');
      assert.is((await db.get('y'))?.toString(), '2');
      await db.flush();
    }));

  test(`a caller changing its buffers after put() or batch() changes nothing stored, before or after reopen (${shards} shard(s))`, () =>
    withTempDir(async (dir) => {
      let db = await open(dir, { shards });
      const keys = Array.from({ length: 8 }, (_, i) => Buffer.from(`mutkey-${i}`));
      const values = keys.map((_, i) => Buffer.from(`original-${i}`));
      const writes = keys.map((k, i) => db.put(k, values[i]!));
      const batchKeys = [Buffer.from('batch-a'), Buffer.from('batch-b'), Buffer.from('batch-c')];
      const batchValue = Buffer.from('batch-original');
      writes.push(db.batch(batchKeys.map((key) => ({ type: 'put' as const, key, value: batchValue }))));
      // Before any write resolved: the caller reuses every buffer.
      for (const k of [...keys, ...batchKeys]) k.fill(0x58);
      for (const v of [...values, batchValue]) v.fill(0x4d);
      await Promise.all(writes);
      const expectAll = async (when: string) => {
        for (let i = 0; i < keys.length; i++) assert.is((await db.get(`mutkey-${i}`))?.toString(), `original-${i}`, `mutkey-${i} ${when}`);
        for (const k of ['batch-a', 'batch-b', 'batch-c']) assert.is((await db.get(k))?.toString(), 'batch-original', `${k} ${when}`);
        assert.is(await db.get(keys[0]!), undefined, `the mutated key bytes name nothing ${when}`);
      };
      await expectAll('before reopen');
      await db.close();
      db = await open(dir);
      try {
        await expectAll('after reopen');
      } finally {
        await db.close();
      }
    }));

  test(`an iterator's bounds are the bytes at the call, whatever the caller does with them later (${shards} shard(s))`, () =>
    withDb(shards, async (db) => {
      await db.batch(['a', 'b', 'c', 'd', 'e'].map((key) => ({ type: 'put' as const, key, value: key })));
      const lower = Buffer.from('b');
      const upper = Buffer.from('d');
      const it = db.iterator({ gte: lower, lt: upper });
      lower.write('a');
      upper.write('z');
      const keys: string[] = [];
      for await (const [key] of it) keys.push(key.toString());
      assert.equal(keys, ['b', 'c']);
    }));

  test(`misspelt or unknown options of every call are INVALID_ARGUMENT and write nothing (${shards} shard(s))`, () =>
    withDb(shards, async (db) => {
      const snap = db.snapshot();
      const wrongOptions: [string, () => unknown][] = [
        ['put { synk }', () => db.put('k', 'v', { synk: true } as never)],
        ['del { synk }', () => db.del('k', { synk: true } as never)],
        ['batch { snyc }', () => db.batch([{ type: 'put', key: 'k', value: 'v' }], { snyc: true } as never)],
        ['empty batch { snyc }', () => db.batch([], { snyc: true } as never)],
        ['get { snapshott }', () => db.get('k', { snapshott: snap } as never)],
        ['getSync { snapshott }', () => db.getSync('k', { snapshott: snap } as never)],
        ['iterator { limt }', () => db.iterator({ limt: 5 } as never)],
        ['iterator { gt: null }', () => db.iterator({ gt: null } as never)],
        ['iterator { lte: null }', () => db.iterator({ lte: null } as never)],
        ['iterator options an array', () => db.iterator([] as never)],
        ['put options a string', () => db.put('k', 'v', 'sync' as never)],
      ];
      for (const [what, call] of wrongOptions) await expectCode(call, 'INVALID_ARGUMENT', what);
      assert.is(await db.get('k'), undefined, 'none of the refused writes wrote');
      assert.is(db.stats().openIterators, 0, 'no refused iterator stays open');
      snap.release();
    }));

  test(`a forged or foreign snapshot is INVALID_ARGUMENT, never a TypeError (${shards} shard(s))`, () =>
    withDb(shards, async (db) => {
      const forged = Object.create(Snapshot.prototype) as Snapshot;
      await expectCode(() => db.get('k', { snapshot: forged }), 'INVALID_ARGUMENT', 'get through a forged snapshot');
      assert.throws(() => db.iterator({ snapshot: forged }), (err: unknown) => err instanceof StrataError && err.code === 'INVALID_ARGUMENT');
      await expectCode(() => db.get('k', { snapshot: { sequence: 1 } as never }), 'INVALID_ARGUMENT', 'get through a plain object');
      assert.is(db.stats().liveSnapshots, 0, 'a refused iterator pins nothing');
    }));

  test(`strings with a lone surrogate are INVALID_ARGUMENT as keys and values; well-formed ones round-trip (${shards} shard(s))`, () =>
    withDb(shards, async (db) => {
      await expectCode(() => db.put('\uD800', 'v'), 'INVALID_ARGUMENT', 'a lone high surrogate key');
      await expectCode(() => db.put('a\uDC00b', 'v'), 'INVALID_ARGUMENT', 'a lone low surrogate key');
      await expectCode(() => db.put('k', 'x\uD800'), 'INVALID_ARGUMENT', 'a lone surrogate value');
      await expectCode(() => db.get('\uDC00'), 'INVALID_ARGUMENT', 'get of a lone surrogate');
      await expectCode(() => db.batch([{ type: 'del', key: '\uD800' }]), 'INVALID_ARGUMENT', 'batch del of a lone surrogate');
      await db.put('\uD83D\uDE00', 'emoji');
      assert.is((await db.get('\uD83D\uDE00'))?.toString(), 'emoji');
      assert.is(await db.get('k'), undefined);
    }));
}

test('open() refuses a NUL in the location and an fs that is not a FileSystem with INVALID_ARGUMENT', async () => {
  await withTempDir(async (dir) => {
    await expectCode(() => open(`${dir}/a\0b`), 'INVALID_ARGUMENT', 'a NUL in the location');
    await expectCode(() => open(dir, { fs: {} as never }), 'INVALID_ARGUMENT', 'fs: {}');
    await expectCode(() => open(dir, { fs: { readdir: () => [] } as never }), 'INVALID_ARGUMENT', 'fs with one method');
    const db = await open(dir);
    await db.close();
  });
});

test.run();
