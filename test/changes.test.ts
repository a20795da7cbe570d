// The change feed (db.changes()): order and completeness against a model with 1 and 4 shards,
// batches across shards delivered whole and once, retention and OUT_OF_RANGE, bad input,
// break/abort/close releasing what the feed held, and a power-cut sweep of a durable feed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import { open, StrataError, type Change, type Database } from '../src/index.js';
import * as path from 'node:path';
import { decodeBatch, loadChecksum, NodeFileSystem, type WritableFile } from '../src/base/index.js';
import { changesAsBatches, type BatchChange } from '../src/database.js';
import { Placement, shardOf } from '../src/shard/router.js';
import { FaultInjectingFileSystem } from '../src/testing/index.js';
import { Rng, withTempDir } from './helpers.js';

await loadChecksum();

const SMALL = { memtableBytes: 64 * 1024, compactionWorkers: 0 };

interface Written {
  seq: bigint;
  ops: string[];
}

/** A change as comparable text: "put k=v" / "del k", in the feed's order. */
const opsOf = (c: Change) => c.ops.map((o) => (o.type === 'put' ? `put ${o.key.toString()}=${o.value!.toString()}` : `del ${o.key.toString()}`));

/** How many changes a feed took from the shards' rings and from their logs (ChangeFeed.delivered). */
const sources = (feed: AsyncIterableIterator<Change>) => ({ ...(feed as unknown as { delivered: { ring: number; log: number } }).delivered });

/** The first key `${prefix}${i}` that lives in `shard` of `shards`. */
function keyIn(shard: number, shards: number, prefix = 'k'): string {
  for (let i = 0; ; i++) if (shardOf(Buffer.from(`${prefix}${i}`), shards) === shard) return `${prefix}${i}`;
}

function expectCode(fn: () => unknown, code: string): StrataError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, StrataError, String(err));
    assert.is((err as StrataError).code, code, (err as Error).message);
    return err as StrataError;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

/** Random puts, dels and batches (many across shards), issued concurrently, each recorded under the number it resolved to. */
async function writeRandomly(db: Database, rng: Rng, count: number, written: Written[]): Promise<void> {
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const key = `k${rng.int(300)}`;
    const r = rng.float();
    let ops: string[];
    let write: Promise<bigint>;
    if (r < 0.2) {
      const n = rng.range(2, 6);
      const batch = Array.from({ length: n }, (_, j) => ({ type: 'put' as const, key: `b${i}-${j}`, value: `v${i}` }));
      ops = batch.map((o) => `put ${o.key}=${o.value}`);
      write = db.batch(batch);
    } else if (r < 0.35) {
      ops = [`del ${key}`];
      write = db.del(key);
    } else {
      const value = `v${i}-${'x'.repeat(rng.int(300))}`;
      ops = [`put ${key}=${value}`];
      write = db.put(key, value, { sync: rng.chance(0.1) });
    }
    inFlight.push(write.then((seq) => written.push({ seq, ops })));
    if (inFlight.length >= 32) await Promise.all(inFlight.splice(0));
  }
  await Promise.all(inFlight);
}

/** Checks `got` against `written`: the same writes, in sequence order, each once. */
function sameHistory(got: Change[], written: Written[], what: string): void {
  const want = [...written].sort((a, b) => (a.seq < b.seq ? -1 : 1));
  assert.is(got.length, want.length, `${what}: one change per write`);
  for (let i = 0; i < want.length; i++) {
    assert.is(got[i]!.seq, want[i]!.seq, `${what}: change ${i} in sequence order`);
    // In the order given, also for a batch across shards.
    assert.equal(opsOf(got[i]!), want[i]!.ops, `${what}: change ${i}'s operations`);
  }
}

