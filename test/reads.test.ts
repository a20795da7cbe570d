// Reads and the event loop: long runs of awaited reads let timers run, and values of megabytes
// are read off the loop's thread (src/base/loop-turns.ts, src/sstable/large-blocks.ts) and still
// come back right: at a snapshot, to concurrent readers, and while a compaction deletes the
// table they are read from.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NodeFileSystem, open, type Database, type FileSystem, type RandomAccessFile } from '../src/index.js';
import { expectCode, filesOf, tablesOpenedInTheCall, withTempDir } from './helpers.js';
import { LoopTurns, READ_CLOCK_EVERY, TURN_BUDGET_MS } from '../src/base/loop-turns.js';
import { LargeBlocks } from '../src/sstable/index.js';
import { native } from '../src/base/native.js';
import { readAsync } from '../src/async-read.js';
import { DatabaseIterator } from '../src/iterator.js';
import { Codecs } from '../src/encoding.js';

const KEYS = 5000;
const key = (i: number) => `key-${String(i).padStart(6, '0')}`;

async function filled(dir: string, flush: boolean): Promise<Database> {
  const db = await open(dir);
  for (let i = 0; i < KEYS; i += 500) {
    await db.batch(Array.from({ length: 500 }, (_, j) => ({ type: 'put' as const, key: key(i + j), value: `value ${i + j}` })));
  }
  if (flush) await db.flush();
  return db;
}

/** Runs `body` for at least `ms` milliseconds of awaited reads; how often a 1 ms timer fired meanwhile. */
async function timerFiringsDuring(ms: number, body: () => Promise<void>): Promise<number> {
  let fired = 0;
  const timer = setInterval(() => fired++, 1);
  try {
    const start = performance.now();
    while (performance.now() - start < ms) await body();
  } finally {
    clearInterval(timer);
  }
  return fired;
}

for (const shards of [1, 4]) {
  test(`a long run of awaited put()s lets a timer run (${shards} shard${shards > 1 ? 's' : ''}: small appends are written in the call)`, async () => {
    await withTempDir(async (dir) => {
      // No preallocation: its fallocate calls would give the loop turns of their own.
      const db = await open(dir, { shards, walPreallocateBytes: 0 });
      try {
        let n = 0;
        const fired = await timerFiringsDuring(100, async () => {
          for (let i = 0; i < 2000; i++) await db.put(key(n++), 'v');
        });
        assert.ok(fired > 0, `the timer fired ${fired} times`);
      } finally {
        await db.close();
      }
    });
  });
}

test('a long run of awaited 1,000-put batches lets a timer run every few batches (a turn is weighed by the puts applied, not by the batches)', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir, { walPreallocateBytes: 0 });
    try {
      let fired = 0;
      const timer = setInterval(() => fired++, 1);
      // The most batches answered in a row without a firing. Weighed by batches, the clock was
      // looked at every 32nd batch only (CLOCK_EVERY), and 32 batches of 1,000 puts held the
      // loop for 40-90 ms here.
      let run = 0;
      let longest = 0;
      try {
        let n = 0;
        for (let b = 0; b < 200; b++) {
          const before = fired;
          await db.batch(Array.from({ length: 1000 }, () => ({ type: 'put' as const, key: key(n++), value: 'v'.repeat(100) })));
          run = fired === before ? run + 1 : 0;
          longest = Math.max(longest, run);
        }
      } finally {
        clearInterval(timer);
      }
      assert.ok(longest < 32, `${longest} batches in a row without a timer firing`);
    } finally {
      await db.close();
    }
  });
});

test('one nextv() of every entry stops at the reads\' budget with fewer than asked: a timer fires between its batches, and the batches hold every entry once, in order', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir);
    try {
      const count = 60_000;
      for (let i = 0; i < count; i += 1000) {
        await db.batch(Array.from({ length: 1000 }, (_, j) => ({ type: 'put' as const, key: key(i + j), value: 'v'.repeat(40) })));
      }
      let fired = 0;
      const timer = setInterval(() => fired++, 1);
      const sizes: number[] = [];
      const firedBefore: number[] = [];
      let expected = 0;
      const it = db.iterator();
      try {
        for (let batch = await it.nextv(Infinity); batch.length > 0; batch = await it.nextv(Infinity)) {
          firedBefore.push(fired);
          sizes.push(batch.length);
          for (const [k] of batch) assert.is(k.toString(), key(expected++));
        }
      } finally {
        clearInterval(timer);
        await it.close();
      }
      assert.is(expected, count, 'every entry, once');
      // 60,000 entries take far longer than the budget (about 2 µs each here).
      assert.ok(sizes.length > 1 && sizes[0]! < count, `batches of ${sizes.join(', ')}`);
      assert.ok(firedBefore[firedBefore.length - 1]! > 0, `the timer fired between batches (${firedBefore.join(', ')})`);
    } finally {
      await db.close();
    }
  });
});

test('a loop of scans over an empty range, and of gets that find nothing, lets a timer run (for await, next(), nextv())', async () => {
  await withTempDir(async (dir) => {
    const db = await filled(dir, false);
    try {
      const range = { gte: 'queue:', lt: 'queue;' };
      const scanned = await timerFiringsDuring(100, async () => {
        for await (const entry of db.iterator(range)) assert.unreachable(`the range is empty: ${String(entry)}`);
      });
      assert.ok(scanned > 0, `for await: the timer fired ${scanned} times`);
      const stepped = await timerFiringsDuring(100, async () => {
        const it = db.iterator(range);
        try {
          assert.is(await it.next(), undefined);
        } finally {
          await it.close();
        }
      });
      assert.ok(stepped > 0, `next(): the timer fired ${stepped} times`);
      const batched = await timerFiringsDuring(100, async () => {
        const it = db.iterator(range);
        try {
          assert.is((await it.nextv(10)).length, 0);
        } finally {
          await it.close();
        }
      });
      assert.ok(batched > 0, `nextv(): the timer fired ${batched} times`);
      const missed = await timerFiringsDuring(100, async () => {
        assert.is(await db.get('queue:none'), undefined);
      });
      assert.ok(missed > 0, `get() of a missing key: the timer fired ${missed} times`);
    } finally {
      await db.close();
    }
  });
});

