// db.ingest (src/shard/ingest.ts): sorted pairs and table files go straight into tables, at
// the deepest level they overlap nothing, with one sequence number above every earlier write;
// all or nothing across errors, bad input and crashes, with 1 shard and with several.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { open, type Database } from '../src/index.js';
import { TableFileWriter } from '../src/ingest.js';
import { FaultInjectingFileSystem, mutatingOps } from '../src/testing/index.js';
import { expectCode, flipByte, readAll, withTempDir } from './helpers.js';

const key = (i: number) => `key-${String(i).padStart(8, '0')}`;
const val = (i: number, tag = 'v') => `${tag}-${i}-${'y'.repeat(i % 40)}`;

function* pairs(from: number, to: number, tag = 'v', step = 1): Generator<[string, string]> {
  for (let i = from; i < to; i += step) yield [key(i), val(i, tag)];
}

async function entries(db: Database): Promise<[string, string][]> {
  return (await readAll(db)).map(([k, v]) => [k.toString(), v.toString()]);
}

for (const shards of [1, 3]) {
  test(`ingest of sorted pairs into an empty ${shards}-shard database lands in the bottom level and reads back`, async () => {
    await withTempDir(async (dir) => {
      const db = await open(dir, { shards, targetFileBytes: 64 * 1024 });
      await db.put('before', '1');
      const seq = await db.ingest(pairs(0, 20000));
      assert.ok(seq > 1n, 'the ingest takes a sequence number above the write before it');
      const after = await db.put('after', '2');
      assert.ok(after > seq, 'writes after it are above it');
      assert.is((await db.get(key(1234)))?.toString(), val(1234));
      assert.is((await db.getEntry(key(77)))?.seq, seq, 'every ingested entry carries the ingest sequence number');
      const all = await entries(db);
      assert.is(all.length, 20002);
      const stats = db.stats();
      assert.ok(stats.levels[6]!.files >= shards, `the tables went to the bottom level (${JSON.stringify(stats.levels.map((l) => l.files))})`);
      assert.ok(stats.levels[6]!.files > shards, 'cut at targetFileBytes');
      assert.is(stats.walBytes < 10_000, true, 'nothing went through the WAL');
      await db.close();
      const again = await open(dir);
      assert.equal(await entries(again), all, 'it survives a reopen');
      assert.ok(again.sequence >= after);
      await again.close();
    });
  });
}

test('an ingest over existing data is newer than it, and goes above the levels it overlaps', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir, { targetFileBytes: 64 * 1024 });
    for (let i = 0; i < 2000; i += 2) await db.put(key(i), 'old');
    await db.compactRange();
    for (let i = 1; i < 2000; i += 10) await db.put(key(i), 'in-memtable');
    const snap = db.snapshot();
    await db.ingest(pairs(0, 2000, 'new', 3));
    for (let i = 0; i < 2000; i++) {
      const expected = i % 3 === 0 ? val(i, 'new') : i % 2 === 0 ? 'old' : i % 10 === 1 ? 'in-memtable' : undefined;
      assert.is((await db.get(key(i)))?.toString(), expected, `key ${i}`);
      const before = i % 2 === 0 ? 'old' : i % 10 === 1 ? 'in-memtable' : undefined;
      assert.is((await db.get(key(i), { snapshot: snap }))?.toString(), before, `key ${i} at a snapshot taken before the ingest`);
    }
    snap.release();
    const levels = db.stats().levels.map((l) => l.files);
    await db.compactRange();
    for (let i = 0; i < 2000; i += 3) assert.is((await db.get(key(i)))?.toString(), val(i, 'new'), `key ${i} after a compaction (levels were ${levels})`);
    await db.close();
  });
});

