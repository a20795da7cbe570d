// Compaction as a user sees it: space comes back, snapshots and iterators keep what they can
// see, level 0 stays shallow, and writers are slowed rather than failed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { open, type Database, type OpenOptions } from '../src/index.js';
import { readAll, tablesOpenedInTheCall, untilCompactions } from './helpers.js';

const SMALL: OpenOptions = {
  memtableBytes: 64 * 1024,
  l0CompactionTrigger: 2,
  levelBaseBytes: 256 * 1024,
  levelMultiplier: 4,
  targetFileBytes: 64 * 1024,
};

async function withDb(options: OpenOptions, fn: (db: Database, dir: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-compaction-'));
  const db = await open(dir, options);
  try {
    await fn(db, dir);
  } finally {
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const key = (i: number) => `key${String(i).padStart(6, '0')}`;
const value = (i: number, round: number) => `${round}:${i}:`.padEnd(200, String.fromCharCode(97 + ((i + round) % 26)));
/** Runs `count` writes with at most `inFlight` of them pending at a time. */
async function writeAll(count: number, inFlight: number, write: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await write(next++);
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
}

const tableBytes = (dir: string) => fs.readdirSync(dir).filter((n) => n.endsWith('.sst')).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);

test('compactRange() drops overwritten versions and deletions, and the data reads back', () =>
  withDb({ ...SMALL, l0CompactionTrigger: 1000, l0SlowdownTrigger: 1000, l0StopTrigger: 1000 }, async (db, dir) => {
    for (let round = 0; round < 4; round++) {
      const writes = [];
      for (let i = 0; i < 2000; i++) writes.push(db.put(key(i), value(i, round)));
      await Promise.all(writes);
    }
    for (let i = 0; i < 2000; i += 2) await db.del(key(i));
    await db.flush();
    const before = tableBytes(dir);
    assert.ok(db.stats().levels[0]!.files > 4, 'level 0 piled up with automatic compaction held off');
    await db.compactRange();
    const after = tableBytes(dir);
    const s = db.stats();
    assert.is(s.levels[0]!.files, 0);
    assert.ok(after < before / 4, `tables shrank from ${before} to ${after} bytes`);
    assert.ok(s.bytesCompactedIn > 0 && s.bytesCompactedOut > 0 && s.writeAmplification > 1, JSON.stringify(s));
    let n = 0;
    for await (const [k, v] of db.iterator()) {
      const i = Number(k.toString().slice(3));
      assert.is(i % 2, 1, `${k} was deleted`);
      assert.is(v.toString(), value(i, 3));
      n++;
    }
    assert.is(n, 1000);
    assert.is((await db.get(key(1)))?.toString(), value(1, 3));
    assert.is(await db.get(key(2)), undefined);
  }));

test('compactRange(start, end) compacts only the files that overlap the range', () =>
  withDb({ ...SMALL, l0CompactionTrigger: 1000, l0SlowdownTrigger: 1000, l0StopTrigger: 1000, memtableBytes: 1024 * 1024 }, async (db) => {
    for (let i = 0; i < 100; i++) await db.put(key(i), 'low');
    await db.flush();
    for (let i = 900; i < 1000; i++) await db.put(key(i), 'high');
    await db.flush();
    await db.compactRange(key(0), key(50));
    const levels = db.stats().levels;
    assert.is(levels[0]!.files, 0, 'level 0 moves as a whole (its files may overlap)');
    assert.is((await db.get(key(950)))?.toString(), 'high');
    assert.is((await db.get(key(5)))?.toString(), 'low');
  }));

test('a snapshot keeps the versions it sees through compactions', () =>
  withDb(SMALL, async (db) => {
    for (let i = 0; i < 500; i++) await db.put(key(i), value(i, 0));
    const snap = db.snapshot();
    for (let round = 1; round < 4; round++) for (let i = 0; i < 500; i++) await db.put(key(i), value(i, round));
    for (let i = 0; i < 500; i += 3) await db.del(key(i));
    await db.compactRange();
    for (let i = 0; i < 500; i += 7) {
      assert.is((await db.get(key(i), { snapshot: snap }))?.toString(), value(i, 0));
      assert.is((await db.get(key(i)))?.toString(), i % 3 === 0 ? undefined : value(i, 3));
    }
    let n = 0;
    for await (const [k, v] of db.iterator({ snapshot: snap })) {
      assert.is(v.toString(), value(Number(k.toString().slice(3)), 0));
      n++;
    }
    assert.is(n, 500);
    snap.release();
    await db.compactRange();
    assert.is(await db.get(key(0)), undefined);
  }));

test('an open iterator reads on from the files a compaction replaced; they go once it closes', () =>
  withDb(SMALL, async (db, dir) => {
    for (let i = 0; i < 1500; i++) await db.put(key(i), value(i, 0));
    await db.flush();
    const it = db.iterator();
    const first = await it.nextv(10);
    assert.is(first.length, 10);
    const tablesBefore = new Set(fs.readdirSync(dir).filter((n) => n.endsWith('.sst')));
    for (let i = 0; i < 1500; i++) await db.put(key(i), value(i, 1));
    await db.compactRange();
    let n = first.length;
    for (let e = it.nextSync(); e; e = it.nextSync()) {
      assert.is(e[1].toString(), value(Number(e[0].toString().slice(3)), 0));
      n++;
    }
    assert.is(n, 1500);
    const stillThere = fs.readdirSync(dir).filter((f) => tablesBefore.has(f));
    assert.ok(stillThere.length > 0, 'the iterator pins the tables it reads');
    await it.close();
    // Deletion runs in the background once the last reader lets go: give it up to 10 s.
    let left = stillThere;
    for (let waited = 0; left.length > 0 && waited < 10_000; waited += 20) {
      await new Promise((r) => setTimeout(r, 20));
      left = fs.readdirSync(dir).filter((f) => tablesBefore.has(f));
    }
    assert.equal(left, [], 'released tables are deleted');
  }));

test('automatic compaction bounds level 0 and moves data down the levels', () =>
  withDb(SMALL, async (db) => {
    await writeAll(20_000, 64, (i) => db.put(key((i * 7919) % 20_000), value(i, 0)));
    await db.flush();
    await untilCompactions(db);
    const s = db.stats();
    assert.ok(s.compactions > 0, 'compactions ran');
    assert.ok(s.levels.slice(1).some((l) => l.files > 0), 'data reached level 1 or below');
    // Writes stop at l0StopTrigger (36 by default); flushes of memtables already full may add
    // up to maxImmutableMemtables (2) more.
    assert.ok(s.levels[0]!.files <= 36 + 2, `level 0 holds ${s.levels[0]!.files} files`);
    for (let i = 0; i < 20_000; i += 997) assert.ok(await db.get(key(i)));
  }));

test("seeks over level-0 tables below the trigger compact them once they have paid level 0's read budget; gets alone do not", () =>
  withDb({ ...SMALL, l0CompactionTrigger: 4 }, async (db) => {
    // Three overlapping level-0 tables, under the trigger of 4: nothing compacts them.
    for (let round = 0; round < 3; round++) {
      for (let i = round; i < 600; i += 3) await db.put(key(i), value(i, round));
      await db.flush();
    }
    let s = db.stats();
    assert.is(s.levels[0]!.files, 3, 'three level-0 tables');
    for (let i = 0; i < 3_000; i++) assert.ok(await db.get(key(i % 600)));
    await new Promise((resolve) => setTimeout(resolve, 50));
    s = db.stats();
    assert.is(s.compactions, 0, 'gets alone compact nothing');
    assert.is(s.levels[0]!.files, 3);
    // Each iterator positions over all three: 100 of them use up the budget (small tables).
    for (let i = 0; i < 100; i++) {
      const found: Buffer[] = [];
      for await (const [k] of db.iterator({ gte: key((i * 37) % 600), limit: 1 })) found.push(k);
      assert.equal(found, [Buffer.from(key((i * 37) % 600))]);
    }
    await untilCompactions(db);
    s = db.stats();
    assert.is(s.compactions, 1, 'one compaction, started by the seeks');
    assert.is(s.levels[0]!.files, 0, 'level 0 went to level 1');
    assert.ok(s.levels[1]!.files > 0);
    const all = await readAll(db);
    assert.is(all.length, 600);
    for (const [k, v] of all) {
      const i = Number(k.toString().slice(3));
      assert.is(v.toString(), value(i, i % 3));
    }
  }));

for (const flushed of [3, 2]) {
  test(`close() runs the compaction the next open would start, and only then flushes (${flushed} level-0 tables and a memtable, trigger 4)`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-compaction-'));
    const options = { ...SMALL, memtableBytes: 1024 * 1024, l0CompactionTrigger: 4 };
    try {
      let db = await open(dir, options);
      for (let round = 0; round <= flushed; round++) {
        for (let i = round % 2; i < 800; i += 2) await db.put(key(i), value(i, round));
        if (round < flushed) await db.flush();
      }
      assert.is(db.stats().levels[0]!.files, flushed);
      assert.is(db.stats().compactions, 0);
      await db.close();
      db = await open(dir, options);
      try {
        const s = db.stats();
        assert.is(s.compactionsRunning, 0, 'the reopened database starts no compaction');
        if (flushed === 3) {
          // The memtable's flush made level 0 due: close() flushed it and compacted level 0.
          assert.is(s.levels[0]!.files, 0, 'level 0 compacted by close()');
          assert.ok(s.levels[1]!.files > 0);
          assert.is(s.memtableEntries, 0);
        } else {
          // Below the trigger even with the memtable: close() left it in the log, and the
          // reopen's recovery flush made it the third level-0 table.
          assert.is(s.levels[0]!.files, 3, 'the log replayed into a third level-0 table');
        }
        const newest = (i: number) => (flushed === 3 ? (i % 2 === 0 ? 2 : 3) : i % 2 === 0 ? 2 : 1);
        for (let i = 0; i < 800; i++) assert.is((await db.get(key(i)))?.toString(), value(i, newest(i)), key(i));
      } finally {
        await db.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('close() leaves a backlog of more than four memtables of compaction to the next open: the memtable stays in the log', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-compaction-'));
  const options = { ...SMALL, memtableBytes: 64 * 1024, l0CompactionTrigger: 4, levelBaseBytes: 64 * 1024 * 1024 };
  const random = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7919 + n * 31 + Math.floor(Math.random() * 256)) & 0xff));
  try {
    let db = await open(dir, options);
    const written = new Map<string, Buffer>();
    const put = async (k: string, v: Buffer) => {
      written.set(k, v);
      await db.put(k, v);
    };
    // About 1.2 MB of level 1 (values that do not compress), then three level-0 tables and a
    // memtable over its key range: their compaction would rewrite level 1, over 4 x 64 KiB.
    for (let i = 0; i < 1200; i++) await put(key(i), random(1000));
    await db.compactRange();
    assert.is(db.stats().levels[0]!.files, 0);
    assert.ok(db.stats().levels[1]!.bytes > 1_000_000, `level 1 holds the first writes (${db.stats().levels[1]!.bytes} bytes)`);
    for (let round = 0; round < 4; round++) {
      for (let i = round; i < 1200; i += 30) await put(key(i), random(1000));
      if (round < 3) await db.flush();
    }
    assert.is(db.stats().levels[0]!.files, 3);
    await db.close();
    db = await open(dir, options);
    try {
      assert.is(db.stats().levels[0]!.files, 4, "close() flushed nothing: the reopen's recovery flush made the fourth level-0 table");
      for (const [k, v] of written) assert.ok((await db.get(k))?.equals(v), k);
    } finally {
      await db.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

for (const shards of [1, 3]) {
  test(`an iterator's seek() after a compaction reads the compacted tables at its snapshot, and the replaced ones go while it stays open (${shards} shard${shards > 1 ? 's' : ''})`, () =>
    withDb({ ...SMALL, shards }, async (db, dir) => {
      for (let i = 0; i < 1500; i++) await db.put(key(i), value(i, 0));
      await db.flush();
      const it = db.iterator();
      assert.is((await it.nextv(10)).length, 10);
      const tablesBefore = new Set(fs.readdirSync(dir, { recursive: true }).map(String).filter((n) => n.endsWith('.sst')));
      // After the iterator's snapshot: new values, deletions, a range deletion.
      for (let i = 0; i < 1500; i++) await (i % 5 === 0 ? db.del(key(i)) : db.put(key(i), value(i, 1)));
      await db.clear({ gte: key(100), lt: key(200) });
      await db.put(key(9999), value(9999, 1));
      await db.compactRange();
      it.seek(key(50));
      const seen: [Buffer, Buffer][] = [];
      for (let batch = await it.nextv(100); batch.length > 0; batch = await it.nextv(100)) seen.push(...batch);
      assert.is(seen.length, 1450, 'every key from key000050 on, as the snapshot saw it');
      for (const [k, v] of seen) assert.is(v.toString(), value(Number(k.toString().slice(3)), 0));
      // Released by the seek: deleted in the background while the iterator is open.
      let left = [...tablesBefore];
      for (let waited = 0; left.length > 0 && waited < 10_000; waited += 20) {
        await new Promise((r) => setTimeout(r, 20));
        const now = new Set(fs.readdirSync(dir, { recursive: true }).map(String));
        left = left.filter((f) => now.has(f));
      }
      assert.equal(left, [], 'the tables the iterator was created over are gone');
      it.seek(key(0));
      assert.equal((await it.nextv(1)).map(([k, v]) => [k.toString(), v.toString()]), [[key(0), value(0, 0)]]);
      await it.close();
    }));
}

test('writers are delayed, never failed, when level 0 reaches the stop trigger', () =>
  withDb({ ...SMALL, l0CompactionTrigger: 1, l0SlowdownTrigger: 1, l0StopTrigger: 2, compactionWorkers: 0 }, async (db) => {
    await writeAll(10_000, 16, (i) => db.put(key(i), value(i, 0)));
    const s = db.stats();
    assert.ok(s.writeStalls > 0, 'writes stalled');
    assert.ok(s.writeStallMs > 0);
    for (let i = 0; i < 10_000; i += 501) assert.is((await db.get(key(i)))?.toString(), value(i, 0));
  }));

test('data compacted in a worker thread survives close and reopen', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-compaction-'));
  let db = await open(dir, { ...SMALL, compactionWorkers: 1 });
  for (let i = 0; i < 3000; i++) await db.put(key(i), value(i, 0));
  await db.compactRange();
  await db.close();
  db = await open(dir, SMALL);
  assert.ok(db.stats().levels.slice(1).some((l) => l.files > 0));
  for (let i = 0; i < 3000; i += 101) assert.is((await db.get(key(i)))?.toString(), value(i, 0));
  await db.close();
  fs.rmSync(dir, { recursive: true });
});

for (const compactionWorkers of [0, 2]) {
  test(`compactRange() cut into subcompactions keeps every key's versions, snapshots and merge operands whole (compactionWorkers ${compactionWorkers})`, async () => {
    const counter = (v: Buffer | undefined) => (v === undefined ? undefined : v.readBigInt64LE(0));
    await withDb({ ...SMALL, compactionWorkers, mergeOperator: 'add', l0CompactionTrigger: 100 }, async (db) => {
      // Many versions of each key, in many tables: the cuts fall between keys whose versions
      // and operands lie in several inputs.
      const keys = 3000;
      for (let round = 0; round < 3; round++) {
        await writeAll(keys, 64, (i) => db.put(key(i), value(i, round)));
        await writeAll(keys / 10, 64, (i) => db.merge(`n${key(i * 10)}`, BigInt(round + 1)));
        await db.flush();
      }
      const snap = db.snapshot();
      await writeAll(keys, 64, (i) => (i % 3 === 0 ? db.del(key(i)) : db.put(key(i), value(i, 9))));
      await writeAll(keys / 10, 64, (i) => db.merge(`n${key(i * 10)}`, 100n));
      const before = db.stats().subcompactions;
      await db.compactRange();
      assert.ok(db.stats().subcompactions >= before + 2, `compactRange() was cut: ${before} -> ${db.stats().subcompactions} subcompactions`);
      for (let i = 0; i < keys; i++) {
        const got = (await db.get(key(i)))?.toString();
        assert.is(got, i % 3 === 0 ? undefined : value(i, 9), key(i));
        assert.is((await db.get(key(i), { snapshot: snap }))?.toString(), value(i, 2), `${key(i)} at the snapshot`);
      }
      for (let i = 0; i < keys / 10; i++) {
        assert.is(counter(await db.get(`n${key(i * 10)}`)), 106n, `counter ${i}`);
        assert.is(counter(await db.get(`n${key(i * 10)}`, { snapshot: snap })), 6n, `counter ${i} at the snapshot`);
      }
      snap.release();
      const all = await readAll(db);
      assert.is(all.length, keys - Math.ceil(keys / 3) + keys / 10, 'every live key once, in order');
      for (let j = 1; j < all.length; j++) assert.ok(Buffer.compare(all[j - 1]![0], all[j]![0]) < 0, 'ascending');
    });
  });
}

test('a compaction cut into subcompactions opens its inputs off the event loop before it reads their indexes for the cuts', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-compaction-'));
  const options = { ...SMALL, l0CompactionTrigger: 100, l0SlowdownTrigger: 100, l0StopTrigger: 100 };
  let db = await open(dir, options);
  for (let round = 0; round < 4; round++) {
    await writeAll(2000, 64, (i) => db.put(key(i), value(i, round)));
    await db.flush();
  }
  await db.close();
  // Reopened: no table is open. TableReader.open is the synchronous open, on the calling thread.
  db = await open(dir, options);
  const before = db.stats().subcompactions;
  const opened = await tablesOpenedInTheCall(() => db.compactRange());
  assert.ok(db.stats().subcompactions >= before + 2, `compactRange() was cut: ${before} -> ${db.stats().subcompactions} subcompactions`);
  assert.is(opened, 0, 'tables opened on the event loop\'s thread');
  for (let i = 0; i < 2000; i += 97) assert.is((await db.get(key(i)))?.toString(), value(i, 3));
  await db.close();
  fs.rmSync(dir, { recursive: true });
});

test('compaction options out of range are INVALID_ARGUMENT', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-compaction-'));
  for (const bad of [{ l0CompactionTrigger: 0 }, { l0CompactionTrigger: 4, l0SlowdownTrigger: 2 }, { l0SlowdownTrigger: 30, l0StopTrigger: 10 }, { levelMultiplier: 1 }, { targetFileBytes: 10 }, { compactionWorkers: -1 }]) {
    await open(dir, bad).then(
      (db) => db.close().then(() => assert.unreachable(JSON.stringify(bad))),
      (err) => assert.is(err.code, 'INVALID_ARGUMENT', JSON.stringify(bad)),
    );
  }
  fs.rmSync(dir, { recursive: true });
});

test('an iterator reading through a snapshot keeps its view after the snapshot is released and compacted away', () =>
  withDb(SMALL, async (db) => {
    for (let i = 0; i < 300; i++) await db.put(key(i), value(i, 0));
    const snap = db.snapshot();
    const it = db.iterator({ snapshot: snap });
    snap.release();
    for (let i = 0; i < 300; i++) await db.put(key(i), value(i, 1));
    await db.compactRange();
    let n = 0;
    for (let e = it.nextSync(); e; e = it.nextSync()) {
      assert.is(e[1].toString(), value(Number(e[0].toString().slice(3)), 0));
      n++;
    }
    assert.is(n, 300);
    await it.close();
    assert.is(db.stats().liveSnapshots, 0);
  }));

test.run();
