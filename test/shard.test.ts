// Sharded databases: routing and layout, the recorded shard count, recovery of batches that
// span shards (a Prepare record without a Commit record is nowhere; with one Commit record it
// is everywhere), iterators merging the shards at one snapshot while writes go on, and group
// commit per shard. The randomized model test (test/model.test.ts) and the SIGKILL crash test
// (test/crash.test.ts) run on four shards too.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { open } from '../src/index.js';
import { FaultInjectingFileSystem } from '../src/testing/index.js';
import { encodeBatchInto, batchEncodedLength, loadChecksum, ValueKind, xxh32, type BatchEntry } from '../src/base/index.js';
import { encodeCommit, encodePrepareHead, prepareHeadBytes, COMMIT_RECORD_BYTES } from '../src/engine/two-phase-format.js';
import { shardOf } from '../src/shard/index.js';
import { readLog, RecordBuffer, RecordType } from '../src/wal/index.js';
import { expectCode, Rng, withTempDir } from './helpers.js';

await loadChecksum();

/** The first key `${prefix}${i}` that lives in `shard` of `shards`. */
function keyIn(shard: number, shards: number, prefix = 'k'): string {
  for (let i = 0; ; i++) if (shardOf(Buffer.from(`${prefix}${i}`), shards) === shard) return `${prefix}${i}`;
}

/** Every file under `dir` with its size and content hash, to show that nothing changed. */
function listing(dir: string): string {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .sort()
    .map((name) => {
      const p = path.join(dir, name);
      const st = fs.statSync(p);
      return st.isDirectory() ? `${name}/` : `${name} ${st.size} ${st.mtimeMs} ${fs.readFileSync(p).toString('base64').slice(0, 64)}`;
    })
    .join('\n');
}

test('keys are spread over the shard folders; stats are per shard and in total', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir, { shards: 4 });
    for (let i = 0; i < 400; i++) await db.put(`key-${i}`, `value-${i}`);
    const stats = db.stats();
    assert.is(stats.shards.length, 4);
    for (const s of stats.shards) assert.ok(s.writes > 40 && s.writes < 160, `each shard took about a quarter of the writes (${s.writes})`);
    assert.is(stats.writes, 400);
    assert.is(stats.publishedSequence, 400, 'one sequence counter across the shards');
    for (let i = 0; i < 400; i++) assert.is((await db.get(`key-${i}`))?.toString(), `value-${i}`);
    await db.close();
    assert.ok(fs.existsSync(path.join(dir, 'SHARDS')));
    for (let i = 0; i < 4; i++) assert.ok(fs.existsSync(path.join(dir, `shard-${i}`, 'CURRENT')), `shard-${i} is an engine`);
    assert.not.ok(fs.existsSync(path.join(dir, 'CURRENT')), 'the root holds no engine of its own');
    const again = await open(dir);
    assert.is(again.stats().shards.length, 4, 'opening without shards takes the recorded count');
    assert.is((await again.get('key-123'))?.toString(), 'value-123');
    assert.is(again.stats().publishedSequence, 400, 'the sequence goes on from the highest in any shard');
    await again.close();
  });
});

test('reopening with another shard count is refused and touches nothing', async () => {
  await withTempDir(async (dir) => {
    const sharded = path.join(dir, 'sharded');
    let db = await open(sharded, { shards: 3 });
    await db.batch([
      { type: 'put', key: 'a', value: '1' },
      { type: 'put', key: 'b', value: '2' },
      { type: 'put', key: 'c', value: '3' },
    ]);
    await db.close();
    const before = listing(sharded);
    for (const shards of [1, 2, 4]) {
      const err = await expectCode(() => open(sharded, { shards }), 'INVALID_ARGUMENT', `open with shards: ${shards}`);
      assert.match(err.message, /3 shards/);
    }
    assert.is(listing(sharded), before, 'nothing in the directory changed');

    const plain = path.join(dir, 'plain');
    db = await open(plain);
    await db.put('x', 'y');
    await db.close();
    const plainBefore = listing(plain);
    await expectCode(() => open(plain, { shards: 2 }), 'INVALID_ARGUMENT', 'a one-shard database opened with shards: 2');
    assert.is(listing(plain), plainBefore);
    db = await open(plain, { shards: 1 });
    assert.is((await db.get('x'))?.toString(), 'y');
    await db.close();

    await expectCode(() => open(sharded, { errorIfExists: true }), 'INVALID_ARGUMENT', 'errorIfExists on a sharded database');
    await expectCode(() => open(path.join(dir, 'none'), { shards: 2, createIfMissing: false }), 'NOT_FOUND', 'createIfMissing: false');
    assert.not.ok(fs.existsSync(path.join(dir, 'none')));
  });
});

