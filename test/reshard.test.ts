// Placement and resharding: hash tags keep a tag's keys in one shard (a batch of them is a
// one-shard batch), the placement recorded at creation survives reopens, a version-1 database
// keeps xxh32 mod N, jump hashing moves about 1/(N + 1) of the keys from N to N + 1 shards, and
// reshard() keeps everything a reader sees (values, deletions, range deletions, expiries, merge
// operands resolved) through 1 → 4 → 5 → 2 → 1, with a power cut at every changing file call.
//
//   STRATA_RESHARD_STRIDE=N   try every Nth crash point only (default 1: every one)

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { open, reshard, restoreBackup, type Database } from '../src/index.js';
import { loadChecksum, NodeFileSystem, xxh32 } from '../src/base/index.js';
import { hashedPart, jumpHash, Placement, shardOf } from '../src/shard/router.js';
import { readShardsFile } from '../src/shard/index.js';
import { decodeShardsFile, encodeShardsFile, shardFolders } from '../src/shard/shards-file.js';
import { FaultInjectingFileSystem, mutatingOps } from '../src/testing/index.js';
import { main } from '../src/tools/index.js';
import { activeRequestsAndHandles, envInt, expectCode, openDescriptorsOf, withTempDir } from './helpers.js';

await loadChecksum();

const STRIDE = envInt('STRATA_RESHARD_STRIDE') ?? 1;
const goldenDir = new URL('../../test/golden/', import.meta.url).pathname;

/** Which shard each write of `run` landed in: the shards whose write count grew. */
async function shardsWritten(db: { stats(): { shards: { writes: number }[] } }, run: () => Promise<unknown>): Promise<number[]> {
  const before = db.stats().shards.map((s) => s.writes);
  await run();
  return db.stats().shards.flatMap((s, i) => (s.writes > before[i]! ? [i] : []));
}

test('hashedPart() takes the bytes between the first "{" and the next "}", when there are any', () => {
  const part = (k: string) => Buffer.from(hashedPart(Buffer.from(k))).toString();
  assert.is(part('{acct42}:balance'), 'acct42');
  assert.is(part('x:{acct42}:event:17'), 'acct42');
  assert.is(part('a{b}{c}'), 'b');
  assert.is(part('{}x'), '{}x', 'nothing between the braces: the whole key');
  assert.is(part('x{'), 'x{');
  assert.is(part('x}{y'), 'x}{y', 'a "}" before the "{" does not count');
  assert.is(part('{a}}'), 'a');
  assert.is(part('{{a}'), '{a');
});

test('SHARDS v2 bytes as the format comment gives them decode to the layout, and encode back', () => {
  const body = Buffer.alloc(28);
  body.write('STRATSHD', 0, 'latin1');
  body.writeUInt32LE(2, 8); // version
  body.writeUInt32LE(5, 12); // shardCount
  body.writeUInt32LE(1, 16); // placement: jump
  body.writeUInt32LE(1, 20); // flags: hash tags
  body.writeUInt32LE(3, 24); // generation
  const file = Buffer.concat([body, Buffer.alloc(4)]);
  file.writeUInt32LE(xxh32(body), 28);
  const layout = decodeShardsFile('SHARDS', file);
  assert.equal(layout, { placement: new Placement(5, 'jump', true), generation: 3 });
  assert.equal(Buffer.from(encodeShardsFile(layout)), file);
  assert.equal(shardFolders('/d', layout), ['/d/g3-shard-0', '/d/g3-shard-1', '/d/g3-shard-2', '/d/g3-shard-3', '/d/g3-shard-4']);
  file.writeUInt32LE(4, 20); // an unknown flag, checksum fixed: damage, not a newer format
  file.writeUInt32LE(xxh32(file.subarray(0, 28)), 28);
  assert.throws(() => decodeShardsFile('SHARDS', file), /unknown flags/);
});