test('pairs go through the database\'s encodings: tuple keys in tuple order, json values', async () => {
  await withTempDir(async (dir) => {
    const db = await open(path.join(dir, 'db'), { shards: 2, keyEncoding: 'tuple', valueEncoding: 'json' });
    const source = function* () {
      for (let user = -5; user < 5; user++) for (let n = 0; n < 20; n++) yield [[user, n], { user, n }] as [[number, number], { user: number; n: number }];
    };
    await db.ingest(source());
    assert.equal(await db.get([-5, 3]), { user: -5, n: 3 });
    const seen: unknown[] = [];
    for await (const [k] of db.iterator({ prefix: [2] })) seen.push(k);
    assert.equal(seen, Array.from({ length: 20 }, (_, n) => [2, n]));
    // Out of tuple order is out of byte order: refused, nothing installed.
    await expectCode(() => db.ingest([[[1, 1], 'a'], [[0, 1], 'b']]), 'INVALID_ARGUMENT');
    await db.close();
  });
});

test('unsorted or repeated keys, bad items and bad sources reject with INVALID_ARGUMENT and install nothing', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir, { shards: 2, targetFileBytes: 64 * 1024 });
    await db.put('x', '1');
    const tablesBefore = fs.readdirSync(path.join(dir, 'shard-0')).filter((n) => n.endsWith('.sst')).length;
    const unsorted = [...pairs(0, 3000)];
    unsorted.push([key(10), 'late']);
    await expectCode(() => db.ingest(unsorted), 'INVALID_ARGUMENT', 'an unsorted key at the end');
    await expectCode(() => db.ingest([[key(1), 'a'], [key(1), 'b']]), 'INVALID_ARGUMENT', 'a repeated key');
    await expectCode(() => db.ingest([['ba', '1'], ['ab', '2']]), 'INVALID_ARGUMENT', 'a key lower at its first differing byte, higher at a later one');
    await expectCode(() => db.ingest([['ab', '1'], ['a', '2']]), 'INVALID_ARGUMENT', 'a key that is a prefix of the one before');
    await expectCode(() => db.ingest([[key(1)]] as never), 'INVALID_ARGUMENT', 'a pair without a value');
    await expectCode(() => db.ingest([[1, 2]] as never), 'INVALID_ARGUMENT', 'a number key');
    const long = Buffer.alloc(64 * 1024 + 1, 0x61);
    await db.ingest([[key(0), 'a'], [long, 'b']]).then(
      () => assert.unreachable('a key over the limit rejects'),
      (err: Error & { code?: string }) => {
        assert.is(err.code, 'INVALID_ARGUMENT');
        assert.match(err.message, 'ingest key 1 is 65537 bytes', 'the message names the pair and the size');
      },
    );
    await expectCode(() => db.ingest(42 as never), 'INVALID_ARGUMENT', 'not an iterable');
    await expectCode(() => db.ingest([], { sync: true } as never), 'INVALID_ARGUMENT', 'an unknown option');
    async function* failing() {
      yield [key(1), 'a'] as [string, string];
      throw new Error('the source broke');
    }
    await db.ingest(failing()).then(() => assert.unreachable('a failing source rejects'), (err: Error) => assert.match(err.message, 'the source broke'));
    assert.is((await db.get(key(0)))?.toString(), undefined, 'nothing of them is visible');
    assert.equal(await entries(db), [['x', '1']]);
    const tablesAfter = fs.readdirSync(path.join(dir, 'shard-0')).filter((n) => n.endsWith('.sst')).length;
    assert.is(tablesAfter, tablesBefore, 'the tables built for them were removed');
    assert.ok((await db.put('y', '2')) > 0n, 'writes go on after a failed ingest');
    await db.close();
  });
});

test('a database of one shard reopens after a failed ingest and the writes around it', async () => {
  await withTempDir(async (dir) => {
    let db = await open(dir);
    await db.put('a', '1');
    await expectCode(() => db.ingest([['b', '1'], ['a', '2']]), 'INVALID_ARGUMENT');
    await db.put('c', '3');
    await db.close();
    db = await open(dir);
    assert.equal(await entries(db), [['a', '1'], ['c', '3']], 'the log replays without stepping over the failed ingest');
    await db.close();
  });
});

