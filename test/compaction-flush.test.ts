// Flushes (src/compaction/flush-job.ts): with the native addon a memtable's data blocks are
// encoded from its memory in place (TableBuilder.addSkipListRun, native/skiplist_blocks.c);
// the table must be byte for byte the one add() writes entry by entry through the iterator,
// whatever the entries (every point kind, versions, long keys, values larger than a block,
// tiny blocks, restart intervals). An ingest's table is encoded from its pack of pairs the same
// way (TableBuilder.addPackRun), and must equal add()'s pair by pair too. Runs twice in `npm test`; with STRATADB_NATIVE=0 both
// paths are JavaScript's and the comparison still holds.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import { loadChecksum, NodeFileSystem, putU64, tableFileName, ValueKind } from '../src/base/index.js';
import { native } from '../src/base/native.js';
import { buildIngestTable, flushMemtable, writeTable } from '../src/compaction/index.js';
import { Memtable } from '../src/memtable/index.js';
import { BuilderScratch, TableBuilder, type TableBuilderOptions } from '../src/sstable/index.js';
import { expectCode, withTempDir } from './helpers.js';

await loadChecksum();
const files = new NodeFileSystem();

/** xorshift32: the same entries on every run. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

interface Shape {
  entries: number;
  distinctKeys: number;
  longKeys?: boolean;
  largeValues?: boolean;
}

/** An immutable memtable of every point kind, several versions of a key, and PutWithExpiry values of every length. */
function memtableOf(shape: Shape, seed: number): Memtable {
  const next = random(seed);
  const mem = new Memtable({ arenaChunkBytes: 64 * 1024 });
  for (let seq = 1; seq <= shape.entries; seq++) {
    const k = Math.floor(next() * shape.distinctKeys);
    const name = k.toString(36).padStart(4, '0');
    const key = Buffer.from(shape.longKeys && k % 7 === 0 ? name + 'y'.repeat(65 + (k % 3000)) : name + 'z'.repeat(k % 17));
    const kind = [ValueKind.Put, ValueKind.Delete, ValueKind.Merge, ValueKind.PutWithExpiry, ValueKind.Put][seq % 5]!;
    let value: Buffer;
    if (kind === ValueKind.Delete) {
      value = Buffer.alloc(0);
    } else if (kind === ValueKind.PutWithExpiry) {
      // An expiry (8 bytes, sometimes above 2^53), or a value shorter than one.
      value = Buffer.alloc(seq % 3 === 0 ? seq % 8 : 8 + (seq % 50), seq & 0xff);
      if (value.length >= 8) seq % 4 === 0 ? value.fill(0xff, 0, 8) : putU64(value, 0, 1_700_000_000_000 + ((seq * 7919) % 1_000_000));
    } else {
      const length = shape.largeValues && seq % 97 === 0 ? 100_000 + seq : Math.floor(next() * 300);
      value = Buffer.alloc(length, seq & 0xff);
    }
    mem.add(seq, kind, key, value);
  }
  mem.markImmutable();
  return mem;
}

/** The bytes of the table writeTable (entry by entry) and flushMemtable write for `mem`. */
async function bothWays(dir: string, mem: Memtable, builder: TableBuilderOptions, scratch?: BuilderScratch): Promise<[Buffer, Buffer]> {
  await writeTable(files, dir, 1, mem.iterator(), builder, mem.rangeTombstones, scratch);
  const { table } = await flushMemtable({ kind: 'flush', dir, fileNumber: 2, memtable: mem.toShared(), builder }, files, scratch);
  assert.ok(table !== undefined);
  return [fs.readFileSync(tableFileName(dir, 1)), fs.readFileSync(tableFileName(dir, 2))];
}

test('the addon encodes a flush in place when it is built', () => {
  assert.is(TableBuilder.encodesInPlace, native.encodeSkipListBlock !== undefined && native.skipListView !== undefined);
});

const cases: [string, Shape, TableBuilderOptions][] = [
  ['default options', { entries: 30_000, distinctKeys: 9_000 }, {}],
  ['tiny blocks, a restart at every entry, no compression, no filter', { entries: 5_000, distinctKeys: 2_000 }, { blockBytes: 64, restartInterval: 1, compression: 'none', bloomBitsPerKey: 0 }],
  ['keys longer than the builder holds, values larger than a block', { entries: 4_000, distinctKeys: 1_500, longKeys: true, largeValues: true }, { blockBytes: 1024, restartInterval: 3 }],
  ['one key, many versions', { entries: 3_000, distinctKeys: 1 }, { restartInterval: 1024 }],
];
for (const [name, shape, options] of cases) {
  test(`a flush writes the same bytes as add() entry by entry: ${name}`, () =>
    withTempDir(async (dir) => {
      const [byEntry, flushed] = await bothWays(dir, memtableOf(shape, name.length), options);
      assert.ok(byEntry.length > 0);
      assert.ok(byEntry.equals(flushed), `tables of ${byEntry.length} and ${flushed.length} bytes differ`);
    }));
}