test('keys of one tag share a shard, and a batch of them is a one-shard batch', () =>
  withTempDir(async (dir) => {
    const db = await open(dir, { shards: 4 });
    const tags = Array.from({ length: 20 }, (_, i) => `acct${i}`);
    const seen = new Set<number>();
    for (const tag of tags) {
      const shards = await shardsWritten(db, () =>
        db.batch([
          { type: 'put', key: `{${tag}}:balance`, value: '100' },
          { type: 'put', key: `{${tag}}:event:17`, value: 'deposit' },
          { type: 'put', key: `zz{${tag}}`, value: 'x' },
        ]),
      );
      assert.is(shards.length, 1, `the batch of tag ${tag} went to one shard (${shards})`);
      assert.is(shards[0], shardOf(Buffer.from(tag), 4), 'the tag alone places it');
      seen.add(shards[0]!);
    }
    assert.is(seen.size, 4, 'tags spread over every shard');
    assert.is((await db.get('{acct3}:event:17'))?.toString(), 'deposit');
    await db.close();
    // Keys are placed as stored: tuple keys with the tag first.
    const tuples = await open(path.join(dir, 'tuples'), { shards: 4, keyEncoding: 'tuple' });
    for (let i = 0; i < 10; i++) {
      const shards = await shardsWritten(tuples, () =>
        tuples.batch([
          { type: 'put', key: [`{acct${i}}`, 'balance'], value: '100' },
          { type: 'put', key: [`{acct${i}}`, 'event', 17], value: 'deposit' },
        ]),
      );
      assert.is(shards.length, 1, `tuple keys of tag acct${i}: one shard`);
    }
    await tuples.close();
  }));

test('hash tags off is recorded at creation and survives reopening with the default', () =>
  withTempDir(async (dir) => {
    let db = await open(dir, { shards: 4, hashTags: false });
    await db.close();
    db = await open(dir);
    assert.equal((await readShardsFile(new NodeFileSystem(), dir))?.placement, new Placement(4, 'jump', false));
    // Some tag whose keys hash apart when whole: they go to two shards.
    let spread = 0;
    for (let i = 0; i < 10; i++) {
      const a = `{t${i}}:a`;
      const b = `{t${i}}:b`;
      const whole = new Placement(4, 'jump', false);
      const shards = await shardsWritten(db, () => db.batch([{ type: 'put', key: a, value: '1' }, { type: 'put', key: b, value: '2' }]));
      assert.equal(shards, [...new Set([whole.shardOf(Buffer.from(a)), whole.shardOf(Buffer.from(b))])].sort());
      if (shards.length === 2) spread++;
    }
    assert.ok(spread > 0, 'without tags, keys of one tag land in different shards');
    await db.close();
  }));

test('a version-1 database (golden v1-sharded) keeps xxh32 mod N and no hash tags', () =>
  withTempDir(async (dir) => {
    const copy = path.join(dir, 'v1');
    fs.cpSync(path.join(goldenDir, 'v1-sharded'), copy, { recursive: true });
    const db = await open(copy);
    // Keys whose mod-2 shard differs from what a new database would pick.
    let checked = 0;
    for (let i = 0; checked < 8; i++) {
      const key = `{tag}:v1-key-${i}`;
      const modulo = xxh32(Buffer.from(key)) % 2;
      if (modulo === shardOf(Buffer.from(key), 2)) continue;
      assert.equal(await shardsWritten(db, () => db.put(key, 'v')), [modulo], key);
      checked++;
    }
    await db.close();
    assert.equal((await readShardsFile(new NodeFileSystem(), copy))?.placement, new Placement(2, 'modulo', false));
    const header = fs.readFileSync(path.join(copy, 'SHARDS')).readUInt32LE(8);
    assert.is(header, 1, 'opening does not rewrite the SHARDS file');
    // Resharded, it holds the same and is placed by jump hashing, without tags (as recorded).
    const read = async () => {
      const d = await open(copy);
      const seen = await contents(d);
      await d.close();
      return seen;
    };
    const before = await read();
    const r = await reshard(copy, { shards: 3 });
    assert.is(r.keys, before.size);
    assert.equal(await read(), before);
    assert.equal((await readShardsFile(new NodeFileSystem(), copy))?.placement, new Placement(3, 'jump', false));
  }));

test('jump hashing moves about 1/(N + 1) of the keys from N to N + 1 shards; mod N moves most', () => {
  const keys = 20_000;
  for (const n of [1, 2, 4, 7, 16]) {
    let jumpMoved = 0;
    let modMoved = 0;
    const counts = new Array<number>(n + 1).fill(0);
    for (let i = 0; i < keys; i++) {
      const h = xxh32(Buffer.from(`user:${i}`));
      const after = jumpHash(h, n + 1);
      counts[after]!++;
      if (after !== jumpHash(h, n)) {
        assert.is(after, n, 'a key that moves goes to the new shard');
        jumpMoved++;
      }
      if (h % n !== h % (n + 1)) modMoved++;
    }
    const expected = keys / (n + 1);
    assert.ok(Math.abs(jumpMoved - expected) < expected * 0.1, `${n} → ${n + 1}: ${jumpMoved} moved, about ${expected} expected`);
    for (const c of counts) assert.ok(Math.abs(c - expected) < expected * 0.1, `${n + 1} shards evenly loaded: ${counts}`);
    if (n > 1) assert.ok(modMoved > keys / 2, `mod moves most (${modMoved})`);
  }
});

