// The table cache (a bounded set of open readers) and the block cache (a byte-bounded CLOCK
// cache of decompressed blocks), and the lifetime of readers and iterators.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadChecksum, NodeFileSystem, StrataError, tableFileName, ValueKind, type FileSystem, type RandomAccessFile } from '../src/base/index.js';
import { BlockCache, NOT_WALKED, TableBuilder, TableCache, TableReader } from '../src/sstable/index.js';
import { transientReads } from '../src/sstable/physical-block.js';
import { BlockSlab } from '../src/sstable/block-slab.js';
import { native, nativeIo } from '../src/base/native.js';

const dir = mkdtempSync(join(tmpdir(), 'strata-sstable-cache-'));

/** NodeFileSystem that counts the readable files open at the moment. */
class CountingFileSystem extends NodeFileSystem {
  open = 0;
  override openReadable(file: string): RandomAccessFile {
    const inner = super.openReadable(file);
    this.open++;
    let closed = false;
    const self = this;
    return {
      path: inner.path,
      size: inner.size,
      read: (offset, length) => inner.read(offset, length),
      close() {
        if (!closed) self.open--;
        closed = true;
        inner.close();
      },
    };
  }
}

const fs = new CountingFileSystem();
const nameOf = (n: number) => tableFileName(dir, n);
const keyOf = (table: number, i: number) => Buffer.from(`t${table}-${String(i).padStart(6, '0')}`);
const ENTRIES = 3000;

async function writeTable(fsys: FileSystem, n: number): Promise<void> {
  const builder = new TableBuilder(await fsys.createWritable(nameOf(n)), { compression: 'none' });
  for (let i = 0; i < ENTRIES; i++) builder.add(keyOf(n, i), i + 1, ValueKind.Put, Buffer.alloc(64, n));
  await builder.finish();
}

/** The value of entry i in the tables mappedTable() writes. */
const valueOf = (i: number) => Buffer.alloc(64, i % 251);

/**
 * Table `n` of ENTRIES entries (valueOf's values), read through NodeFileSystem, whose files can
 * be mapped (CountingFileSystem's wrappers cannot), with `blocks` as its block cache.
 */
async function mappedTable(n: number, compression: 'lz4' | 'none', blocks: BlockCache): Promise<TableReader> {
  const builder = new TableBuilder(await fs.createWritable(nameOf(n)), { compression });
  for (let i = 0; i < ENTRIES; i++) builder.add(keyOf(n, i), i + 1, ValueKind.Put, valueOf(i));
  await builder.finish();
  return TableReader.open(new NodeFileSystem().openReadable(nameOf(n)), n, blocks);
}

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as StrataError).code;
  }
  return 'no error';
};

test.before(async () => {
  await loadChecksum();
  for (let n = 1; n <= 5; n++) await writeTable(fs, n);
});

