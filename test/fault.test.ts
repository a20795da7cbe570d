// Disk full, I/O errors and torn writes, injected with FaultInjectingFileSystem: a failed write
// fails with IO_ERROR and its errno while reads go on; a failed fsync is never taken for a
// success; a background flush or compaction that fails stops writes with its IO_ERROR; and
// after the fault (with or without a power cut) the database reopens with nothing acknowledged
// lost. A power cut at a few chosen moments (the first open, a WAL switch, a new directory)
// must leave a database that opens.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { open, StrataError, type Database, type OpenOptions } from '../src/index.js';
import { FaultInjectingFileSystem, MUTATING_OPS, mutatingOps, type FsOpName } from '../src/testing/index.js';
import { expectCode, filesOf, newestFile, withTempDir, WriteHistory } from './helpers.js';
import { logEnd } from './damage.js';

const SMALL: OpenOptions = { memtableBytes: 64 * 1024, l0CompactionTrigger: 2, levelBaseBytes: 128 * 1024, targetFileBytes: 64 * 1024, compactionWorkers: 0 };
const WAL = /\.log$/;
const SST = /\.sst$/;

const key = (i: number) => Buffer.from(`key-${String(i).padStart(5, '0')}`);
const filler = (n: number, seed: number) => Buffer.alloc(n, 0x61 + (seed % 26));

/** Issues `count` puts of about `valueBytes` each through `history`, awaiting each; returns the first index. */
async function putMany(db: Database, history: WriteHistory, count: number, valueBytes: number, sync: (i: number) => boolean): Promise<void> {
  for (let i = 0; i < count; i++) {
    const index = history.writes.length;
    const k = key(index);
    await history.put(db, k, WriteHistory.value(index, 0, k, filler(valueBytes, index)), sync(i));
  }
}

/** Writes until one fails (a background error arriving); returns that error. */
async function untilAWriteFails(db: Database, history: WriteHistory): Promise<StrataError> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const index = history.writes.length;
    const k = key(index);
    try {
      await history.put(db, k, WriteHistory.value(index, 0, k, filler(2000, index)), false);
    } catch (err) {
      if (err instanceof StrataError) return err;
      throw err;
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error('no write failed within 10 s');
}

/** Every acknowledged write in `history` must survive: the ones before the last acknowledged one. */
function everyAckMustSurvive(history: WriteHistory): void {
  let last = -1;
  history.writes.forEach((w, i) => w.acked && (last = i));
  history.durableBelow = Math.max(history.durableBelow, last + 1);
}

/** Reopens `dir` with the real file system and checks it against `history`; no orphan tables either. */
async function reopenAndCheck(dir: string, history: WriteHistory, what: string, options: OpenOptions = {}): Promise<void> {
  const db = await open(dir, { ...options, l0CompactionTrigger: 1000, compactionWorkers: 0 });
  try {
    await history.check(db, what);
    const named = db.stats().levels.reduce((n, l) => n + l.files, 0);
    assert.is(filesOf(dir, '.sst').length, named, `${what}: no orphan tables after open`);
  } finally {
    await db.close();
  }
}

async function assertReadsWork(db: Database, history: WriteHistory, what: string): Promise<void> {
  // check() reads through the iterator and getSync: the same reads a user makes.
  const prefix = await history.check(db, `${what} (reads on the open database)`);
  assert.ok(prefix >= history.durableBelow);
}

// ---------------------------------------------------------------------------------------------
// Disk full and I/O errors

