// FaultInjectingFileSystem (src/testing/fault-fs.ts) on its own: what a power cut keeps, what
// it undoes, and the fault knobs. The crash tests trust this model, so it is tested first.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NodeFileSystem, open, StrataError, type FileSystem, type WritableFile } from '../src/index.js';
import { FaultInjectingFileSystem, mutatingOps } from '../src/testing/index.js';
import { expectCode, openDescriptorsOf, withTempDir } from './helpers.js';

const bytes = (s: string) => Buffer.from(s);
const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'latin1') : undefined);

/** A file written and made durable with the real file system, before the fault FS sees it. */
function durableFile(file: string, content: string): void {
  fs.writeFileSync(file, content);
}

test('an append that was never synced is gone after a power cut; what sync() covered stays', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem();
    const file = path.join(dir, 'a');
    const w = await ffs.createWritable(file);
    await ffs.syncDir(dir);
    await w.append(bytes('synced '));
    await w.sync();
    await w.append([bytes('not '), bytes('synced')]);
    assert.is(read(file), 'synced not synced', 'before the cut the file holds everything appended');
    await ffs.powerCut();
    assert.is(read(file), 'synced ');
  });
});

test('a file created and synced whose directory was never synced is gone after a power cut', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem();
    const kept = path.join(dir, 'kept');
    const lost = path.join(dir, 'lost');
    const k = await ffs.createWritable(kept);
    await k.append(bytes('k'));
    await k.sync();
    await ffs.syncDir(dir);
    const l = await ffs.createWritable(lost);
    await l.append(bytes('l'));
    await l.sync();
    await ffs.powerCut();
    assert.is(read(kept), 'k', 'created before the syncDir: kept');
    assert.is(read(lost), undefined, 'created after the last syncDir: gone');
  });
});

test('a rename not followed by syncDir is undone: the old name comes back, and so does the file it replaced', async () => {
  await withTempDir(async (dir) => {
    const current = path.join(dir, 'CURRENT');
    durableFile(current, 'old\n');
    const ffs = new FaultInjectingFileSystem();
    const temp = path.join(dir, 'x.tmp');
    const w = await ffs.createWritable(temp);
    await w.append(bytes('new\n'));
    await w.sync();
    await w.close();
    await ffs.rename(temp, current);
    assert.is(read(current), 'new\n');
    await ffs.powerCut();
    assert.is(read(current), 'old\n', 'the replaced file is back');
    assert.is(read(temp), undefined, 'the temp file was never durable (its create was not synced either)');
  });
});

test('a rename followed by syncDir survives a power cut', async () => {
  await withTempDir(async (dir) => {
    const current = path.join(dir, 'CURRENT');
    durableFile(current, 'old\n');
    const ffs = new FaultInjectingFileSystem();
    const temp = path.join(dir, 'x.tmp');
    const w = await ffs.createWritable(temp);
    await w.append(bytes('new\n'));
    await w.sync();
    await w.close();
    await ffs.rename(temp, current);
    await ffs.syncDir(dir);
    await ffs.powerCut();
    assert.is(read(current), 'new\n');
    assert.is(read(temp), undefined);
  });
});

test('a rename of a durable file is undone back to its old name, without its unsynced appends', async () => {
  await withTempDir(async (dir) => {
    const from = path.join(dir, 'from');
    durableFile(from, 'durable');
    const ffs = new FaultInjectingFileSystem();
    await ffs.rename(from, path.join(dir, 'to'));
    await ffs.powerCut();
    assert.is(read(from), 'durable');
    assert.is(read(path.join(dir, 'to')), undefined);
  });
});

test('an unlink not followed by syncDir is undone with the durable content; after syncDir it is durable', async () => {
  await withTempDir(async (dir) => {
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    durableFile(a, 'aaa');
    const ffs = new FaultInjectingFileSystem();
    const w = await ffs.createWritable(b);
    await w.append(bytes('bb'));
    await w.sync();
    await ffs.syncDir(dir);
    await w.append(bytes('-unsynced'));
    await w.close();
    await ffs.unlink(a);
    await ffs.unlink(b);
    await ffs.unlink(path.join(dir, 'never-existed')); // not an error, and nothing to undo
    assert.is(read(a), undefined);
    await ffs.powerCut();
    assert.is(read(a), 'aaa');
    assert.is(read(b), 'bb', 'b comes back with its synced bytes only');
  });
  await withTempDir(async (dir) => {
    const a = path.join(dir, 'a');
    durableFile(a, 'aaa');
    const ffs = new FaultInjectingFileSystem();
    await ffs.unlink(a);
    await ffs.syncDir(dir);
    await ffs.powerCut();
    assert.is(read(a), undefined);
  });
});

test('createWritable over a durable file, not followed by syncDir, brings the old file back at a power cut', async () => {
  await withTempDir(async (dir) => {
    const a = path.join(dir, 'a');
    durableFile(a, 'old content');
    const ffs = new FaultInjectingFileSystem();
    const w = await ffs.createWritable(a);
    await w.append(bytes('new'));
    await w.sync();
    await ffs.powerCut();
    assert.is(read(a), 'old content');
  });
});

