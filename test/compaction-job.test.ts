// Compaction jobs run against tables built by hand in a temp directory: which versions and
// tombstones survive, how outputs are cut, cleanup after a failure, and the worker pool
// giving the same answer as an inline run.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadChecksum, NodeFileSystem, tableFileName, ValueKind, type FileSystem, type SeqNum } from '../src/base/index.js';
import { BackgroundPool, compactTables, type CompactionJob, type CompactionResult } from '../src/compaction/index.js';
import type { TableMeta } from '../src/manifest/index.js';
import { TableBuilder, TableReader, type TableBuilderOptions } from '../src/sstable/index.js';
import { expectCode, fileSize, flipByte, makeTempDir, removeDir, Rng } from './helpers.js';

interface Entry {
  key: string;
  seq: SeqNum;
  kind: ValueKind;
  value: string;
}

const fs = new NodeFileSystem();
const dirs: string[] = [];
const put = (key: string, seq: SeqNum, value = `${key}@${seq}`): Entry => ({ key, seq, kind: ValueKind.Put, value });
const del = (key: string, seq: SeqNum): Entry => ({ key, seq, kind: ValueKind.Delete, value: '' });
const byInternalOrder = (a: Entry, b: Entry) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)) || b.seq - a.seq;
const bytes = (s: string) => new Uint8Array(Buffer.from(s));
const show = (entries: readonly Entry[]) => entries.map((e) => `${e.key}@${e.seq}${e.kind === ValueKind.Delete ? ':del' : `=${e.value}`}`).join(' ');

/** Fails naming the first entry where `actual` and `expected` differ. */
function assertEntries(actual: readonly Entry[], expected: readonly Entry[], what: string): void {
  for (let i = 0; i < Math.max(actual.length, expected.length); i++) {
    const a = actual[i];
    const e = expected[i];
    if (a === undefined || e === undefined || show([a]) !== show([e])) {
      assert.unreachable(`${what}: entry ${i} is ${a ? show([a]) : 'the end'}, expected ${e ? show([e]) : 'the end'} (after ${show(expected.slice(Math.max(0, i - 3), i))})`);
    }
  }
}

function tempDir(): string {
  const dir = makeTempDir('strata-compaction-');
  dirs.push(dir);
  return dir;
}

/** Writes `entries` (any order) to table `n` of `dir`. */
async function writeInput(dir: string, n: number, entries: readonly Entry[], options: TableBuilderOptions = {}): Promise<void> {
  const builder = new TableBuilder(await fs.createWritable(tableFileName(dir, n)), options);
  for (const e of [...entries].sort(byInternalOrder)) builder.add(Buffer.from(e.key), e.seq, e.kind, Buffer.from(e.value));
  await builder.finish();
}

/** Every entry of table `n` of `dir`, in file order. */
function readTable(dir: string, n: number): Entry[] {
  const reader = TableReader.open(fs.openReadable(tableFileName(dir, n)), n, undefined);
  const it = reader.iterator();
  reader.close();
  const out: Entry[] = [];
  for (it.seekToFirst(); it.valid(); it.next()) {
    out.push({ key: Buffer.from(it.key()).toString(), seq: it.seq(), kind: it.kind(), value: Buffer.from(it.value()).toString() });
  }
  it.close();
  return out;
}

const readOutputs = (dir: string, result: CompactionResult) => result.outputs.flatMap((t) => readTable(dir, t.fileNumber));
const tablesIn = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.sst')).sort();

function job(dir: string, fileNumbers: number[], over: Partial<CompactionJob> = {}): CompactionJob {
  return {
    dir,
    inputs: [{ level: 0, fileNumbers }],
    outputLevel: 1,
    snapshots: [1000],
    deeperRanges: [],
    targetFileBytes: 2 * 1024 * 1024,
    builder: {},
    outputFileNumbers: [100, 101, 102, 103],
    ...over,
  };
}

/**
 * What a compaction must keep, computed the way readers see it: for each snapshot, the newest
 * version of each key at or below it; minus a tombstone seen at the oldest snapshot whose key
 * no deeper range holds.
 */