test('table files written by TableFileWriter are ingested; a damaged one is CORRUPTION, a foreign one INVALID_ARGUMENT', async () => {
  await withTempDir(async (dir) => {
    const files: string[] = [];
    for (let f = 0; f < 3; f++) {
      const w = await TableFileWriter.create(path.join(dir, `part-${f}.sst`));
      for (let i = f * 1000; i < (f + 1) * 1000; i++) await w.add(key(i), val(i, 'file'));
      assert.throws(() => w.add(key(0), 'x'), (err: { code?: string }) => err.code === 'INVALID_ARGUMENT', 'the writer refuses a key out of order');
      await w.finish();
      files.push(w.path);
    }
    const db = await open(path.join(dir, 'db'), { shards: 2 });
    fs.writeFileSync(path.join(dir, 'foreign.sst'), 'this is not a table at all, not even close to one, really not');
    await expectCode(() => db.ingest([path.join(dir, 'foreign.sst')]), 'INVALID_ARGUMENT', 'a file that is not a table');
    fs.copyFileSync(files[1]!, path.join(dir, 'damaged.sst'));
    flipByte(path.join(dir, 'damaged.sst'), 40);
    await expectCode(() => db.ingest([files[0]!, path.join(dir, 'damaged.sst')]), 'CORRUPTION', 'a damaged table');
    assert.equal(await entries(db), [], 'nothing installed');
    await expectCode(() => db.ingest([files[1]!, files[0]!]), 'INVALID_ARGUMENT', 'files out of order');
    const seq = await db.ingest(files);
    assert.ok(seq > 0n);
    const all = await entries(db);
    assert.is(all.length, 3000);
    assert.equal(all[1500], [key(1500), val(1500, 'file')]);
    await db.close();
  });
});

test('writes racing an ingest land on either side of it, the higher sequence winning; compactions go on', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir, { shards: 2, memtableBytes: 64 * 1024, targetFileBytes: 64 * 1024, l0CompactionTrigger: 2 });
    for (let i = 0; i < 20000; i += 7) await db.put(key(i), 'old');
    let stop = false;
    const written = new Map<string, string>();
    const writers = Array.from({ length: 3 }, async (_, w) => {
      for (let n = 0; !stop; n++) {
        const i = (n * 131 + w * 7919) % 20000;
        const v = `w${w}-${n}`;
        await db.batch([{ type: 'put', key: key(i), value: v }, { type: 'put', key: `z${w}`, value: v }]);
        written.set(key(i), v);
        if (n % 50 === 0) await new Promise((r) => setImmediate(r));
      }
    });
    await new Promise((r) => setTimeout(r, 20));
    const before = new Map(written);
    const seq = await db.ingest(pairs(0, 20000, 'ingested', 2));
    stop = true;
    await Promise.all(writers);
    for (let i = 0; i < 20000; i++) {
      const k = key(i);
      const got = (await db.getEntry(k))?.value.toString();
      const racing = written.get(k);
      const wroteAfter = racing !== undefined && racing !== before.get(k);
      if (wroteAfter) continue; // a write that resolved after the ingest started may be either side: checked below
      const expected = i % 2 === 0 ? val(i, 'ingested') : (before.get(k) ?? (i % 7 === 0 ? 'old' : undefined));
      assert.is(got, expected, `key ${i}`);
    }
    for (const [k, v] of written) {
      const e = await db.getEntry(k);
      if (e!.seq > seq) assert.is(e!.value.toString(), v, `${k}: a write above the ingest wins`);
    }
    await db.compactRange();
    await db.close();
  });
});

