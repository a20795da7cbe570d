// The native addon's calls (src/base/native.ts) and their JavaScript fallbacks, through
// NodeFileSystem: the same results either way, errors as IO_ERROR with the errno kept, and a
// preallocated WAL that reopens with exactly the acknowledged records. The suite runs twice in
// `npm test`, the second time with STRATADB_NATIVE=0 (the fallback everywhere).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadChecksum, NodeFileSystem } from '../src/base/index.js';
import { native, nativeIo } from '../src/base/native.js';
import { open } from '../src/index.js';
import { FaultInjectingFileSystem } from '../src/testing/index.js';
import { LogWriter, readLog, readLogFile, RecordType, WAL_ALLOCATION_UNIT, WAL_PREALLOCATE_MIN_BYTES } from '../src/wal/index.js';
import { RECORD_HEADER_BYTES } from '../src/wal/record-format.js';
import { logEnd } from './damage.js';
import { compressSync as lz4NapiCompress, uncompressSync as lz4NapiUncompress } from 'lz4-napi';
import { choosePayload, Compression, payloadRoom, prefaultMappedRange, putPayload, readPhysicalBlock, readPhysicalBlockAsync, readPhysicalBlockTransient, releaseMappedBelow, sealPhysicalBlock, transientReads } from '../src/sstable/physical-block.js';
import { expectCode, newestFile, Rng, withTempDir } from './helpers.js';

await loadChecksum();

const forcedOff = process.env['STRATADB_NATIVE'] === '0';
const bytes = (s: string) => Buffer.from(s);

/** The error `promise` rejects with; fails the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<{ code?: string; syscall?: string; written?: number }> {
  try {
    await promise;
  } catch (err) {
    return err as { code?: string; syscall?: string; written?: number };
  }
  throw new assert.Assertion({ message: 'the call resolved', operator: 'rejects', expects: 'a rejection', actual: 'a resolution' });
}

/** The error `run` throws; fails the test if it returns. */
function thrown(run: () => unknown): { code?: string; syscall?: string } {
  try {
    run();
  } catch (err) {
    return err as { code?: string; syscall?: string };
  }
  throw new assert.Assertion({ message: 'the call returned', operator: 'throws', expects: 'a throw', actual: 'a return' });
}

test('STRATADB_NATIVE=0 turns every native call off and says so', () => {
  if (forcedOff) {
    assert.is(nativeIo.addon, 'disabled');
    assert.equal(nativeIo.calls, []);
    assert.equal(Object.keys(native), []);
  } else {
    assert.equal(Object.keys(native).sort(), [...nativeIo.calls].sort(), 'the status names exactly the calls in use');
  }
});

test('the environment variable really forces the fallback in a fresh process', () => {
  const loader = new URL('../src/base/native.js', import.meta.url).href;
  const script = `import(${JSON.stringify(loader)}).then((m) => console.log(JSON.stringify(m.nativeIo)))`;
  const run = (value: string) => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, STRATADB_NATIVE: value } });
    assert.is(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { addon: string; calls: string[] };
  };
  assert.equal(run('0'), { addon: 'disabled', calls: [], reason: 'STRATADB_NATIVE=0' });
  const some = run('appendAndSync');
  if (some.addon === 'loaded') assert.equal(some.calls, ['appendAndSync'], 'a list picks the calls');
  else assert.equal(some.calls, [], 'without the addon no call is native');
});

test('lz4-napi is loaded only where the addon does not compress and decompress: a database written, flushed, compacted and read in a fresh process', () => {
  const index = new URL('../src/index.js', import.meta.url).href;
  const script = `
    import { createRequire } from 'node:module';
    import * as fs from 'node:fs';
    import * as os from 'node:os';
    import * as path from 'node:path';
    const { open } = await import(${JSON.stringify(index)});
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-lz4-'));
    const db = await open(dir);
    for (let i = 0; i < 2000; i++) await db.put('key-' + i, 'a value that compresses '.repeat(8) + i);
    await db.flush();
    await db.compactRange();
    await db.close();
    const again = await open(dir);
    const value = await again.get('key-1234');
    await again.close();
    fs.rmSync(dir, { recursive: true });
    const loaded = Object.keys(createRequire(import.meta.url).cache).some((f) => f.includes('lz4-napi'));
    console.log(JSON.stringify({ loaded, value: value.toString().endsWith('1234') }));`;
  const run = (value: string | undefined) => {
    const env = { ...process.env };
    if (value === undefined) delete env.STRATADB_NATIVE;
    else env.STRATADB_NATIVE = value;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env });
    assert.is(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { loaded: boolean; value: boolean };
  };
  assert.equal(run('0'), { loaded: true, value: true }, 'without the addon, lz4-napi compresses and decompresses');
  const withAddon = run(undefined);
  assert.ok(withAddon.value);
  if (native.compressLz4 !== undefined && native.readBlock !== undefined) assert.is(withAddon.loaded, false, 'with the addon it is never loaded');
});