function expectedSurvivors(entries: readonly Entry[], snapshots: readonly SeqNum[], deeper: readonly [string, string][]): Entry[] {
  const byKey = new Map<string, Entry[]>();
  for (const e of [...entries].sort(byInternalOrder)) {
    const versions = byKey.get(e.key) ?? [];
    versions.push(e);
    byKey.set(e.key, versions);
  }
  const out: Entry[] = [];
  for (const [key, versions] of byKey) {
    const kept = new Set<Entry>();
    // What the oldest snapshot sees: if a tombstone over nothing, no snapshot needs it.
    const oldest = versions.find((v) => v.seq <= snapshots[0]!);
    const hidesNothing = oldest?.kind === ValueKind.Delete && !deeper.some(([lo, hi]) => lo <= key && key <= hi);
    for (const s of snapshots) {
      const visible = versions.find((v) => v.seq <= s);
      if (visible !== undefined && !(hidesNothing && visible === oldest)) kept.add(visible);
    }
    out.push(...versions.filter((v) => kept.has(v)));
  }
  return out;
}

test.before(async () => {
  await loadChecksum();
});

test.after(() => {
  if (process.env['STRATA_KEEP_DIRS']) console.error(`kept ${dirs.join(' ')}`);
  else for (const d of dirs) removeDir(d);
});

test('a newer version shadows an older one when no snapshot lies between them', async () => {
  const dir = tempDir();
  await writeInput(dir, 1, [put('a', 5), put('b', 2)]);
  await writeInput(dir, 2, [put('a', 3), put('a', 1), put('c', 4)]);
  const result = await compactTables(job(dir, [1, 2], { snapshots: [10] }), fs);
  assert.is(show(readOutputs(dir, result)), show([put('a', 5), put('b', 2), put('c', 4)]));
  assert.equal([result.entriesIn, result.entriesOut, result.droppedVersions, result.droppedTombstones], [5, 3, 2, 0]);
});

test('a snapshot between two versions keeps both', async () => {
  const dir = tempDir();
  await writeInput(dir, 1, [put('a', 5), put('a', 4)]);
  await writeInput(dir, 2, [put('a', 3), put('a', 1)]);
  // Stripes: (.., 3] holds 3 and 1, (3, 10] holds 5 and 4.
  const result = await compactTables(job(dir, [1, 2], { snapshots: [3, 10] }), fs);
  assert.is(show(readOutputs(dir, result)), show([put('a', 5), put('a', 3)]));
  assert.is(result.droppedVersions, 2);
});

test('a tombstone at the bottom disappears with the versions it shadows', async () => {
  const dir = tempDir();
  await writeInput(dir, 1, [del('a', 7), put('b', 6)]);
  await writeInput(dir, 2, [put('a', 5), put('a', 3), put('c', 2)]);
  const result = await compactTables(job(dir, [1, 2], { snapshots: [10] }), fs);
  assert.is(show(readOutputs(dir, result)), show([put('b', 6), put('c', 2)]));
  assert.equal([result.droppedTombstones, result.droppedVersions], [1, 2]);
});

test('a tombstone is kept when a deeper level may hold its key', async () => {
  const dir = tempDir();
  await writeInput(dir, 1, [del('m', 7), put('m', 3), del('z', 8)]);
  const deeperRanges: [Uint8Array, Uint8Array][] = [[bytes('k'), bytes('n')], [bytes('a'), bytes('b')]];
  const result = await compactTables(job(dir, [1], { snapshots: [10], deeperRanges }), fs);
  assert.is(show(readOutputs(dir, result)), show([del('m', 7)]));
  assert.equal(result.outputs[0]!.deletions, 1);
});

test('a tombstone newer than a snapshot is kept, and so is what that snapshot sees', async () => {
  const dir = tempDir();
  await writeInput(dir, 1, [del('a', 7), put('a', 5), put('a', 3), put('a', 1)]);
  // Stripe 0 (.., 4]: 3 and 1, of which 3 is what the snapshot sees. Stripe 1: 7 and 5.
  const result = await compactTables(job(dir, [1], { snapshots: [4, 10] }), fs);
  assert.is(show(readOutputs(dir, result)), show([del('a', 7), put('a', 3)]));
});

