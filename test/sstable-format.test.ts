// The table format, pinned by bytes written by hand from the format comments (src/sstable/
// block-format.ts, bloom.ts, properties.ts, format.ts, physical-block.ts), and the reader's
// answer to damaged bytes: CORRUPTION naming the file and an offset, never a wrong entry.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadChecksum, StrataError, ValueKind, xxh32, type RandomAccessFile, type WritableFile } from '../src/base/index.js';
import { TableBuilder, TableReader } from '../src/sstable/index.js';
import { Block } from '../src/sstable/block-format.js';
import { BlockBuilder } from '../src/sstable/block-builder.js';
import { BlockIter } from '../src/sstable/block-iter.js';
import { BloomFilter, buildBloomFilter } from '../src/sstable/bloom.js';
import { decodeFooter, decodeMetaIndex, FOOTER_BYTES } from '../src/sstable/format.js';
import { readPhysicalBlock } from '../src/sstable/physical-block.js';
import { decodeIndex } from '../src/sstable/table-index.js';
import { native } from '../src/base/native.js';
import { Rng } from './helpers.js';

/** Hex with spaces, '|' separators and `# comments` to the end of a line. */
function hex(annotated: string): Buffer {
  return Buffer.from(annotated.replace(/#.*$/gm, '').replace(/[\s|]/g, ''), 'hex');
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

/** A physical block: payload | compression 00 | xxh32(payload ++ 00) LE. */
function frame(payload: Buffer): Buffer {
  const body = Buffer.concat([payload, Buffer.from([0])]);
  return Buffer.concat([body, u32(xxh32(body))]);
}

class MemoryFile implements RandomAccessFile {
  readonly size: number;
  closed = false;
  constructor(
    readonly path: string,
    readonly bytes: Uint8Array,
  ) {
    this.size = bytes.length;
  }
  read(offset: number, length: number): Uint8Array {
    if (offset + length > this.size) throw new StrataError('CORRUPTION', `${this.path}@${offset}: wanted ${length} bytes, file ends after ${Math.max(0, this.size - offset)}`);
    return Buffer.from(this.bytes.subarray(offset, offset + length));
  }
  close(): void {
    this.closed = true;
  }
}

class MemoryWritable implements WritableFile {
  readonly chunks: Buffer[] = [];
  size = 0;
  constructor(readonly path: string) {}
  async append(chunks: Uint8Array | readonly Uint8Array[]): Promise<void> {
    for (const c of chunks instanceof Uint8Array ? [chunks] : chunks) {
      this.chunks.push(Buffer.from(c));
      this.size += c.length;
    }
  }
  async sync(): Promise<void> {}
  async close(): Promise<void> {}
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

// ("apple", 7, Put, "red"), ("apple", 3, Delete), ("apricot", 5, Put, "x") with a restart
// point every 2 entries.
const DATA_BLOCK = hex(`
  00 05 03 | 61 70 70 6c 65 | 07 00 00 00 00 00 00 00 | 01 | 72 65 64  # @0  shared 0, "apple", seq 7, Put, "red"
  05 00 00 |                | 03 00 00 00 00 00 00 00 | 00 |           # @20 shares "apple", seq 3, Delete
  00 07 01 | 61 70 72 69 63 6f 74 | 05 00 00 00 00 00 00 00 | 01 | 78   # @32 restart: "apricot", seq 5, Put, "x"
  00 00 00 00 | 20 00 00 00 | 02 00 00 00                               # restarts at 0 and 32, 2 of them
`);

test.before(async () => {
  await loadChecksum();
});

test('a data block written by hand from the format decodes, and the builder writes the same bytes', () => {
  const it = new BlockIter();
  it.reset(new Block(DATA_BLOCK, 'hand', 0));
  const seen: string[] = [];
  for (it.seekToFirst(); it.valid(); it.next()) seen.push(`${Buffer.from(it.key())}/${it.seq()}/${it.kind()}/${Buffer.from(it.value())}`);
  assert.equal(seen, ['apple/7/1/red', 'apple/3/0/', 'apricot/5/1/x']);
  it.seek(Buffer.from('apple'), 5);
  assert.equal([Buffer.from(it.key()).toString(), it.seq()], ['apple', 3]);
  it.prev();
  assert.equal([Buffer.from(it.key()).toString(), it.seq()], ['apple', 7]);

  const builder = new BlockBuilder(2);
  builder.add(Buffer.from('apple'), 7, ValueKind.Put, Buffer.from('red'));
  builder.add(Buffer.from('apple'), 3, ValueKind.Delete, Buffer.alloc(0));
  builder.add(Buffer.from('apricot'), 5, ValueKind.Put, Buffer.from('x'));
  assert.equal(Buffer.from(builder.finish()).toString('hex'), DATA_BLOCK.toString('hex'));
});

/** The filter block of bloom.ts, computed here from its comment, not with bloom.ts. */
function handFilter(keys: string[], bitsPerKey: number): Buffer {
  const bytes = Math.ceil(Math.max(64, Math.ceil(keys.length * bitsPerKey)) / 8);
  const bits = Buffer.alloc(bytes);
  const probes = Math.min(30, Math.max(1, Math.round(bitsPerKey * Math.LN2)));
  for (const key of keys) {
    let h = xxh32(Buffer.from(key), 0xbc9f1d34);
    const delta = ((h >>> 17) | (h << 15)) >>> 0;
    for (let j = 0; j < probes; j++) {
      const bit = h % (bytes * 8);
      bits[bit >> 3]! |= 1 << (bit & 7);
      h = (h + delta) >>> 0;
    }
  }
  return Buffer.concat([bits, Buffer.from([probes])]);
}

test('a filter of many keys has the bits of the format, for hashes above 2^31 and next to multiples of its size', () => {
  // The hashes a large filter sees: every bit position reached with `%` as the format says,
  // among them hashes that are a multiple of the bit count, and one less (where a quotient
  // rounded up would land a probe on the wrong bit).
  const count = 100_003;
  const bitsPerKey = 10;
  const bytes = Math.ceil(Math.max(64, Math.ceil(count * bitsPerKey)) / 8);
  const m = bytes * 8;
  const hashes = new Uint32Array(count);
  const rng = new Rng(0x9e3779b9);
  for (let i = 0; i < count; i++) {
    const k = Math.floor((2 ** 32 - 1) / m) - (i % 7);
    hashes[i] = i % 3 === 0 ? rng.u32() : (k * m - (i % 3 === 1 ? 0 : 1)) >>> 0;
  }
  const bits = Buffer.alloc(bytes);
  const probes = Math.round(bitsPerKey * Math.LN2);
  for (let i = 0; i < count; i++) {
    let h = hashes[i]!;
    const delta = ((h >>> 17) | (h << 15)) >>> 0;
    for (let j = 0; j < probes; j++) {
      const bit = h % m;
      bits[bit >> 3]! |= 1 << (bit & 7);
      h = (h + delta) >>> 0;
    }
  }
  const block = buildBloomFilter(hashes, count, bitsPerKey);
  const expected = Buffer.concat([bits, Buffer.from([probes])]);
  // The first byte that differs, not the whole block (uvu's diff of two long strings takes minutes).
  const differs = expected.findIndex((b, i) => block[i] !== b);
  assert.is(block.length, expected.length);
  assert.is(differs, -1, `filter byte ${differs}: ${block[differs]} instead of ${expected[differs]}`);
  const filter = new BloomFilter(block, 'f.sst', 0);
  for (let i = 0; i < count; i++) assert.ok(filter.mayContainHash(hashes[i]!), `hash ${hashes[i]} added`);
});

function handTable(formatVersion = 1): Buffer {
  const filter = handFilter(['apple', 'apricot'], 10); // 64 bits, 7 probes: 9 bytes
  const properties = hex(`
    01 00 00 00                # formatVersion 1
    03 00 00 00 00 00 00 00    # entries 3
    01 00 00 00 00 00 00 00    # deletions 1
    03 00 00 00 00 00 00 00    # smallestSeq 3
    07 00 00 00 00 00 00 00    # largestSeq 7
    11 00 00 00 00 00 00 00    # rawKeyBytes 5 + 5 + 7
    04 00 00 00 00 00 00 00    # rawValueBytes 3 + 0 + 1
    01 00 00 00                # dataBlocks 1
    05 61 70 70 6c 65          # smallestKey "apple"
    07 61 70 72 69 63 6f 74    # largestKey "apricot"
  `);
  const index = hex(`
    00 07 02 | 61 70 72 69 63 6f 74 | 05 00 00 00 00 00 00 00 | 01 | 00 40   # ("apricot", 5) -> handle offset 0, size 64
    00 00 00 00 | 01 00 00 00                                               # one restart, at 0
  `);
  // Frames: data @0 (64 + 5), filter @69 (9 + 5), properties @83 (70 + 5), index @158 (29 + 5), footer @192.
  const footerBody = hex(`
    45 00 00 00 00 00 00 00 | 09 00 00 00    # filter handle: 69, 9
    53 00 00 00 00 00 00 00 | 46 00 00 00    # properties handle: 83, 70
    9e 00 00 00 00 00 00 00 | 1d 00 00 00    # index handle: 158, 29
  `);
  const tail = Buffer.concat([footerBody, u32(formatVersion), hex('73 74 72 61 74 61 d8 5e')]);
  const footer = Buffer.concat([u32(xxh32(tail)), tail]);
  return Buffer.concat([frame(DATA_BLOCK), frame(filter), frame(properties), frame(index), footer]);
}

test('a version 1 table written by hand from the format opens and answers reads', async () => {
  const bytes = handTable();
  assert.is(bytes.length, 244);
  const reader = TableReader.open(new MemoryFile('hand.sst', bytes), 1, undefined);
  assert.equal(reader.properties, {
    formatVersion: 1,
    entries: 3,
    deletions: 1,
    smallestSeq: 3,
    largestSeq: 7,
    rawKeyBytes: 17,
    rawValueBytes: 4,
    dataBlocks: 1,
    rangeDeletions: 0,
    earliestExpiryMs: 0,
    smallestKey: new Uint8Array(Buffer.from('apple')),
    largestKey: new Uint8Array(Buffer.from('apricot')),
  });
  assert.equal(reader.rangeTombstones, []);
  const get = (key: string, seq: number) => {
    const e = reader.get(Buffer.from(key), seq);
    return e && `${e.seq}/${e.kind}/${Buffer.from(e.value)}`;
  };
  assert.is(get('apple', 100), '7/1/red');
  assert.is(get('apple', 6), '3/0/');
  assert.is(get('apple', 2), undefined);
  assert.is(get('apricot', 5), '5/1/x');
  assert.is(get('banana', 5), undefined);
});

/** The version 2 layout: the same entries, a range tombstone ["b", "c") at 6, a meta-index. */
function handTableV2(): Buffer {
  const filter = handFilter(['apple', 'apricot'], 10); // 9 bytes
  const rangeDel = hex(`
    01                         # one tombstone
    06 00 00 00 00 00 00 00    # seq 6
    01 62 | 01 | 01 63         # start "b", has an end, end "c"
  `);
  const metaIndex = hex(`
    02                                           # two blocks, by name
    06 66 69 6c 74 65 72 | 45 09                 # "filter" -> 69, 9
    08 72 61 6e 67 65 64 65 6c | 53 0e           # "rangedel" -> 83, 14
  `);
  const properties = hex(`
    02 00 00 00                # formatVersion 2
    03 00 00 00 00 00 00 00    # entries 3
    01 00 00 00 00 00 00 00    # deletions 1
    03 00 00 00 00 00 00 00    # smallestSeq 3
    07 00 00 00 00 00 00 00    # largestSeq 7
    11 00 00 00 00 00 00 00    # rawKeyBytes 17
    04 00 00 00 00 00 00 00    # rawValueBytes 4
    01 00 00 00                # dataBlocks 1
    01 00 00 00 00 00 00 00    # rangeDeletions 1
    00 00 00 00 00 00 00 00    # earliestExpiryMs 0: no put with a ttl
    05 61 70 70 6c 65          # smallestKey "apple"
    00 | 01 63                 # largestKey, a key: "c", the tombstone's end
  `);
  const index = hex(`
    00 07 02 | 61 70 72 69 63 6f 74 | 05 00 00 00 00 00 00 00 | 01 | 00 40
    00 00 00 00 | 01 00 00 00
  `);
  // Frames: data @0 (64 + 5), filter @69 (9 + 5), range-del @83 (14 + 5), meta-index @102
  // (21 + 5), properties @128 (81 + 5), index @214 (29 + 5), footer @248.
  const footerBody = hex(`
    66 00 00 00 00 00 00 00 | 15 00 00 00    # meta-index handle: 102, 21
    80 00 00 00 00 00 00 00 | 51 00 00 00    # properties handle: 128, 81
    d6 00 00 00 00 00 00 00 | 1d 00 00 00    # index handle: 214, 29
  `);
  const tail = Buffer.concat([footerBody, u32(2), hex('73 74 72 61 74 61 d8 5e')]);
  const footer = Buffer.concat([u32(xxh32(tail)), tail]);
  return Buffer.concat([frame(DATA_BLOCK), frame(filter), frame(rangeDel), frame(metaIndex), frame(properties), frame(index), footer]);
}

test('a version 2 table written by hand from the format opens with its range tombstone, and the builder writes the same bytes', async () => {
  const bytes = handTableV2();
  assert.is(bytes.length, 300);
  const reader = TableReader.open(new MemoryFile('hand2.sst', bytes), 1, undefined);
  assert.is(reader.properties.formatVersion, 2);
  assert.is(reader.properties.rangeDeletions, 1);
  assert.equal(Buffer.from(reader.properties.largestKey).toString(), 'c');
  assert.equal(
    reader.rangeTombstones.map((t) => [Buffer.from(t.start).toString(), t.end && Buffer.from(t.end).toString(), t.seq]),
    [['b', 'c', 6]],
  );
  const e = reader.get(Buffer.from('apple'), 100);
  assert.is(e && Buffer.from(e.value).toString(), 'red');

  const out = new MemoryWritable('built.sst');
  const builder = new TableBuilder(out, { restartInterval: 2, compression: 'none', bloomBitsPerKey: 10 });
  builder.add(Buffer.from('apple'), 7, ValueKind.Put, Buffer.from('red'));
  builder.addRangeTombstone({ start: Buffer.from('b'), end: Buffer.from('c'), seq: 6 });
  builder.add(Buffer.from('apple'), 3, ValueKind.Delete, Buffer.alloc(0));
  builder.add(Buffer.from('apricot'), 5, ValueKind.Put, Buffer.from('x'));
  const { fileSize } = await builder.finish();
  assert.is(fileSize, 300);
  assert.is(out.bytes.toString('hex'), bytes.toString('hex'));
});

test('a table of range tombstones only has no data block and opens', async () => {
  const out = new MemoryWritable('only.sst');
  const builder = new TableBuilder(out, {});
  builder.addRangeTombstone({ start: Buffer.from('m'), end: undefined, seq: 9 });
  builder.addRangeTombstone({ start: Buffer.from('a'), end: Buffer.from('b'), seq: 4 });
  const { properties } = await builder.finish();
  assert.is(properties.entries, 0);
  assert.is(properties.dataBlocks, 0);
  const reader = TableReader.open(new MemoryFile('only.sst', out.bytes), 1, undefined);
  assert.is(reader.properties.rangeDeletions, 2);
  assert.equal(Buffer.from(reader.properties.smallestKey).toString(), 'a');
  assert.is(reader.properties.largestKey.length, 64 * 1024 + 1, 'above every key');
  // Stored as one byte, not as the key: the whole table is small.
  assert.ok(out.bytes.length < 300, `${out.bytes.length} bytes`);
  assert.equal(reader.rangeTombstones.map((t) => [Buffer.from(t.start).toString(), t.end && Buffer.from(t.end).toString(), t.seq]), [['a', 'b', 4], ['m', undefined, 9]]);
  assert.is(reader.get(Buffer.from('a'), 100), undefined);
  const it = reader.iterator();
  it.seekToFirst();
  assert.not.ok(it.valid());
  it.seek(Buffer.from('m'));
  assert.not.ok(it.valid());
  it.close();
});

test('a table of an unknown format version is refused with NOT_SUPPORTED', () => {
  const path = '000009.sst';
  try {
    TableReader.open(new MemoryFile(path, handTable(9)), 9, undefined);
    assert.unreachable('opened');
  } catch (err) {
    assert.is((err as StrataError).code, 'NOT_SUPPORTED');
    assert.match((err as Error).message, `table format v9 in ${path}`);
  }
});

// A table of several blocks, some LZ4-compressed, to damage.
interface Sample {
  bytes: Buffer;
  entries: Array<{ key: Buffer; seq: number; kind: ValueKind; value: Buffer }>;
}
let sample: Sample;

test.before(async () => {
  const entries: Sample['entries'] = [];
  for (let i = 0; i < 120; i++) {
    const key = Buffer.from(`key-${String(i * 7).padStart(5, '0')}`);
    entries.push({ key, seq: 1000 - i, kind: ValueKind.Put, value: Buffer.alloc(i % 3 === 0 ? 0 : 40, i % 2 ? 'abab' : String(i)) });
    if (i % 10 === 0) entries.push({ key, seq: 10 - (i % 7), kind: ValueKind.Delete, value: Buffer.alloc(0) });
  }
  const out = new MemoryWritable('sample.sst');
  const builder = new TableBuilder(out, { blockBytes: 300 });
  for (const e of entries) builder.add(e.key, e.seq, e.kind, e.value);
  await builder.finish();
  sample = { bytes: out.bytes, entries };
});

interface Outcome {
  /** Where a read threw CORRUPTION ('open', 'get', 'scan'), or 'none'. */
  caught: string;
  message: string;
}

/** Opens `bytes` as `path`, scans it and gets every key, checking each answer against the sample. */
function readAll(path: string, bytes: Uint8Array): Outcome {
  let stage = 'open';
  try {
    const reader = TableReader.open(new MemoryFile(path, bytes), 1, undefined);
    stage = 'get';
    for (const e of sample.entries) {
      const got = reader.get(e.key, e.seq);
      assert.ok(got && got.seq === e.seq && got.kind === e.kind && Buffer.from(got.value).equals(e.value), `wrong answer for ${e.key}@${e.seq}`);
    }
    assert.is(reader.get(Buffer.from('key-00001'), 2000), undefined);
    stage = 'scan';
    const it = reader.iterator();
    let i = 0;
    for (it.seekToFirst(); it.valid(); it.next(), i++) {
      const e = sample.entries[i]!;
      assert.ok(Buffer.from(it.key()).equals(e.key) && it.seq() === e.seq && it.kind() === e.kind && Buffer.from(it.value()).equals(e.value), `wrong entry ${i}`);
    }
    assert.is(i, sample.entries.length);
    for (it.seekToLast(); it.valid(); it.prev()) i--;
    assert.is(i, 0);
    it.close();
    reader.close();
    return { caught: 'none', message: '' };
  } catch (err) {
    if (!(err instanceof StrataError)) throw err;
    assert.is(err.code, 'CORRUPTION', err.message);
    return { caught: stage, message: err.message };
  }
}

function damaged(at: number): Buffer {
  const copy = Buffer.from(sample.bytes);
  copy[at]! ^= 0x10;
  return copy;
}

function handles() {
  const size = sample.bytes.length;
  return decodeFooter(sample.bytes.subarray(size - FOOTER_BYTES), 'sample.sst', size - FOOTER_BYTES);
}

test('the undamaged sample table reads back whole', () => {
  assert.equal(readAll('sample.sst', sample.bytes), { caught: 'none', message: '' });
});

test('a damaged data block is reported by get() and iteration, naming the file and the block offset', () => {
  const outcome = readAll('000042.sst', damaged(10));
  assert.is(outcome.caught, 'get');
  assert.match(outcome.message, /^000042\.sst@0: data block checksum mismatch/);
  const reader = TableReader.open(new MemoryFile('000042.sst', damaged(10)), 42, undefined);
  const it = reader.iterator();
  assert.throws(() => it.seekToFirst(), (err: StrataError) => err.code === 'CORRUPTION' && /^000042\.sst@0: /.test(err.message));
  assert.not.ok(it.valid());
});

for (const [name, region] of [
  ['meta-index', 'meta'],
  ['properties', 'properties'],
  ['index', 'index'],
] as const) {
  test(`a damaged ${name} block fails open() with CORRUPTION at its offset`, () => {
    const h = handles()[region];
    for (const at of [h.offset, h.offset + (h.size >> 1), h.offset + h.size, h.offset + h.size + 4]) {
      const outcome = readAll('t.sst', damaged(at));
      assert.is(outcome.caught, 'open', `byte ${at}`);
      assert.match(outcome.message, `t.sst@${h.offset}: ${name} block checksum mismatch`);
    }
  });
}

test('a damaged footer fails open() with CORRUPTION, whichever byte it is', () => {
  const start = sample.bytes.length - FOOTER_BYTES;
  for (let at = start; at < sample.bytes.length; at++) {
    const outcome = readAll('t.sst', damaged(at));
    assert.is(outcome.caught, 'open', `byte ${at}`);
    assert.match(outcome.message, /^t\.sst@\d+: (footer checksum mismatch|bad table magic)/);
  }
});

test('a truncated table fails open() with CORRUPTION', () => {
  const size = sample.bytes.length;
  for (const length of [0, 1, FOOTER_BYTES - 1, FOOTER_BYTES, size >> 1, size - FOOTER_BYTES, size - 1]) {
    const outcome = readAll('t.sst', sample.bytes.subarray(0, length));
    assert.is(outcome.caught, 'open', `length ${length}`);
    assert.match(outcome.message, /^t\.sst@\d+: /);
  }
});

test('a footer whose checksum holds but whose handles are wrong fails open() with CORRUPTION', () => {
  const bytes = Buffer.from(sample.bytes);
  const start = bytes.length - FOOTER_BYTES;
  bytes.writeUInt32LE(bytes.readUInt32LE(start + 12) + 1, start + 12); // filter size
  bytes.writeUInt32LE(xxh32(bytes.subarray(start + 4)), start);
  assert.match(readAll('t.sst', bytes).message, /footer block handles do not match/);
});

test('flipping any byte of a table is caught as CORRUPTION naming the file and an offset, never a wrong answer', () => {
  for (let at = 0; at < sample.bytes.length; at++) {
    const outcome = readAll('000007.sst', damaged(at));
    assert.is.not(outcome.caught, 'none', `a flip at byte ${at} went unnoticed`);
    assert.match(outcome.message, /^000007\.sst@\d+: /);
  }
});

// The addon's decoding of an index block (native/index_decode.c) against decodeIndex's own:
// the same arrays for every table, and for damaged contents either the same arrays or the
// JavaScript's error (the addon declines what it does not accept: never laxer).

/** decodeIndex run through, with the addon's decoder or without it. */
function decodeWith(addon: boolean, block: Block, dataEnd: number, dataBlocks: number): { parts: unknown } | { error: string } {
  const calls = native as { decodeIndexBlock?: unknown };
  const saved = calls.decodeIndexBlock;
  if (!addon) delete calls.decodeIndexBlock;
  try {
    const decoding = decodeIndex(block, dataEnd, dataBlocks);
    let step = decoding.next();
    while (!step.done) step = decoding.next();
    const { arrays, skip } = step.value.nativeParts();
    return { parts: [...arrays.map((a) => [...a]), skip] };
  } catch (err) {
    return { error: String((err as Error).message) };
  } finally {
    if (saved !== undefined) calls.decodeIndexBlock = saved;
  }
}

/** A table of random keys (shared prefixes of random lengths) in small blocks, and its index block's contents, data end and block count. */
async function indexOf(seed: number): Promise<{ contents: Buffer; dataEnd: number; dataBlocks: number }> {
  const rng = new Rng(seed);
  const out = new MemoryWritable(`index-${seed}`);
  const builder = new TableBuilder(out, { blockBytes: 256, compression: 'none' });
  const keys = new Set<string>();
  const alphabet = 'abc\u00ff';
  while (keys.size < 600) {
    let k = '';
    const n = 1 + (rng.u32() % 30);
    for (let j = 0; j < n; j++) k += alphabet[rng.u32() % alphabet.length];
    keys.add(k);
  }
  const sorted = [...keys].map((k) => Buffer.from(k, 'latin1')).sort(Buffer.compare);
  for (const k of sorted) builder.add(k, rng.u32() % 2 === 0 ? 2 ** 40 + rng.u32() : rng.u32(), ValueKind.Put, Buffer.alloc(rng.u32() % 40, 7));
  await builder.finish();
  const bytes = out.bytes;
  const file = new MemoryFile(out.path, bytes);
  const footer = decodeFooter(bytes.subarray(bytes.length - FOOTER_BYTES), file.path, bytes.length - FOOTER_BYTES);
  const reader = TableReader.open(file, 1, undefined);
  const dataBlocks = reader.properties.dataBlocks;
  reader.close();
  const contents = readPhysicalBlock(new MemoryFile(out.path, bytes), footer.index.offset, footer.index.size, 'index block');
  const metaOffset = footer.formatVersion === 1 ? footer.meta.offset : decodeMetaIndex(readPhysicalBlock(new MemoryFile(out.path, bytes), footer.meta.offset, footer.meta.size, 'meta-index block'), file.path, footer.meta.offset).get('filter')!.offset;
  return { contents, dataEnd: metaOffset, dataBlocks };
}

test('the addon decodes an index block into the arrays decodeIndex makes, and declines damaged ones to it', async () => {
  const rng = new Rng(77);
  for (let seed = 1; seed <= 6; seed++) {
    const { contents, dataEnd, dataBlocks } = await indexOf(seed);
    assert.ok(dataBlocks > 40, `${dataBlocks} data blocks`);
    const block = new Block(contents, 'idx', 0);
    const js = decodeWith(false, block, dataEnd, dataBlocks);
    assert.ok('parts' in js);
    assert.equal(decodeWith(true, block, dataEnd, dataBlocks), js, `seed ${seed}`);
    // Wrong counts and ends, then damaged entries (the restart array left whole).
    for (const [end, count] of [[dataEnd + 1, dataBlocks], [dataEnd, dataBlocks - 1], [dataEnd, dataBlocks + 1]] as const) {
      assert.equal(decodeWith(true, block, end, count), decodeWith(false, block, end, count));
    }
    let errors = 0;
    for (let k = 0; k < 300; k++) {
      const damaged = Buffer.from(contents);
      const at = rng.u32() % block.restartsOffset;
      damaged[at] = k % 3 === 0 ? 0xff : k % 3 === 1 ? damaged[at]! ^ (1 << rng.u32() % 8) : rng.u32() & 0xff;
      let b: Block;
      try {
        b = new Block(damaged, 'idx', 0);
      } catch {
        continue;
      }
      const want = decodeWith(false, b, dataEnd, dataBlocks);
      if ('error' in want) errors++;
      assert.equal(decodeWith(true, b, dataEnd, dataBlocks), want, `seed ${seed}, byte ${at} damaged`);
    }
    assert.ok(errors > 50, `${errors} damaged index blocks refused`);
  }
});

test.run();