test('bad shard counts are INVALID_ARGUMENT; a damaged SHARDS file or a lost shard is CORRUPTION', async () => {
  await withTempDir(async (dir) => {
    for (const shards of [0, -1, 1.5, 257, '2', null, Number.NaN]) {
      await expectCode(() => open(path.join(dir, 'bad'), { shards } as never), 'INVALID_ARGUMENT', `shards: ${String(shards)}`);
    }
    assert.not.ok(fs.existsSync(path.join(dir, 'bad')), 'a refused open creates nothing');

    const damaged = path.join(dir, 'damaged');
    let db = await open(damaged, { shards: 2 });
    await db.put('k', 'v');
    await db.close();
    const file = path.join(damaged, 'SHARDS');
    const bytes = fs.readFileSync(file);
    bytes[12] = 5; // the count, under a checksum that no longer matches
    fs.writeFileSync(file, bytes);
    const err = await expectCode(() => open(damaged), 'CORRUPTION', 'a SHARDS file whose checksum fails');
    assert.match(err.message, /SHARDS/);

    // A SHARDS file of a newer format, checksum intact: refused by version, not as damage.
    bytes[12] = 2;
    bytes.writeUInt32LE(3, 8);
    bytes.writeUInt32LE(xxh32(bytes.subarray(0, bytes.length - 4)), bytes.length - 4);
    fs.writeFileSync(file, bytes);
    const newer = await expectCode(() => open(damaged), 'NOT_SUPPORTED', 'a SHARDS file of format v3');
    assert.match(newer.message, /SHARDS format v3/);

    const lost = path.join(dir, 'lost');
    db = await open(lost, { shards: 3 });
    await db.put('k', 'v');
    await db.close();
    fs.rmSync(path.join(lost, 'shard-1'), { recursive: true });
    await expectCode(() => open(lost), 'CORRUPTION', 'a shard folder deleted while the others hold data');
  });
});

/** Appends framed records to the newest WAL of `shardDir`, where its last whole record ends. */
function appendToNewestWal(shardDir: string, records: Uint8Array): void {
  const wals = fs.readdirSync(shardDir).filter((n) => n.endsWith('.log')).sort();
  const file = path.join(shardDir, wals[wals.length - 1]!);
  const { endOffset } = readLog(fs.readFileSync(file), file, { mode: 'tolerate-tail' });
  fs.truncateSync(file, endOffset); // a preallocated WAL ends in zeros
  fs.appendFileSync(file, records);
}

function prepareRecord(txn: number, participants: number[], firstSeq: number, entries: BatchEntry[]): Uint8Array {
  const records = new RecordBuffer();
  const at = records.begin(prepareHeadBytes(participants.length, entries.length) + batchEncodedLength(entries));
  const places = entries.map((_, i) => i);
  encodeBatchInto(records.bytes, encodePrepareHead(records.bytes, at, txn, participants, places), firstSeq, entries);
  records.seal(RecordType.PrepareInOrder);
  return records.finish();
}

function commitRecord(txn: number): Uint8Array {
  const records = new RecordBuffer();
  encodeCommit(records.bytes, records.begin(COMMIT_RECORD_BYTES), txn);
  records.seal(RecordType.Commit);
  return records.finish();
}

const put = (key: string, value: string): BatchEntry => ({ kind: ValueKind.Put, key: Buffer.from(key), value: Buffer.from(value) });