for (const shards of [1, 4]) {
  test(`${shards} shard(s): a live feed delivers every write once, in sequence order, through flushes; a feed from 0 and one after a reopen agree`, () =>
    withTempDir(async (dir) => {
      let db = await open(dir, { ...SMALL, shards });
      const got: Change[] = [];
      const written: Written[] = [];
      // A small buffer and a consumer that sleeps now and then: it falls behind and catches up.
      const feed = db.changes({ maxBuffered: 7 });
      const rng = new Rng(shards);
      const consumer = (async () => {
        for await (const c of feed) {
          got.push(c);
          if (got.length % 97 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
          if (c.ops.some((o) => o.key.toString() === 'the-end')) break;
        }
      })();
      await writeRandomly(db, rng, 3000, written);
      await db.flush();
      await writeRandomly(db, rng, 1000, written);
      written.push({ seq: await db.put('the-end', '!'), ops: ['put the-end=!'] });
      await consumer;
      assert.ok(db.stats().flushes > 2, 'the logs rotated and were flushed while the feed read them');
      sameHistory(got, written, 'live');
      const all: Change[] = [];
      for await (const c of db.changes({ since: 0n, live: false })) all.push(c);
      sameHistory(all, written, 'from 0');
      await db.close();
      db = await open(dir, SMALL);
      const again: Change[] = [];
      for await (const c of db.changes({ since: 0, live: false })) again.push(c);
      sameHistory(again, written, 'after a reopen');
      const mid = written.map((w) => w.seq).sort((a, b) => (a < b ? -1 : 1))[2000]!;
      const tail: Change[] = [];
      for await (const c of db.changes({ since: mid, live: false })) tail.push(c);
      sameHistory(tail, written.filter((w) => w.seq > mid), 'since a number in the middle');
      const next = await db.put('after', 'reopen');
      assert.ok(next > mid && next > all.at(-1)!.seq, 'numbers after a reopen continue above every earlier one');
      await db.close();
    }));
}

test('a batch across shards is one change, with every operation, delivered once', () =>
  withTempDir(async (dir) => {
    const db = await open(dir, { shards: 4 });
    const feed = db.changes();
    const ops = Array.from({ length: 40 }, (_, i) => ({ type: 'put' as const, key: `key${i}`, value: `value${i}` }));
    const seq = await db.batch([...ops, { type: 'del', key: 'gone' }]);
    const after = await db.put('after', '1');
    const first = await feed.next();
    assert.not.ok(first.done);
    assert.is(first.value.seq, seq);
    assert.equal(opsOf(first.value), [...ops.map((o) => `put ${o.key}=${o.value}`), 'del gone'], 'in the order given');
    const second = await feed.next();
    assert.is(second.value?.seq, after, 'the next change is the next write: the batch came once');
    await feed.return!();
    // A since inside the batch's range (its parts end below it in some shards): the batch ends above it.
    const inside: Change[] = [];
    for await (const c of db.changes({ since: seq - 3n, live: false })) inside.push(c);
    assert.equal(inside.map((c) => [c.seq, c.ops.length]), [[seq, 41], [after, 1]]);
    const atEnd: Change[] = [];
    for await (const c of db.changes({ since: seq, live: false })) atEnd.push(c);
    assert.equal(atEnd.map((c) => c.seq), [after]);
    await db.close();
  }));

test('a batch across shards lists its operations in the order given, live, from the logs and after a reopen', () =>
  withTempDir(async (dir) => {
    let db = await open(dir, { shards: 4 });
    const feed = db.changes();
    // Interleaved on purpose: consecutive operations fall in different shards.
    const ops = Array.from({ length: 30 }, (_, i) =>
      i % 3 === 2 ? { type: 'del' as const, key: `key${i}` } : { type: 'put' as const, key: `key${i}`, value: `value${i}` },
    );
    const want = ops.map((o) => (o.type === 'put' ? `put ${o.key}=${o.value}` : `del ${o.key}`));
    const shardsUsed = new Set(ops.map((o) => shardOf(Buffer.from(o.key), 4)));
    assert.ok(shardsUsed.size > 1, 'the batch spans shards');
    const seq = await db.batch(ops);
    const live = await feed.next();
    assert.equal([live.value?.seq, opsOf(live.value!)], [seq, want], 'live (from the rings)');
    assert.equal(sources(feed), { ring: 1, log: 0 });
    await feed.return!();
    const fromLogs: Change[] = [];
    for await (const c of db.changes({ since: 0n, live: false })) fromLogs.push(c);
    assert.equal(fromLogs.map(opsOf), [want], 'from the logs');
    await db.close();
    db = await open(dir);
    const reopened: Change[] = [];
    for await (const c of db.changes({ since: 0n, live: false })) reopened.push(c);
    assert.equal(reopened.map(opsOf), [want], 'after a reopen');
    await db.close();
  }));

for (const shards of [1, 3]) {
  test(`${shards} shard(s): a feed that falls behind the ring reads the logs, then returns to the ring; the same changes`, () =>
    withTempDir(async (dir) => {
      const db = await open(dir, { shards, memtableBytes: 4 << 20, compactionWorkers: 0 });
      const feed = db.changes({ maxBuffered: 50 });
      const written: Written[] = [];
      const value = (i: number) => `${i}-${'v'.repeat(1000)}`;
      const put = async (key: string, v: string) => written.push({ seq: await db.put(key, v), ops: [`put ${key}=${v}`] });
      const got: Change[] = [];
      const take = async (n: number) => {
        for (let i = 0; i < n; i++) {
          const r = await feed.next();
          assert.not.ok(r.done);
          got.push(r.value);
        }
      };
      // Keeping up: served from the rings.
      for (let i = 0; i < 20; i++) await put(`a${i}`, value(i));
      await take(20);
      assert.equal(sources(feed), { ring: 20, log: 0 }, 'keeping up: every change from the rings');
      // A stalled consumer: more than a ring holds (8 MiB a shard) is written meanwhile, across flushes.
      const stalled = 10_000 * shards;
      for (let i = 0; i < stalled; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => put(`b${i + j}`, value(i + j))));
      await take(stalled);
      const behind = sources(feed);
      assert.ok(behind.log > 0, `fallen behind the ring, it read the logs (${JSON.stringify(behind)})`);
      // Caught up: back to the rings.
      for (let i = 0; i < 20; i++) await put(`c${i}`, value(i));
      await take(20);
      const after = sources(feed);
      assert.ok(after.ring >= behind.ring + 20, `caught up, it reads the rings again (${JSON.stringify(after)})`);
      assert.ok(db.stats().flushes > 0, 'the logs were flushed and rotated meanwhile');
      sameHistory(got, written, 'across ring and logs');
      await feed.return!();
      await db.close();
    }));
}