test('ENOSPC on a WAL append fails the write with IO_ERROR (errno ENOSPC), reads go on, later writes fail, and a reopen loses nothing acknowledged', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem();
    const db = await open(dir, { ...SMALL, fs: ffs });
    const history = new WriteHistory();
    await putMany(db, history, 30, 100, (i) => i % 7 === 0);
    ffs.failAfter(1, 'ENOSPC', { op: 'append', path: WAL }, { times: Infinity });
    const err = await expectCode(() => history.put(db, key(99_999), Buffer.from('no room'), true), 'IO_ERROR', 'the put that hits a full disk');
    assert.is(err.errno, 'ENOSPC');
    everyAckMustSurvive(history);
    await assertReadsWork(db, history, 'after ENOSPC');
    const later = [
      () => db.put('later', 'x'),
      () => db.del(key(0)),
      () => db.batch([{ type: 'put', key: 'b1', value: 'x' }], { sync: true }),
      () => db.flush(),
    ];
    for (const call of later) assert.is((await expectCode(call, 'IO_ERROR', 'a write after the failed one')).errno, 'ENOSPC');
    await db.close();
    ffs.clearFaults();
    await reopenAndCheck(dir, history, 'reopened after ENOSPC');
  });
});

test('EIO on a WAL fsync rejects the write, the database refuses further writes and never touches that WAL again, and a power cut keeps every earlier sync write', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem();
    const db = await open(dir, { ...SMALL, fs: ffs });
    const history = new WriteHistory(() => !ffs.poweredOff);
    await putMany(db, history, 20, 200, (i) => i % 3 === 0);
    const wal = newestFile(dir, '.log');
    ffs.failAfter(1, 'EIO', { op: 'sync', path: WAL });
    const err = await expectCode(() => history.put(db, key(50_000), Buffer.from('fsync fails'), true), 'IO_ERROR', 'the sync put whose fsync fails');
    assert.is(err.errno, 'EIO');
    // The next fsync would succeed (the fault was one-shot): the database must not try it.
    await expectCode(() => db.put('after', 'x', { sync: true }), 'IO_ERROR', 'a sync write after the failed fsync');
    await expectCode(() => db.put('after', 'x'), 'IO_ERROR', 'a write after the failed fsync');
    await assertReadsWork(db, history, 'after a failed fsync');
    await db.close();
    const failedAt = ffs.ops.findIndex((o) => o.fault === 'EIO');
    assert.equal(ffs.ops[failedAt], { op: 'sync', path: wal, fault: 'EIO' });
    const touched = ffs.ops.slice(failedAt + 1).filter((o) => o.path === wal && (o.op === 'append' || o.op === 'sync'));
    assert.equal(touched, [], 'no append or fsync of the WAL after its fsync failed, close() included');
    await ffs.powerCut();
    await reopenAndCheck(dir, history, 'after a failed fsync and a power cut');
  });
});

// Regression (since fixed in the engine): Engine.close() swallows a failed WAL fsync (`await
// this.#wal.sync().catch(() => {})`) and resolves, yet README promises "close() syncs the log, so
// everything written before a clean close survives a power cut".
test('close() rejects with IO_ERROR when its WAL fsync fails: a failed fsync is never a clean close', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem();
    const db = await open(dir, { ...SMALL, fs: ffs });
    await db.put('written, not synced', 'x');
    ffs.failAfter(1, 'EIO', { op: 'sync', path: WAL });
    const err = await expectCode(() => db.close(), 'IO_ERROR', 'close() whose WAL fsync fails');
    assert.is(err.errno, 'EIO');
    assert.ok(db.closed, 'the database is closed all the same');
  });
});

test('ENOSPC in the flush close() runs (level 0 due by its next open): close() rejects with IO_ERROR, closes all the same, and a power cut keeps every write, synced or not', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
    const db = await open(dir, { ...SMALL, fs: ffs });
    const history = new WriteHistory(() => !ffs.poweredOff);
    await putMany(db, history, 10, 1000, () => false);
    await db.flush();
    await putMany(db, history, 10, 1000, () => false);
    // One level-0 table and a memtable at a trigger of 2: close() syncs the log, then flushes.
    assert.is(db.stats().levels[0]!.files, 1);
    ffs.failAfter(1, 'ENOSPC', { op: 'append', path: SST }, { times: Infinity });
    const err = await expectCode(() => db.close(), 'IO_ERROR', 'close() whose flush fails');
    assert.is(err.errno, 'ENOSPC');
    assert.ok(ffs.ops.some((o) => o.fault === 'ENOSPC' && SST.test(o.path)), 'the fault hit the flush');
    assert.ok(db.closed, 'the database is closed all the same');
    everyAckMustSurvive(history);
    await ffs.powerCut();
    ffs.clearFaults();
    await reopenAndCheck(dir, history, 'after a close() whose flush failed, and a power cut');
  });
});

