import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadChecksum, NodeFileSystem, type FileSystem } from '../src/base/index.js';
import { readLog, WalSet } from '../src/wal/index.js';
import { makeTempDir, removeDir } from './helpers.js';

await loadChecksum();

const logsIn = (dir: string) => fs.readdirSync(dir).filter((n) => n.endsWith('.log')).sort();

/** A NodeFileSystem that records every unlink. */
function countingUnlinks(): { fs: FileSystem; unlinked: string[] } {
  const inner = new NodeFileSystem();
  const unlinked: string[] = [];
  const wrapped = Object.assign(Object.create(inner) as FileSystem, {
    unlink(file: string) {
      unlinked.push(path.basename(file));
      return inner.unlink(file);
    },
  });
  return { fs: wrapped, unlinked };
}

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = makeTempDir('stratadb-walset-');
  try {
    await run(dir);
  } finally {
    removeDir(dir);
  }
}

test('rotate() leaves the old log closed and whole, and the new one current', async () => {
  await withDir(async (dir) => {
    const wals = new WalSet(new NodeFileSystem(), dir, []);
    await wals.start(3);
    await wals.current.addRecords(1, [new Uint8Array([1, 2, 3])], false);
    assert.is(await wals.rotate(5), 3);
    assert.is(wals.currentNumber, 5);
    assert.equal(wals.stored(), [3, 5]);
    // Every log but the newest is read strictly: the old one must end at its last record.
    const old = readLog(await wals.read(3), wals.path(3), { mode: 'strict' });
    assert.is(old.records.length, 1);
    await wals.close(true);
  });
});

test('release() deletes the logs below its number, each once, and never the current one', async () => {
  await withDir(async (dir) => {
    const { fs: counting, unlinked } = countingUnlinks();
    const wals = new WalSet(counting, dir, []);
    await wals.start(1);
    await wals.rotate(2);
    await wals.rotate(4);
    await Promise.all([wals.release(2), wals.release(4)]);
    assert.equal(unlinked, ['000001.log', '000002.log']);
    assert.equal(logsIn(dir), ['000004.log']);
    await wals.close(false);
  });
});

test('a pin keeps released logs on disk until it advances past them or is dropped', async () => {
  await withDir(async (dir) => {
    const wals = new WalSet(new NodeFileSystem(), dir, []);
    await wals.start(1);
    await wals.rotate(2);
    await wals.rotate(3);
    const pin = wals.pin(1);
    await wals.release(3);
    assert.equal(logsIn(dir), ['000001.log', '000002.log', '000003.log']);
    await pin.advance(2);
    assert.equal(logsIn(dir), ['000002.log', '000003.log']);
    await pin.drop();
    assert.equal(logsIn(dir), ['000003.log']);
    await wals.close(false);
  });
});

test('the logs of a directory listing are stored in number order, other names ignored', async () => {
  await withDir(async (dir) => {
    const wals = new WalSet(new NodeFileSystem(), dir, ['000009.log', 'CURRENT', '000002.log', '000004.sst', 'MANIFEST-000003']);
    assert.equal(wals.stored(), [2, 9]);
    assert.ok(wals.has(9));
    assert.not.ok(wals.has(4));
  });
});

test.run();