test('a live feed goes on past a batch across shards whose write failed part way (no Commit record)', () =>
  withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem();
    const db = await open(dir, { shards: 2, fs: ffs });
    const [k0, k1, k0b] = [keyIn(0, 2), keyIn(1, 2), keyIn(0, 2, 'after')];
    const feed = db.changes();
    const before = await db.put(k0, 'before');
    // Both Prepare records are written (the put below shares shard 0's append), both Commits fail.
    ffs.failAfter(3, 'EIO', { op: 'append', path: `${path.sep}shard-` }, { times: Infinity });
    const failed = db.batch([{ type: 'put', key: k0, value: 'x' }, { type: 'put', key: k1, value: 'x' }]);
    const after = db.put(k0b, 'published after the failed batch');
    await expectCodeAsync(failed, 'IO_ERROR');
    const afterSeq = await after;
    const got: bigint[] = [];
    for (;;) {
      const r = await Promise.race([feed.next(), new Promise<'stuck'>((resolve) => setTimeout(() => resolve('stuck'), 2000))]);
      assert.ok(r !== 'stuck', `the feed waits on the failed batch (got ${got.join(', ')})`);
      assert.not.ok(r.done);
      got.push(r.value.seq);
      if (r.value.seq === afterSeq) break;
    }
    assert.equal(got, [before, afterSeq], 'the failed batch is skipped, the write after it delivered');
    const fromLogs: bigint[] = [];
    for await (const c of db.changes({ since: 0n, live: false })) fromLogs.push(c.seq);
    assert.equal(fromLogs, [before, afterSeq], 'the same from the logs');
    await feed.return!();
    await db.close().catch(() => {});
  }));

