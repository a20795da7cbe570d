// Key and value encodings (src/encoding.ts): round trips through every API that takes or gives
// a key or a value, the tuple encoding's order against its documented comparator (random
// tuples), tuple bounds and prefixes, bad input (INVALID_ARGUMENT, nothing written), reopen.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Codecs, encodings } from '../src/encoding.js';
import { compareTuples, open, type Codec, type Tuple, type TupleElement } from '../src/index.js';
import { expectCode, Rng, withTempDir } from './helpers.js';

const tuple = encodings.tuple;


const NUMBERS = [0, -0, 1, -1, 0.5, -0.5, 42, 1e-300, -1e-300, 5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, Infinity, -Infinity, 2 ** 53, -(2 ** 53)];
const BIGINTS = [0n, 1n, -1n, 255n, 256n, -256n, 2n ** 64n, -(2n ** 64n), 2n ** 64n - 1n, 10n ** 40n, -(10n ** 40n)];
// Code points that order differently in UTF-16 and in UTF-8 (U+FFFF against U+10000), NUL, 0xff-ish ones.
const CHARS = ['', 'a', 'b', '\0', '\u00ff', '\uffff', '\u{10000}', '\u{1f600}', 'é', 'z'];

function randomElement(next: () => number, depth: number): TupleElement {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  switch (Math.floor(next() * (depth < 2 ? 8 : 7))) {
    case 0:
      return null;
    case 1:
      return next() < 0.5;
    case 2:
      return next() < 0.5 ? pick(NUMBERS) : Math.round((next() - 0.5) * 2000) / 8;
    case 3:
      return next() < 0.5 ? pick(BIGINTS) : BigInt(Math.round((next() - 0.5) * 1e6)) * 10n ** BigInt(Math.floor(next() * 30));
    case 4: {
      let s = '';
      for (let n = Math.floor(next() * 4); n > 0; n--) s += pick(CHARS);
      return s;
    }
    case 5:
    case 6:
      return Buffer.from(Array.from({ length: Math.floor(next() * 4) }, () => pick([0, 0, 1, 0x7f, 0xfe, 0xff])));
    default:
      return randomTuple(next, depth + 1);
  }
}

function randomTuple(next: () => number, depth = 0): TupleElement[] {
  return Array.from({ length: Math.floor(next() * 4) }, () => randomElement(next, depth));
}

/** What decode gives back for `t`: -0 as 0 (the encoding stores them as one key). */
function normalized(t: Tuple): TupleElement[] {
  return t.map((e) => (Object.is(e, -0) ? 0 : Array.isArray(e) ? normalized(e) : e)) as TupleElement[];
}

test('tuple keys: the byte order of encodings is the documented order of the tuples (random tuples)', () => {
  for (const seed of [1, 2, 3]) {
    const rng = new Rng(seed);
    const next = () => rng.float();
    const tuples = Array.from({ length: 600 }, () => randomTuple(next));
    const encoded = tuples.map((t) => ({ t, bytes: Buffer.from(tuple.encode(t)) }));
    const byBytes = [...encoded].sort((a, b) => Buffer.compare(a.bytes, b.bytes) || compareTuples(a.t, b.t));
    const byValue = [...encoded].sort((a, b) => compareTuples(a.t, b.t) || Buffer.compare(a.bytes, b.bytes));
    for (let i = 0; i < encoded.length; i++) {
      assert.is(compareTuples(byBytes[i]!.t, byValue[i]!.t), 0, `seed ${seed}, position ${i}`);
    }
    for (let i = 0; i < encoded.length - 1; i++) {
      const a = encoded[i]!;
      const b = encoded[i + 1]!;
      assert.is(Math.sign(Buffer.compare(a.bytes, b.bytes)), Math.sign(compareTuples(a.t, b.t)), `seed ${seed}: ${String(a.t)} against ${String(b.t)}`);
      assert.equal(tuple.decode(a.bytes), normalized(a.t), 'decode gives the tuple back');
    }
  }
});

test('tuple keys: a tuple that ends first sorts first, and its encoding is a prefix of the longer one', () => {
  const short = Buffer.from(tuple.encode(['user', 4]));
  const long = Buffer.from(tuple.encode(['user', 4, 'x']));
  assert.ok(Buffer.compare(short, long) < 0);
  assert.equal(long.subarray(0, short.length), short);
  // Strings end with a terminator: ['us'] is not a prefix of ['user'].
  const us = Buffer.from(tuple.encode(['us']));
  assert.not.equal(Buffer.from(tuple.encode(['user'])).subarray(0, us.length), us);
  assert.is(tuple.encode([]).length, 0, 'the empty tuple is the empty key');
});