for (const flush of [false, true]) {
  const where = flush ? 'from tables' : 'from the memtable';
  test(`a long run of awaited get()s ${where} lets a timer run`, async () => {
    await withTempDir(async (dir) => {
      const db = await filled(dir, flush);
      try {
        const fired = await timerFiringsDuring(100, async () => {
          for (let i = 0; i < KEYS; i++) assert.is((await db.get(key(i)))?.toString(), `value ${i}`);
        });
        assert.ok(fired > 0, `the timer fired ${fired} times`);
      } finally {
        await db.close();
      }
    });
  });

  test(`a long for-await over an iterator ${where} lets a timer run, and so do next() and nextv()`, async () => {
    await withTempDir(async (dir) => {
      const db = await filled(dir, flush);
      try {
        const scanned = await timerFiringsDuring(100, async () => {
          let n = 0;
          for await (const [k] of db.iterator()) assert.is(k.toString(), key(n++));
          assert.is(n, KEYS);
        });
        assert.ok(scanned > 0, `for await: the timer fired ${scanned} times`);
        const stepped = await timerFiringsDuring(100, async () => {
          const it = db.iterator();
          try {
            while ((await it.next()) !== undefined);
          } finally {
            await it.close();
          }
        });
        assert.ok(stepped > 0, `next(): the timer fired ${stepped} times`);
        const batched = await timerFiringsDuring(100, async () => {
          const it = db.iterator();
          try {
            while ((await it.nextv(10)).length > 0);
          } finally {
            await it.close();
          }
        });
        assert.ok(batched > 0, `nextv(): the timer fired ${batched} times`);
      } finally {
        await db.close();
      }
    });
  });
}

const MiB = 1024 * 1024;

/** A value of `bytes` bytes that LZ4 halves (as db_bench's values), different for each `seed`. */
function largeValue(bytes: number, seed: number): Buffer {
  const v = Buffer.alloc(bytes);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < bytes; i++) {
    if ((i & 1023) < 512) v[i] = seed & 0xff;
    else {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      v[i] = x >>> 24;
    }
  }
  return v;
}

test('get() of values of megabytes from a table: the same bytes as getSync(), at a snapshot, and a buffer of its own per caller', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir);
    try {
      const big = largeValue(3 * MiB, 1);
      const plain = Buffer.from(largeValue(2 * MiB, 2).map((b, i) => (b * 31 + i * 7) & 0xff)); // incompressible-ish: stored as is
      await db.put('a', 'before');
      await db.put('big', big);
      await db.put('plain', plain);
      await db.put('z', 'after');
      await db.flush();
      const snap = db.snapshot();
      await db.put('big', 'overwritten');
      await db.flush();
      assert.is((await db.get('big'))?.toString(), 'overwritten');
      assert.ok((await db.get('big', { snapshot: snap }))?.equals(big), 'get() at the snapshot: the large value');
      assert.ok(db.getSync('big', { snapshot: snap })?.equals(big), 'getSync() at the snapshot: the large value');
      assert.ok((await db.getEntry('big', { snapshot: snap }))?.value.equals(big), 'getEntry() at the snapshot');
      assert.ok((await db.get('plain'))?.equals(plain), 'an uncompressed large value');
      assert.is((await db.get('a'))?.toString(), 'before', 'a small key in the large block');
      assert.is((await db.get('z'))?.toString(), 'after');
      assert.is(await db.get('nothing'), undefined);
      const [x, y] = await Promise.all([db.get('big', { snapshot: snap }), db.get('big', { snapshot: snap })]);
      x![0] = x![0]! ^ 0xff;
      assert.ok(y!.equals(big), 'one caller changing its buffer does not change another caller\'s');
      assert.ok((await db.get('big', { snapshot: snap }))?.equals(big), 'nor the next read');
      snap.release();
    } finally {
      await db.close();
    }
  });
});