test('the native flock reports errno codes: EWOULDBLOCK when held through another descriptor, EBADF on a closed one', () => {
  const { flock, funlock } = native;
  if (flock === undefined || funlock === undefined) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-flock-'));
  const file = path.join(dir, 'LOCK');
  const a = fs.openSync(file, 'w');
  const b = fs.openSync(file, 'r');
  try {
    flock(a);
    let err = thrown(() => flock(b));
    assert.equal([err.code, err.syscall], ['EWOULDBLOCK', 'flock'], 'another open file description is refused at once');
    funlock(a);
    flock(b);
    fs.closeSync(a);
    err = thrown(() => flock(a));
    assert.equal([err.code, err.syscall], ['EBADF', 'flock']);
  } finally {
    fs.closeSync(b);
    fs.rmSync(dir, { recursive: true });
  }
});

test('appendAndSync() writes every chunk in order at the end of the file', async () => {
  await withTempDir(async (dir) => {
    const file = await new NodeFileSystem().createWritable(path.join(dir, 'a'));
    await file.append(bytes('head|'));
    await file.appendAndSync!([bytes('one|'), new Uint8Array(0), bytes('two|')]);
    await file.appendAndSync!(bytes('three'));
    await file.append(bytes('|tail'));
    assert.is(file.size, 23);
    await file.close();
    assert.is(fs.readFileSync(path.join(dir, 'a'), 'latin1'), 'head|one|two|three|tail');
  });
});

test('the native appendAndSync on a closed descriptor rejects with its errno, and NodeFileSystem turns it into IO_ERROR', async () => {
  const appendAndSync = native.appendAndSync;
  if (appendAndSync === undefined) return;
  await withTempDir(async (dir) => {
    const fd = fs.openSync(path.join(dir, 'a'), 'w');
    fs.closeSync(fd);
    const err = await rejection(appendAndSync(fd, [bytes('x')], 0));
    assert.is(err.code, 'EBADF');
    assert.is(err.syscall, 'pwritev');
    assert.is(err.written, 0);
  });
});

test('appendAndSync() after close() is CLOSED, with or without the addon', async () => {
  await withTempDir(async (dir) => {
    const file = await new NodeFileSystem().createWritable(path.join(dir, 'a'));
    await file.close();
    await expectCode(() => file.appendAndSync!(bytes('x')), 'CLOSED');
  });
});

test('a failed write inside the native appendAndSync rejects with its errno and no sync', async () => {
  if (native.appendAndSync === undefined) return;
  // /dev/full refuses writes with ENOSPC.
  if (!fs.existsSync('/dev/full')) return;
  const fd = fs.openSync('/dev/full', 'w');
  try {
    const err = await rejection(native.appendAndSync(fd, [bytes('x')], 0));
    assert.is(err.code, 'ENOSPC');
    assert.is(err.syscall, 'pwritev');
  } finally {
    fs.closeSync(fd);
  }
});

test('preallocate() makes the file longer with zeros, appends go on at size, trimToSize() cuts the zeros', async () => {
  await withTempDir(async (dir) => {
    const p = path.join(dir, 'a');
    const file = await new NodeFileSystem().createWritable(p);
    await file.append(bytes('abc'));
    const done = await file.preallocate!(4096);
    assert.is(done, native.fallocate !== undefined, 'preallocation happens with the native call only');
    assert.is(fs.statSync(p).size, done ? 4096 : 3);
    await file.appendAndSync!(bytes('def'));
    assert.is(file.size, 6);
    const content = fs.readFileSync(p);
    assert.is(content.subarray(0, 6).toString(), 'abcdef');
    assert.ok(content.subarray(6).every((b) => b === 0), 'zeros after the appended bytes');
    await file.trimToSize!();
    await file.sync();
    await file.close();
    assert.is(fs.readFileSync(p, 'latin1'), 'abcdef');
  });
});

test('a preallocated log reads back exactly its records; sync() cuts the zeros so that it can be read strictly', async () => {
  await withTempDir(async (dir) => {
    const p = path.join(dir, '000001.log');
    const writer = await LogWriter.create(new NodeFileSystem(), p, { preallocateBytes: 64 * 1024 });
    const payloads = Array.from({ length: 50 }, (_, i) => Buffer.alloc(100 + i, i + 1));
    for (let i = 0; i < payloads.length; i += 5) await writer.addRecords(RecordType.Batch, payloads.slice(i, i + 5), i % 10 === 0);
    const live = await readLogFile(new NodeFileSystem(), p, { mode: 'tolerate-tail' });
    assert.is(live.records.length, 50);
    if (native.fallocate !== undefined) assert.ok(fs.statSync(p).size > writer.size, 'the file is allocated past its records');
    await writer.sync();
    assert.is(fs.statSync(p).size, writer.size, 'sync() left no zeros');
    const strict = await readLogFile(new NodeFileSystem(), p, { mode: 'strict' });
    assert.equal(strict.records.map((r) => Buffer.from(r.payload)), payloads);
    await writer.close();
  });
});