test.after(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('a table cache of 2 keeps at most 2 readers open over 5 tables', () => {
  const cache = new TableCache(fs, nameOf, { maxOpenFiles: 2, blockCache: undefined });
  for (let round = 0; round < 3; round++) {
    for (let n = 1; n <= 5; n++) {
      const handle = cache.acquire(n);
      assert.equal(handle.reader.get(keyOf(n, 17), 100)?.value, Buffer.alloc(64, n));
      handle.release();
      assert.ok(cache.openFiles <= 2);
      assert.ok(fs.open <= 2, `${fs.open} files open`);
    }
  }
  cache.close();
  assert.is(fs.open, 0);
  assert.is(codeOf(() => cache.acquire(1)), 'CLOSED');
});

test('an iterator held across evictions stays valid, and its file closes when it does', () => {
  const cache = new TableCache(fs, nameOf, { maxOpenFiles: 2, blockCache: new BlockCache(64 * 1024) });
  const handle = cache.acquire(1);
  const it = handle.reader.iterator();
  it.seekToFirst();
  handle.release();
  for (let n = 2; n <= 5; n++) cache.acquire(n).release();
  assert.is(cache.openFiles, 2);
  assert.is(fs.open, 3, 'the evicted table stays open for its iterator');
  let i = 0;
  for (; it.valid(); it.next(), i++) assert.equal(Buffer.from(it.key()), keyOf(1, i));
  assert.is(i, ENTRIES);
  it.close();
  it.close();
  assert.is(fs.open, 2);
  assert.is(codeOf(() => it.next()), 'CLOSED');
  cache.close();
  assert.is(fs.open, 0);
});

test('a reader acquired and not yet released survives its eviction', () => {
  const cache = new TableCache(fs, nameOf, { maxOpenFiles: 1, blockCache: undefined });
  const held = cache.acquire(1);
  cache.acquire(2).release();
  cache.evict(1);
  assert.is(held.reader.get(keyOf(1, 5), 100)?.seq, 6);
  held.release();
  held.release();
  assert.is(codeOf(() => held.reader.get(keyOf(1, 5), 100)), 'CLOSED');
  cache.close();
  assert.is(fs.open, 0);
});

test('the block cache counts hits and misses and serves a hot block without reading it again', () => {
  const blocks = new BlockCache(1 << 20);
  const reader = TableReader.open(fs.openReadable(nameOf(3)), 3, blocks);
  reader.get(keyOf(3, 100), 1000);
  assert.equal([blocks.hits, blocks.misses], [0, 1]);
  const used = blocks.usedBytes;
  assert.ok(used > 0);
  for (let i = 0; i < 10; i++) reader.get(keyOf(3, 100), 1000);
  assert.equal([blocks.hits, blocks.misses], [10, 1]);
  assert.is(blocks.usedBytes, used);
  reader.get(Buffer.from('t3-zzz'), 1000);
  reader.close();
});

test('the block cache never holds more than its capacity, and evicting a file drops its blocks', () => {
  const capacity = 20 * 1024;
  const blocks = new BlockCache(capacity);
  const cache = new TableCache(fs, nameOf, { maxOpenFiles: 5, blockCache: blocks });
  for (let n = 1; n <= 3; n++) {
    const handle = cache.acquire(n);
    const it = handle.reader.iterator();
    for (it.seekToFirst(); it.valid(); it.next()) assert.ok(blocks.usedBytes <= capacity);
    it.close();
    handle.release();
  }
  assert.ok(blocks.usedBytes > capacity - 8192, `${blocks.usedBytes} bytes used`);
  // The last blocks read are from table 3; table 1's were evicted long ago.
  const before = blocks.usedBytes;
  cache.evict(3);
  assert.ok(blocks.usedBytes < before);
  cache.evict(2);
  assert.is(blocks.usedBytes, 0);
  cache.close();
});

test('a block cache of 0 bytes caches nothing, and a negative capacity is refused', () => {
  const blocks = new BlockCache(0);
  const reader = TableReader.open(fs.openReadable(nameOf(2)), 2, blocks);
  reader.get(keyOf(2, 1), 100);
  reader.get(keyOf(2, 1), 100);
  assert.equal([blocks.hits, blocks.misses, blocks.usedBytes], [0, 2, 0]);
  reader.close();
  assert.is(codeOf(() => new BlockCache(-1)), 'INVALID_ARGUMENT');
  assert.is(codeOf(() => new TableCache(fs, nameOf, { maxOpenFiles: 0, blockCache: blocks })), 'INVALID_ARGUMENT');
});

test('acquire() of a file that is not a table throws CORRUPTION and leaves no file open', async () => {
  const bogus = await fs.createWritable(nameOf(99));
  await bogus.append(Buffer.alloc(100, 1));
  await bogus.close();
  const cache = new TableCache(fs, nameOf, { maxOpenFiles: 2, blockCache: undefined });
  assert.is(codeOf(() => cache.acquire(99)), 'CORRUPTION');
  assert.is(codeOf(() => cache.acquire(98)), 'IO_ERROR');
  assert.is(fs.open, 0);
  assert.is(cache.openFiles, 0);
  cache.close();
});

test('a closed reader refuses get() and iterator() with CLOSED; close() is idempotent', () => {
  const reader = TableReader.open(fs.openReadable(nameOf(4)), 4, undefined);
  reader.close();
  reader.close();
  assert.is(codeOf(() => reader.get(keyOf(4, 1), 10)), 'CLOSED');
  assert.is(codeOf(() => reader.iterator()), 'CLOSED');
  assert.is(fs.open, 0);
});

test('a block hit since the clock hand last passed survives the next eviction; one read once goes first', () => {
  // Table 1's blocks: 3000 entries of 64-byte values, cut at 4 KiB, so about 55 blocks of ~4 KiB.
  const blocks = new BlockCache(3 * 4200);
  const reader = TableReader.open(fs.openReadable(nameOf(1)), 1, blocks);
  const inBlock = (i: number) => keyOf(1, i * 60 + 10);
  reader.get(inBlock(0), 1e6);
  reader.get(inBlock(1), 1e6);
  reader.get(inBlock(2), 1e6);
  assert.equal([blocks.hits, blocks.misses], [0, 3]);
  reader.get(inBlock(0), 1e6);
  assert.equal([blocks.hits, blocks.misses], [1, 3]);
  // A fourth block evicts the oldest block not hit since: block 1, not block 0.
  reader.get(inBlock(3), 1e6);
  assert.ok(blocks.usedBytes <= blocks.capacityBytes);
  reader.get(inBlock(0), 1e6);
  assert.equal([blocks.hits, blocks.misses], [2, 4]);
  reader.get(inBlock(1), 1e6);
  assert.equal([blocks.hits, blocks.misses], [2, 5]);
  reader.close();
});

test('a get() that misses reads the block from the mapped file without caching it (its value a view of the scratch memory, until the next read), and caches it on its second miss', async () => {
  if (!transientReads) return;
  const blocks = new BlockCache(1 << 20);
  const reader = await mappedTable(6, 'lz4', blocks);
  const at = (i: number) => i * 60 + 10;
  const first = reader.get(keyOf(6, at(0)), 1e6)!;
  assert.equal([blocks.hits, blocks.misses, blocks.usedBytes], [0, 1, 0]);
  assert.equal(first.value, valueOf(at(0)));
  assert.is(first.seq, at(0) + 1);
  // Other blocks read the same way land in the same scratch memory: a caller that keeps a
  // value copies it before it reads again (Engine's copyOut does; reads.test.ts checks it).
  for (let i = 1; i < 20; i++) {
    const other = reader.get(keyOf(6, at(i)), 1e6)!.value;
    assert.equal(other, valueOf(at(i)));
    assert.ok(other.buffer === first.value.buffer, 'the same scratch memory');
  }
  const second = reader.get(keyOf(6, at(0)), 1e6)!;
  assert.ok(blocks.usedBytes > 0, 'the second miss caches the block');
  assert.equal(reader.get(keyOf(6, at(0)), 1e6)!.value, valueOf(at(0)));
  assert.equal([blocks.hits, blocks.misses], [1, 21]);
  assert.equal(second.value, valueOf(at(0)));
  reader.close();
});

test('an iterator reads the blocks the cache does not hold from the mapped file into a buffer of its own: a scan caches nothing, the same scan again soon after is cached; two cursors interleaved each keep their entries', async () => {
  if (!transientReads) return;
  const blocks = new BlockCache(1 << 20);
  const reader = await mappedTable(8, 'lz4', blocks);
  const scan = (reverse: boolean) => {
    const it = reader.iterator();
    let n = 0;
    for (reverse ? it.seekToLast() : it.seekToFirst(); it.valid(); reverse ? it.prev() : it.next(), n++) {
      const i = reverse ? ENTRIES - 1 - n : n;
      assert.equal(Buffer.from(it.key()), keyOf(8, i));
      assert.equal(Buffer.from(it.value()), valueOf(i));
      assert.is(it.seq(), i + 1);
    }
    it.close();
    assert.is(n, ENTRIES);
  };
  scan(false);
  assert.is(blocks.usedBytes, 0, 'a scan read once caches nothing');
  assert.is(blocks.hits, 0);
  scan(true);
  assert.ok(blocks.usedBytes > 0, 'a range read twice within the admission window is cached');
  scan(false);
  assert.ok(blocks.hits > 0, 'and then served from the cache');
  // Two cursors moving in turn over blocks not cached: each reads into a buffer of its own.
  const fresh = TableReader.open(new NodeFileSystem().openReadable(nameOf(8)), 8, new BlockCache(0));
  const a = fresh.iterator();
  const b = fresh.iterator();
  a.seekToFirst();
  b.seek(keyOf(8, ENTRIES / 2));
  for (let n = 0; n < ENTRIES / 2; n++, a.next(), b.next()) {
    assert.equal(Buffer.from(a.key()), keyOf(8, n));
    assert.equal(Buffer.from(b.key()), keyOf(8, ENTRIES / 2 + n));
    assert.equal(Buffer.from(b.value()), valueOf(ENTRIES / 2 + n));
  }
  assert.not.ok(b.valid());
  a.close();
  b.close();
  fresh.close();
  reader.close();
});

test('a block the addon served a get from survives the next eviction, as one get() hit in JavaScript does; its values read back', async () => {
  if (!nativeIo.calls.includes('tableGet')) return;
  const blocks = new BlockCache(3 * 4200);
  // Its file is mapped: gets run in the addon, which searches cached blocks in place.
  const reader = await mappedTable(7, 'none', blocks);
  const at = (block: number) => block * 60 + 10;
  const get = (block: number) => {
    const got = reader.get(keyOf(7, at(block)), 1e6)!;
    assert.equal(got.value, valueOf(at(block)));
    assert.is(got.seq, at(block) + 1);
  };
  // Two misses admit a block; blocks 0, 1 and 2 fill the cache.
  for (const b of [0, 0, 1, 1, 2, 2]) get(b);
  assert.equal([blocks.hits, blocks.misses], [0, 6]);
  get(0);
  assert.equal([blocks.hits, blocks.misses], [1, 6]);
  // Block 3 admitted evicts the oldest block not read since: block 1, not block 0.
  get(3);
  get(3);
  assert.ok(blocks.usedBytes <= blocks.capacityBytes);
  get(0);
  assert.equal([blocks.hits, blocks.misses], [2, 8]);
  get(1);
  assert.equal([blocks.hits, blocks.misses], [2, 9]);
  get(3);
  assert.equal([blocks.hits, blocks.misses], [3, 9]);
  reader.close();
});

test('the block slab hands out whole granules, takes back what it gave, reuses a place of the size asked for, and answers -1 when full', () => {
  const slab = new BlockSlab(16 * 256);
  const a = slab.take(4100); // 17 granules: more than the slab's 16
  assert.is(a, -1);
  const b = slab.take(1000); // 4 granules
  const c = slab.take(1024); // 4 granules
  assert.equal([b, c], [0, 1024]);
  assert.equal(slab.fill(c, Buffer.alloc(1024, 7)), Buffer.alloc(1024, 7));
  assert.is(slab.taken, 2);
  slab.give(b);
  assert.is(slab.take(900), 0, 'the place given back, not fresh room');
  assert.is(slab.take(2048), 2048);
  assert.is(slab.take(2048), -1, 'no room left, and no free place of the size');
  slab.give(2048);
  assert.is(slab.take(1800), 2048, 'a free place up to two granules larger is taken');
  assert.throws(() => slab.give(4096), /given back twice, or never taken/);
});

test('blocks that gets admit are copied into the slab, and an evicted block gives its place to the next: a cache of three blocks over forty holds three places', async () => {
  if (!transientReads) return;
  const blocks = new BlockCache(3 * 4400);
  const reader = await mappedTable(9, 'lz4', blocks);
  const at = (block: number) => block * 60 + 10;
  for (let round = 0; round < 2; round++) {
    for (let b = 0; b < 40; b++) {
      for (let twice = 0; twice < 2; twice++) {
        const got = reader.get(keyOf(9, at(b)), 1e6)!;
        assert.equal(Buffer.from(got.value), valueOf(at(b)));
      }
      assert.ok(blocks.usedBytes <= blocks.capacityBytes);
      assert.ok(blocks.slabPlaces >= 1 && blocks.slabPlaces <= 3, `${blocks.slabPlaces} places taken for at most 3 blocks cached`);
    }
  }
  assert.is(blocks.unplaced, 0, 'every block admitted found a place');
  reader.close();
});

test('an iterator on a block the cache lent keeps its entries while gets admit other blocks into its place', async () => {
  if (!transientReads) return;
  const blocks = new BlockCache(2 * 4400);
  const reader = await mappedTable(10, 'lz4', blocks);
  // Block 0 admitted by two gets: in the slab.
  reader.get(keyOf(10, 5), 1e6);
  reader.get(keyOf(10, 5), 1e6);
  assert.is(blocks.slabPlaces, 1);
  const it = reader.iterator();
  it.seek(keyOf(10, 0));
  assert.is(blocks.hits, 1, 'the iterator found block 0 in the cache');
  // Gets admit blocks 10, 11 and 12: block 0 is evicted, and its place holds another block.
  for (const b of [10, 10, 11, 11, 12, 12]) assert.equal(Buffer.from(reader.get(keyOf(10, b * 60 + 1), 1e6)!.value), valueOf(b * 60 + 1));
  for (let i = 0; i < 200; i++, it.next()) {
    assert.ok(it.valid());
    assert.equal(Buffer.from(it.key()), keyOf(10, i));
    assert.equal(Buffer.from(it.value()), valueOf(i));
  }
  it.close();
  reader.close();
});

test('release() of an acquired reader also works detached from its handle', () => {
  const cache = new TableCache(fs, nameOf, { maxOpenFiles: 1, blockCache: undefined });
  const { reader, release } = cache.acquire(2);
  cache.acquire(3).release();
  assert.is(reader.get(keyOf(2, 5), 100)?.seq, 6);
  release();
  release();
  assert.is(codeOf(() => reader.get(keyOf(2, 5), 100)), 'CLOSED');
  assert.is(cache.get(3, keyOf(3, 7), 100)?.seq, 8);
  assert.is(cache.get(3, keyOf(3, 7), 7), undefined);
  cache.close();
  assert.is(fs.open, 0);
});


// getFirst(): level 0's tables walked in one call of the addon where it can (TableWalk), and
// table by table otherwise; the same answers either way.

/** Four overlapping tables (as level 0's), newest first: table w holds every key i with i % (w + 2) === 0, at seq 1000 × (4 - w) + i. */
const WALK_KEYS = 1200;
const walkKey = (i: number) => Buffer.from(`walk-${String(i).padStart(6, '0')}`);
const walkValue = (w: number, i: number) => Buffer.from(`t${w}:${i}`);
const walkSeq = (w: number, i: number) => 1000 * (4 - w) + i;
const holds = (w: number, i: number) => i % (w + 2) === 0;

async function writeWalkTables(first: number, bloomBitsPerKey: number, corruptAt?: number): Promise<{ fileNumber: number; smallestKey: Uint8Array; largestKey: Uint8Array; smallestSeq: number }[]> {
  const spans = [];
  for (let w = 0; w < 4; w++) {
    const n = first + w;
    const builder = new TableBuilder(await fs.createWritable(nameOf(n)), { compression: 'lz4', bloomBitsPerKey, blockBytes: 1024 });
    const keys = [];
    for (let i = 0; i < WALK_KEYS; i++) if (holds(w, i)) keys.push(i);
    for (const i of keys) builder.add(walkKey(i), walkSeq(w, i), ValueKind.Put, walkValue(w, i));
    await builder.finish();
    spans.push({ fileNumber: n, smallestKey: walkKey(keys[0]!), largestKey: walkKey(keys.at(-1)!), smallestSeq: walkSeq(w, keys[0]!) });
  }
  if (corruptAt !== undefined) {
    const { openSync, writeSync, closeSync } = await import('node:fs');
    const fd = openSync(nameOf(first + 2), 'r+');
    writeSync(fd, Buffer.from([0xff, 0x00, 0xff]), 0, 3, corruptAt);
    closeSync(fd);
  }
  return spans;
}

/** What a table-by-table read answers for key i at snapshot seq: the newest table holding a version at or below it. */
function expectedWalk(i: number, seq: number): string | undefined {
  for (let w = 0; w < 4; w++) if (i < WALK_KEYS && holds(w, i) && walkSeq(w, i) <= seq) return walkValue(w, i).toString();
  return undefined;
}

/** Counts the addon's walks (tablesGet calls) while `fn` runs. */
function countingWalks<T>(fn: () => T): { result: T; walks: number } {
  const calls = native as { tablesGet?: (...args: unknown[]) => unknown };
  const original = calls.tablesGet;
  let walks = 0;
  if (original !== undefined) calls.tablesGet = (...args: unknown[]) => (walks++, original(...args));
  try {
    return { result: fn(), walks };
  } finally {
    if (original !== undefined) calls.tablesGet = original;
  }
}

const walks = nativeIo.calls.includes('tablesGet');

for (const bloomBitsPerKey of [10, 0]) {
  test(`getFirst() over four overlapping tables answers as a table-by-table read, at every snapshot (bloom bits ${bloomBitsPerKey})`, async () => {
    const spans = await writeWalkTables(bloomBitsPerKey === 10 ? 200 : 210, bloomBitsPerKey);
    // A small block cache: blocks are admitted on their second miss, so that some answers
    // go on from a block the cache took (getFrom), in a table that may not hold the key.
    const cache = new TableCache(new NodeFileSystem(), nameOf, { maxOpenFiles: 16, blockCache: new BlockCache(64 * 1024) });
    for (const s of spans) cache.acquire(s.fileNumber).release();
    const { walks: n } = countingWalks(() => {
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < WALK_KEYS + 5; i++) {
          for (const seq of [5000, walkSeq(1, i), walkSeq(2, i) - 1, 1500]) {
            const hit = cache.getFirst(spans, walkKey(i), seq);
            const want = expectedWalk(i, seq);
            assert.is(hit === undefined ? undefined : Buffer.from(hit.value).toString(), want, `key ${i} at ${seq}`);
            if (hit !== undefined) assert.is(hit.kind, ValueKind.Put);
          }
        }
        // Keys between the tables' keys and past their ranges: no table holds them.
        assert.is(cache.getFirst(spans, Buffer.from('walk-000001x'), 5000), undefined);
        assert.is(cache.getFirst(spans, Buffer.from('zzz'), 5000), undefined);
        assert.is(cache.getFirst(spans, Buffer.from('a'), 5000), undefined);
      }
    });
    assert.ok(walks ? n > 0 : n === 0, `${n} walks with the addon's tablesGet ${walks ? 'loaded' : 'absent'}`);
    cache.close();
  });
}