test('recovery: a batch prepared in every shard but committed in none is absent from every shard', async () => {
  await withTempDir(async (dir) => {
    const [k0, k1] = [keyIn(0, 2), keyIn(1, 2)];
    let db = await open(dir, { shards: 2 });
    await db.put(k0, 'before');
    await db.close();
    const txn = 1_000_000;
    appendToNewestWal(path.join(dir, 'shard-0'), prepareRecord(txn, [0, 1], txn, [put(k0, 'torn')]));
    appendToNewestWal(path.join(dir, 'shard-1'), prepareRecord(txn, [0, 1], txn + 1, [put(k1, 'torn')]));
    db = await open(dir);
    assert.is((await db.get(k0))?.toString(), 'before', 'shard 0 keeps its value from before the batch');
    assert.is(await db.get(k1), undefined, 'shard 1 never got the batch');
    assert.ok(db.stats().lastSequence >= txn + 1, 'the sequence moves past the abandoned batch');
    await db.put(k1, 'after');
    await db.close();
    db = await open(dir);
    assert.is((await db.get(k0))?.toString(), 'before', 'and stays absent after another reopen');
    assert.is((await db.get(k1))?.toString(), 'after');
    await db.close();
  });
});

test('recovery: the numbers of a batch that did not commit are never handed out again, also after a second reopen', async () => {
  await withTempDir(async (dir) => {
    const [k0, k1] = [keyIn(0, 2), keyIn(1, 2)];
    let db = await open(dir, { shards: 2 });
    await db.put(k0, 'before');
    await db.close();
    const txn = 1_000;
    // Shard 1's part never reached its log: the batch did not commit.
    appendToNewestWal(path.join(dir, 'shard-0'), prepareRecord(txn, [0, 1], txn, [put(k0, 'lost')]));
    db = await open(dir);
    await db.close(); // this open decided the batch away; it wrote nothing itself
    db = await open(dir);
    try {
      const seq = await db.put(k1, 'after');
      assert.ok(seq > BigInt(txn), `the first write after the reopens got ${seq}, at or below ${txn}, a number the abandoned Prepare still holds`);
      // The retained logs hold both the abandoned Prepare and the new write: in order, and only the write.
      const changes: bigint[] = [];
      for await (const change of db.changes({ since: 0n, live: false })) changes.push(change.seq);
      assert.equal(changes, [1n, seq]);
    } finally {
      await db.close();
    }
  });
});

test('recovery: a Commit record is not enough when a participant lost its Prepare (a power cut of sync: false writes)', async () => {
  await withTempDir(async (dir) => {
    const [k0, k1] = [keyIn(0, 2), keyIn(1, 2)];
    let db = await open(dir, { shards: 2 });
    await db.put(k1, 'before');
    await db.close();
    const txn = 3_000_000;
    appendToNewestWal(path.join(dir, 'shard-0'), Buffer.concat([prepareRecord(txn, [0, 1], txn, [put(k0, 'half')]), commitRecord(txn)]));
    db = await open(dir);
    assert.is(await db.get(k0), undefined, 'shard 0 holds Prepare and Commit, but shard 1 never got its part: absent');
    assert.is((await db.get(k1))?.toString(), 'before');
    await db.close();
  });
});

test('recovery: a Commit record in one participant commits the batch in every participant', async () => {
  await withTempDir(async (dir) => {
    const [k0, k1, k2] = [keyIn(0, 3), keyIn(1, 3), keyIn(2, 3)];
    let db = await open(dir, { shards: 3 });
    await db.put(k2, 'untouched');
    await db.close();
    const txn = 2_000_000;
    appendToNewestWal(path.join(dir, 'shard-0'), prepareRecord(txn, [0, 1], txn, [put(k0, 'both')]));
    const shard1 = Buffer.concat([prepareRecord(txn, [0, 1], txn + 1, [put(k1, 'both')]), commitRecord(txn)]);
    appendToNewestWal(path.join(dir, 'shard-1'), shard1);
    db = await open(dir);
    assert.is((await db.get(k0))?.toString(), 'both', 'shard 0 has no Commit record, shard 1 has: committed');
    assert.is((await db.get(k1))?.toString(), 'both');
    assert.is((await db.get(k2))?.toString(), 'untouched');
    await db.close();
    db = await open(dir);
    assert.is((await db.get(k0))?.toString(), 'both', 'still there once the replayed WALs are gone');
    await db.close();
  });
});

test('a one-shard database refuses Prepare records in its WAL', async () => {
  await withTempDir(async (dir) => {
    let db = await open(dir);
    await db.put('a', '1');
    await db.close();
    appendToNewestWal(dir, prepareRecord(10, [0, 1], 10, [put('a', '2')]));
    await expectCode(() => open(dir), 'CORRUPTION', 'a Prepare record in an unsharded WAL');
  });
});