test('a feed over a database written before PrepareInOrder (golden v1-sharded) lists its batches across shards shard by shard', () =>
  withTempDir(async (dir) => {
    fs.cpSync(new URL('../../test/golden/v1-sharded', import.meta.url), dir, { recursive: true });
    const db = await open(dir);
    // Opening replayed the WAL the golden files left into a table; the WAL is retained.
    const since = BigInt(db.stats().changeRetention.oldestSequence);
    // A version-1 SHARDS file: placed by xxh32 mod 2 (router.ts).
    const v1 = new Placement(2, 'modulo', false);
    const across: Change[] = [];
    for await (const c of db.changes({ since, live: false })) if (new Set(c.ops.map((o) => v1.shardOf(o.key))).size > 1) across.push(c);
    assert.is(across.length, 2, 'its two batches across shards (Prepare records of the first layout)');
    for (const c of across) {
      const shardsOf = c.ops.map((o) => v1.shardOf(o.key));
      assert.equal(shardsOf, [...shardsOf].sort(), `change ${c.seq}: shard 0's operations, then shard 1's`);
    }
    await db.close();
  }));

test('a non-live feed ends at the sequence current when it started; since defaults to now', () =>
  withTempDir(async (dir) => {
    const db = await open(dir);
    await db.put('a', '1');
    const fresh = db.changes({ live: false });
    const b = await db.put('b', '2');
    const none: Change[] = [];
    for await (const c of fresh) none.push(c);
    assert.equal(none, [], 'started at sequence 1 with nothing newer: it ends at once');
    const live = db.changes({ since: 1n });
    const c = await db.put('c', '3');
    assert.equal([(await live.next()).value?.seq, (await live.next()).value?.seq], [b, c]);
    await live.return!();
    await db.close();
  }));