test('a log is allocated ahead by as much as it holds, from 16 KiB up to preallocateBytes', async () => {
  if (native.fallocate === undefined) return;
  await withTempDir(async (dir) => {
    const p = path.join(dir, '000001.log');
    const cap = 256 * 1024;
    const writer = await LogWriter.create(new NodeFileSystem(), p, { preallocateBytes: cap });
    await writer.addRecords(RecordType.Batch, [Buffer.alloc(100, 1)], false);
    const small = fs.statSync(p).size;
    assert.ok(small > writer.size && small <= writer.size + WAL_PREALLOCATE_MIN_BYTES, `a small log holds ${small} bytes for ${writer.size}`);
    const aheads: number[] = [];
    let allocated = small;
    for (let i = 0; i < 400; i++) {
      await writer.addRecords(RecordType.Batch, [Buffer.alloc(4000, 2)], false);
      const now = fs.statSync(p).size;
      if (now !== allocated) aheads.push(now - writer.size);
      allocated = now;
    }
    assert.ok(aheads.length >= 5, `${aheads.length} steps`);
    // (Each length is a whole number of allocation units: a step may fall short by one.)
    for (let i = 1; i < aheads.length; i++) assert.ok(aheads[i]! >= aheads[i - 1]! - WAL_ALLOCATION_UNIT, `steps grow: ${aheads.join(', ')}`);
    assert.is(fs.statSync(p).size % WAL_ALLOCATION_UNIT, 0, 'the length is a whole number of units');
    assert.ok(aheads.at(-1)! > cap / 2 && aheads.at(-1)! <= cap, `the last step is about the cap: ${aheads.join(', ')}`);
    await writer.close();
  });
});

test('walPreallocateBytes: 0 leaves a WAL at its records', async () => {
  await withTempDir(async (dir) => {
    const db = await open(dir, { walPreallocateBytes: 0 });
    await db.put('k', 'v', { sync: true });
    const wal = newestFile(dir, '.log');
    assert.is(fs.statSync(wal).size, logEnd(wal));
    await db.close();
    await expectCode(() => open(dir, { walPreallocateBytes: -1 }), 'INVALID_ARGUMENT');
  });
});

test('a database with preallocated WALs reopens after a power cut with exactly the acknowledged synced writes', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
    const db = await open(dir, { fs: ffs, memtableBytes: 64 * 1024 });
    const acked: string[] = [];
    for (let i = 0; i < 400; i++) {
      const key = `k${String(i).padStart(4, '0')}`;
      await db.put(key, `value ${i} `.repeat(5), { sync: i % 3 === 0 });
      if (i % 3 === 0) acked.push(key);
    }
    await db.put('unsynced', 'x');
    const wal = newestFile(dir, '.log');
    if (native.fallocate !== undefined) assert.ok(fs.statSync(wal).size > logEnd(wal), 'the newest WAL is preallocated');
    await ffs.powerCut();
    await db.close().catch(() => undefined);
    const again = await open(dir);
    for (const key of acked) assert.ok(again.getSync(key) !== undefined, `${key} was synced and survives`);
    await again.close();
  });
});

test('a record never ends where the preallocated zeros end, so a torn record there is a torn tail', async () => {
  if (native.fallocate === undefined) return;
  await withTempDir(async (dir) => {
    const p = path.join(dir, '000001.log');
    const writer = await LogWriter.create(new NodeFileSystem(), p, { preallocateBytes: 64 * 1024 });
    await writer.addRecords(RecordType.Batch, [Buffer.alloc(100, 1)], false);
    // A record that fills the allocated bytes exactly (its payload ends in non-zero bytes).
    const allocated = fs.statSync(p).size;
    const payload = allocated - writer.size - RECORD_HEADER_BYTES;
    await writer.addRecords(RecordType.Batch, [Buffer.alloc(payload, 3)], false);
    const end = writer.size;
    assert.ok(fs.statSync(p).size > end, `zeros follow the last record (file ${fs.statSync(p).size}, records ${end})`);
    await writer.close();
    // A power cut that kept only part of that record: its last bytes read back as zeros.
    const bytes = fs.readFileSync(p);
    bytes.fill(0, end - 40, end);
    const read = readLog(bytes, p, { mode: 'tolerate-tail' });
    assert.ok(read.tornTail, 'a torn tail');
    assert.is(read.records.length, 1, 'the first record survives');
  });
});

test('a group that runs past a synced allocation, torn where a power cut kept the old length (a whole number of units), is a torn tail', async () => {
  if (native.fallocate === undefined) return;
  await withTempDir(async (dir) => {
    const p = path.join(dir, '000001.log');
    const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
    const writer = await LogWriter.create(ffs, p, { preallocateBytes: 64 * 1024 });
    await ffs.syncDir(dir);
    // A synced group: the file's allocated length is durable with it.
    await writer.addRecords(RecordType.Batch, [Buffer.alloc(100, 1)], true);
    const allocated = fs.statSync(p).size;
    const first = writer.size;
    // One group whose first record ends exactly at the synced allocation and whose second runs
    // past it (seen in CI's 4-shard power-cut test).
    const payload = allocated - first - RECORD_HEADER_BYTES;
    await writer.addRecords(RecordType.Batch, [Buffer.alloc(payload, 3), Buffer.alloc(1000, 4)], false);
    // The power goes before the group is synced; the disk kept half of its first record.
    await ffs.powerCut({ keepUnsynced: () => Math.floor((allocated - first) / 2) });
    await writer.close().catch(() => undefined);
    assert.is(fs.statSync(p).size, allocated, 'the new allocation was not synced: the file ends at the old one');
    assert.is(allocated % WAL_ALLOCATION_UNIT, 0);
    const read = readLog(fs.readFileSync(p), p, { mode: 'tolerate-tail', allocationUnit: WAL_ALLOCATION_UNIT });
    assert.ok(read.tornTail, 'a torn tail');
    assert.is(read.records.length, 1, 'the synced record survives');
    // The control: without the rule of whole units, the record reads as one damaged later.
    await expectCode(() => readLog(fs.readFileSync(p), p, { mode: 'tolerate-tail' }), 'CORRUPTION');
  });
});