for (const shards of [1, 3]) {
  test(`writes racing an ingest into ${shards} shard${shards > 1 ? 's' : ''} resolve while its tables are built, below it; a snapshot taken meanwhile sees none of it`, async () => {
    await withTempDir(async (dir) => {
      const n = 60000;
      const db = await open(dir, { shards, memtableBytes: 64 * 1024, targetFileBytes: 64 * 1024 });
      for (let i = 0; i < n; i += 7) await db.put(key(i), 'old');
      let ingestDone = false;
      let stop = false;
      let resolvedDuring = 0;
      const written = new Map<string, { value: string; seq: bigint }>();
      const snapshots: { snap: ReturnType<Database['snapshot']> }[] = [];
      const writer = (async () => {
        for (let w = 0; !stop; w++) {
          const i = (w * 131) % n;
          const value = `w-${w}`;
          const seq = await db.put(key(i), value);
          written.set(key(i), { value, seq });
          if (!ingestDone) resolvedDuring++;
          if (w % 100 === 0) snapshots.push({ snap: db.snapshot() });
          if (w % 20 === 0) await new Promise((r) => setImmediate(r));
        }
      })();
      const sequence = await db.ingest(pairs(0, n, 'ingested', 2));
      ingestDone = true;
      stop = true;
      await writer;
      assert.ok(resolvedDuring >= 10, `only ${resolvedDuring} writes resolved while the ingest ran`);
      // Every write resolved during the ingest is below it; the later sequence wins, in point
      // reads, in iterators, after a compaction and after a reopen.
      const expected = (i: number) => {
        const w = written.get(key(i));
        if (i % 2 === 0 && (w === undefined || w.seq < sequence)) return val(i, 'ingested');
        return w?.value ?? (i % 7 === 0 ? 'old' : undefined);
      };
      const check = async (db: Database, when: string) => {
        for (let i = 0; i < n; i += 3) assert.is((await db.get(key(i)))?.toString(), expected(i), `key ${i} ${when}`);
        const all = new Map(await entries(db));
        for (let i = 0; i < n; i++) assert.is(all.get(key(i)), expected(i), `key ${i} ${when}, iterated`);
      };
      await check(db, 'after the ingest');
      // The writer's snapshots up to the install are below the ingest and see none of it; one
      // taken between the install and the moment ingest()'s caller resumes is above it and sees
      // all of it (where no later write replaced a pair).
      assert.ok(snapshots.some(({ snap }) => snap.sequence < Number(sequence)), 'a snapshot was taken while the ingest ran');
      for (const { snap } of snapshots) {
        const below = snap.sequence < Number(sequence);
        for (let i = 0; i < n; i += 2 * 97) {
          const got = (await db.get(key(i), { snapshot: snap }))?.toString();
          if (below) assert.ok(got === undefined || !got.startsWith('ingested'), `snapshot at ${snap.sequence} sees the ingest at key ${i}`);
          else assert.ok(got !== undefined && (got.startsWith('ingested') || got.startsWith('w-')), `snapshot at ${snap.sequence} misses the ingest at key ${i}: ${got}`);
        }
        snap.release();
      }
      await db.compactRange();
      await check(db, 'after a compaction');
      await db.close();
      const again = await open(dir, { shards });
      await check(again, 'after a reopen');
      await again.close();
    });
  });
}

test('conditional writes racing an ingest: an ifAbsent put never lands above an ingested key', async () => {
  await withTempDir(async (dir) => {
    const n = 40000;
    const db = await open(dir, { shards: 2, memtableBytes: 64 * 1024, targetFileBytes: 64 * 1024 });
    let stop = false;
    const landed = new Map<string, bigint>();
    let conflicts = 0;
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let m = 0; !stop; m++) {
        const k = key((m * 4 + w) * 2 % n);
        try {
          landed.set(k, await db.put(k, `cond-${w}-${m}`, { ifAbsent: true }));
        } catch (err) {
          assert.is((err as { code?: string }).code, 'CONFLICT');
          conflicts++;
        }
        if (m % 20 === 0) await new Promise((r) => setImmediate(r));
      }
    });
    const sequence = await db.ingest(pairs(0, n, 'ingested', 2));
    // Keep going a little after it: those find the ingested keys present.
    await new Promise((r) => setTimeout(r, 20));
    stop = true;
    await Promise.all(writers);
    assert.ok(landed.size > 0 && conflicts > 0, `${landed.size} landed, ${conflicts} conflicted`);
    for (const [k, seq] of landed) {
      assert.ok(seq < sequence, `${k}: an ifAbsent put of an ingested key landed at ${seq}, above the ingest at ${sequence}`);
      assert.is((await db.get(k))?.toString().startsWith('ingested'), true, `${k}: the ingest is above the put`);
    }
    await db.close();
  });
});

