// The public API's promises: round trips, visibility, snapshots, every error code, bad
// input of every kind, the lock, and close().
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NodeFileSystem, open, StrataError, type Database, type FileSystem, type WritableFile } from '../src/index.js';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'strata-api-'));
}

async function rejectsWith(promise: Promise<unknown> | (() => unknown), code: string): Promise<StrataError> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (err) {
    assert.instance(err, StrataError, `expected a StrataError, got ${String(err)}`);
    assert.is((err as StrataError).code, code, (err as Error).message);
    return err as StrataError;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

async function withDb(fn: (db: Database, dir: string) => Promise<void>, options = {}): Promise<void> {
  const dir = tempDir();
  const db = await open(dir, options);
  try {
    await fn(db, dir);
  } finally {
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('writes resolve to their sequence numbers; an empty batch to the current one; db.sequence follows', () =>
  withDb(async (db) => {
    assert.is(db.sequence, 0n);
    const a = await db.put('a', '1');
    const b = await db.del('a');
    const c = await db.batch([{ type: 'put', key: 'x', value: '1' }, { type: 'put', key: 'y', value: '2' }, { type: 'del', key: 'z' }]);
    assert.equal([a, b, c], [1n, 2n, 5n], 'put, del, then a batch of three: its highest number');
    assert.is(await db.batch([]), 5n);
    assert.is(db.sequence, 5n);
    const concurrent = await Promise.all([db.put('p', '1'), db.put('q', '2'), db.batch([{ type: 'put', key: 'r', value: '3' }, { type: 'put', key: 's', value: '4' }])]);
    assert.equal(concurrent, [6n, 7n, 9n], 'numbers follow call order');
    // Conditional writes resolve the same way, and getEntry() tells the number back.
    const d = await db.put('cond', '1', { ifAbsent: true });
    assert.is(d, 10n);
    assert.is((await db.getEntry('cond'))?.seq, d);
    assert.is(await db.put('cond', '2', { ifSeq: d }), 11n);
    assert.is(await db.batch([{ type: 'del', key: 'cond', ifSeq: 11n }]), 12n);
  }, { shards: 1 }));

test('a batch across shards resolves to its highest sequence number', () =>
  withDb(async (db) => {
    const keys = Array.from({ length: 16 }, (_, i) => `k${i}`);
    assert.is(await db.put('a', '1'), 1n);
    assert.is(await db.batch(keys.map((key) => ({ type: 'put' as const, key, value: 'v' }))), 17n);
    assert.is(db.sequence, 17n);
  }, { shards: 3 }));

test('put, get and del round trip strings, bytes and the empty key', () =>
  withDb(async (db) => {
    await db.put('a', 'alpha');
    await db.put(new Uint8Array([0, 255]), new Uint8Array([1, 2, 3]));
    await db.put('', 'empty key');
    await db.put('empty value', '');
    assert.equal((await db.get('a'))?.toString(), 'alpha');
    assert.equal(await db.get(new Uint8Array([0, 255])), Buffer.from([1, 2, 3]));
    assert.equal((await db.get(''))?.toString(), 'empty key');
    assert.equal((await db.get('empty value'))?.length, 0);
    assert.is(await db.get('missing'), undefined);
    await db.del('a');
    assert.is(await db.get('a'), undefined);
    await db.del('never existed');
  }));

test('a value returned by get is a copy the caller may change', () =>
  withDb(async (db) => {
    await db.put('k', 'value');
    const v = (await db.get('k'))!;
    v.fill(0);
    assert.equal((await db.get('k'))?.toString(), 'value');
  }));

test('a write is visible only once its promise resolves, and then at once', () =>
  withDb(async (db) => {
    const pending = db.put('k', 'v');
    assert.is(db.getSync('k'), undefined);
    await pending;
    assert.equal(db.getSync('k')?.toString(), 'v');
  }));

test('a thousand concurrent sync writes share a few fsyncs', () =>
  withDb(async (db) => {
    const writes = [];
    for (let i = 0; i < 1000; i++) writes.push(db.put(`key${i}`, `value${i}`, { sync: true }));
    await Promise.all(writes);
    const s = db.stats();
    assert.is(s.writes, 1000);
    assert.ok(s.walSyncs <= 5, `walSyncs ${s.walSyncs}`);
    assert.ok(s.largestGroup >= 500, `largestGroup ${s.largestGroup}`);
    for (let i = 0; i < 1000; i += 97) assert.equal((await db.get(`key${i}`))?.toString(), `value${i}`);
  }));

test('a batch applies all of its operations', () =>
  withDb(async (db) => {
    await db.put('gone', 'x');
    await db.batch([
      { type: 'put', key: 'a', value: '1' },
      { type: 'put', key: 'b', value: '2' },
      { type: 'del', key: 'gone' },
      { type: 'put', key: 'a', value: '3' },
    ]);
    assert.equal((await db.get('a'))?.toString(), '3');
    assert.equal((await db.get('b'))?.toString(), '2');
    assert.is(await db.get('gone'), undefined);
    await db.batch([]);
  }));

test('a batch built without a type annotation type-checks and applies (type widened to string)', () =>
  withDb(async (db) => {
    // Compiled under the project's strict settings: this file does not build if batch()
    // refuses the widened array.
    const ops = [
      { type: 'put', key: 'a', value: '1' },
      { type: 'del', key: 'b' },
    ];
    await db.batch(ops);
    assert.is((await db.get('a'))?.toString(), '1');
    const typo = [{ type: 'putt', key: 'c', value: '3' }];
    const err = await rejectsWith(db.batch(typo), 'INVALID_ARGUMENT');
    assert.match(err.message, /"putt"/);
  }));

test('a batch with one bad operation writes nothing', () =>
  withDb(async (db) => {
    await rejectsWith(
      db.batch([
        { type: 'put', key: 'a', value: '1' },
        { type: 'put', key: 'b', value: 42 as unknown as string },
      ]),
      'INVALID_ARGUMENT',
    );
    await rejectsWith(db.batch([{ type: 'put', key: 'a', value: '1' }, { type: 'nope' } as never]), 'INVALID_ARGUMENT');
    await rejectsWith(db.batch('x' as never), 'INVALID_ARGUMENT');
    assert.is(await db.get('a'), undefined);
    assert.is(db.stats().writes, 0);
  }));

test('wrong key and value types are INVALID_ARGUMENT', () =>
  withDb(async (db) => {
    for (const bad of [1, null, undefined, {}, [], true, Symbol('s')]) {
      await rejectsWith(db.put(bad as never, 'v'), 'INVALID_ARGUMENT');
      await rejectsWith(db.put('k', bad as never), 'INVALID_ARGUMENT');
      await rejectsWith(db.get(bad as never), 'INVALID_ARGUMENT');
      await rejectsWith(db.del(bad as never), 'INVALID_ARGUMENT');
    }
    await rejectsWith(db.put('k', 'v', { sync: 'yes' as never }), 'INVALID_ARGUMENT');
    await rejectsWith(db.put('k', 'v', 5 as never), 'INVALID_ARGUMENT');
    assert.is(db.stats().writes, 0);
  }));

test('keys over 64 KiB and values over 256 MiB are INVALID_ARGUMENT; the limits themselves are fine', () =>
  withDb(async (db) => {
    await db.put(Buffer.alloc(64 * 1024, 1), 'max key');
    assert.equal((await db.get(Buffer.alloc(64 * 1024, 1)))?.toString(), 'max key');
    await rejectsWith(db.put(Buffer.alloc(64 * 1024 + 1), 'v'), 'INVALID_ARGUMENT');
    await rejectsWith(db.put('x'.repeat(64 * 1024 + 1), 'v'), 'INVALID_ARGUMENT');
    await rejectsWith(db.get(Buffer.alloc(64 * 1024 + 1)), 'INVALID_ARGUMENT');
    await rejectsWith(db.put('k', Buffer.allocUnsafe(256 * 1024 * 1024 + 1)), 'INVALID_ARGUMENT');
  }));

test('options out of range and unknown options are INVALID_ARGUMENT', async () => {
  const dir = tempDir();
  for (const bad of [
    { memtableBytes: 5 },
    { memtableBytes: 1.5 },
    { memtableBytes: '64MB' },
    { compression: 'zstd' },
    { blockCacheBytes: -1 },
    { bloomBitsPerKey: 1000 },
    { sync: 1 },
    { walRecovery: 'ignore' },
    { typoOption: true },
  ]) {
    await rejectsWith(open(dir, bad as never), 'INVALID_ARGUMENT');
  }
  await rejectsWith(open(dir, 'fast' as never), 'INVALID_ARGUMENT');
  await rejectsWith(open(42 as never), 'INVALID_ARGUMENT');
  assert.equal(fs.readdirSync(dir), []);
  fs.rmSync(dir, { recursive: true });
});

test('iterator options out of range are INVALID_ARGUMENT', () =>
  withDb(async (db) => {
    assert.throws(() => db.iterator({ limit: -2 }), (e: StrataError) => e.code === 'INVALID_ARGUMENT');
    assert.throws(() => db.iterator({ limit: 1.5 }), (e: StrataError) => e.code === 'INVALID_ARGUMENT');
    assert.throws(() => db.iterator({ reverse: 'yes' as never }), (e: StrataError) => e.code === 'INVALID_ARGUMENT');
    assert.throws(() => db.iterator({ gt: 'a', gte: 'b' }), (e: StrataError) => e.code === 'INVALID_ARGUMENT');
    assert.throws(() => db.iterator({ lt: 5 as never }), (e: StrataError) => e.code === 'INVALID_ARGUMENT');
    assert.is(db.stats().openIterators, 0);
  }));

test('every call after close() fails with CLOSED, and close() is idempotent', async () => {
  const dir = tempDir();
  const db = await open(dir);
  await db.put('k', 'v');
  const it = db.iterator();
  const snap = db.snapshot();
  await db.close();
  await db.close();
  await rejectsWith(db.put('k', 'v'), 'CLOSED');
  await rejectsWith(db.get('k'), 'CLOSED');
  await rejectsWith(db.del('k'), 'CLOSED');
  await rejectsWith(db.batch([]), 'CLOSED');
  await rejectsWith(db.flush(), 'CLOSED');
  await rejectsWith(() => db.iterator(), 'CLOSED');
  await rejectsWith(() => db.snapshot(), 'CLOSED');
  await rejectsWith(() => db.stats(), 'CLOSED');
  await rejectsWith(it.next(), 'CLOSED');
  assert.ok(snap.released);
  fs.rmSync(dir, { recursive: true });
});

test('close() waits for the writes in flight', async () => {
  const dir = tempDir();
  const db = await open(dir);
  const writes = [];
  for (let i = 0; i < 500; i++) writes.push(db.put(`k${i}`, `v${i}`));
  await db.close();
  await Promise.all(writes);
  const again = await open(dir);
  for (let i = 0; i < 500; i++) assert.equal((await again.get(`k${i}`))?.toString(), `v${i}`);
  await again.close();
  fs.rmSync(dir, { recursive: true });
});

test('a second open of the same directory fails at once with LOCKED, in this process and another', async () => {
  const dir = tempDir();
  const db = await open(dir);
  await rejectsWith(open(dir), 'LOCKED');
  const child = `import('${new URL('../src/index.js', import.meta.url).href}').then(m => m.open(${JSON.stringify(dir)})).then(() => process.exit(0), e => { console.log(e.code); process.exit(3); })`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', child], { encoding: 'utf8', timeout: 30_000 });
  assert.is(r.stdout.trim(), 'LOCKED');
  await db.put('still', 'works');
  await db.close();
  const again = await open(dir);
  assert.equal((await again.get('still'))?.toString(), 'works');
  await again.close();
  fs.rmSync(dir, { recursive: true });
});

test('createIfMissing: false on a missing directory is NOT_FOUND; errorIfExists on a database is INVALID_ARGUMENT', async () => {
  const dir = tempDir();
  await rejectsWith(open(path.join(dir, 'nope'), { createIfMissing: false }), 'NOT_FOUND');
  const db = await open(path.join(dir, 'db'));
  await db.close();
  await rejectsWith(open(path.join(dir, 'db'), { errorIfExists: true }), 'INVALID_ARGUMENT');
  const again = await open(path.join(dir, 'db'), { createIfMissing: false });
  await again.close();
  fs.rmSync(dir, { recursive: true });
});

test('a snapshot reads the past across overwrites, deletes and flushes; released, it is CLOSED', () =>
  withDb(async (db) => {
    await db.put('a', 'old');
    await db.put('b', 'old');
    const snap = db.snapshot();
    await db.put('a', 'new');
    await db.del('b');
    await db.put('c', 'new');
    await db.flush();
    assert.equal((await db.get('a', { snapshot: snap }))?.toString(), 'old');
    assert.equal((await db.get('b', { snapshot: snap }))?.toString(), 'old');
    assert.is(await db.get('c', { snapshot: snap }), undefined);
    const seen = [];
    for await (const [k, v] of db.iterator({ snapshot: snap })) seen.push(`${k}=${v}`);
    assert.equal(seen, ['a=old', 'b=old']);
    assert.equal((await db.get('a'))?.toString(), 'new');
    snap.release();
    snap.release();
    await rejectsWith(db.get('a', { snapshot: snap }), 'CLOSED');
    assert.throws(() => db.iterator({ snapshot: snap }), (e: StrataError) => e.code === 'CLOSED');
  }));

test('a snapshot of another database is INVALID_ARGUMENT', async () => {
  const dirA = tempDir();
  const dirB = tempDir();
  const a = await open(dirA);
  const b = await open(dirB);
  const snap = a.snapshot();
  await rejectsWith(b.get('k', { snapshot: snap }), 'INVALID_ARGUMENT');
  await rejectsWith(b.get('k', { snapshot: {} as never }), 'INVALID_ARGUMENT');
  await a.close();
  await b.close();
  fs.rmSync(dirA, { recursive: true });
  fs.rmSync(dirB, { recursive: true });
});

test('an iterator keeps its snapshot while writes and a flush go on; closed, it is CLOSED', () =>
  withDb(
    async (db) => {
      for (let i = 0; i < 100; i++) await db.put(`k${String(i).padStart(3, '0')}`, `v${i}`);
      const it = db.iterator({ gte: 'k010', lt: 'k020' });
      assert.equal((await it.next())?.[0].toString(), 'k010');
      await db.put('k011', 'changed');
      await db.del('k012');
      await db.put('k0105', 'inserted');
      await db.flush();
      const rest = [];
      for (let e = await it.next(); e; e = await it.next()) rest.push(`${e[0]}=${e[1]}`);
      assert.equal(rest, ['k011=v11', 'k012=v12', 'k013=v13', 'k014=v14', 'k015=v15', 'k016=v16', 'k017=v17', 'k018=v18', 'k019=v19']);
      await it.close();
      await it.close();
      await rejectsWith(it.next(), 'CLOSED');
      assert.throws(() => it.seek('k'), (e: StrataError) => e.code === 'CLOSED');
    },
    { memtableBytes: 64 * 1024 },
  ));

test('iterator bounds, reverse, limit and seek', () =>
  withDb(async (db) => {
    for (const k of ['a', 'b', 'c', 'd', 'e']) await db.put(k, k.toUpperCase());
    const keys = async (o: Parameters<Database['iterator']>[0]) => {
      const out = [];
      for await (const [k] of db.iterator(o)) out.push(k.toString());
      return out.join('');
    };
    assert.is(await keys({}), 'abcde');
    assert.is(await keys({ gt: 'a', lt: 'e' }), 'bcd');
    assert.is(await keys({ gte: 'b', lte: 'd' }), 'bcd');
    assert.is(await keys({ reverse: true }), 'edcba');
    assert.is(await keys({ reverse: true, gt: 'a', lte: 'c' }), 'cb');
    assert.is(await keys({ limit: 2 }), 'ab');
    assert.is(await keys({ limit: 0 }), '');
    assert.is(await keys({ reverse: true, limit: 2 }), 'ed');
    const it = db.iterator({ gte: 'b' });
    it.seek('d');
    assert.is((await it.next())?.[0].toString(), 'd');
    it.seek('a');
    assert.is((await it.next())?.[0].toString(), 'b');
    await it.close();
    const rev = db.iterator({ reverse: true });
    rev.seek('c');
    assert.equal((await rev.nextv(10)).map(([k]) => k.toString()), ['c', 'b', 'a']);
    await rev.close();
    assert.is(db.stats().openIterators, 0);
  }));

test('iterator prefix: only keys starting with it, also with 0xff bytes, other bounds, reverse and limit', () =>
  withDb(async (db) => {
    const keys = [Buffer.from('a'), Buffer.from('ab'), Buffer.from('abc'), Buffer.from('abd'), Buffer.from('ac'), Buffer.from([0x61, 0xff]), Buffer.from([0x61, 0xff, 0x00]), Buffer.from([0xff]), Buffer.from([0xff, 0xff, 1]), Buffer.from('b')];
    await db.batch(keys.map((key) => ({ type: 'put' as const, key, value: 'v' })));
    const scan = async (options: object) => {
      const out: string[] = [];
      for await (const [key] of db.iterator(options)) out.push(key.toString('hex'));
      return out;
    };
    const hex = (...ks: (string | number[])[]) => ks.map((k) => Buffer.from(k as never).toString('hex'));
    assert.equal(await scan({ prefix: 'ab' }), hex('ab', 'abc', 'abd'));
    assert.equal(await scan({ prefix: 'ab', reverse: true, limit: 2 }), hex('abd', 'abc'));
    assert.equal(await scan({ prefix: 'ab', gt: 'abc' }), hex('abd'));
    assert.equal(await scan({ prefix: 'ab', lte: 'abc' }), hex('ab', 'abc'));
    assert.equal(await scan({ prefix: 'a', gte: 'b' }), []);
    assert.equal(await scan({ prefix: Buffer.from([0x61, 0xff]) }), hex([0x61, 0xff], [0x61, 0xff, 0]));
    assert.equal(await scan({ prefix: Buffer.from([0xff]) }), hex([0xff], [0xff, 0xff, 1]));
    assert.equal((await scan({ prefix: '' })).length, keys.length);
    await rejectsWith(() => db.iterator({ prefix: 5 } as never), 'INVALID_ARGUMENT');
  }));

test('data survives close and reopen, from the WAL and from tables', async () => {
  const dir = tempDir();
  let db = await open(dir, { memtableBytes: 64 * 1024 });
  for (let i = 0; i < 3000; i++) await db.put(`key${i}`, `value${i}`.repeat(5));
  await db.del('key7');
  await db.close();
  db = await open(dir, { memtableBytes: 64 * 1024 });
  assert.ok(db.stats().levels[0]!.files > 1, 'several level-0 tables');
  for (let i = 0; i < 3000; i += 7) {
    const v = await db.get(`key${i}`);
    if (i === 7) assert.is(v, undefined);
    else assert.equal(v?.toString(), `value${i}`.repeat(5));
  }
  await db.close();
  fs.rmSync(dir, { recursive: true });
});

/** A file system whose WAL syncs fail after `failAfter` successful ones. */
function failingSyncFs(failAfter: number): FileSystem {
  const real = new NodeFileSystem();
  let syncs = 0;
  return Object.assign(Object.create(real) as FileSystem, {
    createWritable: async (file: string): Promise<WritableFile> => {
      const w = await real.createWritable(file);
      if (!file.endsWith('.log')) return w;
      return {
        get path() { return w.path; },
        get size() { return w.size; },
        append: (c: Uint8Array | readonly Uint8Array[]) => w.append(c),
        close: () => w.close(),
        sync: async () => {
          if (++syncs > failAfter) throw Object.assign(new Error('injected'), { code: 'EIO' });
          return w.sync();
        },
      };
    },
  });
}

test('a failed WAL sync fails its writes with IO_ERROR and stops further writes; reads go on', async () => {
  const dir = tempDir();
  const db = await open(dir, { fs: failingSyncFs(1) });
  await db.put('before', 'ok', { sync: true });
  const err = await rejectsWith(db.put('k', 'v', { sync: true }), 'IO_ERROR');
  assert.is(err.errno, 'EIO');
  await rejectsWith(db.put('later', 'v'), 'IO_ERROR');
  assert.equal((await db.get('before'))?.toString(), 'ok');
  await db.close();
  fs.rmSync(dir, { recursive: true });
});

test.run();