test('a directory made by mkdir is gone after a power cut unless its parent was synced', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem();
    const lost = path.join(dir, 'x', 'y');
    const kept = path.join(dir, 'k');
    await ffs.mkdir(lost);
    await ffs.mkdir(kept);
    await ffs.syncDir(dir);
    const w = await ffs.createWritable(path.join(lost, 'f'));
    await w.append(bytes('f'));
    await w.sync();
    await ffs.syncDir(lost);
    await ffs.powerCut();
    assert.ok(fs.existsSync(kept), 'k: its parent was synced after the mkdir');
    assert.ok(fs.existsSync(path.join(dir, 'x')), 'x: its parent was synced after the mkdir');
    assert.ok(!fs.existsSync(lost), 'y: its parent x was never synced, so y is gone with the synced file in it');
  });
});

test('after a power cut every call and every handle fails with IO_ERROR, and the lock is released', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem();
    const lock = await ffs.lock(path.join(dir, 'LOCK'));
    const w = await ffs.createWritable(path.join(dir, 'w'));
    await ffs.syncDir(dir);
    await w.append(bytes('x'));
    const r = ffs.openReadable(path.join(dir, 'w'));
    await ffs.powerCut();
    const e = await expectCode(() => w.append(bytes('y')), 'IO_ERROR', 'append after the cut');
    assert.is(e.errno, 'EIO');
    await expectCode(() => w.sync(), 'IO_ERROR', 'sync after the cut');
    await expectCode(() => r.read(0, 1), 'IO_ERROR', 'read after the cut');
    await expectCode(() => ffs.readdir(dir), 'IO_ERROR', 'readdir after the cut');
    await expectCode(() => ffs.createWritable(path.join(dir, 'z')), 'IO_ERROR', 'create after the cut');
    // Releasing resources after the cut is harmless.
    await w.close();
    r.close();
    await lock.release();
    // The real lock is free: another owner takes it at once.
    const other = await new NodeFileSystem().lock(path.join(dir, 'LOCK'));
    await other.release();
    assert.ok(ffs.poweredOff);
  });
});

test('failAfter(n) fails exactly the nth matching call with that errno, as IO_ERROR, and does nothing', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem();
    const w = await ffs.createWritable(path.join(dir, 'a.log'));
    const other = await ffs.createWritable(path.join(dir, 'b.sst'));
    ffs.failAfter(2, 'ENOSPC', { op: 'append', path: /\.log$/ });
    await w.append(bytes('1'));
    await other.append(bytes('not counted'));
    const err = await expectCode(() => w.append(bytes('2')), 'IO_ERROR', 'the second matching append');
    assert.is(err.errno, 'ENOSPC');
    assert.is((err.cause as NodeJS.ErrnoException).code, 'ENOSPC', 'the cause is an errno error, as node:fs gives it');
    await w.append(bytes('3'));
    assert.is(read(path.join(dir, 'a.log')), '13', 'the failed append wrote nothing');
    assert.is(ffs.faultsInjected, 1);
    assert.equal(
      ffs.ops.filter((o) => o.fault !== undefined).map((o) => [o.op, path.basename(o.path), o.fault]),
      [['append', 'a.log', 'ENOSPC']],
      'the trace names the failed call',
    );
    await w.close();
    await other.close();
  });
});

test('failAfter with times: Infinity keeps failing until clearFaults()', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem();
    const w = await ffs.createWritable(path.join(dir, 'a'));
    ffs.failAfter(1, 'EIO', { op: 'sync' }, { times: Infinity });
    await w.append(bytes('x'));
    for (let i = 0; i < 3; i++) assert.is((await expectCode(() => w.sync(), 'IO_ERROR', `sync ${i}`)).errno, 'EIO');
    ffs.clearFaults();
    await w.sync();
    assert.is(ffs.faultsInjected, 3);
    await w.close();
  });
});

test('tearNextWrite keeps the first bytes of the write and everything before them, then cuts the power', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem();
    const file = path.join(dir, 'a.log');
    const w = await ffs.createWritable(file);
    await ffs.syncDir(dir);
    await w.append(bytes('synced|'));
    await w.sync();
    await w.append(bytes('written|'));
    const other = await ffs.createWritable(path.join(dir, 'b.sst'));
    ffs.tearNextWrite(3, { path: /\.log$/ });
    await other.append(bytes('not torn: another path'));
    await expectCode(() => w.append([bytes('tor'), bytes('n write')]), 'IO_ERROR', 'the torn append');
    await ffs.whenPowerCut();
    assert.is(read(file), 'synced|written|tor');
    assert.ok(!fs.existsSync(path.join(dir, 'b.sst')), 'b.sst was created after the last syncDir');
  });
});