test('iterators merge the shards in key order at one snapshot while cross-shard batches go on', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir, { shards: 4, memtableBytes: 64 * 1024 });
    const pairs = 40;
    // Every batch writes one version into both keys of a pair; the keys of a pair fall in
    // different shards for most pairs, so a torn view would show two different versions.
    const writeRound = (v: number) => {
      const ops = [];
      for (let p = 0; p < pairs; p++) {
        ops.push({ type: 'put' as const, key: `pair-${String(p).padStart(3, '0')}-x`, value: `v${v}` });
        ops.push({ type: 'put' as const, key: `pair-${String(p).padStart(3, '0')}-y`, value: `v${v}` });
      }
      return db.batch(ops);
    };
    await writeRound(0);
    let stop = false;
    let rounds = 1;
    const writer = (async () => {
      while (!stop) {
        await Promise.all([writeRound(rounds), db.put(`noise-${rounds}`, 'n'.repeat(500))]);
        rounds++;
      }
    })();
    const rng = new Rng(7);
    for (let check = 0; check < 60; check++) {
      const reverse = rng.chance(0.5);
      const snapshot = rng.chance(0.5) ? db.snapshot() : undefined;
      const it = db.iterator({ gte: 'pair-', lt: 'pair.', reverse, ...(snapshot ? { snapshot } : {}) });
      const seen: [string, string][] = [];
      for (let e = await it.next(); e !== undefined; e = await it.next()) {
        seen.push([e[0].toString(), e[1].toString()]);
        if (seen.length % 16 === 0) await new Promise((r) => setImmediate(r)); // let writes land mid-scan
      }
      await it.close();
      assert.is(seen.length, 2 * pairs, 'every pair key, once');
      for (let i = 1; i < seen.length; i++) {
        assert.ok(reverse ? seen[i - 1]![0] > seen[i]![0] : seen[i - 1]![0] < seen[i]![0], 'keys in order across shards');
      }
      const versions = new Set(seen.map(([, v]) => v));
      assert.is(versions.size, 1, `one cut across all shards: saw versions ${[...versions].join(', ')}`);
      if (snapshot) {
        const v = [...versions][0]!;
        assert.is((await db.get('pair-007-y', { snapshot }))?.toString(), v, 'get at the snapshot agrees with the iterator');
        snapshot.release();
      }
      await new Promise((r) => setTimeout(r, rng.int(3)));
    }
    stop = true;
    await writer;
    assert.ok(rounds > 5, `writes went on during the scans (${rounds} rounds)`);

    // limit, seek and bounds on the merged cursor, against the sorted keys
    const all = [];
    for await (const [k] of db.iterator({ gte: 'pair-', lt: 'pair.' })) all.push(k.toString());
    const limited = [];
    for await (const [k] of db.iterator({ gt: all[10]!, limit: 5 })) limited.push(k.toString());
    assert.equal(limited, all.slice(11, 16));
    const it = db.iterator({ lt: 'pair.', reverse: true });
    it.seek(all[30]!);
    assert.is((await it.next())?.[0].toString(), all[30]);
    assert.is((await it.next())?.[0].toString(), all[29]);
    await it.close();
    await db.close();
  });
});

test('each shard commits its own groups: many sync writers cost few fsyncs per shard', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir, { shards: 4 });
    const writes = [];
    for (let i = 0; i < 2000; i++) writes.push(db.put(`k${i}`, 'v', { sync: true }));
    await Promise.all(writes);
    const stats = db.stats();
    for (const s of stats.shards) {
      assert.ok(s.walSyncs > 0, 'every shard synced its own WAL');
      assert.ok(s.walSyncs < s.writes, `groups of more than one write per sync (${s.writes} writes, ${s.walSyncs} syncs)`);
    }
    assert.is(stats.walSyncs, stats.shards.reduce((n, s) => n + s.walSyncs, 0));
    await db.close();
  });
});

test('many writers that each await their put: a shard takes its group at the end of the loop turn, so the writers the other shards answered join it', async () => {
  // 256 writers, 40 puts each, sync: false. Taken as soon as its first write came, a group held
  // the few writes that arrived within the microtasks of one step (about 26 with 256 writers);
  // taken at the end of the turn, every writer answered in that turn is in one of the groups.
  await withTempDir(async (dir) => {
    const db = await open(dir, { shards: 4 });
    const writers = 256;
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = 0; i < 40; i++) await db.put(`w${w}/${i}`, 'v');
      }),
    );
    const stats = db.stats();
    assert.is(stats.writes, writers * 40);
    const perGroup = stats.writes / stats.writeGroups;
    assert.ok(perGroup >= 40, `a large part of the writers per group and shard, not a few: ${perGroup.toFixed(1)} writes a group`);
    for (let w = 0; w < writers; w += 37) assert.is((await db.get(`w${w}/39`))?.toString(), 'v');
    await db.close();
  });
});