test('a power cut after each changing call of a close() that flushes and compacts leaves a database that opens with every write', async () => {
  /** One level-0 table and a memtable at a trigger of 2, the last write synced, then close() cut after `cutAfter` of its changing calls (never, when undefined); returns how many it made. */
  const run = (cutAfter: number | undefined) =>
    withTempDir(async (dir) => {
      const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
      const db = await open(dir, { ...SMALL, fs: ffs });
      const history = new WriteHistory(() => !ffs.poweredOff);
      await putMany(db, history, 10, 1000, () => false);
      await db.flush();
      await putMany(db, history, 10, 1000, (i) => i === 9);
      assert.is(db.stats().levels[0]!.files, 1);
      everyAckMustSurvive(history);
      const before = ffs.ops.length;
      if (cutAfter !== undefined) ffs.cutPowerAfter(cutAfter, mutatingOps);
      await db.close().catch(() => undefined);
      const made = ffs.ops.slice(before).filter((o) => MUTATING_OPS.includes(o.op) && o.fault === undefined).length;
      await ffs.powerCut();
      await reopenAndCheck(dir, history, `power cut after ${cutAfter ?? 'all'} of close()'s changing calls`);
      return made;
    });
  const calls = await run(undefined);
  // The log's sync, the switch to a new log, the flush's table, the compaction's, their MANIFEST edits, the deletions.
  assert.ok(calls >= 10, `close() flushed and compacted: ${calls} changing calls`);
  for (let k = 0; k < calls; k++) await run(k);
});

test('a power cut after each changing call of an open that deletes a log holding no write leaves a database that opens with every write', async () => {
  /** A session that writes (its log retained for the change feed), one that writes nothing, then an open cut after `cutAfter` of its changing calls. */
  const run = (cutAfter: number | undefined) =>
    withTempDir(async (dir) => {
      const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
      const options = { ...SMALL, fs: ffs, changeRetention: { bytes: 1 << 30, ms: 3_600_000 } };
      let db = await open(dir, options);
      const history = new WriteHistory(() => !ffs.poweredOff);
      await putMany(db, history, 10, 100, (i) => i === 9);
      everyAckMustSurvive(history);
      await db.close();
      db = await open(dir, options);
      await db.close();
      const before = ffs.ops.length;
      if (cutAfter !== undefined) ffs.cutPowerAfter(cutAfter, mutatingOps);
      const reopened = await open(dir, options).catch(() => undefined);
      await reopened?.close().catch(() => undefined);
      const ops = ffs.ops.slice(before).filter((o) => MUTATING_OPS.includes(o.op) && o.fault === undefined);
      await ffs.powerCut();
      await reopenAndCheck(dir, history, `power cut after ${cutAfter ?? 'all'} of an open's changing calls`);
      return ops;
    });
  const ops = await run(undefined);
  assert.ok(ops.some((o) => o.op === 'unlink' && WAL.test(o.path)), `the open deleted the log that held no write: ${ops.map((o) => o.op).join(' ')}`);
  for (let k = 0; k < ops.length; k++) await run(k);
});