async function expectCodeAsync(p: Promise<unknown>, code: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, StrataError, String(err));
    assert.is((err as StrataError).code, code, (err as Error).message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

for (const shards of [1, 4]) {
  test(`${shards} shard(s): a long scan of the feed lets a timer run, and so does a loop of feeds that end at once; every change delivered once, in order`, () =>
    withTempDir(async (dir) => {
      const db = await open(dir, { shards });
      try {
        for (let i = 0; i < 100; i++) await db.batch(Array.from({ length: 1000 }, (_, j) => ({ type: 'put' as const, key: `b${i}-${j}`, value: 'v' })));
        for (let i = 0; i < 20_000; i++) await db.put(`p${i}`, 'v');
        const last = db.sequence;
        let fired = 0;
        let timer = setInterval(() => fired++, 1);
        let n = 0;
        let ops = 0;
        let prev = 0n;
        try {
          for await (const change of db.changes({ since: 0n, live: false })) {
            assert.ok(change.seq > prev, 'ascending');
            prev = change.seq;
            n++;
            ops += change.ops.length;
          }
        } finally {
          clearInterval(timer);
        }
        assert.is(n, 100 + 20_000);
        assert.is(ops, 100 * 1000 + 20_000);
        assert.is(prev, last);
        assert.ok(fired > 0, `the scan: the timer fired ${fired} times`);
        fired = 0;
        timer = setInterval(() => fired++, 1);
        try {
          const start = performance.now();
          while (performance.now() - start < 100) for await (const change of db.changes({ live: false })) assert.unreachable(`nothing after now: ${change.seq}`);
        } finally {
          clearInterval(timer);
        }
        assert.ok(fired > 0, `feeds that end at once: the timer fired ${fired} times`);
      } finally {
        await db.close();
      }
    }));
}

test('bad options throw INVALID_ARGUMENT', () =>
  withTempDir(async (dir) => {
    const db = await open(dir);
    const bad: unknown[] = [
      { since: -1 }, { since: 1.5 }, { since: '3' }, { since: -1n }, { since: 2n ** 60n }, { since: null }, { since: Number.MAX_SAFE_INTEGER + 1 },
      { live: 'yes' }, { durable: 1 }, { signal: {} }, { maxBuffered: 0 }, { maxBuffered: 1.5 }, { sinse: 0 }, 'since', [],
    ];
    for (const options of bad) expectCode(() => db.changes(options as never), 'INVALID_ARGUMENT');
    await db.close();
    expectCode(() => db.changes(), 'CLOSED');
  }));

test('since older than the retained logs throws OUT_OF_RANGE naming the oldest; that one works; stats show it', () =>
  withTempDir(async (dir) => {
    const db = await open(dir, { ...SMALL, changeRetention: { bytes: 0 } });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 50; i++) await db.put(`k${round}-${i}`, 'v'.repeat(100));
      await db.flush();
    }
    const last = await db.put('last', '1');
    const { oldestSequence, logs } = db.stats().changeRetention;
    assert.is(logs, 0, 'nothing retained past the flushes');
    assert.is(oldestSequence, 150, 'the flushed writes are gone from the logs');
    const err = expectCode(() => db.changes({ since: 0n }), 'OUT_OF_RANGE');
    assert.match(err.message, 'start from is 150');
    expectCode(() => db.changes({ since: 149n }), 'OUT_OF_RANGE');
    const got: Change[] = [];
    for await (const c of db.changes({ since: 150n, live: false })) got.push(c);
    assert.equal(got.map((c) => c.seq), [last]);
    await db.close();
  }));

/** The .log files of `dir`. */
const logsIn = (dir: string) => fs.readdirSync(dir).filter((n) => n.endsWith('.log'));

test('retention keeps the newest released logs within changeRetention.bytes, and no more', () =>
  withTempDir(async (dir) => {
    const window = 200 * 1024;
    const db = await open(dir, { ...SMALL, changeRetention: { bytes: window } });
    for (let round = 0; round < 12; round++) {
      for (let i = 0; i < 100; i++) await db.put(`k${round}-${i}`, 'v'.repeat(400));
      await db.flush();
      const { bytes, logs } = db.stats().changeRetention;
      assert.ok(bytes <= window, `round ${round}: ${bytes} bytes retained, at most ${window}`);
      assert.is(logsIn(dir).length, logs + 1, 'on disk: the retained logs and the current one');
    }
    const { bytes, logs, oldestSequence } = db.stats().changeRetention;
    assert.ok(logs >= 3 && bytes > window / 2, `${logs} logs, ${bytes} bytes retained: the window is used`);
    assert.ok(oldestSequence > 0, 'older logs were deleted');
    const got: Change[] = [];
    for await (const c of db.changes({ since: BigInt(oldestSequence), live: false })) got.push(c);
    assert.is(got.length, 1200 - oldestSequence, 'every write from the oldest retained on is there');
    await db.close();
  }));

