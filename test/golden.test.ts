// The golden databases (test/golden/README.md): directories written by released format
// versions, read by every build from now on. Each test works on a copy (open() writes: it
// replays the WAL into a table and starts a new MANIFEST); the committed files are checked
// against test/golden/SHA256SUMS, so a regenerated or rewritten file is caught too.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { open, type Database } from '../src/index.js';
import { main } from '../src/tools/index.js';
import { GOLDEN_V1 } from './golden/contents-v1.js';
import { EXPIRED_TTL, GOLDEN_V2, type GoldenDatabase, type Op } from './golden/contents-v2.js';
import { dataBlockCompressions, logHeader, logRecordTypes, shardsFile, tableFormatVersion } from './golden/format-v1.js';
import { assertEntries, assertValue, expectCode, flipByte, makeTempDir, removeDir, show, SortedModel } from './helpers.js';

const goldenDir = fileURLToPath(new URL('../../test/golden/', import.meta.url));
const RecordType = { Batch: 1, ManifestEdit: 2, Prepare: 3, Commit: 4 };

/** What `golden` must hold: its writes replayed into a model, plus every key it ever wrote. */
function expected(golden: GoldenDatabase): { model: SortedModel; everWritten: Buffer[] } {
  const model = new SortedModel();
  const everWritten = new Map<string, Buffer>();
  const apply = (op: Op) => {
    if (op.type === 'put') {
      // A put whose ttl has run out reads as deleted (contents-v2.ts: none of the others expires).
      if (op.ttl === EXPIRED_TTL) model.delete(op.key);
      else model.set(op.key, op.value);
    }
    else if (op.type === 'del') model.delete(op.key);
    else if (op.type === 'clear') model.clear(op.range);
    else if (op.type === 'batch') op.ops.forEach((o) => apply(o.type === 'clear' ? { type: 'clear', range: o } : o));
    if (op.type === 'put' || op.type === 'del') everWritten.set(op.key.toString('hex'), op.key);
  };
  for (const session of golden.sessions) session.ops.forEach(apply);
  return { model, everWritten: [...everWritten.values()] };
}

/** A fresh copy of golden directory `name`, removed by the caller. */
function copyOf(name: string): string {
  const dir = path.join(makeTempDir('strata-golden-'), name);
  fs.cpSync(path.join(goldenDir, name), dir, { recursive: true });
  return dir;
}

async function withCopy(name: string, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = copyOf(name);
  try {
    await body(dir);
  } finally {
    removeDir(path.dirname(dir));
  }
}

async function verify(dir: string): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const code = await main(['verify', dir], { out: (l) => lines.push(l), err: (l) => lines.push(l) });
  return { code, text: lines.join('\n') };
}

async function collect(db: Database, o: object): Promise<[Buffer, Buffer][]> {
  const out: [Buffer, Buffer][] = [];
  for await (const entry of db.iterator(o)) out.push(entry);
  return out;
}

/** Fails unless `db` holds exactly `model`: every key by get(), deleted keys absent, scans in order. */
async function checkContents(db: Database, model: SortedModel, everWritten: readonly Buffer[], what: string): Promise<void> {
  for (const key of everWritten) {
    assertValue(await db.get(key), model.get(key), `${what}: get(${show(key)})`);
    assertValue(db.getSync(key), model.get(key), `${what}: getSync(${show(key)})`);
  }
  assertEntries(await collect(db, {}), model.range(), `${what}: a full forward scan`);
  assertEntries(await collect(db, { reverse: true }), model.range({ reverse: true }), `${what}: a full backward scan`);
  const from = Buffer.from('k/030');
  const to = Buffer.from('m/010');
  assertEntries(await collect(db, { gte: from, lt: to }), model.range({ gte: from, lt: to }), `${what}: a bounded scan`);
}

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((p) => fs.statSync(path.join(dir, p)).isFile())
    .sort();
}

/** Every golden database, of every format version: each is read by every build from now on. */
const GOLDEN: readonly GoldenDatabase[] = [...GOLDEN_V1, ...GOLDEN_V2];

const read = (...parts: string[]) => fs.readFileSync(path.join(goldenDir, ...parts));
const OPTIONS = { compactionWorkers: 0 };