test('a power cut after each changing call of an open after a crash (the log it replays ends in preallocated zeros) leaves a database that opens with every write, and the feed since 0 lists them', async () => {
  /** A session that writes and is killed (every byte it wrote stays), then an open cut after `cutAfter` of its changing calls. */
  const run = (cutAfter: number | undefined) =>
    withTempDir(async (dir) => {
      const retention = { changeRetention: { bytes: 1 << 30, ms: 3_600_000 } };
      const killed = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
      const db = await open(dir, { ...SMALL, fs: killed, ...retention });
      const history = new WriteHistory(() => !killed.poweredOff);
      await putMany(db, history, 10, 100, () => true);
      everyAckMustSurvive(history);
      await killed.powerCut({ keepUnsynced: (_file, unsynced) => unsynced });
      await db.close().catch(() => undefined);
      const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
      if (cutAfter !== undefined) ffs.cutPowerAfter(cutAfter, mutatingOps);
      const reopened = await open(dir, { ...SMALL, fs: ffs, ...retention }).catch(() => undefined);
      await reopened?.close().catch(() => undefined);
      const ops = ffs.ops.filter((o) => MUTATING_OPS.includes(o.op) && o.fault === undefined);
      await ffs.powerCut();
      const what = `power cut after ${cutAfter ?? 'all'} of an open's changing calls`;
      await reopenAndCheck(dir, history, what, retention);
      const db2 = await open(dir, retention);
      try {
        const seqs: bigint[] = [];
        for await (const change of db2.changes({ since: 0n, live: false })) seqs.push(change.seq);
        assert.equal(seqs, Array.from({ length: 10 }, (_, i) => BigInt(i + 1)), `${what}: the feed since 0 lists every write`);
      } finally {
        await db2.close();
      }
      return ops;
    });
  const ops = await run(undefined);
  for (let k = 0; k < ops.length; k++) await run(k);
});

test('EIO on the MANIFEST fsync of a flush stops writes with IO_ERROR, and a power cut keeps every acknowledged sync write', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
    const db = await open(dir, { ...SMALL, fs: ffs });
    const history = new WriteHistory(() => !ffs.poweredOff);
    await putMany(db, history, 10, 1000, (i) => i % 2 === 0);
    ffs.failAfter(1, 'EIO', { op: 'sync', path: 'MANIFEST' });
    const err = await untilAWriteFails(db, history);
    assert.is(err.code, 'IO_ERROR');
    assert.is(err.errno, 'EIO');
    await expectCode(() => db.flush(), 'IO_ERROR', 'flush() after the failed flush');
    await assertReadsWork(db, history, 'after the failed MANIFEST fsync');
    await db.close();
    await ffs.powerCut();
    await reopenAndCheck(dir, history, 'after a failed MANIFEST fsync and a power cut');
  });
});

test('ENOSPC during a flush: the background error fails later writes with IO_ERROR, reads go on, and a reopen loses nothing acknowledged', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
    const db = await open(dir, { ...SMALL, fs: ffs });
    const history = new WriteHistory();
    await putMany(db, history, 10, 1000, () => false);
    ffs.failAfter(1, 'ENOSPC', { op: 'append', path: SST }, { times: Infinity });
    const err = await untilAWriteFails(db, history);
    assert.is(err.code, 'IO_ERROR');
    assert.is(err.errno, 'ENOSPC');
    assert.ok(ffs.ops.some((o) => o.fault === 'ENOSPC' && SST.test(o.path)), 'the fault hit a table');
    assert.is((await expectCode(() => db.flush(), 'IO_ERROR', 'flush()')).errno, 'ENOSPC');
    everyAckMustSurvive(history);
    await assertReadsWork(db, history, 'after the failed flush');
    await db.close();
    ffs.clearFaults();
    await reopenAndCheck(dir, history, 'reopened after the failed flush');
  });
});