/** A clock tests move by hand. */
const clock = { now: 1_000_000 };
const tick = () => clock.now;

/**
 * Writes a workload of every kind of write to a new database of `shards` shards: puts, tagged
 * keys, deletions, a range deletion, expiring puts (some expired), merge operands; flushed half
 * way so that tables and logs both hold some. Resolves to what a reader sees.
 */
async function populate(dir: string, shards: number): Promise<Map<string, string>> {
  const db = await open(dir, { shards, mergeOperator: 'add', clock: tick, memtableBytes: 64 * 1024 });
  for (let i = 0; i < 300; i++) {
    await db.put(`key:${String(i).padStart(4, '0')}`, `value-${i}`.padEnd(40 + (i % 13) * 7, '.'));
    if (i === 150) await db.flush();
  }
  await db.batch(Array.from({ length: 30 }, (_, i) => ({ type: 'put' as const, key: `{acct${i % 5}}:event:${i}`, value: `event ${i}` })));
  for (let i = 0; i < 300; i += 7) await db.del(`key:${String(i).padStart(4, '0')}`);
  await db.clear({ gte: 'key:0200', lt: 'key:0230' });
  for (let i = 0; i < 10; i++) await db.put(`ttl:${i}`, `lives ${i}`, { ttl: i < 3 ? 10 : 1_000_000 });
  for (let i = 0; i < 8; i++) for (let j = 0; j <= i; j++) await db.merge(`counter:${i}`, 5);
  await db.put('counter:base', Buffer.from(new BigInt64Array([100n]).buffer));
  await db.merge('counter:base', 1);
  clock.now += 100; // ttl:0 … ttl:2 expire
  const seen = await contents(db);
  await db.close();
  return seen;
}

async function contents(db: Database): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const [k, v] of db.iterator()) out.set(k.toString(), v.toString('hex'));
  return out;
}

async function openedContents(dir: string, options: Record<string, unknown> = {}): Promise<{ seen: Map<string, string>; shards: number; last: number }> {
  const db = await open(dir, { createIfMissing: false, mergeOperator: 'add', clock: tick, ...options });
  try {
    return { seen: await contents(db), shards: db.stats().shards.length, last: db.stats().lastSequence };
  } finally {
    await db.close();
  }
}

test('reshard() 1 → 4 → 5 → 2 → 1 keeps every key, expiry and merge, and sequence numbers go on', () =>
  withTempDir(async (dir) => {
    const db = path.join(dir, 'db');
    const expected = await populate(db, 1);
    assert.ok(expected.size > 250);
    let last = (await openedContents(db)).last;
    for (const shards of [4, 5, 2, 1]) {
      const r = await reshard(db, { shards, clock: tick });
      assert.is(r.shardsAfter, shards);
      assert.is(r.keys, expected.size, `${shards}: every live key carried over`);
      assert.is(r.kept + r.moved, r.keys);
      assert.ok(r.tablesLinked > 0, `${shards}: the old shards' tables are linked, not rewritten`);
      assert.is(r.sequence, BigInt(last + 1), 'the carried keys sit one above the old last sequence');
      const after = await openedContents(db);
      assert.is(after.shards, shards);
      assert.equal(after.seen, expected, `the contents after resharding to ${shards}`);
      assert.is(after.last, last + 1);
      last = after.last;
      const again = await reshard(db, { shards, clock: tick });
      assert.equal({ rewritten: again.rewritten, keys: again.keys, sequence: again.sequence }, { rewritten: false, keys: 0, sequence: BigInt(last) }, 'resharding to the same layout writes nothing');
      const names = fs.readdirSync(db).sort();
      assert.ok(names.every((n) => !/^(CURRENT|MANIFEST-|\d+\.(log|sst))/.test(n)), `no engine files in the root directory: ${names}`);
      assert.is(names.filter((n) => /shard-\d+$/.test(n)).length, shards, `only the new generation's folders remain: ${names}`);
    }
    // Writes go on above; the expiry is kept: once the clock passes it, the put is gone.
    const opened = await open(db, { mergeOperator: 'add', clock: tick });
    const seq = await opened.put('after', 'x');
    assert.ok(Number(seq) > last);
    assert.is((await opened.get('ttl:5'))?.toString(), 'lives 5');
    await expectCode(async () => {
      for await (const _ of opened.changes({ since: BigInt(last - 2), live: false })) break;
    }, 'OUT_OF_RANGE', 'a change feed from before the reshard');
    clock.now += 2_000_000;
    assert.is(await opened.get('ttl:5'), undefined, 'the carried put still expires');
    clock.now -= 2_000_000;
    await opened.close();
  }));

