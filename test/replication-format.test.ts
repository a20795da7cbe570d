// The bytes stratadb/replication owns, without a server: a message built by hand from the
// grammar in src/replication/message-format.ts decodes; a flipped bit, an unknown version are
// refused; a checkpoint archive unpacks to the same files and a damaged or cut-off one is
// refused naming what failed; the position file and the IDENTITY file: round trips, and a
// damaged one is CORRUPTION.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadChecksum, NodeFileSystem, StrataError, ValueKind, xxh32 } from '../src/base/index.js';
import { open } from '../src/index.js';
import { decodeMessage, encodeMessage, MessageBuffers, MESSAGE_TARGET_BYTES, packCheckpoint, readPosition, unpackCheckpoint, writePosition, positionFileName } from '../src/replication/index.js';
import { withTempDir } from './helpers.js';

await loadChecksum();

function expectCode(fn: () => unknown, code: string): StrataError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, StrataError, String(err));
    assert.is((err as StrataError).code, code, (err as Error).message);
    return err as StrataError;
  }
  throw new Error(`expected ${code}`);
}

async function expectRejects(p: Promise<unknown>, code: string): Promise<StrataError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, StrataError, String(err));
    assert.is((err as StrataError).code, code, (err as Error).message);
    return err as StrataError;
  }
  throw new Error(`expected ${code}`);
}

const IDENTITY = '00112233445566778899aabbccddeeff';

/**
 * message := version u8 | identity 16 | before u64 LE | count u32 LE | change × count | xxh32 u32 LE
 * change  := seq u64 LE | prev u64 LE | length u32 LE | batch
 * Two writes: 7 (after 5) puts "k" = "v"; 9 (after 8) deletes "d"; before 4.
 */
function handMadeMessage(version = 3): Buffer {
  const body = Buffer.concat([
    Buffer.from([version]),
    Buffer.from(IDENTITY, 'hex'),
    Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), // before 4
    Buffer.from([2, 0, 0, 0]), // count 2
    Buffer.from([7, 0, 0, 0, 0, 0, 0, 0]), // seq 7
    Buffer.from([5, 0, 0, 0, 0, 0, 0, 0]), // prev 5
    Buffer.from([17, 0, 0, 0]), // length 17
    // batch := firstSeq u64 | count u32 | kind u8 | keyLength varint | key | valueLength varint | value
    Buffer.from([7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0x6b, 1, 0x76]),
    Buffer.from([9, 0, 0, 0, 0, 0, 0, 0]), // seq 9
    Buffer.from([8, 0, 0, 0, 0, 0, 0, 0]), // prev 8
    Buffer.from([15, 0, 0, 0]), // length 15
    // a delete has no value
    Buffer.from([9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0x64]),
  ]);
  const sum = Buffer.alloc(4);
  sum.writeUInt32LE(xxh32(body));
  return Buffer.concat([body, sum]);
}

test('a message built from the format comment decodes, and encodeMessage writes the same bytes', () => {
  const bytes = handMadeMessage();
  const m = decodeMessage(bytes, 'stream s sequence 3');
  assert.is(m.identity, IDENTITY);
  assert.is(m.before, 4);
  assert.equal(
    m.changes.map((c) => [c.seq, c.prev, c.entries.map((e) => [e.kind, Buffer.from(e.key).toString(), Buffer.from(e.value).toString()])]),
    [
      [7, 5, [[ValueKind.Put, 'k', 'v']]],
      [9, 8, [[ValueKind.Delete, 'd', '']]],
    ],
  );
  const encoded = encodeMessage(Buffer.from(IDENTITY, 'hex'), 4, [
    { seq: 7, prev: 5, entries: [{ kind: ValueKind.Put, key: Buffer.from('k'), value: Buffer.from('v') }] },
    { seq: 9, prev: 8, entries: [{ kind: ValueKind.Delete, key: Buffer.from('d'), value: Buffer.alloc(0) }] },
  ]);
  assert.equal(Buffer.from(encoded), bytes);
});

