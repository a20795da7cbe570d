// Tables written and read back through the real file system: round trips against a sorted
// reference array, iteration both ways across block boundaries, the bloom filter, and the
// builder's argument checks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getU32, loadChecksum, NodeFileSystem, putU32, StrataError, ValueKind, xxh32, type SeqNum } from '../src/base/index.js';
import { sealPhysicalBlock } from '../src/sstable/physical-block.js';
import { BlockCache, BuilderScratch, TableBuilder, TableReader, type TableBuilderOptions } from '../src/sstable/index.js';
import { INDEX_DECODE_SLICE } from '../src/sstable/table-index.js';
import { native, nativeIo } from '../src/base/native.js';

interface Entry {
  key: Buffer;
  seq: SeqNum;
  kind: ValueKind;
  value: Buffer;
}

const fs = new NodeFileSystem();
const dir = mkdtempSync(join(tmpdir(), 'strata-sstable-'));
let fileCounter = 0;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const byInternalOrder = (a: Entry, b: Entry) => Buffer.compare(a.key, b.key) || b.seq - a.seq;

/** About `target` entries: several versions per key, deletes, the empty key, empty values and one 1 MiB value. */
function randomEntries(seed: number, target: number, longKeys = false): Entry[] {
  const random = rng(seed);
  const prefixes = ['', 'user:', 'u', 'item/0000', '\xff\xff'].map((p) => Buffer.from(p, 'latin1'));
  if (longKeys) prefixes.push(Buffer.alloc(200, 'p'), Buffer.alloc(700, 'q'));
  const keys = new Map<string, Buffer>([['', Buffer.alloc(0)]]);
  while (keys.size < target / 3) {
    const suffix = Buffer.alloc(Math.floor(random() * (longKeys ? 300 : 12)));
    for (let i = 0; i < suffix.length; i++) suffix[i] = Math.floor(random() * 256);
    const key = Buffer.concat([prefixes[Math.floor(random() * prefixes.length)]!, suffix]);
    keys.set(key.toString('hex'), key);
  }
  const seqs = new Set<number>();
  const entries: Entry[] = [];
  for (const key of keys.values()) {
    const versions = 1 + Math.floor(random() * 5);
    for (let v = 0; v < versions; v++) {
      let seq: number;
      do seq = Math.floor(random() * 10 * target) + 1;
      while (seqs.has(seq));
      seqs.add(seq);
      const kind = random() < 0.2 ? ValueKind.Delete : ValueKind.Put;
      const value = kind === ValueKind.Delete ? Buffer.alloc(0) : Buffer.alloc(random() < 0.1 ? 0 : Math.floor(random() * (longKeys ? 400 : 80)));
      for (let i = 0; i < value.length; i++) value[i] = random() < 0.5 ? 0x61 : Math.floor(random() * 256);
      entries.push({ key, seq, kind, value });
    }
  }
  const big = entries.find((e) => e.kind === ValueKind.Put)!;
  big.value = Buffer.alloc(1024 * 1024, 7);
  big.value.write('one mebibyte', 100);
  return entries.sort(byInternalOrder);
}

async function writeTable(entries: readonly Entry[], options: TableBuilderOptions = {}, scratch?: BuilderScratch): Promise<{ path: string; fileSize: number; builder: TableBuilder }> {
  const path = join(dir, `${String(++fileCounter).padStart(6, '0')}.sst`);
  const builder = new TableBuilder(await fs.createWritable(path), options, scratch);
  for (const e of entries) {
    builder.add(e.key, e.seq, e.kind, e.value);
    if (builder.pendingBytes > 1024 * 1024) await builder.drain();
  }
  const { fileSize } = await builder.finish();
  return { path, fileSize, builder };
}

function openTable(path: string, cache?: BlockCache): TableReader {
  return TableReader.open(fs.openReadable(path), ++fileCounter, cache);
}

function assertAt(it: { valid(): boolean; key(): Uint8Array; seq(): number; kind(): number; value(): Uint8Array }, e: Entry | undefined, where: string): void {
  if (e === undefined) {
    assert.not.ok(it.valid(), `${where}: expected the end, found an entry`);
    return;
  }
  assert.ok(it.valid(), `${where}: expected an entry, found the end`);
  assert.ok(Buffer.from(it.key()).equals(e.key), `${where}: key ${Buffer.from(it.key()).toString('hex')} != ${e.key.toString('hex')}`);
  assert.is(it.seq(), e.seq, `${where}: seq`);
  assert.is(it.kind(), e.kind, `${where}: kind`);
  assert.ok(Buffer.from(it.value()).equals(e.value), `${where}: value`);
}