test('an ingest racing compactRange() installs above what the compaction writes', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir, { shards: 2, memtableBytes: 64 * 1024, targetFileBytes: 64 * 1024 });
    for (let round = 0; round < 3; round++) {
      for (let i = round; i < 20000; i += 3) await db.put(key(i), `old-${round}`);
      await db.flush();
    }
    const compacting = db.compactRange();
    const ingesting = db.ingest(pairs(0, 20000, 'new', 4));
    await Promise.all([compacting, ingesting]);
    for (let i = 0; i < 20000; i++) {
      const expected = i % 4 === 0 ? val(i, 'new') : `old-${i % 3}`;
      assert.is((await db.get(key(i)))?.toString(), expected, `key ${i}`);
    }
    await db.compactRange();
    for (let i = 0; i < 20000; i += 4) assert.is((await db.get(key(i)))?.toString(), val(i, 'new'), `key ${i} after another compaction`);
    await db.close();
  });
});

test('a transaction that read before an ingest conflicts and runs again', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir, { shards: 2 });
    await db.put(key(5), 'before');
    let runs = 0;
    await db.transaction(async (tx) => {
      runs++;
      const seen = (await tx.get(key(5)))?.toString();
      if (runs === 1) await db.ingest([[key(5), 'ingested']]);
      tx.put('seen', seen ?? 'nothing');
    });
    assert.is(runs, 2, 'the first attempt conflicted with the ingest');
    assert.is((await db.get('seen'))?.toString(), 'ingested');
    await db.close();
  });
});

for (const shards of [1, 2]) {
  test(`a power cut during an ingest into ${shards} shard${shards > 1 ? 's' : ''} racing synced writes keeps every acknowledged write and all of the ingest or none`, async () => {
    await withTempDir(async (dir) => {
      const src = path.join(dir, 'db');
      const options = { shards, memtableBytes: 64 * 1024, targetFileBytes: 64 * 1024 };
      {
        const db = await open(src, options);
        for (let i = 0; i < 3000; i += 5) await db.put(key(i), 'old', { sync: true });
        await db.close();
      }
      const pristine = path.join(dir, 'pristine');
      fs.cpSync(src, pristine, { recursive: true });
      let sawOld = 0;
      let sawWhole = 0;
      for (let point = 0; ; point += 7) {
        fs.rmSync(src, { recursive: true, force: true });
        fs.cpSync(pristine, src, { recursive: true });
        const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
        const db = await open(src, { ...options, fs: ffs });
        ffs.cutPowerAfter(point, mutatingOps);
        const acked = new Map<string, { value: string; seq: bigint }>();
        let ackedDuring = 0;
        let sequence: bigint | undefined;
        let stop = false;
        const writers = Array.from({ length: 2 }, async (_, w) => {
          for (let m = 0; !stop; m++) {
            const k = m % 2 === 0 ? key((m * 37 + w * 11) % 3000) : `r-${w}-${m}`;
            const value = `w${w}-${m}`;
            try {
              acked.set(k, { value, seq: await db.put(k, value, { sync: true }) });
              if (sequence === undefined) ackedDuring++;
            } catch {
              return; // the power is off
            }
          }
        });
        try {
          sequence = await db.ingest(pairs(0, 3000, 'new', 2));
        } catch (err) {
          assert.ok(ffs.poweredOff, `only the power cut fails the ingest (${String(err)})`);
        }
        stop = true;
        await Promise.all(writers);
        await db.close().catch(() => {});
        if (!ffs.poweredOff) await ffs.powerCut();
        await ffs.whenPowerCut();
        const again = await open(src, { shards });
        const got = new Map(await entries(again));
        await again.close();
        const ingested = [...got].filter(([k, v]) => k.startsWith('key-') && v.startsWith('new-')).length;
        const whole = ingested > 0;
        if (whole) {
          assert.is(ingested + [...acked].filter(([k, a]) => k.startsWith('key-') && Number(k.slice(4)) % 2 === 0 && sequence !== undefined && a.seq > sequence).length, 1500, `crash point ${point}: all of the ingest or none`);
          sawWhole++;
        } else sawOld++;
        for (const [k, a] of acked) {
          const ingestWins = whole && k.startsWith('key-') && Number(k.slice(4)) % 2 === 0 && (sequence === undefined || a.seq < sequence);
          assert.is(got.get(k), ingestWins ? val(Number(k.slice(4)), 'new') : a.value, `crash point ${point}: acknowledged write to ${k} at ${a.seq}`);
        }
        if (sequence !== undefined) {
          assert.ok(ackedDuring > 0, 'synced writes were acknowledged while the ingest ran');
          break;
        }
      }
      assert.ok(sawOld > 0 && sawWhole > 0, `both outcomes were seen (${sawOld} none, ${sawWhole} all)`);
    });
  });
}