for (const shards of [1, 4]) {
  test(`${shards} shard(s): opening and closing without writing leaves no log behind each time, and the feed still lists every write since 0`, () =>
    withTempDir(async (dir) => {
      /** Every .log file of the database, its shards' included. */
      const allLogs = () => fs.readdirSync(dir, { recursive: true }).filter((n) => String(n).endsWith('.log')).length;
      let db = await open(dir, { shards, changeRetention: { bytes: 1 << 30, ms: 3_600_000 } });
      for (let i = 0; i < 20; i++) await db.put(`k${i}`, `v${i}`);
      await db.close();
      db = await open(dir);
      await db.close();
      const settled = allLogs();
      for (let round = 0; round < 5; round++) {
        db = await open(dir);
        assert.is((await db.get('k3'))?.toString(), 'v3');
        await db.close();
        assert.is(allLogs(), settled, `round ${round}: an open that wrote nothing left no log more`);
      }
      db = await open(dir);
      const got: Change[] = [];
      for await (const c of db.changes({ since: 0n, live: false })) got.push(c);
      assert.equal(got.map((c) => opsOf(c)[0]), Array.from({ length: 20 }, (_, i) => `put k${i}=v${i}`));
      await db.close();
    }));

  test(`${shards} shard(s): a database first opened without writing still serves since: 0 once written (its first log, empty, stays)`, () =>
    withTempDir(async (dir) => {
      const options = { shards, changeRetention: { bytes: 1 << 30, ms: 3_600_000 } };
      await (await open(dir, options)).close();
      let db = await open(dir, options);
      for (let i = 0; i < 20; i++) await db.put(`k${i}`, `v${i}`);
      await db.close();
      db = await open(dir, options);
      const got: Change[] = [];
      for await (const c of db.changes({ since: 0n, live: false })) got.push(c);
      assert.is(got.length, 20);
      await db.close();
    }));
}

test('retention drops logs older than changeRetention.ms', () =>
  withTempDir(async (dir) => {
    const db = await open(dir, { ...SMALL, changeRetention: { bytes: 1 << 30, ms: 50 } });
    for (let i = 0; i < 100; i++) await db.put(`k${i}`, 'v'.repeat(400));
    await db.flush();
    assert.ok(db.stats().changeRetention.logs >= 1, 'kept at first');
    await new Promise((resolve) => setTimeout(resolve, 80));
    await db.put('x', '1');
    await db.flush();
    assert.is(db.stats().changeRetention.logs, 1, 'only the log released just now is kept; the old one expired');
    await db.close();
  }));

test('an open feed pins its logs past the window; break releases them', () =>
  withTempDir(async (dir) => {
    const db = await open(dir, { ...SMALL, changeRetention: { bytes: 0 } });
    for (let i = 0; i < 50; i++) await db.put(`k${i}`, 'v'.repeat(100));
    const feed = db.changes({ since: 0n });
    let seen = 0;
    for await (const _ of feed) if (++seen === 10) break;
    const slow = db.changes({ since: 0n });
    assert.is((await slow.next()).value?.seq, 1n);
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 100; i++) await db.put(`r${round}-${i}`, 'v'.repeat(400));
      await db.flush();
    }
    assert.ok(db.stats().changeRetention.logs >= 4, 'the slow feed holds every log from its position on');
    let count = 1;
    for await (const c of slow) if (++count === 450 || c.seq === 450n) break;
    assert.is(count, 450, 'it reads them all, in order');
    assert.is(db.stats().changeRetention.logs, 0, 'break dropped the pin: nothing retained');
    assert.equal(logsIn(dir).length, 1);
    await db.close();
  }));

test('an AbortSignal ends a waiting feed; a closed database ends a live feed with CLOSED', () =>
  withTempDir(async (dir) => {
    const db = await open(dir, { shards: 2 });
    const controller = new AbortController();
    const aborted = db.changes({ signal: controller.signal });
    const waiting = aborted.next();
    setTimeout(() => controller.abort(), 10);
    assert.equal(await waiting, { done: true, value: undefined });
    const already = db.changes({ signal: AbortSignal.abort() });
    assert.is((await already.next()).done, true);
    const live = db.changes();
    const pending = live.next();
    await db.put('a', '1');
    assert.is((await pending).value?.seq, 1n);
    const blocked = live.next().then(
      () => assert.unreachable('a live feed ends with CLOSED'),
      (err: unknown) => assert.is((err as StrataError).code, 'CLOSED'),
    );
    await db.close();
    await blocked;
    assert.equal(await live.next(), { done: true, value: undefined }, 'then it is done');
  }));