test('a flush into a used scratch, with range tombstones, writes the same bytes; an empty memtable writes none', () =>
  withTempDir(async (dir) => {
    const scratch = new BuilderScratch();
    const mem = new Memtable();
    for (let i = 0; i < 5_000; i++) mem.add(i + 1, ValueKind.Put, Buffer.from(`key${String(i * 7919 % 5000).padStart(6, '0')}`), Buffer.alloc(i % 40, i));
    mem.add(5_001, ValueKind.RangeDelete, Buffer.from('key001'), Buffer.from('key002'));
    mem.markImmutable();
    await flushMemtable({ kind: 'flush', dir, fileNumber: 9, memtable: memtableOf({ entries: 2_000, distinctKeys: 900 }, 3).toShared(), builder: {} }, files, scratch);
    const [byEntry, flushed] = await bothWays(dir, mem, {}, scratch);
    assert.ok(byEntry.equals(flushed));

    const onlyTombstone = new Memtable();
    onlyTombstone.add(1, ValueKind.RangeDelete, Buffer.from('a'), Buffer.from('b'));
    onlyTombstone.markImmutable();
    const [a, b] = await bothWays(dir, onlyTombstone, {});
    assert.ok(a.equals(b));

    const empty = new Memtable();
    empty.markImmutable();
    assert.is((await flushMemtable({ kind: 'flush', dir, fileNumber: 3, memtable: empty.toShared(), builder: {} }, files)).table, undefined);
    assert.not.ok(fs.existsSync(tableFileName(dir, 3)));
  }));

test('entries that do not sort after those added are refused with INVALID_ARGUMENT', () =>
  withTempDir(async (dir) => {
    if (!TableBuilder.encodesInPlace) return;
    const mem = memtableOf({ entries: 100, distinctKeys: 50 }, 5);
    const builder = new TableBuilder(await files.createWritable(tableFileName(dir, 4)));
    builder.add(Buffer.from('\xff\xff\xff', 'latin1'), 1, ValueKind.Put, Buffer.from('v'));
    await expectCode(() => builder.addSkipListRun(mem.run(), 1 << 20), 'INVALID_ARGUMENT');
    await builder.abandon();
  }));

/** A pack of `count` sorted pairs as src/shard/ingest.ts makes one: keys and values back to back, and where each ends. */
function packOf(count: number, valueBytes: (i: number) => number): { data: Uint8Array; ends: Uint32Array; pairs: [Buffer, Buffer][] } {
  const pairs: [Buffer, Buffer][] = [];
  for (let i = 0; i < count; i++) pairs.push([Buffer.from(`pack-key-${String(i * 3).padStart(9, '0')}${'k'.repeat(i % 7)}`), Buffer.alloc(valueBytes(i), `${i % 251}`)]);
  const data = Buffer.concat(pairs.flat());
  const ends = new Uint32Array(count * 2);
  let at = 0;
  pairs.forEach(([k, v], i) => {
    ends[2 * i] = at += k.length;
    ends[2 * i + 1] = at += v.length;
  });
  return { data, ends, pairs };
}

const packCases: [string, number, (i: number) => number, TableBuilderOptions][] = [
  ['default options', 20_000, (i) => i % 120, {}],
  ['tiny blocks, a restart at every entry, no compression, no filter', 3_000, (i) => i % 30, { blockBytes: 64, restartInterval: 1, compression: 'none', bloomBitsPerKey: 0 }],
  ['values larger than a block', 1_500, (i) => (i % 5 === 0 ? 5_000 : 10), { blockBytes: 1024, restartInterval: 3 }],
];
for (const [name, count, valueBytes, builder] of packCases) {
  test(`an ingest's table encoded from its pack (by the addon when built) has the same bytes as add() pair by pair: ${name}`, () =>
    withTempDir(async (dir) => {
      const { data, ends, pairs } = packOf(count, valueBytes);
      const seq = 2 ** 40 + 17;
      const byPair = new TableBuilder(await files.createWritable(tableFileName(dir, 1)), builder);
      for (const [k, v] of pairs) byPair.add(k, seq, ValueKind.Put, v);
      await byPair.finish();
      const { table } = await buildIngestTable({ kind: 'ingest', dir, fileNumber: 2, seq, data, ends, builder }, files);
      assert.is(table.smallestSeq, seq);
      const [a, b] = [fs.readFileSync(tableFileName(dir, 1)), fs.readFileSync(tableFileName(dir, 2))];
      assert.ok(a.equals(b), `tables of ${a.length} and ${b.length} bytes differ`);
    }));
}

test("a pack's pairs out of order after what the builder holds, or ending outside its data, are refused with INVALID_ARGUMENT", () =>
  withTempDir(async (dir) => {
    if (!TableBuilder.encodesPacks) return;
    const { data, ends } = packOf(100, () => 8);
    const builder = new TableBuilder(await files.createWritable(tableFileName(dir, 3)));
    builder.add(Buffer.from('\xff\xff\xff', 'latin1'), 1, ValueKind.Put, Buffer.from('v'));
    await expectCode(() => builder.addPackRun(data, ends, 1, 1 << 20), 'INVALID_ARGUMENT');
    await builder.abandon();
    const outside = Uint32Array.from(ends);
    outside[101] = data.length + 1;
    const other = new TableBuilder(await files.createWritable(tableFileName(dir, 4)));
    await expectCode(() => other.addPackRun(data, outside, 1, 1 << 20), 'INVALID_ARGUMENT');
    await other.abandon();
  }));

test.run();