test('a WAL append torn inside a preallocated file is a torn tail, not corruption', async () => {
  await withTempDir(async (dir) => {
    const ffs = new FaultInjectingFileSystem(undefined, { syncs: 'simulated' });
    const db = await open(dir, { fs: ffs });
    for (let i = 0; i < 20; i++) await db.put(`k${i}`, 'v'.repeat(200), { sync: true });
    ffs.tearNextWrite(60, { op: 'append', path: /\.log$/ });
    await expectCode(() => db.put('torn', 'w'.repeat(200), { sync: true }), 'IO_ERROR');
    await ffs.whenPowerCut();
    await db.close().catch(() => undefined);
    const again = await open(dir);
    for (let i = 0; i < 20; i++) assert.ok(again.getSync(`k${i}`) !== undefined, `k${i} survives`);
    assert.is(again.getSync('torn'), undefined, 'the torn write is gone');
    await again.close();
  });
});

/** Bytes that LZ4 compresses (runs and repeats) mixed with noise, from `seed`. */
function blockContents(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = (x >>> 28) < 13 ? (i >= 37 ? out[i - 37]! : 65) : x >>> 24;
  }
  return out;
}

test('readPhysicalBlock() returns the same contents with and without the native readBlock, for every size and compression, and reports damage the same way', () => {
  withTempDirSync((dir) => {
    const file = path.join(dir, 'blocks');
    const { frames, at } = writeFrames(file, [0, 1, 63, 64, 100, 4096, 70_000, 1 << 20]);
    const reader = new NodeFileSystem().openReadable(file);
    try {
      for (const f of frames) assert.ok(readPhysicalBlock(reader, f.offset, f.size, 'data block').equals(f.contents), `block at ${f.offset} of ${f.size} bytes`);
      assert.throws(() => readPhysicalBlock(reader, at - 10, 20, 'data block'), /runs past the end of the file/);
    } finally {
      reader.close();
    }
    // An LZ4 payload damaged after it was checksummed (sealed again over the damage): never a
    // crash or a read outside the buffers, a CORRUPTION or (rarely) other bytes of the right length.
    const big = frames.find((f) => f.size > 1000 && f.size < f.contents.length)!;
    const original = fs.readFileSync(file).subarray(big.offset, big.offset + big.size + 5);
    for (let trial = 0; trial < 200; trial++) {
      const damaged = Buffer.from(original);
      const where = 4 + ((trial * 7919) % (big.size - 4));
      damaged[where] = damaged[where]! ^ (1 + (trial % 255));
      sealPhysicalBlock(damaged, 0, big.size, damaged[big.size] as 0 | 1);
      fs.writeFileSync(file, damaged);
      const r = new NodeFileSystem().openReadable(file);
      try {
        const contents = readPhysicalBlock(r, 0, big.size, 'data block');
        assert.is(contents.length, big.contents.length);
      } catch (err) {
        assert.match(String(err), /data block (does not decompress|decompressed to)/, String(err));
      } finally {
        r.close();
      }
    }
  });
});

test('readPhysicalBlockAsync() returns what readPhysicalBlock() returns, compressed or not; the addon hands contents of their own over as a LoadedBlock that adoptBlock() makes a Buffer once', async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, 'blocks');
    const { frames, at } = writeFrames(file, [100, 1 << 20, (3 << 20) + 17]);
    const reader = new NodeFileSystem().openReadable(file);
    try {
      for (const f of frames) {
        const contents = await readPhysicalBlockAsync(reader, f.offset, f.size, 'data block');
        assert.ok(contents.equals(f.contents), `block at ${f.offset} of ${f.size} bytes`);
        assert.ok(contents.equals(readPhysicalBlock(reader, f.offset, f.size, 'data block')), 'the same as readPhysicalBlock()');
      }
      await expectCode(() => readPhysicalBlockAsync(reader, at - 10, 20, 'data block'), 'CORRUPTION', 'a frame past the end of the file');
      const { readBlockAsync, adoptBlock } = native;
      if (readBlockAsync === undefined || adoptBlock === undefined || reader.fd === undefined) return;
      const f = frames.find((x) => x.contents.length > 1 << 20 && x.size < x.contents.length)!;
      const loaded = await readBlockAsync(reader.fd, f.offset, f.size, Compression.None, Compression.Lz4, 1 << 30);
      assert.not.ok(loaded instanceof Uint8Array, 'not a Buffer yet');
      assert.type(loaded, 'object');
      const contents = adoptBlock(loaded as Parameters<typeof adoptBlock>[0]);
      assert.ok(contents.equals(f.contents), 'adopted: the contents');
      assert.throws(() => adoptBlock(loaded as Parameters<typeof adoptBlock>[0]), /already adopted/, 'a second adoption');
      assert.throws(() => adoptBlock({} as Parameters<typeof adoptBlock>[0]), /adoptBlock\(loaded\)/, 'not a LoadedBlock');
      // One never adopted is freed by the collector with its handle: nothing to see but no crash.
      await readBlockAsync(reader.fd, f.offset, f.size, Compression.None, Compression.Lz4, 1 << 30);
    } finally {
      reader.close();
    }
  });
});