test('getFirst() goes on to the next table after a block the cache admits in a table without the key', async () => {
  const spans = await writeWalkTables(240, 0);
  const cache = new TableCache(new NodeFileSystem(), nameOf, { maxOpenFiles: 8, blockCache: new BlockCache(64 * 1024) });
  for (const s of spans) cache.acquire(s.fileNumber).release();
  // Without filters every table in range is searched. Key 2 is table 0's: its block's first
  // miss. Key 3 (table 1's) falls in the same block of table 0: its second miss, which the
  // cache admits, so that the reader goes on from that block itself, finds no key 3 there, and
  // the walk must go on from table 1.
  assert.is(cache.getFirst(spans, walkKey(2), 5000)?.value.toString(), 't0:2');
  assert.is(cache.getFirst(spans, walkKey(3), 5000)?.value.toString(), 't1:3');
  assert.is(cache.getFirst(spans, walkKey(3), 5000)?.value.toString(), 't1:3');
  cache.close();
});

test('getFirst() with a table evicted between reads, or not open, reads table by table and answers the same', async () => {
  const spans = await writeWalkTables(220, 10);
  const cache = new TableCache(new NodeFileSystem(), nameOf, { maxOpenFiles: 3, blockCache: new BlockCache(64 * 1024) });
  for (let i = 0; i < WALK_KEYS; i += 7) {
    // Four tables through a cache of three: never all open at once.
    assert.is(cache.getFirst(spans, walkKey(i), 5000)?.value.toString(), expectedWalk(i, 5000), `key ${i}`);
  }
  const wide = new TableCache(new NodeFileSystem(), nameOf, { maxOpenFiles: 8, blockCache: new BlockCache(64 * 1024) });
  for (const s of spans) wide.acquire(s.fileNumber).release();
  for (let i = 0; i < WALK_KEYS; i += 7) {
    if (i % 5 === 0) wide.evict(spans[i % 4]!.fileNumber);
    assert.is(wide.getFirst(spans, walkKey(i), 5000)?.value.toString(), expectedWalk(i, 5000), `key ${i}`);
  }
  cache.close();
  wide.close();
});

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);