test('the committed golden files are exactly those SHA256SUMS lists, unchanged', () => {
  const listed = read('SHA256SUMS')
    .toString()
    .trim()
    .split('\n')
    .map((line) => line.split('  ') as [string, string]);
  const names = new Set(GOLDEN.map((g) => g.name));
  const onDisk = [...names].flatMap((n) => filesUnder(path.join(goldenDir, n)).map((p) => `${n}/${p}`));
  assert.equal(onDisk.sort(), listed.map(([, p]) => p).sort(), 'the files of the golden directories');
  for (const [sum, p] of listed) assert.is(createHash('sha256').update(read(p)).digest('hex'), sum, `${p} has changed`);
});

for (const golden of GOLDEN) {
  const { model, everWritten } = expected(golden);

  test(`${golden.name}: stratadb verify passes on it as committed`, async () => {
    await withCopy(golden.name, async (dir) => {
      const r = await verify(dir);
      assert.is(r.code, 0, r.text);
    });
  });

  test(`${golden.name}: every key reads back with its value, deleted keys are absent, scans are in order`, async () => {
    await withCopy(golden.name, async (dir) => {
      const db = await open(dir, OPTIONS);
      try {
        await checkContents(db, model, everWritten, 'after the first open');
      } finally {
        await db.close();
      }
      // The first open replayed the WAL into a table and wrote a new MANIFEST: read that too.
      const again = await open(dir, OPTIONS);
      try {
        await checkContents(again, model, everWritten, 'after a second open');
        await again.compactRange();
        await checkContents(again, model, everWritten, 'after compactRange()');
      } finally {
        await again.close();
      }
      const r = await verify(dir);
      assert.is(r.code, 0, r.text);
    });
  });
}

test('v1-single holds what it is meant to: tables of format v1 in levels 0 and 1, compressed and plain blocks, a WAL to replay', async () => {
  const dir = path.join(goldenDir, 'v1-single');
  const tables = filesUnder(dir).filter((p) => p.endsWith('.sst'));
  const compressions = new Set<number>();
  for (const t of tables) {
    const bytes = read('v1-single', t);
    assert.is(tableFormatVersion(bytes), 1, t);
    for (const c of dataBlockCompressions(bytes)) compressions.add(c);
  }
  assert.equal([...compressions].sort(), [0, 1], 'data blocks without compression and with LZ4');
  const wals = filesUnder(dir).filter((p) => p.endsWith('.log'));
  assert.is(wals.length, 1);
  const wal = read('v1-single', wals[0]!);
  assert.equal(logHeader(wal), { magic: 'STRATLOG', version: 1 });
  assert.ok(logRecordTypes(wal).filter((t) => t === RecordType.Batch).length > 20, 'batches recovery must replay');
  const manifest = filesUnder(dir).find((p) => p.startsWith('MANIFEST-'))!;
  assert.equal(logHeader(read('v1-single', manifest)), { magic: 'STRATLOG', version: 1 });
  assert.equal(read('v1-single', 'CURRENT').toString(), `${manifest}\n`);
  // Where the tables sit, by the tools' stats (read-only).
  const lines: string[] = [];
  await withCopy('v1-single', async (copy) => {
    assert.is(await main(['stats', '--json', copy], { out: (l) => lines.push(l), err: (l) => lines.push(l) }), 0, lines.join('\n'));
  });
  const stats = JSON.parse(lines.join('\n')) as { levels: { level: number; tables: number }[]; wal: { records: number } };
  assert.equal(
    stats.levels.filter((l) => l.tables > 0).map((l) => l.level),
    [0, 1],
    lines.join('\n'),
  );
});

test('v1-sharded holds what it is meant to: a SHARDS file of version 1, and Prepare and Commit records in the WALs', () => {
  assert.equal(shardsFile(read('v1-sharded', 'SHARDS')), { magic: 'STRATSHD', version: 1, shards: 2 });
  const types = [0, 1].flatMap((s) => {
    const wal = filesUnder(path.join(goldenDir, 'v1-sharded', `shard-${s}`)).find((p) => p.endsWith('.log'))!;
    return logRecordTypes(read('v1-sharded', `shard-${s}`, wal));
  });
  assert.ok(types.includes(RecordType.Prepare), `record types ${types.join(' ')}`);
  assert.ok(types.includes(RecordType.Commit), `record types ${types.join(' ')}`);
});