test('a durable feed delivers sync: false writes once it synced them itself', () =>
  withTempDir(async (dir) => {
    const fsModel = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
    const db = await open(dir, { fs: fsModel, shards: 2, compactionWorkers: 0 });
    const feed = db.changes({ durable: true });
    const seqs = await Promise.all(Array.from({ length: 20 }, (_, i) => db.put(`k${i}`, 'v')));
    const got: bigint[] = [];
    for await (const c of feed) {
      got.push(c.seq);
      if (got.length === 20) break;
    }
    assert.equal(got, seqs);
    const syncs = fsModel.ops.filter((op) => op.op === 'sync').length;
    assert.ok(syncs > 0 && syncs < 20, `the feed synced (${syncs} syncs for 20 writes)`);
    await db.close();
  }));

test('a durable feed spends at most about half the time syncing: a sync that took t ms is followed by the next 2t ms after its start at the earliest', () =>
  withTempDir(async (dir) => {
    /** Logs whose fdatasync takes SYNC_MS: the feed, waiting on it, must not sync back to back. */
    const SYNC_MS = 40;
    let syncs = 0;
    class SlowLogSyncs extends NodeFileSystem {
      override async createWritable(file: string): Promise<WritableFile> {
        const writable = await super.createWritable(file);
        if (!file.endsWith('.log')) return writable;
        const sync = writable.sync.bind(writable);
        writable.sync = async () => {
          syncs++;
          await new Promise((resolve) => setTimeout(resolve, SYNC_MS));
          return sync();
        };
        return writable;
      }
    }
    const db = await open(dir, { fs: new SlowLogSyncs(), compactionWorkers: 0 });
    const feed = db.changes({ durable: true });
    const RUN_MS = 1000;
    const started = performance.now();
    const writes: Promise<bigint>[] = [];
    let delivered = 0;
    const reading = (async () => {
      for await (const _ of feed) if (++delivered === writes.length && performance.now() - started > RUN_MS) break;
    })();
    while (performance.now() - started < RUN_MS) {
      writes.push(db.put(`k${writes.length}`, 'v'));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await Promise.all(writes);
    await reading;
    const took = performance.now() - started;
    // Back to back, a sync every SYNC_MS: about took / 40. Paced, one every 2 * SYNC_MS at most.
    assert.ok(syncs >= 2, `the feed synced (${syncs})`);
    assert.ok(syncs <= Math.ceil(took / (2 * SYNC_MS)) + 2, `${syncs} syncs in ${Math.round(took)} ms of ${SYNC_MS} ms each`);
    assert.is(delivered, writes.length, 'every write delivered');
    await db.close();
  }));

test('power cuts: a durable feed never delivered a change that is gone after the cut (4 shards, sync: false)', async () => {
  /** Writes while a durable feed reads; resolves to the consumer once the writes are done. */
  const workload = async (db: Database, delivered: Change[]): Promise<{ consumer: Promise<void> }> => {
    const feed = db.changes({ durable: true, since: 0n });
    const consumer = (async () => {
      for await (const c of feed) delivered.push(c);
    })().catch(() => {});
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 120; i++) {
      writes.push(i % 5 === 0 ? db.batch([{ type: 'put', key: `b${i}a`, value: `${i}` }, { type: 'put', key: `b${i}b`, value: `${i}` }]) : db.put(`p${i}`, `${i}`));
      if (i % 10 === 9) await Promise.all(writes.splice(0)).catch(() => {});
    }
    await Promise.all(writes).catch(() => {});
    return { consumer };
  };
  const count = await withTempDir(async (dir) => {
    const model = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
    const db = await open(dir, { fs: model, shards: 4, memtableBytes: 64 * 1024, compactionWorkers: 0 });
    const opened = model.opCount;
    const delivered: Change[] = [];
    const { consumer } = await workload(db, delivered);
    while (delivered.length < 120) await new Promise((resolve) => setTimeout(resolve, 5));
    await db.close();
    await consumer;
    assert.is(delivered.length, 120, 'the workload delivers every write');
    return model.opCount - opened;
  });
  let checked = 0;
  for (let k = 1; k < count; k += Math.max(1, Math.floor(count / 12))) {
    await withTempDir(async (dir) => {
      const model = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
      let db = await open(dir, { fs: model, shards: 4, memtableBytes: 64 * 1024, compactionWorkers: 0 });
      const delivered: Change[] = [];
      model.cutPowerAfter(k);
      const { consumer } = await workload(db, delivered);
      await new Promise((resolve) => setTimeout(resolve, 20));
      await db.close().catch(() => {});
      await model.powerCut();
      await consumer;
      db = await open(dir, { shards: 4 });
      const after = new Map<bigint, string[]>();
      for await (const c of db.changes({ since: 0n, live: false })) after.set(c.seq, opsOf(c));
      for (const c of delivered) {
        assert.equal(after.get(c.seq), opsOf(c), `cut after op ${k}: delivered change ${c.seq} survives, its operations in the same order`);
      }
      checked += delivered.length;
      await db.close();
    });
  }
  assert.ok(checked > 0, 'some cut points delivered changes before the cut');
});