test('a resharded database checkpoints, backs up and restores with its placement', () =>
  withTempDir(async (dir) => {
    const db = path.join(dir, 'db');
    const expected = await populate(db, 2);
    await reshard(db, { shards: 3, hashTags: false, clock: tick });
    assert.equal((await readShardsFile(new NodeFileSystem(), db))?.placement, new Placement(3, 'jump', false));
    assert.ok(fs.existsSync(path.join(db, 'g1-shard-2', 'CURRENT')));
    const d = await open(db, { mergeOperator: 'add', clock: tick });
    await d.checkpoint(path.join(dir, 'cp'));
    await d.backup(path.join(dir, 'backups'));
    await d.close();
    await restoreBackup(path.join(dir, 'backups'), path.join(dir, 'restored'));
    for (const copy of ['cp', 'restored']) {
      const c = await openedContents(path.join(dir, copy));
      assert.is(c.shards, 3, copy);
      assert.equal(c.seen, expected, copy);
      assert.equal((await readShardsFile(new NodeFileSystem(), path.join(dir, copy)))?.placement, new Placement(3, 'jump', false), copy);
    }
    // The tools read the new generation's folders.
    const lines: string[] = [];
    assert.is(await main(['verify', db], { out: (l) => lines.push(l), err: (l) => lines.push(l) }), 0, lines.join('\n'));
    assert.match(lines.join('\n'), /g1-shard-2/);
  }));

test('reshard refuses what it cannot do, before writing anything', () =>
  withTempDir(async (dir) => {
    const db = path.join(dir, 'db');
    const d = await open(db, { shards: 2 });
    await d.put('a', 'b');
    await expectCode(() => reshard(db, { shards: 3 }), 'LOCKED', 'an open database');
    await d.close();
    for (const shards of [0, 257, 1.5]) await expectCode(() => reshard(db, { shards }), 'INVALID_ARGUMENT', `shards ${shards}`);
    await expectCode(() => reshard(db, { shards: 3, nope: 1 } as never), 'INVALID_ARGUMENT', 'an unknown option');
    await expectCode(() => reshard(path.join(dir, 'none'), { shards: 3 }), 'NOT_FOUND', 'no database');
    const err = await expectCode(() => open(db, { shards: 3 }), 'INVALID_ARGUMENT', 'opening with another count');
    assert.match(err.message, /stratadb reshard/);
    // A merge operator that is not built in must be given.
    const merged = path.join(dir, 'merged');
    const op = new URL('./merge-operator-fixture.js', import.meta.url).href;
    const m = await open(merged, { shards: 2, mergeOperator: { module: op, export: 'concat' } as never });
    await m.close();
    const refused = await expectCode(() => reshard(merged, { shards: 3 }), 'INVALID_ARGUMENT', 'a module merge operator not given');
    assert.match(refused.message, /merge operator/);
    assert.is((await readShardsFile(new NodeFileSystem(), merged))?.placement.count, 2);
  }));

test('stratadb reshard changes the count and reports what moved', () =>
  withTempDir(async (dir) => {
    const db = path.join(dir, 'db');
    const d = await open(db, { shards: 4 });
    for (let i = 0; i < 2000; i++) await d.put(`k${i}`, 'v');
    await d.close();
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
    assert.is(await main(['reshard', db, '--shards', '5', '--json'], io), 0, lines.join('\n'));
    const r = JSON.parse(lines.at(-1)!) as { keys: number; kept: number; moved: number };
    assert.is(r.keys, 2000);
    assert.ok(Math.abs(r.moved - 400) < 80, `4 → 5 moved about a fifth: ${r.moved}`);
    lines.length = 0;
    assert.is(await main(['reshard', db], io), 2, 'no --shards is a usage error');
    const again = await open(db);
    assert.is(again.stats().shards.length, 5);
    await again.close();
  }));