test('cutPowerAfter(n, mutatingOps) lets n changing calls run and cuts the power at the next', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem();
    ffs.cutPowerAfter(3, mutatingOps);
    const w = await ffs.createWritable(path.join(dir, 'a')); // 1
    await ffs.readdir(dir); // not a changing call
    await w.append(bytes('x')); // 2
    await w.sync(); // 3
    await expectCode(() => ffs.syncDir(dir), 'IO_ERROR', 'the fourth changing call');
    await ffs.whenPowerCut();
    assert.ok(!fs.existsSync(path.join(dir, 'a')), 'its create was never made durable');
    assert.equal(
      ffs.ops.map((o) => `${o.op}${o.fault ? `!${o.fault}` : ''}`),
      ['createWritable', 'readdir', 'append', 'sync', 'syncDir!POWER_CUT'],
    );
  });
});

test('a power cut waits for the calls in flight before it truncates', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem();
    const file = path.join(dir, 'a');
    const w = await ffs.createWritable(file);
    await ffs.syncDir(dir);
    const big = Buffer.alloc(8 * 1024 * 1024, 1);
    const appending = w.append(big).catch((err: unknown) => err);
    await ffs.powerCut();
    await appending;
    assert.is(fs.statSync(file).size, 0, 'the append landed before the cut truncated it, never after');
  });
});

test('a file closed while the power cut is under way (calls still in flight) leaves no descriptor open', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem();
    const file = path.join(dir, 'a');
    const w = await ffs.createWritable(file);
    await ffs.syncDir(dir);
    const readers = [ffs.openReadable(file), ffs.openReadable(file)];
    const appending = w.append(Buffer.alloc(8 * 1024 * 1024, 1)).catch((err: unknown) => err);
    const cut = ffs.powerCut();
    // The power is off, and the cut still waits for the append: the database closes its files.
    assert.ok(ffs.poweredOff);
    for (const r of readers) r.close();
    await w.close();
    await cut;
    await appending;
    assert.equal(openDescriptorsOf(file), [], 'every descriptor of the file is closed');
  });
});

test('keepUnsynced keeps that many of a file\'s unsynced bytes at a power cut: a torn tail', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem();
    const a = path.join(dir, 'a.log');
    const b = path.join(dir, 'b.sst');
    const wa = await ffs.createWritable(a);
    const wb = await ffs.createWritable(b);
    await ffs.syncDir(dir);
    await wa.append(bytes('synced|'));
    await wa.sync();
    await wa.append(bytes('0123456789'));
    await wb.append(bytes('abcdef'));
    const asked: [string, number][] = [];
    await ffs.powerCut({ keepUnsynced: (file, n) => (asked.push([path.basename(file), n]), file.endsWith('.log') ? 4 : 1000) });
    assert.is(read(a), 'synced|0123');
    assert.is(read(b), 'abcdef', 'a count past the unsynced bytes keeps them all');
    assert.equal(asked.sort(), [['a.log', 10], ['b.sst', 6]]);
  });
});

test("with syncs: 'simulated' no fsync reaches the disk, and a power cut keeps the same", async () => {
  await withTempDir(async (dir) => {
    const real = new NodeFileSystem();
    let fsyncs = 0;
    const counting: FileSystem = Object.assign(Object.create(real) as FileSystem, {
      syncDir: async (d: string) => {
        fsyncs++;
        return real.syncDir(d);
      },
      createWritable: async (f: string) => {
        const w = await real.createWritable(f);
        const counted: WritableFile = {
          path: w.path,
          get size() {
            return w.size;
          },
          append: (c) => w.append(c),
          sync: () => {
            fsyncs++;
            return w.sync();
          },
          close: () => w.close(),
        };
        return counted;
      },
    });
    const ffs = new FaultInjectingFileSystem(counting, { syncs: 'simulated' });
    const w = await ffs.createWritable(path.join(dir, 'a'));
    await w.append(bytes('synced'));
    await w.sync();
    await ffs.syncDir(dir);
    await w.append(bytes('-not'));
    await ffs.powerCut();
    assert.is(fsyncs, 0);
    assert.is(read(path.join(dir, 'a')), 'synced');
  });
});

test('the trace names every call, a rename with its destination', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem();
    const w = await ffs.createWritable(path.join(dir, 'x.tmp'));
    await w.close();
    await ffs.rename(path.join(dir, 'x.tmp'), path.join(dir, 'CURRENT'));
    assert.equal(ffs.ops, [
      { op: 'createWritable', path: path.join(dir, 'x.tmp') },
      { op: 'close', path: path.join(dir, 'x.tmp') },
      { op: 'rename', path: path.join(dir, 'x.tmp'), to: path.join(dir, 'CURRENT') },
    ]);
    assert.is(ffs.opCount, 3);
  });
});

test('the documented example: a synced put survives a power cut, an unsynced one does not', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem();
    const db = await open(dir, { fs: ffs });
    await db.put('a', '1', { sync: true });
    await db.put('b', '2');
    await ffs.powerCut();
    await db.close().catch((err: unknown) => assert.ok(err instanceof StrataError));
    const again = await open(dir);
    assert.is((await again.get('a'))?.toString(), '1');
    assert.is(await again.get('b'), undefined);
    await again.close();
  });
});

test.run();