test('changesAsBatches (replication): a one-shard write comes as its batch bytes with its shard, decoding to what changes() gives; a batch across shards as ops', () =>
  withTempDir(async (dir) => {
    const db = await open(path.join(dir, 'db'), { shards: 4 });
    const a = keyIn(0, 4, 'a');
    const b = keyIn(2, 4, 'b');
    await db.put(a, 'one');
    await db.batch([
      { type: 'put', key: b, value: 'two' },
      { type: 'del', key: keyIn(2, 4, 'c') },
    ]);
    await db.put(keyIn(1, 4, 'd'), 'x', { ttl: 60_000 });
    await db.clear({ gte: keyIn(3, 4, 'e'), lt: keyIn(3, 4, 'e') + '\xff' });
    await db.batch([
      { type: 'put', key: a, value: 'three' },
      { type: 'put', key: b, value: 'four' },
    ]);
    const plain: Change[] = [];
    for await (const c of db.changes({ since: 0n, live: false })) plain.push(c);
    const batches: BatchChange[] = [];
    const feed = changesAsBatches(db as never, { since: 0n, live: false });
    for (let many = await feed.nextMany(); many !== undefined; many = await feed.nextMany()) batches.push(...many);
    assert.equal(batches.map((c) => BigInt(c.seq)), plain.map((c) => c.seq));
    assert.equal(batches.map((c) => c.prev), [0, ...batches.slice(0, -1).map((c) => c.seq)], 'each names the change before it');
    for (let i = 0; i < plain.length; i++) {
      const c = batches[i]!;
      // A clear is in every shard (a write across shards), like the last batch.
      if (i >= 3) {
        assert.is(c.batch, undefined, `change ${i}, across shards, comes as ops`);
        assert.equal(c.ops, plain[i]!.ops);
        continue;
      }
      assert.ok(c.batch instanceof Uint8Array, `change ${i} as bytes`);
      assert.is(c.ops.length, 0);
      const entries = decodeBatch(c.batch).entries;
      assert.is(c.shard, shardOf(Buffer.from(entries[0]!.key), 4), `change ${i}: its shard`);
      assert.equal(
        entries.map((e) => Buffer.from(e.key).toString()),
        plain[i]!.ops.map((op) => op.key.toString()),
        `change ${i}: the same keys`,
      );
    }
    await db.close();
  }));
test.run();
