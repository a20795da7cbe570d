// An engine alone rotates its WAL without syncing the old one (WalSet's deferSync): what a
// power cut can then leave, and what recovery makes of it (src/engine/recovery.ts). Each test
// holds flushes back (table creation waits), so that the older WALs are still needed at the
// power cut and recovery replays them.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { open } from '../src/index.js';
import { FaultInjectingFileSystem } from '../src/testing/index.js';
import { filesOf, flushesHeld, withTempDir } from './helpers.js';

const key = (i: number) => `key-${String(i).padStart(5, '0')}`;
const value = (i: number) => `value ${i} `.repeat(8);

/** Writes `count` puts (not synced) until the database holds at least `wals` WALs. */
async function fillWals(db: Awaited<ReturnType<typeof open>>, dir: string, wals: number): Promise<number> {
  let n = 0;
  while (filesOf(dir, '.log').length < wals) await db.put(key(n), value(n++));
  for (let i = 0; i < 20; i++) await db.put(key(n), value(n++));
  return n;
}

/** Which of keys 0..n-1 the database at `dir` holds, after a plain open. */
async function present(dir: string, n: number): Promise<boolean[]> {
  const db = await open(dir);
  try {
    return Array.from({ length: n }, (_, i) => db.getSync(key(i)) !== undefined);
  } finally {
    await db.close();
  }
}

test('an older WAL cut short by a power cut ends the replay: no later write survives while an earlier one is lost', async () => {
  await withTempDir(async (dir) => {
    const held = flushesHeld();
    const ffs = new FaultInjectingFileSystem(held.fs, { syncs: 'simulated' });
    const db = await open(dir, { fs: ffs, memtableBytes: 64 * 1024, maxImmutableMemtables: 8, compactionWorkers: 0 });
    const n = await fillWals(db, dir, 3);
    const logs = filesOf(dir, '.log').map((name) => path.join(dir, name));
    const oldest = logs[0]!;
    // The kernel wrote back the newer WALs whole, but only half of the oldest one.
    const cut = ffs.powerCut({ keepUnsynced: (file, unsynced) => (file === oldest ? Math.floor(unsynced / 2) : unsynced) });
    held.release(); // (the power cut waits for the table creation in flight)
    await cut;
    await db.close().catch(() => undefined);
    const got = await present(dir, n);
    const kept = got.indexOf(false);
    assert.ok(kept > 0 && kept < n, `some writes of the oldest WAL survive, not all (${kept} of ${n})`);
    assert.ok(got.slice(kept).every((p) => !p), `nothing after the first lost write survives (first lost: ${kept})`);
    assert.is(filesOf(dir, '.log').filter((name) => logs.some((l) => path.basename(l) === name) && name !== path.basename(oldest)).length, 0, 'the newer WALs were deleted');
  });
});

test('an older WAL cut at a record boundary by a power cut ends the replay too (the sequence gap shows it)', async () => {
  await withTempDir(async (dir) => {
    const held = flushesHeld();
    const ffs = new FaultInjectingFileSystem(held.fs, { syncs: 'simulated' });
    const db = await open(dir, { fs: ffs, memtableBytes: 64 * 1024, maxImmutableMemtables: 8, compactionWorkers: 0, walPreallocateBytes: 0 });
    const n = await fillWals(db, dir, 3);
    const logs = filesOf(dir, '.log').map((name) => path.join(dir, name));
    const oldest = logs[0]!;
    // Without preallocation the file ends where the kernel stopped writing it back: at a record
    // boundary here (each put is one group, one record).
    const bytes = fs.readFileSync(oldest);
    let at = 12;
    let boundary = at;
    while (at + 13 <= bytes.length) {
      at += 13 + bytes.readUInt32LE(at + 4);
      if (at < bytes.length / 2) boundary = at;
    }
    const cut = ffs.powerCut({ keepUnsynced: (file, unsynced) => (file === oldest ? boundary : unsynced) });
    held.release(); // (the power cut waits for the table creation in flight)
    await cut;
    await db.close().catch(() => undefined);
    const got = await present(dir, n);
    const kept = got.indexOf(false);
    assert.ok(kept > 0 && kept < n, `some writes of the oldest WAL survive, not all (${kept} of ${n})`);
    assert.ok(got.slice(kept).every((p) => !p), `nothing after the first lost write survives (first lost: ${kept})`);
  });
});

test('a synced write syncs the older WALs first: after a power cut every write before it survives', async () => {
  await withTempDir(async (dir) => {
    const held = flushesHeld();
    const ffs = new FaultInjectingFileSystem(held.fs, { syncs: 'simulated' });
    const db = await open(dir, { fs: ffs, memtableBytes: 64 * 1024, maxImmutableMemtables: 8, compactionWorkers: 0 });
    const n = await fillWals(db, dir, 3);
    await db.put('synced', 'yes', { sync: true });
    await db.put(key(n), value(n)); // after it, unsynced
    const cut = ffs.powerCut();
    held.release(); // (the power cut waits for the table creation in flight)
    await cut;
    await db.close().catch(() => undefined);
    const got = await present(dir, n);
    assert.ok(got.every((p) => p), `every write before the synced one survives (${got.filter((p) => p).length} of ${n})`);
    const again = await open(dir);
    assert.is(again.getSync('synced')?.toString(), 'yes');
    await again.close();
  });
});

