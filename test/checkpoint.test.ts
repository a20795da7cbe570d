// Checkpoints (src/shard/checkpoint.ts): a copy at one sequence number, taken while writes go
// on, opened and compared key by key with a snapshot of the source at that number; tables
// hard-linked; nothing left under the destination's name by a power cut at any file operation.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { open, type Database } from '../src/index.js';
import { FaultInjectingFileSystem, mutatingOps } from '../src/testing/index.js';
import { expectCode, readAll, withTempDir } from './helpers.js';

const value = (i: number, round: number) => `value-${i}-${round}-${'x'.repeat(i % 50)}`;

/** Every [key, value] a snapshot at the database's current sequence sees, read while the snapshot is pinned. */
async function entriesAt(db: Database, snap: ReturnType<Database['snapshot']>): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for await (const [k, v] of db.iterator({ snapshot: snap })) out.push([k.toString(), v.toString()]);
  return out;
}

async function entriesOf(db: Database): Promise<[string, string][]> {
  return (await readAll(db)).map(([k, v]) => [k.toString(), v.toString()]);
}

for (const shards of [1, 4]) {
  test(`a checkpoint of a ${shards}-shard database taken while writes go on reads as a snapshot at its sequence`, async () => {
    await withTempDir(async (dir) => {
      const src = path.join(dir, 'src');
      const db = await open(src, { shards, memtableBytes: 64 * 1024 });
      for (let i = 0; i < 3000; i++) await db.put(`k${String(i).padStart(5, '0')}`, value(i, 0));
      for (let i = 0; i < 3000; i += 7) await db.del(`k${String(i).padStart(5, '0')}`);
      await db.flush();
      // Writers run through the checkpoint: puts, deletes and batches across shards.
      let stop = false;
      let round = 1;
      const writers = Array.from({ length: 4 }, async (_, w) => {
        for (let n = 0; !stop; n++) {
          const i = (n * 37 + w * 1001) % 3000;
          const key = `k${String(i).padStart(5, '0')}`;
          if (n % 5 === 0) await db.batch([{ type: 'put', key, value: value(i, round) }, { type: 'del', key: `k${String((i + 1) % 3000).padStart(5, '0')}` }]);
          else await db.put(key, value(i, round++));
        }
      });
      await new Promise((r) => setTimeout(r, 30));
      const snapBefore = db.snapshot();
      const seq = await db.checkpoint(path.join(dir, 'cp'));
      const snapAfter = db.snapshot();
      assert.ok(BigInt(snapBefore.sequence) <= seq && seq <= BigInt(snapAfter.sequence), 'the checkpoint is at a sequence taken during the call');
      stop = true;
      await Promise.all(writers);
      snapBefore.release();
      snapAfter.release();
      const cp = await open(path.join(dir, 'cp'));
      // With several shards the copy is a cut, each shard at its own published sequence: `seq`
      // is the lowest of them (every write up to it is in the copy), and the copy opens at the
      // highest.
      if (shards === 1) assert.is(cp.sequence, seq, 'the copy opens at the checkpoint sequence');
      else assert.ok(cp.sequence >= seq, `the copy opens at or above the checkpoint sequence (${cp.sequence}, ${seq})`);
      assert.is(cp.stats().shards.length, shards, 'the copy has the same number of shards');
      const copied = await entriesOf(cp);
      assert.ok(copied.length > 1000, `the copy holds the data (${copied.length} keys)`);
      await cp.close();
      await db.close();
    });
  });
}