test('LZ4 blocks of every sequence shape decode exactly: literal runs and matches short and long, near and far, overlapping, at the ends of the block', () => {
  withTempDirSync((dir) => {
    const file = path.join(dir, 'shapes');
    let s = 0x2545f491;
    const next = (n: number) => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return (s >>> 0) % n;
    };
    const blocks: Buffer[] = [];
    for (let b = 0; b < 400; b++) {
      const length = b < 100 ? 1 + b * 3 : 1 + next(6000);
      const out = Buffer.alloc(length);
      let at = 0;
      while (at < length) {
        const literals = next(4) === 0 ? next(300) : next(21);
        for (let i = 0; i < literals && at < length; i++) out[at++] = next(256);
        if (at === 0) continue;
        const offset = 1 + next(Math.min(at, next(2) === 0 ? 16 : 70_000));
        const match = next(3) === 0 ? 4 + next(300) : 4 + next(37);
        for (let i = 0; i < match && at < length; i++, at++) out[at] = out[at - offset]!;
      }
      blocks.push(out);
    }
    const { frames } = writeBlocks(file, blocks.map((contents) => ({ contents, lz4: true })));
    const reader = new NodeFileSystem().openReadable(file);
    try {
      assert.ok(frames.filter((f) => f.size < f.contents.length).length > 300, 'most blocks are compressed');
      for (const f of frames) assert.ok(readPhysicalBlock(reader, f.offset, f.size, 'data block').equals(f.contents), `block at ${f.offset}: ${f.size} bytes for ${f.contents.length}`);
    } finally {
      reader.close();
    }
  });
});

test('compressLz4 writes LZ4 that lz4-napi and the addon both decode to the contents, for inputs of every shape', () => {
  const compressLz4 = native.compressLz4;
  if (compressLz4 === undefined) return;
  const rng = new Rng(12345);
  const rand = () => rng.u32();
  const inputs: Buffer[] = [];
  for (let n = 0; n <= 40; n++) inputs.push(Buffer.alloc(n, 7)); // runs, near and below the format's 13-byte minimum
  for (let n = 0; n <= 40; n++) inputs.push(Buffer.from(Array.from({ length: n }, () => rand() & 255))); // nothing repeats
  const shapes = [64, 100, 255, 256, 270, 4096, 4100, 65535, 65536, 70000, 200000];
  for (const n of shapes) {
    inputs.push(Buffer.from(Array.from({ length: n }, () => rand() & 255)));
    inputs.push(Buffer.alloc(n, 0x41)); // one long match at offset 1, overlapping itself
    // A period p repeated: matches p back, for p near the format's limits (4-byte matches, 64 KiB offsets).
    for (const period of [1, 3, 4, 5, 17, 255, 1000, 40000, 65535, 65536, 70000]) {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = i % period < 40000 ? (i % period) * 31 + (i % period >> 8) : rand() & 255;
      inputs.push(b);
    }
    // Table-like: keys and values with literal runs of every length between matches.
    const t = Buffer.alloc(n);
    for (let i = 0; i < n; ) {
      const lit = rand() % 300;
      for (let j = 0; j < lit && i < n; j++) t[i++] = rand() & 255;
      const len = 4 + (rand() % 300);
      const back = 1 + (rand() % Math.min(i || 1, 70000));
      for (let j = 0; j < len && i < n; j++, i++) t[i] = i >= back ? t[i - back]! : 0;
    }
    inputs.push(t);
  }
  for (const contents of inputs) {
    const out = Buffer.alloc(7 + payloadRoom(contents.length, true));
    out.fill(0xee);
    const written = compressLz4(contents, out, 7);
    assert.ok(written <= 4 + contents.length + Math.floor(contents.length / 255) + 16, `${written} bytes for ${contents.length}`);
    assert.is(out.readUInt32LE(7), contents.length);
    const payload = out.subarray(7, 7 + written);
    assert.equal(lz4NapiUncompress(payload), contents, `lz4-napi decodes ${contents.length} bytes`);
    // The addon's decoder, through a frame: what readPhysicalBlock() returns.
    withTempDirSync((dir) => {
      const frame = Buffer.alloc(written + 5);
      payload.copy(frame);
      sealPhysicalBlock(frame, 0, written, 1);
      const file = path.join(dir, 'b');
      fs.writeFileSync(file, frame);
      const readable = new NodeFileSystem().openReadable(file);
      try {
        assert.equal(Buffer.from(readPhysicalBlock(readable, 0, written, 'data block')), contents);
      } finally {
        readable.close();
      }
    });
  }
  // It compresses: a table-like block to within a tenth of lz4-napi's size.
  const block = inputs[inputs.length - 1]!.subarray(0, 4096);
  const ours = compressLz4(block, Buffer.alloc(payloadRoom(4096, true)), 0);
  assert.ok(ours <= lz4NapiCompress(block).length * 1.1, `${ours} against lz4-napi's ${lz4NapiCompress(block).length}`);
  assert.throws(() => compressLz4(block, Buffer.alloc(4096), 0), /room/);
});