/** The dump tool's JSON lines for `file` (read-only). */
async function dumpJson(file: string): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  assert.is(await main(['dump', '--json', file], { out: (l) => lines.push(l), err: (l) => lines.push(l) }), 0, lines.join('\n'));
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('v2-single and v2-sharded hold what they are meant to: tables of format v2 with range-deletion blocks, clears and puts with a ttl in the WALs', async () => {
  const ttlPuts = new Map<string, number>();
  for (const name of ['v2-single', 'v2-sharded/shard-0', 'v2-sharded/shard-1']) {
    const dir = path.join(goldenDir, name);
    const tables = filesUnder(dir).filter((p) => p.endsWith('.sst'));
    let rangeDeletions = 0;
    for (const t of tables) {
      assert.is(tableFormatVersion(read(name, t)), 2, `${name}/${t}`);
      const props = (await dumpJson(path.join(dir, t)))[0]!;
      rangeDeletions += props['rangeDeletions'] as number;
    }
    assert.ok(rangeDeletions > 0, `${name}: a table with range tombstones`);
    const wal = filesUnder(dir).find((p) => p.endsWith('.log'))!;
    const entries = (await dumpJson(path.join(dir, wal))).flatMap((r) => (r['entries'] ?? []) as Record<string, unknown>[]);
    const clears = entries.filter((e) => e['kind'] === 'clear');
    assert.ok(clears.length > 0, `${name}: a clear in the WAL`);
    ttlPuts.set(name, entries.filter((e) => typeof e['expiresAt'] === 'number').length);
  }
  assert.ok(ttlPuts.get('v2-single')! > 0, 'v2-single: puts with a ttl in the WAL');
  assert.ok(ttlPuts.get('v2-sharded/shard-0')! + ttlPuts.get('v2-sharded/shard-1')! > 0, 'v2-sharded: puts with a ttl in a WAL');
  const unbounded = (await dumpJson(path.join(goldenDir, 'v2-single', '000015.sst'))).filter((e) => e['kind'] === 'clear' && e['end'] === null);
  assert.is(unbounded.length, 1, 'a range tombstone without an upper bound');
});

test('the check notices a value that differs from what was written', async () => {
  const golden = GOLDEN_V1[0]!;
  const { model, everWritten } = expected(golden);
  const altered = model.clone();
  altered.set(Buffer.from('k/100'), Buffer.from('not the value written'));
  await withCopy(golden.name, async (dir) => {
    const db = await open(dir, OPTIONS);
    try {
      let failed = false;
      await checkContents(db, altered, everWritten, 'altered').catch(() => (failed = true));
      assert.ok(failed, 'a model with one value changed must not match');
    } finally {
      await db.close();
    }
  });
});

test('v1-single with a byte flipped in a table data block reads as CORRUPTION, and verify reports it', async () => {
  await withCopy('v1-single', async (dir) => {
    // The largest table is the level-1 one; its first data block starts at offset 0.
    const table = filesUnder(dir)
      .filter((p) => p.endsWith('.sst'))
      .sort((a, b) => fs.statSync(path.join(dir, b)).size - fs.statSync(path.join(dir, a)).size)[0]!;
    flipByte(path.join(dir, table), 20);
    const r = await verify(dir);
    assert.is(r.code, 1, r.text);
    const db = await open(dir, OPTIONS);
    try {
      await expectCode(() => collect(db, {}), 'CORRUPTION', 'a full scan');
    } finally {
      await db.close();
    }
  });
});

test('v1-single with a byte flipped in its first WAL record fails to open with CORRUPTION', async () => {
  await withCopy('v1-single', async (dir) => {
    const wal = filesUnder(dir).find((p) => p.endsWith('.log'))!;
    // Past the 12-byte file header and the 13-byte record header: the first record's payload.
    flipByte(path.join(dir, wal), 12 + 13 + 2);
    await expectCode(() => open(dir, OPTIONS), 'CORRUPTION', 'open');
  });
});

test.run();
