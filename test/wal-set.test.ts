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


test('retention keeps a released log that holds a write, deletes at once one that holds none unless it is the oldest, and keeps an empty one a pin holds', async () => {
  await withDir(async (dir) => {
    const retention = { bytes: 1 << 30, ms: 3_600_000 };
    const wals = new WalSet(new NodeFileSystem(), dir, [], retention);
    await wals.start(1);
    await wals.current.addRecords(1, [new Uint8Array([1, 2, 3])], true);
    await wals.rotate(2); // log 1 holds a write; log 2 will hold none
    await wals.rotate(3);
    await wals.release(3);
    assert.equal(logsIn(dir), ['000001.log', '000003.log'], 'the log that held a write is retained; the empty one is gone');
    assert.equal(wals.stored(), [1, 3]);
    assert.equal(wals.retained().logs, 1);
    const pin = wals.pin(3);
    await wals.rotate(4); // log 3 holds nothing, and the pin holds it
    await wals.release(4);
    assert.equal(logsIn(dir), ['000001.log', '000003.log', '000004.log'], 'a pinned empty log stays');
    await pin.drop();
    assert.equal(logsIn(dir), ['000001.log', '000004.log'], 'deleted once the pin lets go');
    await wals.close(true);
  });
  // At open, a directory's empty logs are released like the others and go, but the oldest on
  // disk (the change feed's floor reads the run's oldest end): here log 1, a session's that wrote
  // nothing (its header alone), stays, and log 2, holding only the LogsSynced record that a close
  // writes after syncing the older logs, goes.
  await withDir(async (dir) => {
    const retention = { bytes: 1 << 30, ms: 3_600_000 };
    const first = new WalSet(new NodeFileSystem(), dir, [], retention, 0, true);
    await first.start(1);
    await first.close(true);
    const second = new WalSet(new NodeFileSystem(), dir, logsIn(dir), retention, 0, true);
    await second.syncAllStored();
    await second.start(2);
    await second.close(true);
    const records = readLog(await second.read(2), second.path(2), { mode: 'strict' }).records;
    assert.equal(records.map((r) => r.type), [6], 'log 2 holds one LogsSynced record');
    const third = new WalSet(new NodeFileSystem(), dir, logsIn(dir), retention, 0, true);
    await third.start(3);
    await third.release(3);
    assert.equal(logsIn(dir), ['000001.log', '000003.log']);
    await third.close(true);
  });
});

test.run();