test('an older version is not resurrected under a dropped tombstone', async () => {
  const dir = tempDir();
  // The tombstone and the puts under it are in three tables; the newest put is older than it.
  await writeInput(dir, 1, [del('k', 9)]);
  await writeInput(dir, 2, [put('k', 6)]);
  await writeInput(dir, 3, [put('k', 2), del('k', 1)]);
  const result = await compactTables(job(dir, [1, 2, 3], { snapshots: [9] }), fs);
  assert.equal(result.outputs, []);
  assert.equal([result.entriesIn, result.droppedTombstones, result.droppedVersions], [4, 1, 3]);
});

test('a job whose every entry is dropped writes no file', async () => {
  const dir = tempDir();
  await writeInput(dir, 1, [del('a', 4), del('b', 5)]);
  await writeInput(dir, 2, [put('a', 1), put('b', 2)]);
  const result = await compactTables(job(dir, [1, 2]), fs);
  assert.equal(result.outputs, []);
  assert.equal([result.entriesOut, result.bytesWritten], [0, 0]);
  assert.ok(result.bytesRead > 0);
  assert.equal(tablesIn(dir), ['000001.sst', '000002.sst']);
});

/** Random overlapping tables with several versions per key; the entries, all tables together. */
async function randomInputs(dir: string, rng: Rng, tables: number, keys: number): Promise<Entry[]> {
  const all: Entry[] = [];
  let seq = 1;
  for (let t = 1; t <= tables; t++) {
    const entries = new Map<string, Entry>();
    const count = rng.range(keys / 4, keys);
    for (let i = 0; i < count; i++) {
      const key = `key${String(rng.int(keys)).padStart(6, '0')}`;
      const e = rng.chance(0.2) ? del(key, seq++) : put(key, seq++, `${key}/${rng.bytes(rng.range(20, 120)).toString('hex')}`);
      entries.set(`${key}@${e.seq}`, e);
    }
    await writeInput(dir, t, [...entries.values()], { blockBytes: 1024, compression: 'none' });
    all.push(...entries.values());
  }
  return all;
}

test('outputs keep exactly what some snapshot can see, in random tables', async () => {
  const rng = new Rng(0xc0ffee);
  for (let round = 0; round < 6; round++) {
    const dir = tempDir();
    const entries = await randomInputs(dir, rng, 4, 400);
    const newest = Math.max(...entries.map((e) => e.seq));
    const snapshots = [...new Set(Array.from({ length: rng.int(4) }, () => rng.range(1, newest)))].sort((a, b) => a - b);
    snapshots.push(newest);
    const deeper: [string, string][] = rng.chance(0.5) ? [] : [['key000100', 'key000150'], ['key000120', 'key000220'], ['key000390', 'key000399']];
    const deeperRanges = deeper.map(([lo, hi]) => [bytes(lo), bytes(hi)] as [Uint8Array, Uint8Array]);
    const result = await compactTables(job(dir, [1, 2, 3, 4], { snapshots, deeperRanges }), fs);
    const want = expectedSurvivors(entries, snapshots, deeper);
    assertEntries(readOutputs(dir, result), want, `round ${round}, snapshots ${snapshots.join(',')}, deeper ${JSON.stringify(deeper)}`);
    assert.is(result.entriesIn, entries.length);
    assert.is(result.entriesOut, want.length);
    assert.is(result.entriesIn, result.entriesOut + result.droppedVersions + result.droppedTombstones);
  }
});

/**
 * What a reader at `snapshot` sees of `key` in `entries`, merge operands joined with ',' (the
 * fixture's 'concat' operator); a key in `deeper` has the value 'D' in the levels below.
 */