test('a checkpoint equals, key by key, a snapshot of the source pinned at the same sequence (4 shards)', async () => {
  await withTempDir(async (dir) => {
    const db = await open(path.join(dir, 'src'), { shards: 4, memtableBytes: 64 * 1024 });
    for (let i = 0; i < 2000; i++) await db.put(`a${i}`, value(i, 0));
    await db.flush();
    let stop = false;
    const writers = Array.from({ length: 3 }, async (_, w) => {
      for (let n = 0; !stop; n++) {
        const i = (n * 13 + w * 500) % 2000;
        if (n % 3 === 0) await db.del(`a${i}`);
        else await db.batch([{ type: 'put', key: `a${i}`, value: value(i, n) }, { type: 'put', key: `b${i}`, value: value(i, n) }]);
      }
    });
    // The source's state at the checkpoint's sequence: a snapshot pinned at the same published
    // sequence, taken in the same synchronous step as the checkpoint's own.
    await new Promise((r) => setTimeout(r, 20));
    const snap = db.snapshot();
    const taking = db.checkpoint(path.join(dir, 'cp'));
    const seq = await taking;
    assert.is(BigInt(snap.sequence), seq, 'the checkpoint pinned the sequence published at the call');
    const expected = await entriesAt(db, snap);
    snap.release();
    stop = true;
    await Promise.all(writers);
    const cp = await open(path.join(dir, 'cp'));
    const actual = await entriesOf(cp);
    assert.is(actual.length, expected.length, 'as many keys as the snapshot');
    assert.equal(actual, expected, 'every key and value as the snapshot at the checkpoint sequence reads them');
    for (const [k, v] of expected.slice(0, 200)) assert.is((await cp.get(k))?.toString(), v);
    // The copy is a database of its own: writes to it leave the source alone, and take
    // sequence numbers above the checkpoint's that no entry of the copy holds already (a table
    // linked with the source's later writes in it would show them now).
    await cp.put('a1', 'changed');
    assert.is.not((await db.get('a1'))?.toString(), 'changed');
    for (let i = 0; i < 5000; i++) await cp.put(`zz${i}`, 'x');
    const later = (await entriesOf(cp)).filter(([k]) => !k.startsWith('zz') && k !== 'a1');
    assert.equal(later, expected.filter(([k]) => k !== 'a1'), 'no write made after the checkpoint shows up in the copy');
    await cp.close();
    await db.close();
  });
});

test('checkpoint tables are hard links of the source tables', async () => {
  await withTempDir(async (dir) => {
    const db = await open(path.join(dir, 'src'));
    for (let i = 0; i < 1000; i++) await db.put(`k${i}`, value(i, 0));
    await db.flush();
    await db.checkpoint(path.join(dir, 'cp'));
    await db.close();
    const tables = fs.readdirSync(path.join(dir, 'cp')).filter((n) => n.endsWith('.sst'));
    assert.ok(tables.length > 0);
    for (const t of tables) {
      const a = fs.statSync(path.join(dir, 'cp', t));
      const b = fs.statSync(path.join(dir, 'src', t));
      assert.is(a.ino, b.ino, `${t} is the same file`);
      assert.ok(a.nlink >= 2);
    }
    assert.not.ok(fs.readdirSync(path.join(dir, 'cp')).some((n) => n.endsWith('.log')), 'no WAL is copied');
  });
});

test('where the file system refuses links (EXDEV) the tables are copied, and the copy reads the same', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem();
    ffs.failAfter(1, 'EXDEV', { op: 'link' }, { times: Infinity });
    const db = await open(path.join(dir, 'src'), { fs: ffs, shards: 2 });
    for (let i = 0; i < 1000; i++) await db.put(`k${i}`, value(i, 0));
    await db.flush();
    await db.checkpoint(path.join(dir, 'cp'));
    const expected = await entriesOf(db);
    await db.close();
    assert.ok(ffs.faultsInjected > 0, 'links were tried and refused');
    for (const shard of ['shard-0', 'shard-1']) {
      for (const t of fs.readdirSync(path.join(dir, 'cp', shard)).filter((n) => n.endsWith('.sst'))) {
        assert.is.not(fs.statSync(path.join(dir, 'cp', shard, t)).ino, fs.statSync(path.join(dir, 'src', shard, t)).ino, `${t} is a copy`);
      }
    }
    const cp = await open(path.join(dir, 'cp'));
    assert.equal(await entriesOf(cp), expected);
    await cp.close();
  });
});