test('getInto() reads a value into the caller\'s buffer: small and large, from the memtable and tables, at a snapshot; a short target gets the length; a missing key undefined', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir);
    try {
      const big = largeValue(3 * MiB, 4);
      const plain = Buffer.from(largeValue(2 * MiB, 5).map((b, i) => (b * 31 + i * 7) & 0xff)); // stored as is
      await db.put('a', 'before'); // in the large value's block, before it
      await db.put('big', big);
      await db.put('plain', plain);
      await db.put('z', 'after');
      await db.flush();
      const snap = db.snapshot();
      await db.put('big', 'overwritten'); // in the memtable
      const target = Buffer.alloc(4 * MiB, 0xee);
      assert.is(await db.getInto('big', target), 11);
      assert.is(target.subarray(0, 11).toString(), 'overwritten', 'from the memtable');
      assert.is(await db.getInto('big', target, { snapshot: snap }), big.length);
      assert.ok(target.subarray(0, big.length).equals(big), 'the large value at the snapshot, moved to the start of the target');
      assert.is(await db.getInto('plain', target), plain.length);
      assert.ok(target.subarray(0, plain.length).equals(plain), 'an uncompressed large value');
      assert.is(await db.getInto('a', target), 6);
      assert.is(target.subarray(0, 6).toString(), 'before', 'a small value from a table');
      assert.is(await db.getInto('nothing', target), undefined);
      const short = Buffer.alloc(MiB, 0xee);
      assert.is(await db.getInto('big', short, { snapshot: snap }), big.length, 'a target too short: the length, for a caller to read again with a larger one');
      assert.is(await db.getInto('z', new Uint8Array(2)), 5, 'a small value longer than the target');
      // The value's block holds 'a' too: a target of the value's length alone is not its
      // block's, and the value is read through memory of its own and copied.
      const exact = new Uint8Array(big.length);
      assert.is(await db.getInto('big', exact, { snapshot: snap }), big.length);
      assert.ok(Buffer.from(exact).equals(big), 'a target of exactly the value\'s length');
      // A target that is a view into a larger buffer: the value lands at the view's start.
      const backing = Buffer.alloc(5 * MiB, 0xee);
      const view = backing.subarray(MiB);
      assert.is(await db.getInto('big', view, { snapshot: snap }), big.length);
      assert.ok(view.subarray(0, big.length).equals(big), 'into a view');
      assert.ok(backing.subarray(0, MiB).every((b) => b === 0xee), 'nothing written before the view');
      snap.release();
      await db.flush();
      await db.compactRange();
      assert.is(await db.getInto('big', target), 11, 'after the overwrite is flushed and compacted');
      assert.is(target.subarray(0, 11).toString(), 'overwritten');
      await expectCode(() => db.getInto('big', 'not a buffer' as unknown as Uint8Array), 'INVALID_ARGUMENT', 'a target that is not a Uint8Array');
    } finally {
      await db.close();
    }
    await expectCode(() => db.getInto('big', Buffer.alloc(1)), 'CLOSED', 'getInto() after close()');
  });
});

test('getInto() of a large value has the addon read its block into the target when it fits (no buffer of its own) and move the value to its start on the thread pool, else read into memory of its own; the same bytes without the addon\'s reads (a file system with no descriptor)', async () => {
  const big = largeValue(16 * MiB, 6);
  const calls = native as { readBlockAsync?: (...args: unknown[]) => Promise<unknown>; moveWithinAsync?: (...args: unknown[]) => Promise<unknown> };
  const real = calls.readBlockAsync;
  const realMove = calls.moveWithinAsync;
  const answers: string[] = [];
  if (realMove !== undefined) calls.moveWithinAsync = (...args) => {
    answers.push('moved');
    return realMove(...args);
  };
  if (real !== undefined) calls.readBlockAsync = async (...args) => {
    const answer = await real(...args);
    // Reads given a target (table opens and get() read blocks of their own, with none).
    if (args[6] !== undefined) answers.push(typeof answer === 'number' ? 'into' : 'own');
    return answer;
  };
  try {
    for (const gated of [false, true]) {
      await withTempDir(async (dir) => {
        const files = gatedFileSystem({ mapped: true });
        const db = await open(dir, gated ? { fs: files.fs } : {});
        try {
          await db.put('big', big);
          await db.flush();
          answers.length = 0;
          const target = Buffer.alloc(17 * MiB);
          for (let i = 0; i < 2; i++) {
            target.fill(0);
            assert.is(await db.getInto('big', target), big.length);
            assert.ok(target.subarray(0, big.length).equals(big), `read ${i}`);
          }
          const short = Buffer.alloc(big.length);
          assert.is(await db.getInto('big', short), big.length);
          assert.ok(short.equals(big), 'a target of the value\'s length: its block does not fit');
          assert.ok((await db.get('big'))?.equals(big), 'get()');
          if (gated) assert.ok(files.asyncReads() > 0, 'read off the event loop by the file system');
          else if (real !== undefined) assert.equal(answers, ['into', 'moved', 'into', 'moved', 'own'], 'where the addon put each block given a target, and its move of the value to the start');
        } finally {
          await db.close();
        }
      });
    }
  } finally {
    if (real !== undefined) calls.readBlockAsync = real;
    if (realMove !== undefined) calls.moveWithinAsync = realMove;
  }
});

test('get() of a large value keeps the event loop turning while it reads', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir);
    try {
      const big = largeValue(16 * MiB, 3);
      await db.put('big', big);
      await db.flush();
      let fired = 0;
      const timer = setInterval(() => fired++, 1);
      const got = await db.get('big');
      clearInterval(timer);
      assert.ok(got?.equals(big));
      assert.ok(fired > 0, `the timer fired ${fired} times during the read`);
    } finally {
      await db.close();
    }
  });
});