test('a write alone in flight on a database of shards is answered without waiting for a turn of the event loop', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir, { shards: 4 });
    // A shard's first write waits for its log to open.
    for (let i = 0; i < 32; i++) await db.put(`warm${i}`, 'v');
    // Each put starts a turn of its own: a run of groups held the loop past its budget (5 ms,
    // a preempted process on a busy machine) also waits for a turn, and is allowed a few times.
    let late = 0;
    for (let i = 0; i < 50; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      let turned = false;
      const immediate = setImmediate(() => (turned = true));
      await db.put(`alone${i}`, 'v');
      if (turned) late++;
      clearImmediate(immediate);
    }
    assert.ok(late <= 5, `answered within the turn it was written in, not after it: ${late} of 50 late`);
    await db.close();
  });
});

test('a batch across shards stores the bytes it was given at the call, even if the caller reuses its buffers before it resolves; so does a reopen', async () => {
  await withTempDir(async (dir) => {
    let db = await open(dir, { shards: 4 });
    const keys = [0, 1, 2, 3].map((s) => Buffer.from(keyIn(s, 4, 'x')));
    const values = keys.map((_, i) => Buffer.from(`value-${i}`));
    const done = db.batch(keys.map((key, i) => ({ type: 'put' as const, key, value: values[i]! })));
    for (const k of keys) k.fill(0x7a);
    for (const v of values) v.fill(0x21);
    await done;
    const expect = async (what: string) => {
      for (let s = 0; s < 4; s++) assert.is((await db.get(keyIn(s, 4, 'x')))?.toString(), `value-${s}`, `${what}: shard ${s}`);
      assert.is(await db.get(keys[0]!), undefined, `${what}: nothing under the bytes written over the key`);
    };
    await expect('after the call');
    await db.close();
    db = await open(dir, { shards: 4 });
    await expect('after a reopen');
    await db.close();
  });
});

test('a failed WAL write in one shard stops writes in every shard; reads go on', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem();
    const db = await open(dir, { shards: 2, fs: ffs });
    const [k0, k1] = [keyIn(0, 2), keyIn(1, 2)];
    await db.put(k0, 'before');
    await db.put(k1, 'before');
    ffs.failAfter(1, 'ENOSPC', { op: 'append', path: `${path.sep}shard-1${path.sep}` });
    const err = await expectCode(() => db.put(k1, 'lost', { sync: true }), 'IO_ERROR', 'the write to the full shard');
    assert.is(err.errno, 'ENOSPC');
    await expectCode(() => db.put(k0, 'after'), 'IO_ERROR', 'a write to the other shard');
    await expectCode(() => db.batch([{ type: 'put', key: k0, value: 'x' }, { type: 'put', key: k1, value: 'x' }]), 'IO_ERROR', 'a batch across them');
    assert.is((await db.get(k0))?.toString(), 'before', 'reads go on');
    assert.is((await db.get(k1))?.toString(), 'before');
    await db.close().catch(() => {});
  });
});

test('flush and compactRange reach every shard; reads agree before and after', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir, { shards: 3, memtableBytes: 64 * 1024 });
    const expected = new Map<string, string>();
    for (let i = 0; i < 3000; i++) {
      const key = `k${i % 700}`;
      if (i % 11 === 0) {
        await db.del(key);
        expected.delete(key);
      } else {
        await db.put(key, `v${i}`);
        expected.set(key, `v${i}`);
      }
    }
    await db.flush();
    for (const s of db.stats().shards) assert.is(s.memtableEntries, 0, 'each shard flushed');
    await db.compactRange();
    const stats = db.stats();
    assert.is(stats.levels[0]!.files, 0, 'no level-0 file is left in any shard');
    assert.ok(stats.compactions >= 3);
    const got = new Map<string, string>();
    for await (const [k, v] of db.iterator()) got.set(k.toString(), v.toString());
    assert.equal(got, expected);
    await db.close();
  });
});

test.run();