test('a checkpoint records the merge operator: its counters read the same, and opening it with none fails', async () => {
  await withTempDir(async (dir) => {
    const db = await open(path.join(dir, 'src'), { shards: 2, mergeOperator: 'add' });
    for (let i = 0; i < 200; i++) await db.merge(`c${i % 10}`, 1n);
    await db.flush();
    for (let i = 0; i < 50; i++) await db.merge(`c${i % 10}`, 2n);
    await db.checkpoint(path.join(dir, 'cp'));
    await db.close();
    await expectCode(() => open(path.join(dir, 'cp')), 'INVALID_ARGUMENT');
    const copy = await open(path.join(dir, 'cp'), { mergeOperator: 'add' });
    for (let i = 0; i < 10; i++) assert.is((await copy.get(`c${i}`))!.readBigInt64LE(0), 30n);
    await copy.close();
  });
});

test('checkpoint refuses an existing destination and a closed database', async () => {
  await withTempDir(async (dir) => {
    const db = await open(path.join(dir, 'src'));
    await db.put('a', '1');
    fs.mkdirSync(path.join(dir, 'taken'));
    await expectCode(() => db.checkpoint(path.join(dir, 'taken')), 'INVALID_ARGUMENT');
    await expectCode(() => db.checkpoint(''), 'INVALID_ARGUMENT');
    await expectCode(() => db.checkpoint(42 as unknown as string), 'INVALID_ARGUMENT');
    await db.close();
    await expectCode(() => db.checkpoint(path.join(dir, 'cp')), 'CLOSED');
  });
});

test('a power cut at any file operation of a checkpoint leaves no destination or a complete one, and the source intact', async () => {
  await withTempDir(async (dir) => {
    const src = path.join(dir, 'src');
    {
      const db = await open(src, { shards: 2, memtableBytes: 64 * 1024 });
      for (let i = 0; i < 600; i++) await db.put(`k${i}`, value(i, 0));
      await db.flush();
      for (let i = 0; i < 600; i += 3) await db.put(`k${i}`, value(i, 1), { sync: true });
      await db.close();
    }
    const pristine = path.join(dir, 'pristine');
    fs.cpSync(src, pristine, { recursive: true });
    let expected: [string, string][] | undefined;
    let complete = 0;
    for (let point = 0; ; point++) {
      fs.rmSync(src, { recursive: true, force: true });
      fs.cpSync(pristine, src, { recursive: true });
      for (const n of fs.readdirSync(dir)) if (n.startsWith('cp')) fs.rmSync(path.join(dir, n), { recursive: true, force: true });
      const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
      const db = await open(src, { fs: ffs, memtableBytes: 64 * 1024 });
      expected ??= await entriesOf(db);
      const before = ffs.opCount;
      ffs.cutPowerAfter(point, mutatingOps);
      let finished = false;
      try {
        await db.checkpoint(path.join(dir, 'cp'));
        finished = true;
      } catch (err) {
        assert.ok(ffs.poweredOff, `only the power cut fails the checkpoint (${String(err)})`);
      }
      await db.close().catch(() => {});
      if (finished) {
        assert.ok(ffs.opCount > before);
        await ffs.powerCut();
      }
      await ffs.whenPowerCut();
      const cpDir = path.join(dir, 'cp');
      if (fs.existsSync(cpDir)) {
        complete++;
        const cp = await open(cpDir, { createIfMissing: false });
        assert.equal(await entriesOf(cp), expected, `crash point ${point}: the checkpoint is complete`);
        await cp.close();
      }
      const again = await open(src);
      assert.equal(await entriesOf(again), expected, `crash point ${point}: the source is intact`);
      await again.close();
      if (finished) {
        assert.ok(point > 30, `a checkpoint of two shards takes many file operations (${point})`);
        break;
      }
    }
    assert.ok(complete >= 1, 'the last run completes');
  });
});

test.run();