/**
 * Reshards a copy of `pristine` to `shards` with the power cut after every `point` changing
 * file calls in turn, until one run completes; after each cut, the database opens (with the old
 * count or the new one) holding `expected`, and a rerun of the reshard completes.
 */
async function reshardWithCuts(dir: string, pristine: string, fromShards: number, shards: number, expected: Map<string, string>): Promise<{ points: number; old: number; new: number }> {
  const db = path.join(dir, 'cut');
  const counts = { points: 0, old: 0, new: 0 };
  const where = { point: -1, step: '', ffs: undefined as FaultInjectingFileSystem | undefined };
  // A crash point takes well under a second. Should one never finish (a promise that never
  // settles), this says where it stands before the runner's timeout kills the file.
  let started = Date.now();
  const watch = setInterval(() => {
    if (Date.now() - started < 60_000) return;
    console.error(`${fromShards} → ${shards}, point ${where.point}: still in "${where.step}" after 60 s; the fault FS's last calls`, where.ffs?.ops.slice(-8), activeRequestsAndHandles());
  }, 60_000).unref();
  const step = <T>(name: string, run: () => Promise<T>): Promise<T> => {
    where.step = name;
    started = Date.now();
    return run();
  };
  try {
    for (let point = 0; ; point += STRIDE) {
      fs.rmSync(db, { recursive: true, force: true });
      fs.cpSync(pristine, db, { recursive: true });
      const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
      Object.assign(where, { point, ffs });
      ffs.cutPowerAfter(point, mutatingOps);
      let finished = false;
      try {
        await step('the reshard the power is cut in', () => reshard(db, { shards, fs: ffs, clock: tick }));
        finished = true;
      } catch (err) {
        assert.ok(ffs.poweredOff, `point ${point}: only the power cut fails the reshard (${String(err)})`);
      }
      if (finished) await step('the power cut after it', () => ffs.powerCut());
      await step('the power cut', () => ffs.whenPowerCut());
      counts.points++;
      const after = await step('the open after the cut', () => openedContents(db));
      assert.equal(after.seen, expected, `point ${point}: every key after the cut`);
      assert.ok(after.shards === fromShards || after.shards === shards, `point ${point}: ${after.shards} shards`);
      if (after.shards === shards && (fromShards !== shards)) counts.new++;
      else counts.old++;
      const names = fs.readdirSync(db);
      const layout = await readShardsFile(new NodeFileSystem(), db);
      const folders = names.filter((n) => /shard-\d+$/.test(n));
      assert.is(folders.length, layout === undefined ? 0 : layout.placement.count, `point ${point}: no folder of the other generation is left: ${names}`);
      if (finished) {
        assert.equal(openDescriptorsOf(db), [], `${fromShards} → ${shards}: no descriptor of the cut databases' files is left open`);
        return counts;
      }
      // A rerun after the cut completes: it rewrites the database if the cut came before the
      // commit point, and finds nothing to do after it.
      if (point % (5 * STRIDE) === 0) {
        const r = await step('the rerun', () => reshard(db, { shards, clock: tick }));
        assert.is(r.rewritten, after.shards !== shards, `point ${point}: the rerun rewrites only the old database`);
        const rerun = await step('the open after the rerun', () => openedContents(db));
        assert.is(rerun.shards, shards);
        assert.equal(rerun.seen, expected, `point ${point}: after the rerun`);
      }
    }
  } finally {
    clearInterval(watch);
  }
}

test('a power cut at any changing file call of a reshard leaves the old database or the new one (1 → 4, 4 → 5, 5 → 2, 2 → 1)', () =>
  withTempDir(async (dir) => {
    const pristine = path.join(dir, 'pristine');
    const expected = await populate(pristine, 1);
    let from = 1;
    for (const shards of [4, 5, 2, 1]) {
      const counts = await reshardWithCuts(dir, pristine, from, shards, expected);
      assert.ok(counts.points * STRIDE > 20, `${from} → ${shards}: ${counts.points} crash points`);
      assert.ok(counts.old > 0 && counts.new > 0, `${from} → ${shards}: cuts before and after the commit point (${counts.old}, ${counts.new})`);
      await reshard(pristine, { shards, clock: tick });
      from = shards;
    }
  }));

test.run();