function readerView(entries: readonly Entry[], key: string, snapshot: SeqNum, deeper: boolean): string | undefined {
  const versions = entries.filter((e) => e.key === key && e.seq <= snapshot).sort((a, b) => b.seq - a.seq);
  const operands: string[] = [];
  let base: string | undefined = deeper ? 'D' : undefined;
  for (const v of versions) {
    if (v.kind === ValueKind.Merge) {
      operands.push(v.value);
      continue;
    }
    if (operands.length === 0 && v.kind === ValueKind.Delete) return undefined;
    base = v.kind === ValueKind.Put ? v.value : undefined;
    break;
  }
  if (operands.length === 0) return base;
  return [...(base === undefined ? [] : [base]), ...operands.reverse()].join(',');
}

for (const exported of ['concat', 'concatNoFold']) {
  test(`merge operands are folded without changing what any snapshot reads (${exported}, random tables)`, async () => {
    const rng = new Rng(exported.length);
    const mergeOperator = { module: new URL('./merge-operator-fixture.js', import.meta.url).href, export: exported };
    for (let round = 0; round < 8; round++) {
      const dir = tempDir();
      const entries: Entry[] = [];
      let seq = 1;
      for (let t = 1; t <= 3; t++) {
        const table: Entry[] = [];
        for (let i = 0; i < 150; i++) {
          const key = `key${String(rng.int(30)).padStart(3, '0')}`;
          const r = rng.int(10);
          const s = seq++;
          table.push(r === 0 ? del(key, s) : r === 1 ? put(key, s, `p${s}`) : { key, seq: s, kind: ValueKind.Merge, value: `m${s}` });
        }
        await writeInput(dir, t, table, { blockBytes: 512, compression: 'none' });
        entries.push(...table);
      }
      const newest = seq - 1;
      const snapshots = [...new Set(Array.from({ length: rng.int(4) }, () => rng.range(1, newest)))].sort((a, b) => a - b);
      snapshots.push(newest);
      const deeper: [string, string][] = rng.chance(0.5) ? [] : [['key005', 'key012'], ['key020', 'key021']];
      const inDeeper = (key: string) => deeper.some(([lo, hi]) => lo <= key && key <= hi);
      const deeperRanges = deeper.map(([lo, hi]) => [bytes(lo), bytes(hi)] as [Uint8Array, Uint8Array]);
      const result = await compactTables(job(dir, [1, 2, 3], { snapshots, deeperRanges, mergeOperator }), fs);
      const outputs = readOutputs(dir, result);
      const what = `round ${round}, snapshots ${snapshots.join(',')}, deeper ${JSON.stringify(deeper)}`;
      for (const key of new Set(entries.map((e) => e.key))) {
        for (const snap of snapshots) {
          assert.is(readerView(outputs, key, snap, inDeeper(key)), readerView(entries, key, snap, inDeeper(key)), `${key} at ${snap}, ${what}`);
        }
      }
      assert.ok(result.entriesOut < result.entriesIn, 'operands were folded or dropped');
      assert.is(result.entriesIn, result.entriesOut + result.droppedVersions + result.droppedTombstones);
      if (snapshots.length === 1 && deeper.length === 0) {
        assert.ok(outputs.every((e) => e.kind === ValueKind.Put), `at the bottom with no snapshot, every key is one value: ${what}`);
      }
    }
  });
}