/** A table of `keys` (ascending) as Version.get's deeper levels hold them: value `${tag}:i` at seq `seqOf(i)`. */
async function writeRunTable(n: number, keys: number[], tag: string, seqOf: (i: number) => number) {
  const builder = new TableBuilder(await fs.createWritable(nameOf(n)), { compression: 'lz4', bloomBitsPerKey: 10, blockBytes: 1024 });
  for (const i of keys) builder.add(walkKey(i), seqOf(i), ValueKind.Put, Buffer.from(`${tag}:${i}`));
  await builder.finish();
  return { fileNumber: n, smallestKey: walkKey(keys[0]!), largestKey: walkKey(keys.at(-1)!), smallestSeq: Math.min(...keys.map(seqOf)) };
}

test('walkGet() over level 0 and two deeper levels of several files each (runs) answers as Version.get\'s table-by-table read, in one walk a get', async () => {
  const l0 = await writeWalkTables(260, 10);
  const l1Seq = (i: number) => 500 + (i % 100);
  const l2Seq = (i: number) => 100 + (i % 100);
  const l1: Awaited<ReturnType<typeof writeRunTable>>[] = [];
  const l2: Awaited<ReturnType<typeof writeRunTable>>[] = [];
  // Level 1: five files of 240 keys' range, each key i % 3 === 1 in it; level 2: three files
  // of 400, every even key.
  for (let f = 0; f < 5; f++) l1.push(await writeRunTable(270 + f, range(f * 240, (f + 1) * 240).filter((i) => i % 3 === 1), 'l1', l1Seq));
  for (let f = 0; f < 3; f++) l2.push(await writeRunTable(280 + f, range(f * 400, (f + 1) * 400).filter((i) => i % 2 === 0), 'l2', l2Seq));
  const tables = [...l0, ...l1, ...l2];
  const ends = Uint32Array.from(tables, (_, i) => (i < 4 ? i + 1 : i < 9 ? 9 : 12));
  const expected = (i: number, seq: number) =>
    expectedWalk(i, seq) ?? (i < 1200 && i % 3 === 1 && l1Seq(i) <= seq ? `l1:${i}` : undefined) ?? (i < 1200 && i % 2 === 0 && l2Seq(i) <= seq ? `l2:${i}` : undefined);
  const cache = new TableCache(new NodeFileSystem(), nameOf, { maxOpenFiles: 16, blockCache: new BlockCache(64 * 1024) });
  for (const t of tables) cache.acquire(t.fileNumber).release();
  const searches = native as { tableGet?: (...args: unknown[]) => unknown };
  const tableGet = searches.tableGet;
  let single = 0;
  if (tableGet !== undefined) searches.tableGet = (...args: unknown[]) => (single++, tableGet(...args));
  try {
    let gets = 0;
    const { walks: n } = countingWalks(() => {
      for (let i = 0; i < WALK_KEYS + 5; i++) {
        for (const seq of [5000, walkSeq(1, i), 999, 550, 150, 50]) {
          const hit = cache.walkGet(tables, ends, walkKey(i), seq);
          if (hit === NOT_WALKED) continue;
          gets++;
          assert.is(hit === undefined ? undefined : Buffer.from(hit.value).toString(), expected(i, seq), `key ${i} at ${seq}`);
        }
      }
      assert.is(cache.walkGet(tables, ends, Buffer.from('zzz'), 5000), walks ? undefined : NOT_WALKED);
    });
    if (walks) {
      assert.is(gets, (WALK_KEYS + 5) * 6, 'every get walked');
      assert.ok(n >= gets, `${n} walks for ${gets} gets`);
      assert.is(single, 0, 'no table searched on its own');
    } else assert.is(gets, 0, 'no walk without the addon');
  } finally {
    if (tableGet !== undefined) searches.tableGet = tableGet;
    cache.close();
  }
});

test('getFirst() reports a damaged data block of the third table with its file and offset', async () => {
  const spans = await writeWalkTables(230, 10, 8);
  const cache = new TableCache(new NodeFileSystem(), nameOf, { maxOpenFiles: 8, blockCache: new BlockCache(64 * 1024) });
  for (const s of spans) cache.acquire(s.fileNumber).release();
  // At seq 2999 tables 0 and 1 hold nothing visible (their oldest entries are newer): key 0
  // is table 2's, in its first data block, whose bytes 8..11 were overwritten.
  let err: unknown;
  try {
    cache.getFirst(spans, walkKey(0), 2999);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof StrataError, String(err));
  assert.is((err as StrataError).code, 'CORRUPTION');
  assert.ok((err as StrataError).message.startsWith(`${nameOf(232)}@0: `), (err as StrataError).message);
  // The tables before it still answer.
  assert.is(cache.getFirst(spans, walkKey(2), 5000)?.value.toString(), 't0:2');
  cache.close();
});

test.run();