test('putPayload() stores a block as choosePayload() chooses: LZ4 only when it saves an eighth', () => {
  const room = (n: number) => Buffer.alloc(payloadRoom(n, true));
  const compressible = Buffer.alloc(4096, 9);
  const put = putPayload(compressible, true, room(4096), 0);
  assert.is(put.compression, 1);
  assert.ok(put.length < 100);
  const rng = new Rng(99);
  const random = Buffer.from(Array.from({ length: 4096 }, () => rng.u32() & 255));
  const out = room(4096);
  const raw = putPayload(random, true, out, 0);
  assert.equal([raw.compression, raw.length], [0, 4096]);
  assert.equal(out.subarray(0, 4096), random);
  assert.equal(putPayload(compressible, false, room(4096), 0), { length: 4096, compression: 0 });
  assert.equal(putPayload(Buffer.alloc(63, 1), true, room(63), 0), { length: 63, compression: 0 }, 'under 64 bytes: stored as it is');
});

test('readPhysicalBlockTransient() reads from the mapped file what readPhysicalBlock() reads, checks it the same way, and leaves blocks over 1 MiB to it', () => {
  if (!transientReads) return;
  withTempDirSync((dir) => {
    const file = path.join(dir, 'blocks');
    const { frames, at } = writeFrames(file, [1, 63, 64, 100, 4096, 70_000, 1 << 20, (1 << 20) + 1]);
    const reader = new NodeFileSystem().openReadable(file);
    try {
      for (const f of frames) {
        const contents = readPhysicalBlockTransient(reader, f.offset, f.size, 'data block');
        if (f.contents.length > 1 << 20) assert.is(contents, undefined, `block at ${f.offset} of ${f.contents.length} bytes`);
        else assert.ok(contents?.equals(f.contents), `block at ${f.offset} of ${f.size} bytes`);
      }
      // The view is the scratch buffer: the next read replaces its bytes.
      const first = readPhysicalBlockTransient(reader, frames[4]!.offset, frames[4]!.size, 'data block')!;
      readPhysicalBlockTransient(reader, frames[2]!.offset, frames[2]!.size, 'data block');
      assert.not.ok(first.equals(frames[4]!.contents));
      expectThrows(() => readPhysicalBlockTransient(reader, at - 10, 20, 'data block'), 'CORRUPTION', /data block of 20 bytes runs past the end of the file/);
    } finally {
      reader.close();
    }
    expectThrows(() => reader.mapped!(), 'CLOSED', /blocks/);
    // A flipped bit: the checksum fails before a byte is used, with the file and offset named.
    const bytes = fs.readFileSync(file);
    const f = frames[5]!;
    bytes[f.offset + 10] = bytes[f.offset + 10]! ^ 1;
    fs.writeFileSync(file, bytes);
    const damaged = new NodeFileSystem().openReadable(file);
    try {
      expectThrows(() => readPhysicalBlockTransient(damaged, f.offset, f.size, 'data block'), 'CORRUPTION', new RegExp(`blocks@${f.offset}: data block checksum mismatch`));
    } finally {
      damaged.close();
    }
  });
});