test('outputs are cut near the target size, in key order, without splitting a key', async () => {
  const dir = tempDir();
  const rng = new Rng(7);
  const entries: Entry[] = [];
  let seq = 1;
  for (let k = 0; k < 600; k++) {
    const key = `user${String(k).padStart(5, '0')}`;
    const versions = rng.range(1, 4);
    for (let v = 0; v < versions; v++) entries.push(put(key, seq++, rng.bytes(60).toString('hex')));
  }
  await writeInput(dir, 1, entries.filter((_, i) => i % 2 === 0));
  await writeInput(dir, 2, entries.filter((_, i) => i % 2 === 1));
  // Every seq its own stripe: every version survives, so keys have several versions to split.
  const snapshots = entries.map((e) => e.seq).sort((a, b) => a - b);
  const targetFileBytes = 8 * 1024;
  const builder: TableBuilderOptions = { blockBytes: 1024, compression: 'none' };
  const outputFileNumbers = Array.from({ length: 40 }, (_, i) => 100 + i);
  const result = await compactTables(job(dir, [1, 2], { snapshots, targetFileBytes, builder, outputFileNumbers }), fs);
  assert.ok(result.outputs.length >= 10, `${result.outputs.length} outputs`);
  assert.equal(result.outputs.map((t) => t.fileNumber), outputFileNumbers.slice(0, result.outputs.length));
  result.outputs.forEach((t, i) => {
    // Cut once the data reaches the target: at most a block, a key's other versions and the
    // meta blocks past it.
    if (i < result.outputs.length - 1) assert.ok(t.fileSize >= targetFileBytes && t.fileSize < targetFileBytes + 3 * 1024, `output ${i}: ${t.fileSize} bytes`);
    const next = result.outputs[i + 1];
    if (next !== undefined) assert.ok(Buffer.compare(t.largestKey, next.smallestKey) < 0, `output ${i} overlaps output ${i + 1}`);
  });
  assert.is(show(readOutputs(dir, result)), show([...entries].sort(byInternalOrder)));
  assert.is(result.bytesWritten, result.outputs.reduce((n, t) => n + t.fileSize, 0));
  assert.equal(tablesIn(dir).length, 2 + result.outputs.length);
});

test('a job with too few output numbers fails and leaves no output behind', async () => {
  const dir = tempDir();
  const entries = Array.from({ length: 2000 }, (_, i) => put(`k${String(i).padStart(5, '0')}`, i + 1, 'v'.repeat(50)));
  await writeInput(dir, 1, entries);
  let error: unknown;
  try {
    await compactTables(job(dir, [1], { targetFileBytes: 16 * 1024, builder: { compression: 'none' }, outputFileNumbers: [100, 101] }), fs);
  } catch (err) {
    error = err;
  }
  assert.match(String(error), /invariant violated.*output file numbers/);
  assert.equal(tablesIn(dir), ['000001.sst']);
});

test('a corrupted input block fails the job with CORRUPTION and leaves no output behind', async () => {
  const dir = tempDir();
  const entries = Array.from({ length: 3000 }, (_, i) => put(`k${String(i).padStart(5, '0')}`, i + 1, 'v'.repeat(50)));
  await writeInput(dir, 1, entries, { compression: 'none' });
  // A byte near the middle of the file: a data block that is read after outputs exist.
  flipByte(tableFileName(dir, 1), Math.floor(fileSize(tableFileName(dir, 1)) / 2));
  await expectCode(() => compactTables(job(dir, [1], { targetFileBytes: 4096, outputFileNumbers: Array.from({ length: 100 }, (_, i) => 100 + i) }), fs), 'CORRUPTION');
  assert.equal(tablesIn(dir), ['000001.sst']);
});

test('a missing input file fails the job with IO_ERROR and creates nothing', async () => {
  const dir = tempDir();
  await writeInput(dir, 1, [put('a', 1)]);
  await writeInput(dir, 2, [put('b', 2)]);
  unlinkSync(tableFileName(dir, 2));
  const err = await expectCode(() => compactTables(job(dir, [1, 2]), fs), 'IO_ERROR');
  assert.is(err.errno, 'ENOENT');
  assert.equal(tablesIn(dir), ['000001.sst']);
});

test('a failed output write removes the outputs already finished', async () => {
  const dir = tempDir();
  const entries = Array.from({ length: 3000 }, (_, i) => put(`k${String(i).padStart(5, '0')}`, i + 1, 'v'.repeat(50)));
  await writeInput(dir, 1, entries);
  let creates = 0;
  const failing: FileSystem = Object.create(fs, {
    createWritable: {
      value: async (file: string) => {
        const w = await fs.createWritable(file);
        if (++creates < 3) return w;
        return { path: w.path, get size() { return w.size; }, append: () => Promise.reject(new Error('disk on fire')), sync: () => w.sync(), close: () => w.close() };
      },
    },
  });
  const outputFileNumbers = Array.from({ length: 100 }, (_, i) => 100 + i);
  let error: unknown;
  try {
    await compactTables(job(dir, [1], { targetFileBytes: 8 * 1024, builder: { compression: 'none' }, outputFileNumbers }), failing);
  } catch (err) {
    error = err;
  }
  assert.match(String(error), /disk on fire/);
  assert.is(creates, 3);
  assert.equal(tablesIn(dir), ['000001.sst']);
});