test('ENOSPC during an automatic compaction: later writes fail with IO_ERROR, reads go on, and a reopen loses nothing acknowledged', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
    const db = await open(dir, { ...SMALL, fs: ffs });
    const history = new WriteHistory();
    await putMany(db, history, 20, 500, () => false);
    await history.barrier(db.flush());
    // Table 1 exists; table 2 is the next flush's; the third table is the compaction's output.
    ffs.failAfter(2, 'ENOSPC', { op: 'createWritable', path: SST }, { times: Infinity });
    await putMany(db, history, 20, 500, () => false);
    await history.barrier(db.flush());
    const err = await untilAWriteFails(db, history);
    assert.is(err.code, 'IO_ERROR');
    assert.is(err.errno, 'ENOSPC');
    assert.is(db.stats().compactions, 0, 'the compaction did not complete');
    assert.is(ffs.ops.filter((o) => o.op === 'createWritable' && SST.test(o.path)).length, 3, 'two flushes, then the compaction output that failed');
    everyAckMustSurvive(history);
    await assertReadsWork(db, history, 'after the failed compaction');
    await db.close();
    ffs.clearFaults();
    await reopenAndCheck(dir, history, 'reopened after the failed compaction');
  });
});

test('ENOSPC during compactRange(): it rejects with IO_ERROR, later writes fail, and a reopen loses nothing acknowledged', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
    const db = await open(dir, { ...SMALL, l0CompactionTrigger: 100, fs: ffs });
    const history = new WriteHistory();
    for (let round = 0; round < 3; round++) {
      await putMany(db, history, 15, 500, (i) => i === 0);
      await history.barrier(db.flush());
    }
    ffs.failAfter(1, 'ENOSPC', { op: 'append', path: SST }, { times: Infinity });
    assert.is((await expectCode(() => db.compactRange(), 'IO_ERROR', 'compactRange()')).errno, 'ENOSPC');
    assert.is((await expectCode(() => db.put('later', 'x'), 'IO_ERROR', 'a write after the failed compactRange()')).errno, 'ENOSPC');
    await assertReadsWork(db, history, 'after the failed compactRange()');
    await db.close();
    ffs.clearFaults();
    await reopenAndCheck(dir, history, 'reopened after the failed compactRange()');
  });
});

// ---------------------------------------------------------------------------------------------
// Torn writes

// From src/wal/record-format.ts and src/base/batch-format.ts: a put of a 4-byte key and a
// 100-byte value is one record of 13 header bytes + batch (12 header bytes + kind 1 + key
// length 1 + key 4 + value length 1 + value 100) = 132 bytes.
const TORN_RECORD_BYTES = 13 + 12 + 1 + 1 + 4 + 1 + 100;