test('a value of megabytes that compresses to a small block is a large value too: read off the event loop, never cached, and the same bytes on every read', async () => {
  // 8 MiB of zeros with a marker every 64 KiB: its LZ4 block is a few tens of KiB, far under
  // LARGE_BLOCK_BYTES; what makes a block large is what it decompresses to.
  const zeros = Buffer.alloc(8 * MiB);
  for (let i = 0; i < zeros.length; i += 64 * 1024) zeros[i] = (i >>> 16) & 0xff;
  for (const [gated, mapped] of [[false, true], [true, false], [true, true]] as const) {
    await withTempDir(async (dir) => {
      const files = gatedFileSystem({ mapped });
      const db = await open(dir, gated ? { fs: files.fs } : {});
      try {
        await db.put('a', 'before');
        await db.put('zeros', zeros);
        await db.put('z', 'after');
        await db.flush();
        const tables = filesOf(dir, '.sst');
        assert.is(tables.length, 1);
        assert.ok(fs.statSync(path.join(dir, tables[0]!)).size < MiB, 'the value\'s block is stored in less than LARGE_BLOCK_BYTES');
        // Misses, the cache's admission of the block on its second miss, and hits after it
        // (before: a 8 MiB block in the cache, whose next hit the addon copied into its 1 MiB
        // scratch buffer, overrunning it).
        for (let round = 0; round < 4; round++) {
          const before = files.asyncReads();
          assert.ok((await db.get('zeros'))?.equals(zeros), `get(), round ${round}`);
          if (gated) assert.ok(files.asyncReads() > before, `get() read the block off the event loop, round ${round}`);
          assert.ok(db.getSync('zeros')?.equals(zeros), `getSync(), round ${round}`);
          assert.equal((await db.getMany(['a', 'zeros', 'z'])).map((v) => v?.length), [6, zeros.length, 5], `getMany(), round ${round}`);
          const it = db.iterator({ gte: 'zeros' });
          const entry = await it.next();
          await it.close();
          assert.ok(entry?.[1].equals(zeros), `an iterator, round ${round}`);
        }
        assert.ok(db.stats().blockCache.usedBytes < MiB, `the block cache holds ${db.stats().blockCache.usedBytes} bytes: not the large block`);
        assert.is((await db.get('a'))?.toString(), 'before');
      } finally {
        await db.close();
      }
    });
  }
});

/** A file system whose asynchronous reads (of every file, or of the file named `only`) wait while held. */
function gatedFileSystem(options: { mapped?: boolean } = {}): { fs: FileSystem; asyncReads: (of?: string) => number; hold: (only?: string) => void; release: () => void } {
  const real = new NodeFileSystem();
  let asyncReads = 0;
  const readsOf = new Map<string, number>();
  let gate: Promise<void> | undefined;
  let gated: string | undefined;
  let open!: () => void;
  const fs: FileSystem = Object.assign(Object.create(real) as FileSystem, {
    openReadable: (file: string): RandomAccessFile => {
      const inner = real.openReadable(file);
      return {
        path: inner.path,
        size: inner.size,
        read: (offset, length) => inner.read(offset, length),
        readAsync: async (offset, length) => {
          asyncReads++;
          const name = path.basename(inner.path);
          readsOf.set(name, (readsOf.get(name) ?? 0) + 1);
          if (gated === undefined || name === gated) await gate;
          return inner.readAsync!(offset, length);
        },
        close: () => inner.close(),
        // The mapping without the descriptor: blocks are read from the mapping, while large
        // ones, which the addon would read through the descriptor, go through readAsync.
        ...(options.mapped === true ? { mapped: () => inner.mapped?.() } : {}),
      };
    },
  });
  return {
    fs,
    asyncReads: (of?: string) => (of === undefined ? asyncReads : (readsOf.get(of) ?? 0)),
    hold: (only?: string) => {
      gated = only;
      gate = new Promise<void>((resolve) => (open = resolve));
    },
    release: () => open?.(),
  };
}

test('values of 64 MiB that get() read are collected once the caller drops them: no table reader keeps the block', () => {
  const index = new URL('../src/index.js', import.meta.url).href;
  const script = `
    import * as fs from 'node:fs';
    import * as os from 'node:os';
    import * as path from 'node:path';
    const { open } = await import(${JSON.stringify(index)});
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-free-'));
    let db = await open(dir);
    const big = Buffer.alloc(64 << 20);
    for (let i = 0; i < big.length; i += 64) big[i] = (i * 2654435761) >>> 24;
    for (let i = 0; i < 2; i++) await db.put('big-' + i, big);
    await db.flush();
    await db.close();
    db = await open(dir);
    const turn = () => new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 5; i++) { global.gc(); await turn(); }
    // External memory: the values' buffers (the addon's, or lz4-napi's without it), whatever
    // the allocator or a WebAssembly memory keep resident.
    const before = process.memoryUsage().external;
    let values = [];
    for (let i = 0; i < 2; i++) values.push(await db.get('big-' + i));
    const same = values.every((v) => v.equals(big));
    const holding = process.memoryUsage().external;
    values = undefined;
    let after = holding;
    for (let i = 0; i < 50 && after > before + (32 << 20); i++) { global.gc(); await turn(); after = process.memoryUsage().external; }
    await db.close();
    fs.rmSync(dir, { recursive: true });
    console.log(JSON.stringify({ same, held: holding - before, left: after - before }));`;
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const { same, held, left } = JSON.parse(r.stdout) as { same: boolean; held: number; left: number };
  assert.ok(same, 'the values read back');
  assert.ok(held >= 96 << 20, `holding two 64 MiB values took their memory (${held} bytes)`);
  assert.ok(left <= 32 << 20, `dropped, they were given back (${left} bytes still held)`);
});

test('a large read in flight while a compaction deletes its table still returns the value it read', async () => {
  await withTempDir(async (dir) => {
    const gated = gatedFileSystem();
    const db = await open(dir, { fs: gated.fs });
    try {
      const big = largeValue(2 * MiB, 4);
      await db.put('big', big);
      await db.put('small', 'x');
      await db.flush();
      const table = filesOf(dir, '.sst')[0]!;
      // Open the table first (in the call), so that the read held below is the large block's.
      assert.is(db.getSync('small')?.toString(), 'x');
      const before = gated.asyncReads(table);
      // Large blocks are read with readAsync: hold those of the table until it is gone (the
      // compaction opens its other input off the event loop, through readAsync too).
      gated.hold(table);
      const reading = db.get('big');
      await db.put('big', 'new');
      await db.put('other', 'y');
      await db.flush();
      await db.compactRange();
      assert.not.ok(fs.existsSync(path.join(dir, table)), `${table} was deleted by the compaction`);
      assert.is(gated.asyncReads(table) - before, 1, 'the read was in flight');
      gated.release();
      assert.ok((await reading)?.equals(big), 'the read returns the value at its sequence number');
      assert.is((await db.get('big'))?.toString(), 'new');
    } finally {
      gated.release();
      await db.close();
    }
  });
});