test('a message encoded into MessageBuffers is the same bytes, in shared memory used again only once given back', () => {
  const buffers = new MessageBuffers();
  const changes = [
    { seq: 7, prev: 5, entries: [{ kind: ValueKind.Put, key: Buffer.from('k'), value: Buffer.from('v') }] },
    { seq: 9, prev: 8, entries: [{ kind: ValueKind.Delete, key: Buffer.from('d'), value: Buffer.alloc(0) }] },
  ];
  const shared = encodeMessage(Buffer.from(IDENTITY, 'hex'), 4, changes, (n) => buffers.take(n));
  assert.ok(shared.buffer instanceof SharedArrayBuffer);
  assert.equal(Buffer.from(shared), handMadeMessage());
  // Not given back: the next message gets other memory; given back, the same.
  const second = buffers.take(100);
  assert.is.not(second.buffer, shared.buffer);
  buffers.give(shared);
  const third = buffers.take(100);
  assert.is(third.buffer, shared.buffer);
  assert.is(third.length, 100);
  // A message larger than a buffer (one write over the target) has memory of its own, never kept.
  const large = buffers.take(2 * MESSAGE_TARGET_BYTES);
  assert.is(large.length, 2 * MESSAGE_TARGET_BYTES);
  buffers.give(large);
  assert.is.not(buffers.take(100).buffer, large.buffer);
  // At most a few buffers wait: giving back many keeps a bounded number.
  const many = Array.from({ length: 20 }, () => buffers.take(10));
  for (const b of many) buffers.give(b);
  const reused = new Set(Array.from({ length: 20 }, () => buffers.take(10).buffer));
  const kept = many.filter((b) => reused.has(b.buffer)).length;
  assert.ok(kept > 0 && kept < 20, `${kept} of 20 given back were used again`);
  // Encoded in plain memory (the same each time), then shared in one copy: the same bytes.
  const plain = encodeMessage(Buffer.from(IDENTITY, 'hex'), 4, changes, (n) => buffers.scratch(n));
  assert.not.ok(plain.buffer instanceof SharedArrayBuffer);
  const copy = buffers.share(plain);
  assert.ok(copy.buffer instanceof SharedArrayBuffer);
  assert.equal(Buffer.from(copy), handMadeMessage());
  const again = buffers.scratch(plain.length);
  assert.is(again.buffer, plain.buffer, 'the scratch memory is used again');
  again.fill(0);
  assert.equal(Buffer.from(copy), handMadeMessage(), 'the shared copy is not the scratch memory');
  // A message larger than a buffer is encoded in memory of its own, not kept.
  const huge = buffers.scratch(2 * MESSAGE_TARGET_BYTES);
  assert.is(huge.length, 2 * MESSAGE_TARGET_BYTES);
  assert.is.not(buffers.scratch(10).buffer, huge.buffer);
  assert.is(buffers.scratch(10).buffer, plain.buffer);
});

test('writes out of order, a count of 0, or bytes left after the last write are CORRUPTION', () => {
  const write = (seq: number, prev: number) => ({ seq, prev, entries: [{ kind: ValueKind.Put, key: Buffer.from('k'), value: Buffer.from('v') }] });
  const id = Buffer.from(IDENTITY, 'hex');
  expectCode(() => decodeMessage(encodeMessage(id, 0, [write(9, 8), write(7, 5)]), 'm'), 'CORRUPTION');
  expectCode(() => decodeMessage(encodeMessage(id, 0, [write(7, 7)]), 'm'), 'CORRUPTION');
  expectCode(() => decodeMessage(encodeMessage(id, 0, []), 'm'), 'CORRUPTION');
  // A message whose checksum covers a stray byte after its last write.
  const one = Buffer.from(encodeMessage(id, 0, [write(7, 5)]));
  const body = Buffer.concat([one.subarray(0, one.length - 4), Buffer.from([0])]);
  const sum = Buffer.alloc(4);
  sum.writeUInt32LE(xxh32(body));
  const err = expectCode(() => decodeMessage(Buffer.concat([body, sum]), 'stream s sequence 5'), 'CORRUPTION');
  assert.match(err.message, 'stream s sequence 5');
});

test('a message of version 2 (at most 1024 writes) is still read; version 3 takes up to 2048 writes, and no more', () => {
  const v2 = decodeMessage(handMadeMessage(2), 'stream s sequence 3');
  assert.equal(v2, decodeMessage(handMadeMessage(3), 'stream s sequence 3'));
  const id = Buffer.from(IDENTITY, 'hex');
  const writes = (n: number) => Array.from({ length: n }, (_, i) => ({ seq: i + 1, prev: i, entries: [{ kind: ValueKind.Put, key: Buffer.from(`k${i}`), value: Buffer.from('v') }] }));
  /** `bytes` as version `version`, its checksum made again. */
  const asVersion = (bytes: Uint8Array, version: number) => {
    const body = Buffer.from(bytes.subarray(0, bytes.length - 4));
    body[0] = version;
    const sum = Buffer.alloc(4);
    sum.writeUInt32LE(xxh32(body));
    return Buffer.concat([body, sum]);
  };
  assert.is(decodeMessage(encodeMessage(id, 0, writes(2048)), 'm').changes.length, 2048);
  assert.is(decodeMessage(asVersion(encodeMessage(id, 0, writes(1024)), 2), 'm').changes.length, 1024);
  expectCode(() => decodeMessage(asVersion(encodeMessage(id, 0, writes(1025)), 2), 'm'), 'CORRUPTION');
  expectCode(() => decodeMessage(encodeMessage(id, 0, writes(2049)), 'm'), 'CORRUPTION');
});