/** Index of the first entry whose user key is >= key (or > key with `after`). */
function lowerBound(entries: readonly Entry[], key: Buffer, after: boolean): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = Buffer.compare(entries[mid]!.key, key);
    if (c < 0 || (after && c === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function checkTable(reader: TableReader, entries: readonly Entry[], seed: number): void {
  const random = rng(seed);
  const it = reader.iterator();

  it.seekToFirst();
  for (let i = 0; i < entries.length; i++, it.next()) assertAt(it, entries[i], `forward ${i}`);
  assertAt(it, undefined, 'forward end');
  it.seekToLast();
  for (let i = entries.length - 1; i >= 0; i--, it.prev()) assertAt(it, entries[i], `backward ${i}`);
  assertAt(it, undefined, 'backward end');

  const versions = new Map<string, Entry[]>();
  for (const e of entries) {
    const list = versions.get(e.key.toString('hex'));
    if (list) list.push(e);
    else versions.set(e.key.toString('hex'), [e]);
  }
  const keyList = [...versions.values()].map((v) => v[0]!.key);
  const probeKey = (): Buffer => {
    if (random() < 0.7) return keyList[Math.floor(random() * keyList.length)]!;
    const k = Buffer.alloc(Math.floor(random() * 10));
    for (let i = 0; i < k.length; i++) k[i] = Math.floor(random() * 256);
    return k;
  };
  const maxSeq = Math.max(...entries.map((e) => e.seq));

  for (let n = 0; n < 5000; n++) {
    const key = probeKey();
    const snapshot = random() < 0.1 ? Number.MAX_SAFE_INTEGER : Math.floor(random() * (maxSeq + 2));
    const expected = versions.get(key.toString('hex'))?.find((e) => e.seq <= snapshot);
    const got = reader.get(key, snapshot);
    if (expected === undefined) {
      assert.is(got, undefined, `get(${key.toString('hex')}, ${snapshot})`);
    } else {
      assert.ok(got, `get(${key.toString('hex')}, ${snapshot}) found nothing`);
      assert.is(got.seq, expected.seq);
      assert.is(got.kind, expected.kind);
      assert.ok(Buffer.from(got.value).equals(expected.value));
    }
  }

  for (let n = 0; n < 1000; n++) {
    const key = probeKey();
    const steps = Math.floor(random() * 40);
    let i = lowerBound(entries, key, false);
    it.seek(key);
    assertAt(it, entries[i], `seek(${key.toString('hex')})`);
    const forward = random() < 0.5;
    for (let s = 0; s < steps && it.valid(); s++) {
      if (forward) it.next();
      else it.prev();
      i += forward ? 1 : -1;
      assertAt(it, entries[i], `seek then ${s + 1} ${forward ? 'next' : 'prev'}`);
    }

    i = lowerBound(entries, key, true) - 1;
    it.seekForPrev(key);
    assertAt(it, entries[i], `seekForPrev(${key.toString('hex')})`);
    for (let s = 0; s < steps && it.valid(); s++) {
      if (forward) it.next();
      else it.prev();
      i += forward ? 1 : -1;
      assertAt(it, entries[i], `seekForPrev then ${s + 1} ${forward ? 'next' : 'prev'}`);
    }
  }
  it.close();
}

test.before(async () => {
  await loadChecksum();
});

test.after(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('a table of one entry reads back', async () => {
  const entry: Entry = { key: Buffer.from('k'), seq: 42, kind: ValueKind.Put, value: Buffer.from('v') };
  const { path, fileSize } = await writeTable([entry]);
  const reader = openTable(path, new BlockCache(1 << 20));
  assert.is(reader.fileSize, fileSize);
  assert.equal(reader.properties.entries, 1);
  assert.equal(reader.get(Buffer.from('k'), 100)?.value, Buffer.from('v'));
  assert.is(reader.get(Buffer.from('k'), 41), undefined);
  assert.is(reader.get(Buffer.from('j'), 100), undefined);
  checkTable(reader, [entry], 1);
  reader.close();
});

test('a table of one Delete of the empty key reads back', async () => {
  const entry: Entry = { key: Buffer.alloc(0), seq: 0, kind: ValueKind.Delete, value: Buffer.alloc(0) };
  const { path } = await writeTable([entry], { compression: 'none' });
  const reader = openTable(path);
  const got = reader.get(Buffer.alloc(0), 0);
  assert.equal(got && { seq: got.seq, kind: got.kind, length: got.value.length }, { seq: 0, kind: ValueKind.Delete, length: 0 });
  checkTable(reader, [entry], 2);
  reader.close();
});

const variants: Array<[string, TableBuilderOptions, boolean]> = [
  ['with lz4 and a block cache', { compression: 'lz4' }, true],
  ['without compression or block cache', { compression: 'none' }, false],
  ['in 256-byte blocks with restarts every 3 entries', { blockBytes: 256, restartInterval: 3 }, true],
  ['in 64-byte blocks with a restart at every entry and no bloom filter', { blockBytes: 64, restartInterval: 1, bloomBitsPerKey: 0 }, true],
];
for (const [name, options, cached] of variants) {
  test(`50,000 random entries ${name} read back like a sorted array`, async () => {
    const entries = randomEntries(7, 50_000);
    const { path } = await writeTable(entries, options);
    const reader = openTable(path, cached ? new BlockCache(4 << 20) : undefined);
    const p = reader.properties;
    assert.is(p.entries, entries.length);
    assert.is(p.deletions, entries.filter((e) => e.kind === ValueKind.Delete).length);
    assert.equal(Buffer.from(p.smallestKey), entries[0]!.key);
    assert.equal(Buffer.from(p.largestKey), entries[entries.length - 1]!.key);
    assert.is(p.smallestSeq, Math.min(...entries.map((e) => e.seq)));
    assert.is(p.largestSeq, Math.max(...entries.map((e) => e.seq)));
    assert.is(p.rawKeyBytes, entries.reduce((n, e) => n + e.key.length, 0));
    assert.is(p.rawValueBytes, entries.reduce((n, e) => n + e.value.length, 0));
    assert.is(p.formatVersion, 2);
    assert.ok(p.dataBlocks > 1);
    checkTable(reader, entries, 3);
    reader.close();
  });
}

test('keys up to 1 KiB with long shared prefixes, and values over 127 bytes, read back', async () => {
  const entries = randomEntries(11, 6000, true);
  assert.ok(entries.some((e) => e.key.length > 900));
  const { path } = await writeTable(entries, { blockBytes: 2048 });
  const reader = openTable(path, new BlockCache(1 << 20));
  checkTable(reader, entries, 12);
  reader.close();
});

test('lz4 makes a table of compressible values smaller, and only then', async () => {
  const entries: Entry[] = [];
  for (let i = 0; i < 2000; i++) entries.push({ key: Buffer.from(`key${String(i).padStart(6, '0')}`), seq: i + 1, kind: ValueKind.Put, value: Buffer.alloc(100, 'x') });
  const plain = await writeTable(entries, { compression: 'none' });
  const packed = await writeTable(entries, { compression: 'lz4' });
  assert.ok(packed.fileSize < plain.fileSize / 3, `${packed.fileSize} vs ${plain.fileSize}`);
  checkTable(openTable(packed.path), entries, 4);

  const random = rng(5);
  const noise = entries.map((e) => ({ ...e, value: Buffer.from(Array.from({ length: 100 }, () => Math.floor(random() * 256))) }));
  const plainNoise = await writeTable(noise, { compression: 'none' });
  const packedNoise = await writeTable(noise, { compression: 'lz4' });
  assert.ok(packedNoise.fileSize <= plainNoise.fileSize + 64, 'incompressible blocks are stored as they are');
});

test('the bloom filter has no false negatives and under 2% false positives', async () => {
  const entries: Entry[] = [];
  for (let i = 0; i < 10_000; i++) entries.push({ key: Buffer.from(`present-${i}`), seq: 1, kind: ValueKind.Put, value: Buffer.alloc(0) });
  entries.sort(byInternalOrder);
  const { path } = await writeTable(entries);
  const reader = openTable(path);
  for (const e of entries) assert.ok(reader.mayContain(e.key), `false negative for ${e.key}`);
  let falsePositives = 0;
  for (let i = 0; i < 10_000; i++) if (reader.mayContain(Buffer.from(`absent-${i}`))) falsePositives++;
  assert.ok(falsePositives < 200, `${falsePositives} false positives in 10,000`);
  reader.close();
});

test('tables built one after another with one BuilderScratch take over its buffers and read back whole', async () => {
  const scratch = new BuilderScratch();
  const tableOf = (prefix: string, n: number, fill: number): Entry[] => {
    const entries: Entry[] = [];
    for (let i = 0; i < n; i++) entries.push({ key: Buffer.from(`${prefix}-${String(i).padStart(6, '0')}`), seq: i + 1, kind: ValueKind.Put, value: Buffer.alloc(60 + (i % 40), fill + (i % 7)) });
    return entries.sort(byInternalOrder);
  };
  const first = tableOf('first', 20_000, 0x41);
  const a = await writeTable(first, { compression: 'lz4' }, scratch);
  // What the first builder gave back: its hash array (grown past 20,000) and staging buffer.
  const hashes = scratch.takeHashes();
  assert.ok(hashes !== undefined && hashes.length >= 20_000, 'the hash array is kept');
  const staging = scratch.takeStaging();
  assert.ok(staging !== undefined, 'a staging buffer is kept');
  scratch.give(hashes, staging);
  // The second table, smaller and different, is built in those buffers, dirty as they are.
  const second = tableOf('second', 3_000, 0x61);
  const b = await writeTable(second, { compression: 'lz4' }, scratch);
  for (const [path, entries] of [[b.path, second], [a.path, first]] as const) {
    const reader = openTable(path);
    const it = reader.iterator();
    it.seekToFirst();
    for (let i = 0; i < entries.length; i++, it.next()) assertAt(it, entries[i], `${path} entry ${i}`);
    assertAt(it, undefined, `${path} end`);
    it.close();
    for (const e of entries) assert.ok(reader.mayContain(e.key), `false negative for ${e.key}`);
    let falsePositives = 0;
    for (let i = 0; i < 3_000; i++) if (reader.mayContain(Buffer.from(`absent-${i}`))) falsePositives++;
    assert.ok(falsePositives < 90, `${falsePositives} false positives in 3,000: the reused hash array's old contents leaked into the filter`);
    reader.close();
  }
});

test('gets answer alike from the mapped file, from blocks the block cache holds and from blocks it admits: every key, at snapshots before, between and after its versions', async () => {
  const entries = randomEntries(21, 6000);
  const { path } = await writeTable(entries, { compression: 'lz4', blockBytes: 1024 });
  const versions = new Map<string, Entry[]>();
  for (const e of entries) versions.set(e.key.toString('hex'), [...(versions.get(e.key.toString('hex')) ?? []), e]);
  const maxSeq = Math.max(...entries.map((e) => e.seq));
  const random = rng(22);
  // A cache of a few dozen of the table's blocks: gets hit, miss, admit and evict all along.
  const blocks = new BlockCache(48 * 1024);
  const reader = openTable(path, blocks);
  const keys = [...versions.values()].map((v) => v[0]!.key);
  for (let round = 0; round < 4; round++) {
    // Each round reads a narrower slice of the keys, so that later rounds hit the cache.
    const from = Math.floor(random() * keys.length * 0.5);
    const slice = keys.slice(from, from + Math.max(50, Math.floor(keys.length / (round + 1) ** 3)));
    for (let n = 0; n < 4000; n++) {
      const key = random() < 0.9 ? slice[Math.floor(random() * slice.length)]! : Buffer.concat([slice[0]!, Buffer.from([Math.floor(random() * 256)])]);
      const snapshot = random() < 0.2 ? Number.MAX_SAFE_INTEGER : Math.floor(random() * (maxSeq + 2));
      const expected = versions.get(key.toString('hex'))?.find((e) => e.seq <= snapshot);
      const got = reader.get(key, snapshot);
      const where = `round ${round}: get(${key.toString('hex')}, ${snapshot})`;
      if (expected === undefined) {
        assert.is(got, undefined, where);
        continue;
      }
      assert.ok(got, `${where} found nothing`);
      assert.equal([got.seq, got.kind], [expected.seq, expected.kind], where);
      assert.ok(Buffer.from(got.value).equals(expected.value), `${where}: value`);
    }
  }
  assert.ok(blocks.hits > 1000 && blocks.misses > 1000, `hits ${blocks.hits}, misses ${blocks.misses}`);
  // Through thousands of admissions and evictions the addon's view of the cache stays whole:
  // every hit was served in place, none fell back to JavaScript's lookup.
  if (nativeIo.calls.includes('tableGet')) assert.is(blocks.hitsInPlace, blocks.hits);
  assert.ok(blocks.usedBytes <= blocks.capacityBytes);
  reader.close();
});

test('a data block damaged under a valid checksum fails a get with CORRUPTION naming the file, the block and the entry', async () => {
  const entries: Entry[] = [];
  for (let i = 0; i < 200; i++) entries.push({ key: Buffer.from(`k${String(i).padStart(3, '0')}`), seq: i + 1, kind: ValueKind.Put, value: Buffer.alloc(20, i) });
  const { path } = await writeTable(entries, { compression: 'none', restartInterval: 4 });
  const original = readFileSync(path);
  // The first data block's payload: the size whose frame (compression 0, then its xxh32) checks.
  let size = 1;
  while (!(original[size] === 0 && getU32(original, size + 1) === xxh32(original.subarray(0, size + 1)))) size++;
  const damaged = (damage: (block: Buffer) => void) => {
    const bytes = Buffer.from(original);
    damage(bytes.subarray(0, size));
    sealPhysicalBlock(bytes, 0, size, 0);
    writeFileSync(path, bytes);
    return openTable(path);
  };
  const expectCorruption = (reader: TableReader, pattern: RegExp) => {
    try {
      reader.get(Buffer.from('k010'), Number.MAX_SAFE_INTEGER);
      assert.unreachable('the get returned');
    } catch (err) {
      assert.instance(err, StrataError);
      assert.is((err as StrataError).code, 'CORRUPTION');
      assert.match((err as Error).message, pattern);
      assert.match((err as Error).message, path);
    } finally {
      reader.close();
    }
  };
  expectCorruption(damaged((b) => putU32(b, b.length - 4, 0xffff)), /block declares 65535 restart points/);
  expectCorruption(
    damaged((b) => putU32(b, b.length - 4 * getU32(b, b.length - 4), 0)),
    /restart point 1 \(0\) is out of order or outside the block's entries/,
  );
  // The second restart point's entry claims a shared prefix: every search looks at it.
  expectCorruption(
    damaged((b) => (b[getU32(b, b.length - 4 * getU32(b, b.length - 4))]! = 1)),
    /malformed entry at a restart point \(entry at byte \d+ of the block\)/,
  );
});

test('a table written without a bloom filter may contain any key', async () => {
  const { path } = await writeTable([{ key: Buffer.from('a'), seq: 1, kind: ValueKind.Put, value: Buffer.alloc(0) }], { bloomBitsPerKey: 0 });
  const reader = openTable(path);
  assert.ok(reader.mayContain(Buffer.from('zzz')));
  assert.is(reader.get(Buffer.from('zzz'), 10), undefined);
  reader.close();
});

test('add() out of internal order throws INVALID_ARGUMENT', async () => {
  const builder = new TableBuilder(await fs.createWritable(join(dir, 'order.sst')));
  const k = (s: string) => Buffer.from(s);
  builder.add(k('b'), 5, ValueKind.Put, k('1'));
  const rejects = (key: Buffer, seq: number) => {
    try {
      builder.add(key, seq, ValueKind.Put, k('2'));
      assert.unreachable(`(${key}, ${seq}) was accepted`);
    } catch (err) {
      assert.instance(err, StrataError);
      assert.is((err as StrataError).code, 'INVALID_ARGUMENT');
    }
  };
  rejects(k('b'), 5);
  rejects(k('b'), 6);
  rejects(k('a'), 1);
  builder.add(k('b'), 4, ValueKind.Put, k('3'));
  rejects(k('b'), 4);
  builder.add(k('c'), 9, ValueKind.Put, k('4'));
  await builder.finish();
});

test('add() rejects bad sequence numbers, kinds and Delete values; finish() an empty table', async () => {
  const builder = new TableBuilder(await fs.createWritable(join(dir, 'args.sst')));
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      return (err as StrataError).code;
    }
    return 'no error';
  };
  assert.is(code(() => builder.add(Buffer.from('a'), -1, ValueKind.Put, Buffer.alloc(0))), 'INVALID_ARGUMENT');
  assert.is(code(() => builder.add(Buffer.from('a'), 2 ** 53, ValueKind.Put, Buffer.alloc(0))), 'INVALID_ARGUMENT');
  assert.is(code(() => builder.add(Buffer.from('a'), 1, 7 as ValueKind, Buffer.alloc(0))), 'INVALID_ARGUMENT');
  assert.is(code(() => builder.add(Buffer.from('a'), 1, ValueKind.Delete, Buffer.from('x'))), 'INVALID_ARGUMENT');
  await builder.finish().then(
    () => assert.unreachable('an empty table was finished'),
    (err: StrataError) => assert.is(err.code, 'INVALID_ARGUMENT'),
  );
  await builder.abandon();
  await builder.abandon();
  assert.is(code(() => builder.add(Buffer.from('a'), 1, ValueKind.Put, Buffer.alloc(0))), 'CLOSED');
  assert.is(code(() => new TableBuilder(undefined as never, { blockBytes: 3 })), 'INVALID_ARGUMENT');
  assert.is(code(() => new TableBuilder(undefined as never, { restartInterval: 0 })), 'INVALID_ARGUMENT');
  assert.is(code(() => new TableBuilder(undefined as never, { bloomBitsPerKey: -1 })), 'INVALID_ARGUMENT');
  assert.is(code(() => new TableBuilder(undefined as never, { compression: 'zstd' as 'lz4' })), 'INVALID_ARGUMENT');
});

test('pendingBytes grows with finished blocks and drain() empties it into the file', async () => {
  const file = await fs.createWritable(join(dir, 'drain.sst'));
  const builder = new TableBuilder(file, { compression: 'none' });
  let i = 0;
  while (builder.pendingBytes < 100_000) builder.add(Buffer.from(`k${String(i).padStart(8, '0')}`), ++i, ValueKind.Put, Buffer.alloc(100, 1));
  assert.is(file.size, 0);
  const pending = builder.pendingBytes;
  await builder.drain();
  assert.is(builder.pendingBytes, 0);
  assert.is(file.size, pending);
  const { fileSize } = await builder.finish();
  assert.is(file.size, fileSize);
});

test('openAsync() decodes a large index a slice at a time, giving the event loop turns between slices, and reads as open() does (the JavaScript decoder)', async () => {
  // The addon decodes an index in one call (native/index_decode.c): the slices are the
  // JavaScript decoder's, which it leaves damaged blocks to and which runs without the addon.
  const calls = native as { decodeIndexBlock?: unknown };
  const saved = calls.decodeIndexBlock;
  delete calls.decodeIndexBlock;
  try {
    await openAsyncInSlices();
  } finally {
    if (saved !== undefined) calls.decodeIndexBlock = saved;
  }
});

async function openAsyncInSlices(): Promise<void> {
  const entries: Entry[] = [];
  for (let i = 0; i < 5000; i++) entries.push({ key: Buffer.from(`key-${String(i).padStart(8, '0')}`), seq: i + 1, kind: ValueKind.Put, value: Buffer.alloc(200, i % 251) });
  // 512-byte blocks: over 1,500 data blocks, so six slices of INDEX_DECODE_SLICE or more.
  const { path } = await writeTable(entries, { blockBytes: 512, compression: 'none' });
  let turns = 0;
  let counting = true;
  const count = () => {
    if (!counting) return;
    turns++;
    setImmediate(count);
  };
  setImmediate(count);
  // Reads that settle without a turn of the loop (no descriptor: no thread pool), so that the
  // turns counted are the decoding's own.
  const real = fs.openReadable(path);
  const file = { path: real.path, size: real.size, read: (o: number, l: number) => real.read(o, l), readAsync: (o: number, l: number) => Promise.resolve(real.read(o, l)), close: () => real.close() };
  const asyncReader = await TableReader.openAsync(file, ++fileCounter, undefined);
  counting = false;
  const blocks = asyncReader.properties.dataBlocks;
  assert.ok(blocks > 4 * INDEX_DECODE_SLICE, `${blocks} data blocks`);
  assert.ok(turns >= Math.floor(blocks / INDEX_DECODE_SLICE), `the loop turned ${turns} times during the open of ${blocks} blocks`);
  const syncReader = openTable(path);
  for (let i = 0; i < 5000; i += 37) {
    const a = asyncReader.get(entries[i]!.key, 1e9);
    const b = syncReader.get(entries[i]!.key, 1e9);
    assert.is(a?.seq, i + 1);
    assert.is(b?.seq, i + 1);
    assert.is(asyncReader.approximateOffsetOf(entries[i]!.key), syncReader.approximateOffsetOf(entries[i]!.key));
  }
  asyncReader.close();
  syncReader.close();
}

test.run();