test('after a cut, new writes take the dropped WALs\' sequence numbers: a second power cut brings none of the dropped writes back', async () => {
  await withTempDir(async (dir) => {
    const held = flushesHeld();
    const ffs = new FaultInjectingFileSystem(held.fs, { syncs: 'simulated' });
    const db = await open(dir, { fs: ffs, memtableBytes: 64 * 1024, maxImmutableMemtables: 8, compactionWorkers: 0 });
    const n = await fillWals(db, dir, 3);
    const oldest = path.join(dir, filesOf(dir, '.log')[0]!);
    const cut = ffs.powerCut({ keepUnsynced: (file, unsynced) => (file === oldest ? Math.floor(unsynced / 2) : unsynced) });
    held.release(); // (the power cut waits for the table creation in flight)
    await cut;
    await db.close().catch(() => undefined);
    const kept = (await present(dir, n)).indexOf(false);
    // Second run: new values for the lost keys, synced; then a power cut that keeps nothing unsynced.
    const ffs2 = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
    const db2 = await open(dir, { fs: ffs2, memtableBytes: 64 * 1024, maxImmutableMemtables: 8, compactionWorkers: 0 });
    for (let i = kept; i < kept + 10; i++) await db2.put(key(i), 'second run', { sync: true });
    await ffs2.powerCut();
    await db2.close().catch(() => undefined);
    const db3 = await open(dir);
    for (let i = kept; i < kept + 10; i++) assert.is(db3.getSync(key(i))?.toString(), 'second run', key(i));
    for (let i = kept + 10; i < n; i++) assert.is(db3.getSync(key(i)), undefined, `${key(i)} was dropped at the first open`);
    await db3.close();
  });
});

test('a retained log (kept for the change feed) that a power cut left torn is deleted with the older ones: the feed starts after it and skips nothing', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
    const db = await open(dir, { fs: ffs, memtableBytes: 64 * 1024, compactionWorkers: 0 });
    let n = 0;
    while (db.stats().changeRetention.logs < 3) {
      await db.put(key(n), value(n++));
      if (n % 200 === 0) await db.flush();
    }
    await db.flush();
    const retained = filesOf(dir, '.log').map((name) => path.join(dir, name));
    // The kernel wrote back half of every log: a retained log is torn, its writes are in tables.
    await ffs.powerCut({ keepUnsynced: (file, unsynced) => (file.endsWith('.log') ? Math.floor(unsynced / 2) : unsynced) });
    await db.close().catch(() => undefined);
    const again = await open(dir);
    try {
      const oldest = again.stats().changeRetention.oldestSequence;
      let previous: bigint | undefined;
      for await (const change of again.changes({ since: BigInt(oldest), live: false })) {
        if (previous !== undefined) assert.is(change.seq, previous + 1n, `the feed skips nothing after ${previous}`);
        previous = change.seq;
      }
      assert.ok(retained.length >= 3, `${retained.length} logs`);
      for (let i = 0; i < n; i++) assert.ok(again.getSync(key(i)) !== undefined, `${key(i)} is in a table`);
    } finally {
      await again.close();
    }
  });
});

test('a log a crash left with its preallocated zeros, replayed by an open that wrote nothing before the next crash, stays retained: changes since 0 still lists every write', async () => {
  // A crash leaves the current log's preallocated tail: zeros, read as a torn tail. The open
  // after it replays that log, syncs it and keeps it for the feed; when that session is killed
  // before its first write, the log it started holds no LogsSynced record, and the next open
  // took the retained log for one a power cut cut short (found by crash.test: a kill while
  // opening, then changes({ since: 0 }) refused with OUT_OF_RANGE).
  await withTempDir(async (dir) => {
    const retention = { changeRetention: { bytes: 1024 * 1024 * 1024, ms: 60 * 60 * 1000 } };
    /** Kills the session (every byte written stays, as after SIGKILL) and lets go of its files. */
    const crash = async (ffs: FaultInjectingFileSystem, db: Awaited<ReturnType<typeof open>>) => {
      await ffs.powerCut({ keepUnsynced: (_file, unsynced) => unsynced });
      await db.close().catch(() => undefined);
    };
    let ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
    let db = await open(dir, { fs: ffs, ...retention });
    for (let i = 0; i < 50; i++) await db.put(key(i), value(i), { sync: true });
    await crash(ffs, db);
    ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
    db = await open(dir, { fs: ffs, ...retention });
    await crash(ffs, db);
    db = await open(dir, retention);
    try {
      const seqs: bigint[] = [];
      for await (const change of db.changes({ since: 0n, live: false })) seqs.push(change.seq);
      assert.equal(seqs, Array.from({ length: 50 }, (_, i) => BigInt(i + 1)), 'the feed lists every write since 0');
    } finally {
      await db.close();
    }
  });
});

test.run();
