// Time-to-live: put(key, value, { ttl }) and the ttl option. An expired put reads as a deletion
// at once (get, getEntry, iterators, both directions), whatever lies below it; compaction's ttl
// filter turns it into a deletion on disk and drops it; the clock is the `clock` option.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { open } from '../src/index.js';
import { expectCode, withTempDir } from './helpers.js';

/** A clock the test moves by hand. */
function manualClock(start = 1_700_000_000_000) {
  const clock = { now: start, read: () => clock.now };
  return clock;
}

async function keys(db: { iterator(o?: object): AsyncIterable<[Buffer, Buffer]> }, o: object = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const [k, v] of db.iterator(o)) out.push(`${k}=${v}`);
  return out;
}

for (const shards of [1, 3]) {
  test(`a put with a ttl reads as deleted once it expires, hiding older versions, before and after a flush and a reopen (${shards} shard(s))`, () =>
    withTempDir(async (dir) => {
      const clock = manualClock();
      let db = await open(dir, { shards, clock: clock.read });
      await db.put('a', 'forever');
      await db.put('a', 'short', { ttl: 1000 });
      await db.put('b', 'long', { ttl: 60_000 });
      await db.batch([{ type: 'put', key: 'c', value: 'batched', ttl: 500 }]);
      const check = async (what: string) => {
        clock.now += 0;
        assert.equal(await keys(db), ['a=short', 'b=long', 'c=batched'], what);
        clock.now += 999;
        assert.equal(await keys(db), ['a=short', 'b=long'], `${what}: c expired`);
        assert.is((await db.get('a'))?.toString(), 'short', what);
        clock.now += 1;
        assert.is(await db.get('a'), undefined, `${what}: expired at exactly its ttl, and the older value stays hidden`);
        assert.is(await db.getEntry('a'), undefined, what);
        assert.equal(await keys(db), ['b=long'], what);
        assert.equal(await keys(db, { reverse: true }), ['b=long'], what);
        clock.now -= 1000;
      };
      await check('in the memtable');
      await db.flush();
      await check('in a table');
      await db.close();
      db = await open(dir, { clock: clock.read });
      await check('reopened');
      await db.close();
    }));
}

test('the ttl option applies to every put that gives none, batches and transactions included', () =>
  withTempDir(async (dir) => {
    const clock = manualClock();
    const db = await open(dir, { ttl: 1000, clock: clock.read });
    await db.put('p', '1');
    await db.put('own', '2', { ttl: 5000 });
    await db.batch([{ type: 'put', key: 'b', value: '3' }]);
    await db.transaction((tx) => tx.put('t', '4'));
    assert.equal(await keys(db), ['b=3', 'own=2', 'p=1', 't=4']);
    clock.now += 1000;
    assert.equal(await keys(db), ['own=2']);
    const changes = [];
    for await (const c of db.changes({ since: 0n, live: false })) changes.push(...c.ops);
    assert.equal(changes.map((o) => (o.type === 'put' ? o.expiresAt! : NaN) - (clock.now - 1000)), [1000, 5000, 1000, 1000], 'the feed tells when each put expires');
    await db.close();
  }));

test('compaction drops expired puts and returns their space; stats count them', () =>
  withTempDir(async (dir) => {
    const clock = manualClock();
    const db = await open(dir, { clock: clock.read, blockBytes: 1024 });
    for (let i = 0; i < 4000; i += 500) {
      await db.batch(Array.from({ length: 500 }, (_, j) => ({ type: 'put' as const, key: `s${String(i + j).padStart(5, '0')}`, value: 'session data '.repeat(8), ttl: 1000 })));
    }
    await db.put('keep', 'me');
    await db.compactRange();
    const before = await db.approximateSize();
    assert.is(db.stats().droppedByExpiry, 0, 'nothing expired yet');
    clock.now += 1000;
    await db.compactRange();
    const after = await db.approximateSize();
    assert.is(db.stats().droppedByExpiry, 4000);
    assert.ok(after < before / 10, `${after} bytes of ${before} left`);
    assert.equal(await keys(db), ['keep=me']);
    await db.close();
  }));

test('an expired put over an older version in a deeper level is kept as a deletion until nothing lies below', () =>
  withTempDir(async (dir) => {
    const clock = manualClock();
    const db = await open(dir, { clock: clock.read });
    await db.put('k', 'old');
    await db.compactRange();
    await db.put('k', 'new', { ttl: 10 });
    await db.flush();
    clock.now += 10;
    assert.is(await db.get('k'), undefined);
    // A compaction of level 0 alone (into level 1, where 'old' is) must not let 'old' back.
    await db.compactRange();
    assert.is(await db.get('k'), undefined);
    clock.now -= 10;
    assert.is(await db.get('k'), undefined, 'once compacted, a clock moved back does not bring it back');
    await db.close();
  }));

test('a clock moved back before compaction makes an expired put visible again (wall-clock expiry)', () =>
  withTempDir(async (dir) => {
    const clock = manualClock();
    const db = await open(dir, { clock: clock.read });
    await db.put('k', 'v', { ttl: 100 });
    clock.now += 200;
    assert.is(await db.get('k'), undefined);
    clock.now -= 200;
    assert.is((await db.get('k'))?.toString(), 'v');
    await db.close();
  }));

test('a ttl that is not a positive integer rejects with INVALID_ARGUMENT and writes nothing', () =>
  withTempDir(async (dir) => {
    const db = await open(dir);
    const seq = db.sequence;
    for (const ttl of [0, -1, 1.5, NaN, Infinity, '100', null]) {
      await expectCode(() => db.put('k', 'v', { ttl } as never), 'INVALID_ARGUMENT', `ttl ${String(ttl)}`);
      await expectCode(() => db.batch([{ type: 'put', key: 'k', value: 'v', ttl } as never]), 'INVALID_ARGUMENT', `batch ttl ${String(ttl)}`);
    }
    await expectCode(() => db.del('k', { ttl: 5 } as never), 'INVALID_ARGUMENT', 'a del has no ttl');
    assert.is(db.sequence, seq);
    assert.is(await db.get('k'), undefined);
    await db.close();
    await expectCode(() => open(dir, { ttl: -5 }), 'INVALID_ARGUMENT', 'option ttl');
    await expectCode(() => open(dir, { clock: 5 as never }), 'INVALID_ARGUMENT', 'option clock');
  }));

test.run();