test('a WAL append torn at a chosen byte, then a power cut: the reopen drops only the torn record', async () => {
  await withTempDir(async (root) => {
    for (const at of [0, 1, 5, 12, 13, 14, 40, TORN_RECORD_BYTES - 1]) {
      const dir = path.join(root, `torn-${at}`);
      fs.mkdirSync(dir); // made durable here: open() would not sync its parent (see the last test)
      const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
      const db = await open(dir, { ...SMALL, fs: ffs });
      const history = new WriteHistory(() => !ffs.poweredOff);
      await putMany(db, history, 12, 300, (i) => i % 4 === 0);
      const wal = newestFile(dir, '.log');
      const before = logEnd(wal);
      ffs.tearNextWrite(at, { op: 'append', path: WAL });
      await expectCode(() => db.put('torn', filler(100, 7)), 'IO_ERROR', `the put torn at byte ${at}`);
      await ffs.whenPowerCut();
      await db.close().catch(() => undefined);
      // Past the torn bytes, only the zeros of a preallocated WAL, if any.
      const kept = fs.readFileSync(wal);
      assert.ok(kept.length >= before + at && kept.subarray(before + at).every((b) => b === 0), `the WAL keeps exactly ${at} bytes of the torn record`);
      // Tearing made every byte before the torn one durable, unsynced puts included.
      history.durableBelow = history.writes.length;
      const copy = `${dir}-copy`;
      fs.cpSync(dir, copy, { recursive: true });
      if (at > 0) {
        const e = await expectCode(() => open(copy, { walRecovery: 'strict' }), 'CORRUPTION', `walRecovery 'strict' with a record torn at ${at}`);
        assert.ok(e.message.includes(`${path.basename(wal)}@${before}`), `the error names the WAL and the torn record's offset: ${e.message}`);
      }
      await reopenAndCheck(copy, history, `salvage, torn at ${at}`, { walRecovery: 'salvage', onRecoverySkip: (f) => assert.unreachable(`salvage reported ${f}: a torn tail is not damage`) });
      await reopenAndCheck(dir, history, `torn at byte ${at}`);
      const again = await open(dir);
      assert.is(again.getSync('torn'), undefined, 'the torn write is not there');
      await again.put('after', 'x', { sync: true });
      await again.close();
      const last = await open(dir);
      assert.is(last.getSync('after')?.toString(), 'x', 'a write after the torn tail survives the next reopen');
      await last.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Power cuts at chosen moments

// Regression (since fixed in the engine): the first open of a new database creates its WAL and MANIFEST and makes
// them durable (syncDir) before CURRENT is; a power cut in between leaves a directory that open()
// refuses ("CURRENT missing, yet 000001.log exists").
test('a power cut during the first open, before CURRENT is durable, leaves a directory that opens', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
    ffs.cutPowerAfter(0, { op: 'rename' }); // CURRENT's temp file is renamed into place
    await expectCode(() => open(dir, { fs: ffs }), 'IO_ERROR', 'the interrupted first open');
    await ffs.whenPowerCut();
    assert.ok(filesOf(dir, '.log').length > 0, 'the WAL survived the cut (the setup this test needs)');
    const db = await open(dir);
    await db.put('a', '1', { sync: true });
    await db.close();
  });
});

// Regression (since fixed in the engine): a WAL switch creates the new WAL and syncs the directory before it syncs
// the old WAL. A power cut in between leaves the old WAL unsynced (empty, or torn when the kernel
// wrote part of it back) yet no longer the newest, so recovery reads it strictly and the open
// fails with CORRUPTION.
test('a power cut at each step of a WAL switch leaves a database that opens', async () => {
  // The switch is the first create, directory sync and fsync after open (the writes are not
  // synced): cut before each of its steps, and at the flush that follows.
  const steps: FsOpName[] = ['createWritable', 'syncDir', 'sync'];
  for (const keep of ['none', 'half'] as const) {
    for (let k = 0; k <= 4; k++) {
      await withTempDir(async (dir) => {
        const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
        const db = await open(dir, { ...SMALL, fs: ffs });
        const history = new WriteHistory(() => !ffs.poweredOff);
        // With 'half', one synced write first, so that the old WAL has a synced prefix and a torn tail.
        if (keep === 'half') await putMany(db, history, 1, 100, () => true);
        ffs.cutPowerAfter(k, { op: steps }, { keepUnsynced: (file, n) => (keep === 'half' && WAL.test(file) ? n / 2 : 0) });
        await expectCode(() => putMany(db, history, 200, 1000, () => false), 'IO_ERROR', 'writes until the power cut');
        await ffs.whenPowerCut();
        await db.close().catch(() => undefined);
        const cutAt = ffs.ops.find((o) => o.fault === 'POWER_CUT')!;
        await reopenAndCheck(dir, history, `a WAL switch cut at ${cutAt.op} ${path.basename(cutAt.path)} (step ${k}; unsynced bytes kept: ${keep})`);
      });
    }
  }
});

// Regression (since fixed in the engine): open() creates a missing database directory but never syncs its parent, so
// after a power cut the whole directory, acknowledged sync writes included, can be gone.
test('a database directory that open() created survives a power cut with its synced writes', async () => {
  await withTempDir(async (root) => {
    const dir = path.join(root, 'new', 'db');
    const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
    const db = await open(dir, { fs: ffs });
    await db.put('a', '1', { sync: true });
    await ffs.powerCut();
    await db.close().catch(() => undefined);
    assert.ok(fs.existsSync(dir), `${dir} is still there`);
    const again = await open(dir);
    assert.is(again.getSync('a')?.toString(), '1');
    await again.close();
  });
});

test.run();
