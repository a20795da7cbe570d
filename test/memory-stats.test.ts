// stats().memory (src/engine/engine.ts MemoryStats): the figures add up, follow the data in
// and out of the memtables, and the worker threads' heap cap (option compactionWorkerHeapBytes)
// fails a job cleanly without costing a write.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { nativeStatus, open, StrataError } from '../src/index.js';
import { withTempDir } from './helpers.js';

const key = (i: number) => `key-${String(i).padStart(6, '0')}`;
const value = (i: number) => `${key(i)}|`.padEnd(100, String.fromCharCode(0x61 + (i % 26)));

type Memory = ReturnType<Awaited<ReturnType<typeof open>>['stats']>['memory'];

function assertSums(m: Memory, what: string): void {
  const sum = m.memtableBytes + m.memtablePoolBytes + m.blockCacheBytes + m.indexAndFilterBytes + m.changeRingBytes + m.workerHeapBytes;
  assert.is(m.totalBytes, sum, `${what}: totalBytes is the sum of the consumers`);
}

test('stats().memory adds up, grows with memtable data and falls after a flush', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir, { memtableBytes: 4 << 20, compactionWorkers: 1 });
    try {
      const empty = db.stats().memory;
      assertSums(empty, 'empty');
      assert.ok(empty.memtableBytes < 1 << 20, `an empty memtable holds no arena chunk (${empty.memtableBytes} bytes)`);
      for (let i = 0; i < 5000; i++) await db.put(key(i), value(i));
      const filled = db.stats().memory;
      assertSums(filled, 'filled');
      assert.ok(filled.memtableBytes >= 5000 * 110, `memtables hold the data (${filled.memtableBytes} bytes)`);
      assert.ok(filled.memtableBytes > empty.memtableBytes);
      await db.flush();
      const flushed = db.stats().memory;
      assertSums(flushed, 'flushed');
      assert.ok(flushed.memtableBytes < filled.memtableBytes / 10, `the flushed memtable left (${flushed.memtableBytes} bytes)`);
      if (nativeStatus().calls.includes('decommit')) {
        assert.is(flushed.memtablePoolBytes, 0, 'its memory waits in the pool for the next memtable, given back to the kernel');
      } else {
        assert.ok(flushed.memtablePoolBytes >= filled.memtableBytes / 2, 'its memory waits in the pool for the next memtable, resident');
      }
      assert.is(flushed.workerThreads, 1);
      assert.ok(flushed.workerHeapBytes > 0, 'the worker reported its heap');
      for (let i = 0; i < 5000; i += 7) assert.is((await db.get(key(i)))?.toString(), value(i));
      const read = db.stats().memory;
      assert.ok(read.blockCacheBytes > 0, 'reads filled the block cache');
      assert.ok(read.indexAndFilterBytes > 0, 'the table opened for the reads keeps its index and filter');
      assertSums(read, 'after reads');
    } finally {
      await db.close();
    }
  });
});

test('stats().memory of a sharded database counts each shard once and the shared workers once', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir, { shards: 3, compactionWorkers: 1 });
    try {
      for (let i = 0; i < 3000; i++) await db.put(key(i), value(i));
      await db.flush();
      const stats = db.stats();
      assertSums(stats.memory, 'sharded');
      const shardSum = stats.shards.reduce((n, s) => n + s.memory.memtableBytes + s.memory.memtablePoolBytes + s.memory.indexAndFilterBytes, 0);
      assert.is(stats.memory.memtableBytes + stats.memory.memtablePoolBytes + stats.memory.indexAndFilterBytes, shardSum);
      for (const s of stats.shards) assert.is(s.memory.workerThreads, 0);
      assert.is(stats.memory.workerThreads, 1);
    } finally {
      await db.close();
    }
  });
});

test('a worker thread at its heap cap fails its flush with IO_ERROR (ENOMEM); nothing acknowledged is lost', async () => {
  await withTempDir(async (dir) => {
    // 1 MiB is below what a thread needs to start: the flush's thread reaches the cap at once.
    const db = await open(dir, { memtableBytes: 256 << 10, compactionWorkers: 1, compactionWorkerHeapBytes: 1 << 20 });
    let acknowledged = 0;
    let failure: unknown;
    try {
      for (let i = 0; i < 20_000; i++) {
        await db.put(key(i), value(i));
        acknowledged = i + 1;
      }
    } catch (err) {
      failure = err;
    }
    assert.ok(failure instanceof StrataError, `writes stopped with a StrataError: ${String(failure)}`);
    assert.is(failure.code, 'IO_ERROR');
    assert.is(failure.errno, 'ENOMEM');
    assert.match(failure.message, /heap reached the cap of 1 MiB/);
    assert.ok(acknowledged > 0);
    // Reads still answer, from the memtables that did not reach a table.
    assert.is((await db.get(key(0)))?.toString(), value(0));
    await db.close().catch(() => {});
    const reopened = await open(dir);
    try {
      for (let i = 0; i < acknowledged; i++) assert.is((await reopened.get(key(i)))?.toString(), value(i), key(i));
      await reopened.flush();
      await reopened.compactRange();
      for (let i = 0; i < acknowledged; i += 13) assert.is((await reopened.get(key(i)))?.toString(), value(i), key(i));
    } finally {
      await reopened.close();
    }
  });
});

test.run();