for (const shards of [1, 2]) {
test(`a power cut at any file operation of an ingest into ${shards} shard${shards > 1 ? 's' : ''} leaves all of it or none`, async () => {
  await withTempDir(async (dir) => {
    const src = path.join(dir, 'db');
    {
      const db = await open(src, { shards, memtableBytes: 64 * 1024, targetFileBytes: 64 * 1024 });
      for (let i = 0; i < 3000; i += 5) await db.put(key(i), 'old', { sync: true });
      await db.close();
    }
    const pristine = path.join(dir, 'pristine');
    fs.cpSync(src, pristine, { recursive: true });
    let old: [string, string][] | undefined;
    let whole: [string, string][] | undefined;
    let sawOld = 0;
    let sawWhole = 0;
    for (let point = 0; ; point++) {
      fs.rmSync(src, { recursive: true, force: true });
      fs.cpSync(pristine, src, { recursive: true });
      const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
      const db = await open(src, { fs: ffs, memtableBytes: 64 * 1024, targetFileBytes: 64 * 1024 });
      old ??= await entries(db);
      await db.put('unsynced-before', 'x');
      ffs.cutPowerAfter(point, mutatingOps);
      let finished = false;
      try {
        await db.ingest(pairs(0, 3000, 'new', 2));
        finished = true;
      } catch (err) {
        assert.ok(ffs.poweredOff, `only the power cut fails the ingest (${String(err)})`);
      }
      await db.close().catch(() => {});
      if (finished) await ffs.powerCut();
      await ffs.whenPowerCut();
      const again = await open(src);
      const got = (await entries(again)).filter(([k]) => k !== 'unsynced-before');
      await again.close();
      if (finished) {
        whole = got;
        assert.ok(point > 10, `the ingest took many file operations (${point})`);
      }
      const ingested = got.filter(([k, v]) => k.startsWith('key-') && v.startsWith('new-')).length;
      if (ingested === 0) {
        assert.equal(got, old, `crash point ${point}: none of the ingest, and the old data intact`);
        sawOld++;
      } else {
        assert.is(ingested, 1500, `crash point ${point}: all of the ingest or none (${ingested})`);
        sawWhole++;
      }
      if (finished) break;
    }
    assert.ok(sawOld > 0 && sawWhole > 0, `both outcomes were seen (${sawOld} none, ${sawWhole} all)`);
    assert.is(whole!.length, old!.length + 1500 - old!.filter(([k]) => Number(k.slice(4)) % 2 === 0).length);
  });
});
}

test.run();