test('releaseMappedBelow() takes the pages of a mapping that a reader went through out of the resident set; read again, they are the same', () => {
  if (!transientReads || native.releaseMapped === undefined) return;
  const rssFile = () => Number(/RssFile:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;
  withTempDirSync((dir) => {
    const file = path.join(dir, 'blocks');
    // 24 MiB of blocks that do not compress, so that the mapping's pages are the bytes read.
    const rng = new Rng(7);
    const blocks = Array.from({ length: 384 }, () => ({ contents: Buffer.from(Array.from({ length: 65536 }, () => rng.u32() & 255)), lz4: false }));
    const { frames, at } = writeBlocks(file, blocks);
    const reader = new NodeFileSystem().openReadable(file);
    try {
      const readAll = () => {
        for (const f of frames) assert.ok(readPhysicalBlockTransient(reader, f.offset, f.size, 'data block')?.equals(f.contents));
      };
      readAll();
      const before = rssFile();
      releaseMappedBelow(reader, at);
      const after = rssFile();
      assert.ok(before - after >= 16 << 20, `the resident file pages fell by ${((before - after) / 2 ** 20).toFixed(1)} MiB`);
      assert.is(native.releaseMapped!(reader.mapped!()!, 10_000), 8192, 'whole pages below the end only');
      readAll();
    } finally {
      reader.close();
    }
  });
});

test('prefaultMappedRange() maps in the pages the page cache holds, off the event loop; unmapped under it, the mapping goes when it ends', async () => {
  if (!transientReads || native.prefaultMapped === undefined) return;
  const rssFile = () => Number(/RssFile:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;
  await withTempDir(async (dir) => {
    const file = path.join(dir, 'blocks');
    const rng = new Rng(8);
    const blocks = Array.from({ length: 384 }, () => ({ contents: Buffer.from(Array.from({ length: 65536 }, () => rng.u32() & 255)), lz4: false }));
    const { frames, at } = writeBlocks(file, blocks);
    const reader = new NodeFileSystem().openReadable(file);
    try {
      reader.mapped!();
      const before = rssFile();
      const bytes = await prefaultMappedRange(reader, 0, at);
      const after = rssFile();
      // The file was just written: the page cache holds it, and nothing else reads it.
      assert.ok(bytes >= 16 << 20 && bytes <= at + 4096, `${bytes} bytes of ${at}`);
      assert.ok(after - before >= 16 << 20, `the resident file pages grew by ${((after - before) / 2 ** 20).toFixed(1)} MiB`);
      assert.is(await prefaultMappedRange(reader, 4096, 4096), 0, 'an empty range');
      for (const f of frames) assert.ok(readPhysicalBlockTransient(reader, f.offset, f.size, 'data block')?.equals(f.contents));
      native.releaseMapped!(reader.mapped!()!, at);
    } finally {
      reader.close();
    }
    const mapped = () => fs.readFileSync('/proc/self/maps', 'utf8').includes(file);
    assert.not.ok(mapped());
    // Closed (unmapped) while its job reads: the job stops, and the mapping goes when it ends.
    const again = new NodeFileSystem().openReadable(file);
    again.mapped!();
    const running = prefaultMappedRange(again, 0, at);
    again.close();
    assert.ok((await running) <= at + 4096);
    assert.not.ok(mapped(), 'unmapped once the job ended');
    expectCode(() => prefaultMappedRange(again, 0, at), 'CLOSED');
  });
});

test('open() maps in the pages of its tables that the page cache holds, after opening them; close() right after open() waits for none of it', async () => {
  if (!transientReads || native.prefaultMapped === undefined) return;
  const rssFile = () => Number(/RssFile:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;
  await withTempDir(async (dir) => {
    const rng = new Rng(9);
    let db = await open(dir, { compactionWorkers: 0, compression: 'none' });
    for (let round = 0; round < 4; round++) {
      await db.batch(Array.from({ length: 2000 }, (_, i) => ({ type: 'put' as const, key: `k${round}-${String(i).padStart(5, '0')}`, value: Buffer.from(Array.from({ length: 2000 }, () => rng.u32() & 255)) })));
      await db.flush();
    }
    await db.close();
    const tableBytes = fs.readdirSync(dir).filter((f) => f.endsWith('.sst')).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
    assert.ok(tableBytes > 12 << 20, `${tableBytes} bytes of tables`);
    // Closed at once: nothing waits for the tables' pages.
    db = await open(dir, { compactionWorkers: 0 });
    await db.close();
    const before = rssFile();
    db = await open(dir, { compactionWorkers: 0 });
    const deadline = Date.now() + 10_000;
    while (rssFile() - before < tableBytes * 0.8 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const grown = rssFile() - before;
    assert.ok(grown >= tableBytes * 0.8, `the resident file pages grew by ${(grown / 2 ** 20).toFixed(1)} MiB of ${(tableBytes / 2 ** 20).toFixed(1)} MiB of tables, before any read`);
    assert.is((await db.get('k3-01999'))?.length, 2000);
    await db.close();
  });
});

test('a table file is mapped while its reader is open, and unmapped when it closes (also when deleted by a compaction)', async () => {
  if (!transientReads) return;
  const mappedTables = (dir: string) =>
    fs
      .readFileSync('/proc/self/maps', 'utf8')
      .split('\n')
      .filter((line) => line.includes(dir) && line.includes('.sst'));
  await withTempDir(async (dir) => {
    const db = await open(dir, { compactionWorkers: 0 });
    for (let round = 0; round < 3; round++) {
      await db.batch(Array.from({ length: 2000 }, (_, i) => ({ type: 'put' as const, key: `k${String(i).padStart(5, '0')}`, value: `v${round}-${i}` })));
      await db.flush();
      assert.is((await db.get('k00100'))?.toString(), `v${round}-100`);
    }
    assert.ok(mappedTables(dir).length > 0, 'a get() maps the table it reads');
    await db.compactRange();
    assert.is((await db.get('k01999'))?.toString(), 'v2-1999');
    const left = mappedTables(dir);
    assert.ok(left.every((line) => !line.includes('(deleted)')), left.join('\n'));
    await db.close();
    assert.equal(mappedTables(dir), []);
  });
});

function expectThrows(run: () => unknown, code: string, message: RegExp): void {
  try {
    run();
  } catch (err) {
    assert.is((err as { code?: string }).code, code, String(err));
    assert.match((err as Error).message, message);
    return;
  }
  assert.unreachable(`no ${code} thrown`);
}

/** Writes to `file` one framed block of each length, LZ4 and not: where each lies, and the file's size. */
function writeFrames(file: string, lengths: number[]): { frames: { offset: number; size: number; contents: Buffer }[]; at: number } {
  return writeBlocks(
    file,
    lengths.flatMap((length, i) => [true, false].map((lz4) => ({ contents: blockContents(length, i + 1), lz4 }))),
  );
}

/** Each block's frame (LZ4 where asked and worth it), one after another in `file`. */
function writeBlocks(file: string, blocks: { contents: Buffer; lz4: boolean }[]): { frames: { offset: number; size: number; contents: Buffer }[]; at: number } {
  const frames: { offset: number; size: number; contents: Buffer }[] = [];
  const chunks: Buffer[] = [];
  let at = 0;
  for (const { contents, lz4 } of blocks) {
    const { payload, compression } = choosePayload(contents, lz4);
    const frame = Buffer.alloc(payload.length + 5);
    payload.copy(frame);
    sealPhysicalBlock(frame, 0, payload.length, compression);
    frames.push({ offset: at, size: payload.length, contents });
    chunks.push(frame);
    at += frame.length;
  }
  fs.writeFileSync(file, Buffer.concat(chunks));
  return { frames, at };
}

function withTempDirSync(body: (dir: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-native-'));
  try {
    body(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('searchSkipList() checks its arguments and stops at a link that leads outside the node array', () => {
  const search = native.searchSkipList;
  if (search === undefined) return;
  // skiplist.ts's numbers: level-0 link at +2, 3 ints a link, its words at +1, suffix words
  // at -10 and -9, key length -8, seq -2 and -1, the head at 10, preds 12 a key.
  const layout = Int32Array.of(2, 3, 1, -10, -9, -8, -2, -1, 10, 12);
  const nodes = new Int32Array(64);
  const key = Int32Array.of(5, 0, 0, 0, 4, 0, 1, 1_000_000); // its index slot outside `slots`: not prefetched
  const preds = new Int32Array(12);
  const slots = new Int32Array(8); // also the slots of keys that need no search: all 0, inside
  nodes[12] = 10; // the head's level-0 link: the head itself (an empty list)
  assert.is(search(nodes, layout, key, 1, 1, preds, slots, slots, 8), 0);
  assert.is(preds[0], 10, 'an empty list: the key goes after the head');
  nodes[12] = 1_000_000; // a link into nowhere, whose words say the key sorts after its node
  assert.is(search(nodes, layout, key, 1, 1, preds, slots, slots, 8), -1);
  assert.throws(() => search(nodes, layout, key, 2, 1, preds, slots, slots, 8), (e: unknown) => e instanceof RangeError, 'more keys than given');
  assert.throws(() => search(nodes, layout, key, 1, 1, preds, slots, slots, 9), (e: unknown) => e instanceof RangeError, 'more slots than given');
  assert.throws(() => search(nodes, layout, key, 1, 13, preds, slots, slots, 8), (e: unknown) => e instanceof RangeError, 'a height over the stride');
  assert.throws(() => search(nodes, Int32Array.of(2, 3, 1, -10, -9, -8, -2, -1, 100, 12), key, 1, 1, preds, slots, slots, 8), (e: unknown) => e instanceof RangeError, 'a head outside the nodes');
  assert.throws(() => (search as (...a: unknown[]) => number)(nodes, layout, [5, 0, 0, 0, 4, 0, 1, 0], 1, 1, preds, slots, slots, 8), (e: unknown) => e instanceof TypeError, 'keys not an Int32Array');
});

test('decommit() takes a buffer\'s pages out of the resident set; they read as zeros after', () => {
  if (native.decommit === undefined) return;
  const rss = () => process.memoryUsage.rss();
  const chunk = new Uint8Array(new SharedArrayBuffer(64 << 20));
  chunk.fill(0x5a);
  const before = rss();
  const released = native.decommit(chunk);
  assert.ok(released >= (64 << 20) - 8192, `${released} bytes released`);
  assert.ok(before - rss() >= 48 << 20, `resident memory fell by ${((before - rss()) / 2 ** 20).toFixed(0)} MiB`);
  // Whole pages inside the buffer are zero now; a partial page at either end keeps its bytes.
  assert.is(chunk[chunk.length >>> 1], 0);
  assert.is(native.decommit(new Uint8Array(100)), 0, 'a view smaller than a page releases nothing');
});

test('hugePages() advises the aligned 2 MiB pages inside a buffer; written, they are huge pages where the kernel allows', () => {
  if (native.hugePages === undefined) return;
  const buffer = new Uint8Array(new SharedArrayBuffer(40 << 20));
  const first = native.hugePages(buffer);
  let thp = '';
  try {
    thp = fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8');
  } catch {
    // No THP in this kernel: nothing to advise.
  }
  if (thp === '' || thp.includes('[never]')) {
    assert.ok(first === -1 || (first >= 0 && first < 2 << 20), `${first}`);
    return;
  }
  assert.ok(first >= 0 && first < 2 << 20, `the first huge page begins ${first} bytes in`);
  const hugeBytes = () => Number(/AnonHugePages:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/smaps_rollup', 'utf8'))?.[1] ?? 0) * 1024;
  const before = hugeBytes();
  buffer.fill(1, first, first + (32 << 20));
  assert.ok(hugeBytes() - before >= 16 << 20, `${((hugeBytes() - before) / 2 ** 20).toFixed(0)} MiB of huge pages after writing 32 MiB`);
  assert.is(native.hugePages(new Uint8Array(100)), -1, 'a view holding no aligned 2 MiB');
});

test.run();