test('a message with a flipped bit is CORRUPTION naming where it was read; an unknown version NOT_SUPPORTED', () => {
  for (let i = 0; i < handMadeMessage().length; i++) {
    const bytes = handMadeMessage();
    bytes[i]! ^= 0x10;
    const err = expectCode(() => decodeMessage(bytes, 'stream s sequence 42'), 'CORRUPTION');
    assert.match(err.message, 'stream s sequence 42');
  }
  expectCode(() => decodeMessage(handMadeMessage(1), 'stream s sequence 1'), 'NOT_SUPPORTED');
  expectCode(() => decodeMessage(handMadeMessage(4), 'stream s sequence 1'), 'NOT_SUPPORTED');
  expectCode(() => decodeMessage(handMadeMessage().subarray(0, 10), 'stream s sequence 1'), 'CORRUPTION');
});

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  const reader = stream.getReader();
  for (;;) {
    const r = await reader.read();
    if (r.done) return Buffer.concat(parts);
    parts.push(r.value);
  }
}

const streamOf = (bytes: Uint8Array) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (let at = 0; at < bytes.length; at += 1000) c.enqueue(bytes.subarray(at, at + 1000));
      c.close();
    },
  });

test('a checkpoint archive unpacks to the same files; a damaged or cut-off one is refused', () =>
  withTempDir(async (dir) => {
    const src = path.join(dir, 'src');
    fs.mkdirSync(path.join(src, 'shard-0'), { recursive: true });
    fs.writeFileSync(path.join(src, 'SHARDS'), 'shards');
    fs.writeFileSync(path.join(src, 'shard-0', '000001.sst'), Buffer.alloc(300_000, 7));
    fs.writeFileSync(path.join(src, 'shard-0', 'CURRENT'), 'MANIFEST-000002\n');
    const archive = await bytesOf(packCheckpoint(src, { identity: IDENTITY, sequence: 1234 }));
    const files = new NodeFileSystem();
    const header = await unpackCheckpoint(files, streamOf(archive), path.join(dir, 'out'));
    assert.equal(header, { identity: IDENTITY, sequence: 1234 });
    for (const rel of ['SHARDS', 'shard-0/000001.sst', 'shard-0/CURRENT']) {
      assert.equal(fs.readFileSync(path.join(dir, 'out', rel)), fs.readFileSync(path.join(src, rel)), rel);
    }
    const damaged = Buffer.from(archive);
    damaged[archive.length - 200]! ^= 1; // in the contents of the last file but one (the table)
    const where = await expectRejects(unpackCheckpoint(files, streamOf(damaged), path.join(dir, 'out2')), 'CORRUPTION');
    assert.match(where.message, 'checksum mismatch');
    await expectRejects(unpackCheckpoint(files, streamOf(archive.subarray(0, archive.length - 5)), path.join(dir, 'out3')), 'CORRUPTION');
    const badHeader = Buffer.from(archive);
    badHeader[30]! ^= 1;
    await expectRejects(unpackCheckpoint(files, streamOf(badHeader), path.join(dir, 'out4')), 'CORRUPTION');
  }));

test('the position file round-trips; a damaged one is CORRUPTION', () =>
  withTempDir(async (dir) => {
    const files = new NodeFileSystem();
    assert.is(await readPosition(files, dir, 's1'), undefined);
    await writePosition(files, dir, 's1', { acknowledged: 2 ** 40 + 3, streamSeq: 77 });
    assert.equal(await readPosition(files, dir, 's1'), { acknowledged: 2 ** 40 + 3, streamSeq: 77 });
    const file = positionFileName(dir, 's1');
    // Version 1 (no streamSeq) is still read.
    const v1 = Buffer.concat([Buffer.from('STRATREP', 'latin1'), Buffer.from([1, 0, 0, 0]), Buffer.from([9, 0, 0, 0, 0, 0, 0, 0])]);
    const v1sum = Buffer.alloc(4);
    v1sum.writeUInt32LE(xxh32(v1));
    fs.writeFileSync(file, Buffer.concat([v1, v1sum]));
    assert.equal(await readPosition(files, dir, 's1'), { acknowledged: 9, streamSeq: 0 });
    await writePosition(files, dir, 's1', { acknowledged: 2 ** 40 + 3, streamSeq: 77 });
    const bytes = fs.readFileSync(file);
    bytes[13]! ^= 1;
    fs.writeFileSync(file, bytes);
    await expectRejects(readPosition(files, dir, 's1'), 'CORRUPTION');
  }));

test('a database keeps its identity across reopens; a checkpoint of it gets its own', () =>
  withTempDir(async (dir) => {
    let db = await open(path.join(dir, 'db'), { shards: 2 });
    const identity = db.identity;
    assert.match(identity, /^[0-9a-f]{32}$/);
    await db.put('k', 'v');
    await db.checkpoint(path.join(dir, 'copy'));
    await db.close();
    db = await open(path.join(dir, 'db'));
    assert.is(db.identity, identity);
    await db.close();
    const copy = await open(path.join(dir, 'copy'));
    assert.is.not(copy.identity, identity);
    await copy.close();
    const file = path.join(dir, 'db', 'IDENTITY');
    const bytes = fs.readFileSync(file);
    bytes[14]! ^= 1;
    fs.writeFileSync(file, bytes);
    await expectRejects(open(path.join(dir, 'db')), 'CORRUPTION');
  }));

test.run();