test('tuple keys: the encoding is the one the module comment documents', () => {
  const hex = (t: Tuple) => Buffer.from(tuple.encode(t)).toString('hex');
  assert.is(hex([null, false, true]), '051011');
  assert.is(hex([1]), '20' + 'bff0000000000000');
  assert.is(hex([-1]), '20' + '400fffffffffffff');
  assert.is(hex([0n, 256n, -1n]), '29' + '00' + '29' + '02' + '0100' + '28' + 'fe' + 'fe');
  assert.is(hex(['a\0b']), '30' + '6100ff62' + '00');
  assert.is(hex([Buffer.from([0, 0xff])]), '40' + '00ffff' + '00');
  assert.is(hex([['a'], 'b']), '50' + '306100' + '00' + '306200');
});

test('a database with tuple keys iterates them in tuple order, with tuple bounds, prefixes and seeks', () =>
  withTempDir(async (dir) => {
    const db = await open(dir, { keyEncoding: 'tuple', valueEncoding: 'json', shards: 2 });
    const ids = [100, 5, 42, -3, 7.5, 1000];
    for (const id of ids) await db.put(['user', id], { id });
    await db.batch([
      { type: 'put', key: ['post', 1], value: 'p1' },
      { type: 'put', key: ['userx', 1], value: 'other' },
      { type: 'put', key: ['user'], value: 'the user table' },
    ]);
    const keys = async (options: object) => (await db.iterator(options).nextv(100)).map(([k]) => k);
    const sorted = [...ids].sort((a, b) => a - b);
    assert.equal(await keys({ prefix: ['user'] }), [['user'], ...sorted.map((id) => ['user', id])]);
    assert.equal(await keys({ gt: ['user', 5], lt: ['user', 1000] }), [['user', 7.5], ['user', 42], ['user', 100]]);
    assert.equal(await keys({ prefix: ['user'], gte: ['user', 42], reverse: true }), [['user', 1000], ['user', 100], ['user', 42]]);
    assert.equal(await keys({ prefix: ['user'], limit: 2 }), [['user'], ['user', -3]]);
    const it = db.iterator({ prefix: ['user'] });
    it.seek(['user', 50]);
    assert.equal(await it.next(), [['user', 100], { id: 100 }]);
    await it.close();
    assert.equal(await db.get(['user', 42]), { id: 42 });
    assert.equal((await db.getEntry(['user', 42]))?.value, { id: 42 });
    await db.del(['user', 42]);
    assert.is(await db.get(['user', 42]), undefined);
    await db.compactRange(['user'], ['user', 100]);
    await db.close();
  }));

test('every encoding round-trips through put, get, getEntry, batch, iterator and a snapshot', () =>
  withTempDir(async (dir) => {
    const cases: { encoding: string; key: unknown; value: unknown }[] = [
      { encoding: 'utf8', key: 'ключ', value: 'значение' },
      { encoding: 'json', key: { a: [1, 'x'] }, value: { nested: { list: [1, 2, null], s: 'é' } } },
      { encoding: 'msgpack', key: [1, 'k'], value: { n: 1.5, big: 12345678901234567890n, bytes: Buffer.from([1, 2]), d: new Date(0) } },
      { encoding: 'tuple', key: ['a', 1n, Buffer.from([0, 1]), [true, null]], value: ['v', -2] },
      { encoding: 'buffer', key: Buffer.from([0, 1, 2]), value: Buffer.from('bytes') },
    ];
    for (const [i, c] of cases.entries()) {
      const db = await open(`${dir}/${i}`, { keyEncoding: c.encoding as 'json', valueEncoding: c.encoding === 'tuple' ? 'tuple' : (c.encoding as 'json') });
      await db.put(c.key, c.value);
      assert.equal(await db.get(c.key), c.value, `${c.encoding}: get`);
      assert.equal(db.getSync(c.key), c.value, `${c.encoding}: getSync`);
      assert.equal((await db.getEntry(c.key))?.value, c.value, `${c.encoding}: getEntry`);
      const snap = db.snapshot();
      await db.batch([{ type: 'del', key: c.key }]);
      assert.is(await db.get(c.key), undefined, `${c.encoding}: deleted`);
      assert.equal(await db.get(c.key, { snapshot: snap }), c.value, `${c.encoding}: the snapshot still has it`);
      assert.equal(await db.iterator({ snapshot: snap }).nextv(10), [[c.key, c.value]], `${c.encoding}: iterator`);
      snap.release();
      await db.batch([{ type: 'put', key: c.key, value: c.value }]);
      await db.close();
      const again = await open(`${dir}/${i}`, { keyEncoding: c.encoding as 'json', valueEncoding: c.encoding === 'tuple' ? 'tuple' : (c.encoding as 'json') });
      assert.equal(await again.get(c.key), c.value, `${c.encoding}: after reopen`);
      const raw = await again.get(c.key, { valueEncoding: 'buffer' });
      assert.instance(raw, Buffer, `${c.encoding}: a call may read the stored bytes`);
      await again.close();
    }
  }));