/** A database of KEYS keys in one table, closed and opened again through a gatedFileSystem (no table open yet: not opened ahead). */
async function reopenedGated(dir: string): Promise<{ db: Database; gated: ReturnType<typeof gatedFileSystem> }> {
  const first = await filled(dir, true);
  await first.close();
  const gated = gatedFileSystem();
  return { db: await open(dir, { fs: gated.fs, openTablesAhead: false }), gated };
}

/** The descriptors of this process open on a file whose path contains `name`. */
function descriptorsOn(name: string): string[] {
  return fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`).includes(name);
    } catch {
      return false;
    }
  });
}

for (const shards of [1, 3]) {
  test(`open() opens the tables ahead, off the event loop: the first gets find them open; close() right after open() waits for the opens and leaves no table open (${shards} shard${shards > 1 ? 's' : ''})`, async () => {
    await withTempDir(async (dir) => {
      // Five flushes, kept in level 0: five tables per shard.
      const first = await open(dir, { shards, l0CompactionTrigger: 100, l0SlowdownTrigger: 100, l0StopTrigger: 100 });
      for (let i = 0; i < KEYS; i += 500) {
        await first.batch(Array.from({ length: 500 }, (_, j) => ({ type: 'put' as const, key: key(i + j), value: `value ${i + j} ${noise(i + j)}` })));
        if ((i + 500) % 1000 === 0) await first.flush();
      }
      await first.flush();
      const tables = first.stats().levels.reduce((n, l) => n + l.files, 0);
      await first.close();
      assert.ok(tables >= 4 * shards, `several tables (${tables})`);

      const options = { shards, l0CompactionTrigger: 100, l0SlowdownTrigger: 100, l0StopTrigger: 100 };
      let db = await open(dir, options);
      try {
        for (const started = performance.now(); db.stats().openTables < tables && performance.now() - started < 10_000; ) await new Promise((resolve) => setTimeout(resolve, 5));
        assert.is(db.stats().openTables, tables, 'every table is open without a read');
        for (let i = 0; i < KEYS; i += 97) assert.is((await db.get(key(i)))?.toString(), `value ${i} ${noise(i)}`);
        assert.is(db.stats().openTables, tables, 'the gets found every table open');
      } finally {
        await db.close();
      }
      db = await open(dir, options);
      await db.close();
      assert.equal(descriptorsOn('.sst'), [], 'close() right after open() leaves no table open');

      db = await open(dir, { ...options, openTablesAhead: false });
      try {
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.is(db.stats().openTables, 0, 'openTablesAhead: false opens none before a read');
        assert.is((await db.get(key(7)))?.toString(), `value 7 ${noise(7)}`);
      } finally {
        await db.close();
      }
    });
  });
}

test('a compaction opens its outputs before it installs them, so that the gets after it find them open (openTablesAhead)', async () => {
  for (const openTablesAhead of [true, false]) {
    await withTempDir(async (dir) => {
      // Level 0's four tables compacted into level 1 automatically (compactRange() would go on
      // down, and its next steps' cuts open their inputs).
      const db = await open(dir, { openTablesAhead, targetFileBytes: 64 * 1024, l0CompactionTrigger: 4 });
      try {
        for (let i = 0; i < 4; i++) {
          await db.batch(Array.from({ length: KEYS / 4 }, (_, j) => ({ type: 'put' as const, key: key(i + 4 * j), value: `value ${i + 4 * j} ${noise(i + 4 * j)}` })));
          await db.flush();
        }
        for (const started = performance.now(); (db.stats().compactions === 0 || db.stats().compactionsRunning > 0) && performance.now() - started < 10_000; ) await new Promise((resolve) => setTimeout(resolve, 5));
        const tables = db.stats().levels.reduce((n, l) => n + l.files, 0);
        assert.ok(tables >= 4 && db.stats().levels[0]!.files === 0, `compacted out of level 0 into several tables (${tables})`);
        for (const started = performance.now(); db.stats().openTables > tables && performance.now() - started < 10_000; ) await new Promise((resolve) => setTimeout(resolve, 5));
        if (openTablesAhead) assert.is(db.stats().openTables, tables, 'the outputs are open without a read');
        else assert.ok(db.stats().openTables < tables, `without openTablesAhead the reads open them (${db.stats().openTables} open)`);
        for (let i = 0; i < KEYS; i += 97) assert.is((await db.get(key(i)))?.toString(), `value ${i} ${noise(i)}`);
        assert.is(db.stats().openTables, tables);
      } finally {
        await db.close();
      }
    });
  }
});

test('open() starts opening the recovered tables before it reads the WALs, so that they open while it replays; the recovery flush\'s table opens too', async () => {
  await withTempDir(async (dir) => {
    const options = { l0CompactionTrigger: 100, l0SlowdownTrigger: 100, l0StopTrigger: 100 };
    const first = await open(dir, options);
    for (let i = 0; i < KEYS; i += 500) {
      await first.batch(Array.from({ length: 500 }, (_, j) => ({ type: 'put' as const, key: key(i + j), value: `value ${i + j}` })));
      if (i < KEYS / 2 && (i + 500) % 1000 === 0) await first.flush();
    }
    // The last half stays in the WAL: the next open replays and flushes it.
    const tables = first.stats().levels.reduce((n, l) => n + l.files, 0);
    await first.close();
    assert.ok(tables >= 2, `several tables (${tables})`);
    // A file system that holds the WALs' reads until every table has been opened for reading
    // (or two seconds have passed: the order is what is checked).
    const real = new NodeFileSystem();
    const opened = new Set<string>();
    let walReadWhileOpened = -1;
    let allOpened!: () => void;
    const tablesOpening = new Promise<void>((resolve) => (allOpened = resolve));
    const gatedFs: FileSystem = Object.assign(Object.create(real) as FileSystem, {
      openReadable: (file: string): RandomAccessFile => {
        if (file.endsWith('.sst')) {
          opened.add(file);
          if (opened.size >= tables) allOpened();
        }
        return real.openReadable(file);
      },
      readFile: async (file: string): Promise<Uint8Array> => {
        if (file.endsWith('.log')) {
          await Promise.race([tablesOpening, new Promise((resolve) => setTimeout(resolve, 2000))]);
          walReadWhileOpened = Math.max(walReadWhileOpened, opened.size);
        }
        return real.readFile(file);
      },
    });
    const db = await open(dir, { ...options, fs: gatedFs });
    try {
      assert.is(walReadWhileOpened, tables, 'every recovered table was being opened before the WALs were read');
      for (const started = performance.now(); db.stats().openTables < tables + 1 && performance.now() - started < 10_000; ) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.is(db.stats().openTables, tables + 1, 'and the recovery flush\'s table');
      for (let i = 0; i < KEYS; i += 97) assert.is((await db.get(key(i)))?.toString(), `value ${i}`);
    } finally {
      await db.close();
    }
  });
});

test('get() opens a table it needs off the event loop (its reads on the thread pool); getSync() opens it in the call', async () => {
  await withTempDir(async (dir) => {
    const { db, gated } = await reopenedGated(dir);
    try {
      assert.is((await db.get(key(10)))?.toString(), 'value 10');
      const opened = gated.asyncReads();
      assert.ok(opened >= 5, `the footer and the meta blocks were read asynchronously (${opened} reads)`);
      assert.is((await db.get(key(4000)))?.toString(), 'value 4000');
      assert.is(gated.asyncReads(), opened, 'an open table is not opened again');
    } finally {
      await db.close();
    }
    const syncDb = await open(dir, { fs: gated.fs });
    try {
      const before = gated.asyncReads();
      assert.is(syncDb.getSync(key(10))?.toString(), 'value 10');
      assert.is(gated.asyncReads(), before, 'getSync() reads in the call');
    } finally {
      await syncDb.close();
    }
  });
});

/** 128 bytes that compress about as well as hex digits do. */
const noise = (n: number) => createHash('sha256').update(String(n)).digest('hex').repeat(2);


for (const shards of [1, 3]) {
  test(`iterators read asynchronously open their tables off the event loop, at the first read and after each seek; nextSync() opens them in the call (${shards} shard${shards > 1 ? 's' : ''})`, async () => {
    await withTempDir(async (dir) => {
      // Level-0 tables over several files of level 1, reopened: no table is open.
      const options = { shards, targetFileBytes: 64 * 1024, l0CompactionTrigger: 100, l0SlowdownTrigger: 100, l0StopTrigger: 100, openTablesAhead: false };
      let db = await open(dir, options);
      const all = new Map<string, string>();
      for (let round = 0; round < 3; round++) {
        for (let i = round; i < KEYS; i += 500) {
          const ops = Array.from({ length: 250 }, (_, j) => ({ type: 'put' as const, key: key(i + j * 2), value: `value ${i + j * 2} r${round} ${noise(i + j * 2)}` }));
          for (const op of ops) all.set(op.key, op.value);
          await db.batch(ops);
        }
        await db.flush();
        if (round === 0) await db.compactRange();
      }
      await db.close();
      const sorted = [...all.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      const fromKey = (k: string) => sorted.filter(([x]) => x >= k);

      db = await open(dir, options);
      try {
        assert.ok(db.stats().levels[1]!.files >= 2 * shards && db.stats().levels[0]!.files >= 2 * shards, `levels 0 and 1 hold several tables: ${JSON.stringify(db.stats().levels.map((l) => l.files))}`);
        const it = db.iterator();
        const seekTo = sorted[Math.floor(sorted.length * 0.7)]![0];
        const back = db.iterator({ reverse: true, lt: sorted[Math.floor(sorted.length * 0.4)]![0] });
        const opened = await tablesOpenedInTheCall(async () => {
          const first = await it.next();
          assert.equal(first?.map(String), sorted[0], 'next(): the first entry');
          it.seek(seekTo);
          assert.equal((await it.nextv(3)).map((e) => e.map(String)), fromKey(seekTo).slice(0, 3), 'nextv() after a seek');
          const last = await back.next();
          assert.equal(last?.map(String), sorted[Math.floor(sorted.length * 0.4) - 1], 'a reverse iterator within bounds');
          for await (const entry of db.iterator({ gte: sorted[100]![0] })) {
            assert.equal(entry.map(String), sorted[100], 'for await: the first entry');
            break;
          }
        });
        assert.is(opened, 0, "tables opened on the event loop's thread");
        await it.close();
        await back.close();
      } finally {
        await db.close();
      }

      db = await open(dir, options);
      try {
        const it = db.iterator();
        const opened = await tablesOpenedInTheCall(async () => {
          assert.equal(it.nextSync()?.map(String), sorted[0], 'nextSync(): the first entry');
        });
        assert.ok(opened >= 2, `nextSync() opens the tables it positions in, in the call (${opened})`);
        let n = 1;
        for (let e = await it.next(); e !== undefined; e = await it.next()) {
          assert.equal(e.map(String), sorted[n], `entry ${n}`);
          n++;
        }
        assert.is(n, sorted.length, 'a whole scan across the files');
        await it.close();
      } finally {
        await db.close();
      }
    });
  });
}

test('a table a get() is opening when a compaction deletes it is closed, and the get() answers from the table that replaced it', async () => {
  await withTempDir(async (dir) => {
    const { db, gated } = await reopenedGated(dir);
    try {
      const table = filesOf(dir, '.sst')[0]!;
      // Only this table's reads wait: the compaction below opens its other inputs off the
      // event loop before it cuts them (the table being opened is left to open in the call).
      gated.hold(table);
      const reading = db.get(key(20));
      const also = db.get(key(21));
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.is(gated.asyncReads(), 1, 'one open of the table is in flight, for both gets');
      await db.put(key(20), 'newer');
      await db.flush();
      await db.compactRange();
      assert.not.ok(fs.existsSync(path.join(dir, table)), `${table} was deleted by the compaction`);
      gated.release();
      assert.is((await reading)?.toString(), 'value 20', 'the get answers at its own sequence number');
      assert.is((await also)?.toString(), 'value 21');
      assert.is((await db.get(key(20)))?.toString(), 'newer');
      assert.equal(descriptorsOn(table), [], 'the deleted table is not kept open');
    } finally {
      gated.release();
      await db.close();
    }
  });
});

test('getMany() reads every key at the sequence of the call, also while writes land during its turns of the event loop, and large values among them', async () => {
  await withTempDir(async (dir) => {
    const db = await filled(dir, true);
    try {
      const big = largeValue(2 * MiB, 5);
      await db.put(key(7), big);
      await db.flush();
      const keys = [...Array.from({ length: KEYS }, (_, i) => key(i)), 'absent', key(7)];
      // Writes queued behind the call: each lands when the event loop turns.
      let writes = 0;
      const writer = setInterval(() => void db.put(key(writes++ % KEYS), 'changed'), 0);
      const reading = db.getMany(keys);
      const values = await reading;
      clearInterval(writer);
      assert.is(values.length, keys.length);
      for (let i = 0; i < KEYS; i++) {
        if (i === 7) assert.ok(values[i]?.equals(big), 'the large value');
        else assert.is(values[i]?.toString(), `value ${i}`, `${key(i)}: the value at the call`);
      }
      assert.is(values[KEYS], undefined);
      assert.ok(values[KEYS + 1]?.equals(big));
      assert.not.ok(values[KEYS + 1] === values[7], 'each value a buffer of its own');
      assert.equal(await db.getMany([]), []);
      await expectCode(() => db.getMany('abc' as unknown as string[]), 'INVALID_ARGUMENT', 'getMany() of a string');
      await expectCode(() => db.getMany([key(1), 42 as unknown as string]), 'INVALID_ARGUMENT', 'getMany() with a number among the keys');
    } finally {
      await db.close();
    }
  });
});


test("iterators' seeks read a table's blocks into buffers of their own: results stay right across seeks, merge chains over many blocks, reverse iterators, and iterators side by side", () =>
  withTempDir(async (dir) => {
    // Small blocks, tables made by flushes: a key's merge operands span many blocks of a table.
    const db = (await open(path.join(dir, 'db'), { mergeOperator: 'add', blockBytes: 256, blockCacheBytes: 0 })) as unknown as Database<Buffer, Buffer, string | bigint | Buffer, string | bigint | Buffer>;
    const model = new Map<string, Buffer>();
    for (let round = 0; round < 3; round++) {
      for (let i = round; i < 300; i += 3) {
        const value = Buffer.alloc(40 + (i % 50), `${round}:${i}`);
        await db.put(key(i), value);
        model.set(key(i), value);
      }
      for (let n = 0; n < 120; n++) await db.merge(key(150), 1n);
      await db.flush();
    }
    model.set(key(150), (await db.get(key(150)))!);
    const keys = [...model.keys()].sort();
    const iterators = [db.iterator(), db.iterator(), db.iterator({ reverse: true }), db.iterator({ reverse: true })];
    let s = 7;
    const next = (n: number) => {
      s = (s * 1103515245 + 12345) & 0x7fffffff;
      return s % n;
    };
    try {
      for (let op = 0; op < 3000; op++) {
        const which = next(iterators.length);
        const it = iterators[which]!;
        const reverse = which >= 2;
        const target = key(op % 5 === 0 ? 150 : next(310));
        it.seek(target);
        // The model's answer: the first key at or after the target (at or before, reverse).
        let at = keys.findIndex((k) => k >= target);
        if (at < 0) at = keys.length;
        if (reverse && keys[at] !== target) at--;
        for (let step = 0, steps = 1 + next(3); step < steps; step++) {
          const entry = await it.next();
          const expected = keys[at];
          if (expected === undefined) {
            assert.is(entry, undefined, `op ${op}: seek(${target}) step ${step} past the end`);
            break;
          }
          assert.ok(entry !== undefined, `op ${op}: seek(${target}) step ${step} found nothing, expected ${expected}`);
          assert.is(entry[0].toString(), expected, `op ${op}: seek(${target}) step ${step}`);
          assert.ok(entry[1].equals(model.get(expected)!), `op ${op}: the value of ${expected}`);
          at += reverse ? -1 : 1;
        }
      }
    } finally {
      for (const it of iterators) await it.close();
      await db.close();
    }
  }));

test('values read from tables through the mapping (no block cache) are buffers of their own: a later get, getMany or merge chain does not change them', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir, { blockCacheBytes: 0, mergeOperator: 'add' });
    try {
      for (let i = 0; i < 2000; i++) await db.put(key(i), `value ${i}`);
      await db.merge('counter', 5n);
      await db.flush();
      for (let i = 2000; i < 4000; i++) await db.put(key(i), `value ${i}`);
      await db.merge('counter', 7n);
      await db.flush();
      assert.ok(db.stats().levels.reduce((n, l) => n + l.files, 0) >= 2, 'two tables');
      const got: Buffer[] = [];
      for (let i = 0; i < 4000; i += 97) got.push((await db.get(key(i)))!);
      got.push(db.getSync(key(1))!, ...(await db.getMany([key(2), key(3001)])).map((v) => v!));
      const counter = await db.get('counter');
      for (let i = 0; i < 4000; i += 89) await db.get(key(i));
      let j = 0;
      for (let i = 0; i < 4000; i += 97) assert.is(got[j++]!.toString(), `value ${i}`);
      assert.is(got[j++]!.toString(), 'value 1');
      assert.is(got[j++]!.toString(), 'value 2');
      assert.is(got[j++]!.toString(), 'value 3001');
      assert.is(counter!.readBigInt64LE(0), 12n);
    } finally {
      await db.close();
    }
  });
});

/** A LoopTurns whose run is over budget: its next reads are due a turn. */
function overBudget(): LoopTurns {
  const turns = new LoopTurns();
  turns.due();
  const until = performance.now() + TURN_BUDGET_MS + 1;
  while (performance.now() < until);
  assert.ok(turns.due(32) !== undefined && turns.pending !== undefined, 'a turn is due');
  return turns;
}

test('a get or an iterator read called while a turn of the event loop is due does its work only after the turn (its cut pinned meanwhile)', async () => {
  const turns = overBudget();
  let pinned = 0;
  const host = { turns, pin: () => (pinned++, () => pinned--) };
  let turned = false;
  void turns.pending!.then(() => (turned = true));
  let looked = 0;
  let lookedAfterTurn = false;
  const reading = readAsync(host, new LargeBlocks(), [1], () => ((lookedAfterTurn = turned), ++looked));
  assert.is(looked, 0, 'the lookup waits for the turn');
  assert.is(pinned, 1, 'the cut is pinned while it waits');
  assert.is(await reading, 1);
  assert.ok(lookedAfterTurn, 'the loop turned first');
  assert.is(pinned, 0, 'and released after');

  const turns2 = overBudget();
  let stepped = 0;
  const cursor = { seek() {}, ready: () => undefined, next: (): [Buffer, Buffer] | undefined => (stepped++, [Buffer.from('k'), Buffer.from('v')]), close() {} };
  const it = new DatabaseIterator(cursor, () => {}, Codecs.of(undefined), turns2);
  const next = it.next();
  const nextv = it.nextv(2);
  assert.is(stepped, 0, 'next() and nextv() wait for the turn before they step the cursor');
  assert.equal((await next)?.map(String), ['k', 'v']);
  assert.is((await nextv).length, 2);
  assert.is(stepped, 3);
});

test('LoopTurns looks at the clock every 32 reads (a database\'s reads every 4), counting what each call says it read: one nextv() of 1,000 entries is enough', async () => {
  const busy = (ms: number) => {
    const until = performance.now() + ms;
    while (performance.now() < until);
  };
  const turns = new LoopTurns();
  assert.is(turns.due(), undefined, 'the first read starts a run');
  busy(TURN_BUDGET_MS + 1);
  for (let i = 0; i < 31; i++) assert.is(turns.due(), undefined, `read ${i + 2}: the clock not looked at yet`);
  assert.ok(turns.due() !== undefined, 'the 32nd read after the first finds it over budget');
  await turns.due();
  const reads = new LoopTurns(READ_CLOCK_EVERY);
  assert.is(reads.due(), undefined, 'the first read starts a run');
  busy(TURN_BUDGET_MS + 1);
  for (let i = 0; i < 3; i++) assert.is(reads.due(), undefined, `read ${i + 2}: the clock not looked at yet`);
  assert.ok(reads.due() !== undefined, 'the 4th read after the first finds it over budget');
  await reads.due();
  // A new run: one call that stands for 1,000 reads looks at the clock at once.
  assert.is(turns.due(), undefined);
  busy(TURN_BUDGET_MS + 1);
  assert.ok(turns.due(1000) !== undefined, 'a call of 1,000 reads looks at the clock');
  await turns.due();
});

test('the turn a run of reads is due lets a due timer run first, whichever phase of the event loop the run began in (a timer, an I/O callback, an immediate)', async () => {
  /** In a callback of the phase `start` names: a run of reads over budget, and whether a due timer ran before its turn ended. */
  const timerRanBeforeTurn = (start: (callback: () => void) => void) =>
    new Promise<boolean>((resolve, reject) => {
      start(() => {
        try {
          const turns = new LoopTurns();
          turns.due();
          let fired = false;
          setTimeout(() => (fired = true), 0);
          const until = performance.now() + TURN_BUDGET_MS + 2; // the timer due, the run over budget
          while (performance.now() < until);
          const turn = turns.due(32);
          assert.ok(turn !== undefined, 'a turn is due');
          void turn.then(() => resolve(fired));
        } catch (err) {
          reject(err);
        }
      });
    });
  assert.ok(await timerRanBeforeTurn((cb) => setTimeout(cb, 0)), 'a run begun in a timer callback');
  assert.ok(await timerRanBeforeTurn((cb) => fs.stat('.', () => cb())), 'a run begun in an I/O callback (the poll phase)');
  assert.ok(await timerRanBeforeTurn((cb) => setImmediate(cb)), 'a run begun in an immediate (the check phase)');
});

test.run();