/** A result with the file numbers taken out, to compare two runs that wrote different files. */
const withoutNumbers = (r: CompactionResult) => ({ ...r, outputs: r.outputs.map(({ fileNumber: _, ...t }: TableMeta) => t) });

test('a job run on a worker thread gives the same result as inline', async () => {
  const dir = tempDir();
  const rng = new Rng(99);
  const entries = await randomInputs(dir, rng, 3, 2000);
  const newest = Math.max(...entries.map((e) => e.seq));
  const common = { snapshots: [Math.floor(newest / 2), newest], deeperRanges: [[bytes('key000500'), bytes('key000900')]] as [Uint8Array, Uint8Array][], targetFileBytes: 32 * 1024 };
  const inline = await compactTables(job(dir, [1, 2, 3], { ...common, outputFileNumbers: Array.from({ length: 50 }, (_, i) => 100 + i) }), fs);
  const pool = new BackgroundPool({ workers: 1 });
  try {
    const threaded = pool.runCompaction(job(dir, [1, 2, 3], { ...common, outputFileNumbers: Array.from({ length: 50 }, (_, i) => 200 + i) }), fs);
    assert.is(pool.running, 1);
    const result = await threaded;
    assert.is(pool.running, 0);
    assert.ok(result.outputs.length > 1);
    assert.ok(result.outputs[0]!.smallestKey instanceof Uint8Array);
    assert.equal(withoutNumbers(result), withoutNumbers(inline));
    assert.equal(result.outputs.map((t) => t.fileNumber), Array.from({ length: result.outputs.length }, (_, i) => 200 + i));
    assert.is(show(readOutputs(dir, result)), show(readOutputs(dir, inline)));
  } finally {
    await pool.close();
  }
});

test('a corrupted table fails a worker job with CORRUPTION, and the worker goes on', async () => {
  const dir = tempDir();
  await writeInput(dir, 1, Array.from({ length: 200 }, (_, i) => put(`k${String(i).padStart(4, '0')}`, i + 1)), { compression: 'none' });
  await writeInput(dir, 2, [put('a', 1000)]);
  flipByte(tableFileName(dir, 1), 10);
  const pool = new BackgroundPool({ workers: 1 });
  try {
    const err = await expectCode(() => pool.runCompaction(job(dir, [1, 2]), fs), 'CORRUPTION');
    assert.match(err.message, /000001\.sst@0/);
    const missing = await expectCode(() => pool.runCompaction(job(dir, [2, 3]), fs), 'IO_ERROR');
    assert.is(missing.errno, 'ENOENT');
    const result = await pool.runCompaction(job(dir, [2]), fs);
    assert.is(show(readOutputs(dir, result)), show([put('a', 1000)]));
  } finally {
    await pool.close();
  }
});

test('an invariant failure in a worker comes back as a plain Error', async () => {
  const dir = tempDir();
  await writeInput(dir, 1, [put('a', 1)]);
  const pool = new BackgroundPool({ workers: 1 });
  try {
    let error: unknown;
    try {
      await pool.runCompaction(job(dir, [1], { outputFileNumbers: [] }), fs);
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof Error && error.constructor === Error, String(error));
    assert.match((error as Error).message, /invariant violated/);
    assert.match((error as Error).stack ?? '', /compaction worker thread/);
  } finally {
    await pool.close();
  }
});

