// What StrataLevel promises beyond abstract-level's own suite (test/level.test.ts): how it
// maps stratadb's errors and options, normalizes ranges, clears large ranges, and that its
// data is stratadb's data.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_KEY_BYTES, open } from '../src/index.js';
import { StrataLevel } from '../src/level/index.js';
import { flipByte, newestFile } from './helpers.js';

const dirs: string[] = [];

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-level-adapter-'));
  dirs.push(dir);
  return path.join(dir, 'db');
}

test.after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

type CodedError = Error & { code?: string; cause?: { code?: string } };

/** The error `promise` rejects with; fails if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<CodedError> {
  try {
    await promise;
  } catch (err) {
    return err as CodedError;
  }
  assert.unreachable('expected a rejection');
  throw new Error('unreachable');
}

test('a classic-level program runs unchanged on StrataLevel, and its data survives a reopen', async () => {
  const location = tempDir();
  const db = new StrataLevel<string, unknown>(location, { valueEncoding: 'json' });
  const users = db.sublevel<string, { name: string }>('users', { valueEncoding: 'json' });
  await db.put('config', { version: 1 });
  await db.batch([
    { type: 'put', sublevel: users, key: 'ada', value: { name: 'Ada' } },
    { type: 'put', sublevel: users, key: 'grace', value: { name: 'Grace' } },
  ]);
  assert.equal(await users.keys().all(), ['ada', 'grace']);
  await db.close();

  const again = new StrataLevel<string, unknown>(location, { valueEncoding: 'json' });
  assert.equal(await again.get('config'), { version: 1 });
  assert.equal(await again.sublevel('users', { valueEncoding: 'json' }).get('grace'), { name: 'Grace' });
  assert.equal(await again.keys().all(), ['!users!ada', '!users!grace', 'config']);
  await again.close();
});

test('gte takes precedence over gt, and lte over lt, in iterators and clear()', async () => {
  const db = new StrataLevel(tempDir());
  await db.batch(['a', 'b', 'c', 'd'].map((key) => ({ type: 'put' as const, key, value: key })));
  assert.equal(await db.keys({ gt: 'b', gte: 'a', lt: 'c', lte: 'd' }).all(), ['a', 'b', 'c', 'd']);
  assert.equal(await db.keys({ gt: 'a', gte: 'b', lt: 'd', lte: 'c', reverse: true }).all(), ['c', 'b']);
  await db.clear({ gt: 'a', gte: 'b', lt: 'd', lte: 'c' });
  assert.equal(await db.keys().all(), ['a', 'd']);
  await db.close();
});

test('clear() deletes a range of several batches, with limit and reverse', async () => {
  const db = new StrataLevel(tempDir());
  const keys = Array.from({ length: 3000 }, (_, i) => `k${String(i).padStart(5, '0')}`);
  await db.batch(keys.map((key) => ({ type: 'put' as const, key, value: 'v' })));
  await db.clear({ reverse: true, limit: 1500 });
  assert.equal(await db.keys().all(), keys.slice(0, 1500));
  await db.clear({ gte: keys[10]!, limit: 1100 });
  assert.equal(await db.keys().all(), [...keys.slice(0, 10), ...keys.slice(1110, 1500)]);
  await db.clear();
  assert.equal(await db.keys().all(), []);
  await db.close();
});

/** Fills 20,000 keys, then issues clear(options) and, right behind it, 300 puts into the range; returns the keys left. */
async function clearUnderWrites(clearOptions: object): Promise<{ left: string[]; during: Set<string> }> {
  const db = new StrataLevel(tempDir(), { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  const keys = Array.from({ length: 20_000 }, (_, i) => `k${String(i).padStart(6, '0')}`);
  for (let i = 0; i < keys.length; i += 2000) await db.batch(keys.slice(i, i + 2000).map((key) => ({ type: 'put' as const, key, value: 'old' })));
  const during = new Set<string>();
  const cleared = db.clear(clearOptions);
  // Issued after clear(), in the same turn: each write must land after it.
  const writes = Array.from({ length: 300 }, (_, i) => {
    const key = keys[(i * 6151) % keys.length]!;
    during.add(key);
    return db.put(key, 'during');
  });
  await Promise.all([cleared, ...writes]);
  const left = await db.keys().all();
  for (const key of left) assert.is(await db.get(key), 'during', key);
  await db.close();
  return { left, during };
}

test('clear() is one atomic write: writes issued after it all survive, every older key is gone', async () => {
  const { left, during } = await clearUnderWrites({ gte: 'k', lt: 'l' });
  assert.equal(left, [...during].sort());
});

test('clear() with a limit reads and deletes in batches, which is not atomic: writes issued after it may be deleted', async () => {
  // The contrast that shows what the test above checks: the batched path loses writes.
  const { left, during } = await clearUnderWrites({ gte: 'k', lt: 'l', limit: 1_000_000 });
  assert.ok(left.length < during.size, `${left.length} of ${during.size} writes survived`);
});

test('approximateSize() and compactRange() as classic-level has them: a clear()ed range returns its bytes', async () => {
  const db = new StrataLevel(tempDir(), { blockBytes: 1024 });
  assert.equal(db.supports.additionalMethods, { approximateSize: true, compactRange: true });
  const keys = Array.from({ length: 4000 }, (_, i) => `k${String(i).padStart(5, '0')}`);
  for (let i = 0; i < keys.length; i += 1000) await db.batch(keys.slice(i, i + 1000).map((key) => ({ type: 'put' as const, key, value: `value of ${key} `.repeat(6) })));
  await db.compactRange('k', 'l');
  const all = await db.approximateSize('k', 'l');
  assert.ok(all > 50_000, `${all} bytes`);
  const half = await db.approximateSize(keys[0]!, keys[2000]!);
  assert.ok(Math.abs(half - all / 2) < all / 8, `${half} of ${all}`);
  await db.clear({ gte: keys[0]!, lt: keys[2000]! });
  await db.compactRange(keys[0]!, keys[3999]!);
  const after = await db.approximateSize('k', 'l');
  assert.ok(after < all * 0.6, `after clear and compactRange: ${after} of ${all}`);
  assert.is((await db.keys().all()).length, 2000);
  assert.instance(await rejection((db.approximateSize as (a: string) => Promise<number>)('k')), TypeError);
  await db.close();
  const closed = await rejection(db.approximateSize('a', 'b'));
  assert.is(closed.code, 'LEVEL_DATABASE_NOT_OPEN');
});

test('a second open of the same directory fails with LEVEL_LOCKED as the cause', async () => {
  const location = tempDir();
  const first = new StrataLevel(location);
  await first.open();
  const second = new StrataLevel(location);
  const err = await rejection(second.open());
  assert.is(err.code, 'LEVEL_DATABASE_NOT_OPEN');
  assert.is(err.cause?.code, 'LEVEL_LOCKED');
  assert.is((err.cause as { cause?: { code?: string } }).cause?.code, 'LOCKED', 'the StrataError stays reachable');
  await first.close();
});

test('damage inside the log fails open with LEVEL_CORRUPTION as the cause', async () => {
  const location = tempDir();
  const db = new StrataLevel(location);
  for (let i = 0; i < 10; i++) await db.put(`key${i}`, 'x'.repeat(100));
  await db.close();
  flipByte(newestFile(location, '.log'), 20);
  const reopened = new StrataLevel(location);
  const err = await rejection(reopened.open());
  assert.is(err.code, 'LEVEL_DATABASE_NOT_OPEN');
  assert.is(err.cause?.code, 'LEVEL_CORRUPTION');
});

test('a key over MAX_KEY_BYTES fails with LEVEL_INVALID_KEY and writes nothing', async () => {
  const db = new StrataLevel<Buffer, string>(tempDir(), { keyEncoding: 'buffer' });
  const big = Buffer.alloc(MAX_KEY_BYTES + 1, 1);
  assert.is((await rejection(db.put(big, 'v'))).code, 'LEVEL_INVALID_KEY');
  assert.is((await rejection(db.batch([{ type: 'put', key: Buffer.from('ok'), value: 'v' }, { type: 'del', key: big }]))).code, 'LEVEL_INVALID_KEY');
  assert.is((await rejection(db.get(big))).code, 'LEVEL_INVALID_KEY');
  assert.equal(await db.keys().all(), []);
  await db.close();
});

test("stratadb's options pass through, classic-level's boolean compression is taken, other options are ignored", async () => {
  const location = tempDir();
  const db = new StrataLevel(location, { memtableBytes: 64 * 1024, compression: 'none', userland: 123 } as object);
  await db.open();
  await db.close();
  const classic = new StrataLevel(location, { compression: false } as object);
  await classic.open();
  await classic.close();
  const bad = new StrataLevel(location, { memtableBytes: 1 });
  const err = await rejection(bad.open());
  assert.is(err.code, 'LEVEL_DATABASE_NOT_OPEN');
  assert.is(err.cause?.code, 'INVALID_ARGUMENT');
  const ok = new StrataLevel(location);
  assert.is((await rejection(ok.put('k', 'v', { sync: 'yes' } as object))).code, 'INVALID_ARGUMENT', 'the sync option reaches stratadb');
  await ok.put('k', 'v', { sync: true } as object);
  await ok.close();
});

test('errorIfExists refuses an existing database with a message that says so', async () => {
  const location = tempDir();
  const db = new StrataLevel(location);
  await db.open();
  await db.close();
  const err = await rejection(db.open({ errorIfExists: true }));
  assert.is(err.cause?.code, 'INVALID_ARGUMENT');
  assert.match((err.cause as Error).message, /exists/);
});

test("the 'view' encoding yields plain Uint8Arrays and 'buffer' yields Buffers", async () => {
  const db = new StrataLevel<Uint8Array, Uint8Array>(tempDir(), { keyEncoding: 'view', valueEncoding: 'view' });
  await db.put(Uint8Array.of(1), Uint8Array.of(2, 3));
  const value = await db.get(Uint8Array.of(1));
  assert.ok(value instanceof Uint8Array && !Buffer.isBuffer(value));
  assert.equal([...value], [2, 3]);
  const [key] = await db.keys().all();
  assert.ok(key instanceof Uint8Array && !Buffer.isBuffer(key));
  assert.ok(Buffer.isBuffer(await db.get(Uint8Array.of(1), { valueEncoding: 'buffer' })));
  await db.close();
});

test('reads are served from tables after memtables flush, in both directions', async () => {
  const db = new StrataLevel(tempDir(), { memtableBytes: 64 * 1024 });
  const keys = Array.from({ length: 2000 }, (_, i) => `key${String(i).padStart(5, '0')}`);
  for (let i = 0; i < keys.length; i += 100) {
    await db.batch(keys.slice(i, i + 100).map((key) => ({ type: 'put' as const, key, value: `${key}:${'v'.repeat(200)}` })));
  }
  assert.equal(await db.keys().all(), keys);
  assert.equal(await db.keys({ reverse: true, lt: keys[1000]!, limit: 3 }).all(), [keys[999], keys[998], keys[997]]);
  assert.is(db.getSync(keys[1234]!), `${keys[1234]}:${'v'.repeat(200)}`);
  assert.equal(await db.hasMany([keys[0]!, 'missing', keys[1999]!]), [true, false, true]);
  await db.close();
});

test("StrataLevel's data is stratadb's data: UTF-8 keys and values, sublevels as prefixes", async () => {
  const location = tempDir();
  const db = new StrataLevel(location);
  await db.put('héllo', 'wörld');
  await db.sublevel('s').put('k', 'v');
  await db.close();
  const raw = await open(location);
  assert.is((await raw.get('héllo'))?.toString('utf8'), 'wörld');
  assert.is((await raw.get('!s!k'))?.toString('utf8'), 'v');
  await raw.close();
});

test.run();