test('a codec of the caller own is used for keys and values', () =>
  withTempDir(async (dir) => {
    const upper: Codec<string, string> = {
      name: 'upper',
      encode: (s) => Buffer.from(s.toUpperCase()),
      decode: (b) => b.toString().toLowerCase(),
    };
    const db = await open(dir, { keyEncoding: upper, valueEncoding: upper });
    await db.put('key', 'value');
    assert.is(await db.get('KEY' as string), 'value');
    assert.equal(await db.iterator({ valueEncoding: 'utf8', keyEncoding: 'utf8' }).nextv(5), [['KEY', 'VALUE']]);
    await db.close();
  }));

test('a write may override the encodings for its own keys and values', () =>
  withTempDir(async (dir) => {
    const db = await open(dir, { keyEncoding: 'tuple', valueEncoding: 'json' });
    await db.put('raw-key', 'not json', { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    await db.batch([{ type: 'put', key: Buffer.from('b'), value: Buffer.from([1, 2]) }], { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.put(['t'], 'utf8 text', { valueEncoding: 'utf8' });
    assert.is(await db.get(['t'], { valueEncoding: 'utf8' }), 'utf8 text');
    assert.equal(await db.iterator({ keyEncoding: 'utf8', valueEncoding: 'buffer', gte: 'a', lt: 'z' }).nextv(5), [
      ['b', Buffer.from([1, 2])],
      ['raw-key', Buffer.from('not json')],
    ]);
    await db.del('raw-key', { keyEncoding: 'utf8' });
    assert.equal(await db.iterator({ keyEncoding: 'utf8', valueEncoding: 'buffer', gte: 'a', lt: 'z' }).nextv(5), [['b', Buffer.from([1, 2])]]);
    await expectCode(() => db.put(['k'], 1, { valueEncoding: 'nope' } as never), 'INVALID_ARGUMENT', 'an unknown per-call encoding');
    await expectCode(() => db.batch([{ type: 'put', key: ['k'], value: 1 }] as never, { keyEncoding: 'utf8' }), 'INVALID_ARGUMENT', 'a tuple key under utf8');
    await db.close();
  }));

test('transactions and conditional writes encode and decode as the database does', () =>
  withTempDir(async (dir) => {
    const db = await open(dir, { keyEncoding: 'tuple', valueEncoding: 'json' });
    await db.put(['acct', 1], { balance: 10 });
    await db.put(['acct', 2], { balance: 5 });
    await db.transaction(async (tx) => {
      const a = (await tx.get(['acct', 1])) as { balance: number };
      tx.put(['acct', 1], { balance: a.balance - 3 });
      tx.put(['acct', 3], { balance: 3 });
      tx.del(['acct', 2]);
      assert.equal(await tx.get(['acct', 3]), { balance: 3 }, 'the transaction reads its own write');
      assert.equal(await tx.iterator({ prefix: ['acct'] }).nextv(10), [
        [['acct', 1], { balance: 7 }],
        [['acct', 3], { balance: 3 }],
      ]);
    });
    assert.equal(await db.iterator({ prefix: ['acct'] }).nextv(10), [
      [['acct', 1], { balance: 7 }],
      [['acct', 3], { balance: 3 }],
    ]);
    await db.put(['acct', 9], { new: true }, { ifAbsent: true });
    await expectCode(() => db.put(['acct', 9], { again: true }, { ifAbsent: true }), 'CONFLICT');
    const entry = await db.getEntry(['acct', 9]);
    await db.put(['acct', 9], { changed: true }, { ifSeq: entry!.seq });
    assert.equal(await db.get(['acct', 9]), { changed: true });
    await db.close();
  }));

test('the change feed gives keys and values decoded', () =>
  withTempDir(async (dir) => {
    const db = await open(dir, { keyEncoding: 'tuple', valueEncoding: 'json' });
    const since = db.sequence;
    await db.put(['k', 1], { v: 1 });
    await db.batch([{ type: 'del', key: ['k', 1] }, { type: 'put', key: ['k', 2], value: [2] }]);
    const changes = [];
    for await (const c of db.changes({ since, live: false })) changes.push(c.ops);
    assert.equal(changes, [[{ type: 'put', key: ['k', 1], value: { v: 1 } }], [{ type: 'del', key: ['k', 1] }, { type: 'put', key: ['k', 2], value: [2] }]]);
    await db.close();
  }));

test('a value or key an encoding cannot encode is INVALID_ARGUMENT, and nothing is written', () =>
  withTempDir(async (dir) => {
    const db = await open(dir, { keyEncoding: 'tuple', valueEncoding: 'json' });
    const before = db.sequence;
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    await expectCode(() => db.put(['k'], 1n), 'INVALID_ARGUMENT', 'a BigInt in JSON');
    await expectCode(() => db.put(['k'], circular), 'INVALID_ARGUMENT', 'a circular object');
    await expectCode(() => db.put(['k'], undefined), 'INVALID_ARGUMENT', 'undefined has no JSON');
    await expectCode(() => db.put(['k', Symbol('s')] as never, 1), 'INVALID_ARGUMENT', 'a symbol in a tuple');
    await expectCode(() => db.put(['k', NaN], 1), 'INVALID_ARGUMENT', 'NaN in a tuple');
    await expectCode(() => db.put(['k', { a: 1 }] as never, 1), 'INVALID_ARGUMENT', 'an object in a tuple');
    await expectCode(() => db.put('k' as never, 1), 'INVALID_ARGUMENT', 'a tuple key that is not an array');
    await expectCode(() => db.put(['\uD800'], 1), 'INVALID_ARGUMENT', 'a lone surrogate in a tuple');
    await expectCode(() => db.put([2n ** 2048n], 1), 'INVALID_ARGUMENT', 'a bigint over 255 bytes');
    await expectCode(() => db.put([Array(100).fill(null).reduce((t) => [t], [])], 1), 'INVALID_ARGUMENT', 'tuples nested too deep');
    await expectCode(() => db.batch([{ type: 'put', key: ['ok'], value: 1 }, { type: 'put', key: ['bad'], value: 2n }]), 'INVALID_ARGUMENT', 'a batch with one bad value');
    await expectCode(() => db.transaction((tx) => tx.put(['t'], 3n)), 'INVALID_ARGUMENT', 'a transaction write');
    await expectCode(() => db.iterator({ gte: ['a', NaN] }), 'INVALID_ARGUMENT', 'a bound');
    await expectCode(() => db.get(['a'], { valueEncoding: 'yaml' as never }), 'INVALID_ARGUMENT', 'an unknown per-call encoding');
    assert.is(db.sequence, before, 'nothing was written');
    assert.equal(await db.iterator().nextv(10), []);
    await db.close();
    for (const bad of ['yaml', 'Buffer', 'toString', 42, null, { name: 'x', encode: () => new Uint8Array(0) }]) {
      await expectCode(() => open(dir, { valueEncoding: bad as never }), 'INVALID_ARGUMENT', `valueEncoding ${String(bad)}`);
    }
    await expectCode(() => open(dir, { keyEncoding: 'yaml' as never }), 'INVALID_ARGUMENT', 'an unknown keyEncoding');
  }));

test('bytes that the encoding asked for cannot decode fail the read with INVALID_ARGUMENT', () =>
  withTempDir(async (dir) => {
    const db = await open(dir);
    await db.put('plain', 'not json {');
    await db.close();
    const json = await open(dir, { keyEncoding: 'tuple', valueEncoding: 'json' });
    const err = await expectCode(() => json.iterator().nextv(1), 'INVALID_ARGUMENT', 'a key that is no tuple');
    assert.match(err.message, /cannot be decoded as tuple/);
    const err2 = await expectCode(() => json.get(['x'], {}).then(() => json.iterator({ keyEncoding: 'utf8' }).nextv(1)), 'INVALID_ARGUMENT', 'a value that is no JSON');
    assert.match(err2.message, /cannot be decoded as json/);
    assert.equal(await json.iterator({ keyEncoding: 'utf8', valueEncoding: 'utf8' }).nextv(1), [['plain', 'not json {']]);
    await json.close();
  }));

test("the default 'buffer' encoding takes strings and bytes and gives Buffers, as before", () =>
  withTempDir(async (dir) => {
    const db = await open(dir);
    await db.put('k', 'v');
    await db.put(Buffer.from('k2'), new Uint8Array([1]));
    assert.equal(await db.get('k'), Buffer.from('v'));
    assert.equal(await db.iterator().nextv(5), [
      [Buffer.from('k'), Buffer.from('v')],
      [Buffer.from('k2'), Buffer.from([1])],
    ]);
    assert.ok(Codecs.of(undefined).raw, 'the default skips decoding');
    await db.close();
  }));

test.run();