test('jobs beyond the worker count wait their turn and all complete', async () => {
  const dir = tempDir();
  for (let t = 1; t <= 6; t++) await writeInput(dir, t, Array.from({ length: 300 }, (_, i) => put(`t${t}/${String(i).padStart(4, '0')}`, t * 1000 + i)));
  const pool = new BackgroundPool({ workers: 2 });
  try {
    const runs = [1, 2, 3, 4, 5, 6].map((t) => pool.runCompaction(job(dir, [t], { outputFileNumbers: [100 + t * 10] }), fs));
    assert.is(pool.running, 6);
    const results = await Promise.all(runs);
    results.forEach((r, i) => assert.is(r.entriesOut, 300, `job ${i + 1}`));
    assert.is(pool.running, 0);
  } finally {
    await pool.close();
  }
});

test('a worker thread that dies fails its job with IO_ERROR and is replaced for the next', async () => {
  const dir = tempDir();
  await writeInput(dir, 1, [put('a', 1)]);
  const pool = new BackgroundPool({ workers: 1 });
  const postMessage = Worker.prototype.postMessage;
  try {
    // The thread is killed where it would have received its job.
    Worker.prototype.postMessage = function (this: Worker) {
      void this.terminate();
    };
    const err = await expectCode(() => pool.runCompaction(job(dir, [1]), fs), 'IO_ERROR');
    assert.match(err.message, /died/);
    Worker.prototype.postMessage = postMessage;
    assert.is((await pool.runCompaction(job(dir, [1]), fs)).entriesOut, 1);
  } finally {
    Worker.prototype.postMessage = postMessage;
    await pool.close();
  }
});

test('a custom FileSystem runs the job inline, through that FileSystem', async () => {
  const dir = tempDir();
  await writeInput(dir, 1, [put('a', 1), put('b', 2)]);
  const calls: string[] = [];
  const spy: FileSystem = Object.create(fs, {
    openReadable: { value: (file: string) => (calls.push(`open ${file}`), fs.openReadable(file)) },
    createWritable: { value: (file: string) => (calls.push(`create ${file}`), fs.createWritable(file)) },
    syncDir: { value: (d: string) => (calls.push(`syncDir ${d}`), fs.syncDir(d)) },
  });
  const pool = new BackgroundPool({ workers: 2 });
  try {
    const result = await pool.runCompaction(job(dir, [1]), spy);
    assert.equal(calls, [`open ${tableFileName(dir, 1)}`, `create ${tableFileName(dir, 100)}`, `syncDir ${dir}`]);
    assert.is(result.entriesOut, 2);
  } finally {
    await pool.close();
  }
});

test('close() waits for running jobs, is idempotent, and runCompaction() then fails with CLOSED', async () => {
  const dir = tempDir();
  await writeInput(dir, 1, [put('a', 1)]);
  const pool = new BackgroundPool({ workers: 1 });
  const running = pool.runCompaction(job(dir, [1]), fs);
  const closed = pool.close();
  assert.is(pool.close(), closed);
  await expectCode(() => pool.runCompaction(job(dir, [1]), fs), 'CLOSED');
  await closed;
  assert.is((await running).entriesOut, 1);
  assert.is(pool.running, 0);
  const inline = new BackgroundPool({ workers: 0 });
  await inline.close();
  await expectCode(() => inline.runCompaction(job(dir, [1]), fs), 'CLOSED');
});

test('a pool that is never closed does not keep the process alive', async () => {
  const dir = tempDir();
  await writeInput(dir, 1, [put('a', 1)]);
  const poolModule = new URL('../src/compaction/index.js', import.meta.url).href;
  const baseModule = new URL('../src/base/index.js', import.meta.url).href;
  const script = join(dir, 'forgotten-pool.mjs');
  writeFileSync(
    script,
    `const { BackgroundPool } = await import(${JSON.stringify(poolModule)});
    const { NodeFileSystem } = await import(${JSON.stringify(baseModule)});
    const pool = new BackgroundPool({ workers: 2 });
    const result = await pool.runCompaction(${JSON.stringify(job(dir, [1]))}, new NodeFileSystem());
    console.log('entriesOut', result.entriesOut);`,
  );
  const child = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 20_000 });
  assert.is(child.signal, null, `the child was killed (${child.signal}) after 20 s: the pool kept it alive`);
  assert.is(child.status, 0, child.stderr);
  assert.match(child.stdout, /entriesOut 1/);
});

test.run();
