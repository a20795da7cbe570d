import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadChecksum, NodeFileSystem, StrataError, xxh32, type FileSystem, type WritableFile } from '../src/base/index.js';
import { LogWriter, readLog, readLogFile, RecordBuffer, RecordType, type LogReadMode } from '../src/wal/index.js';
import { frameRecords, LOG_FILE_HEADER, putRecordHeader, RECORD_HEADER_BYTES } from '../src/wal/record-format.js';

await loadChecksum();

/** One record as a single contiguous buffer: the header putRecordHeader writes, then the payload. */
function encodeRecord(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(RECORD_HEADER_BYTES + payload.length);
  putRecordHeader(out, 0, type, payload);
  out.set(payload, RECORD_HEADER_BYTES);
  return out;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratadb-wal-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
let fileCounter = 0;
const newPath = () => path.join(dir, `${String(++fileCounter).padStart(6, '0')}.log`);

/** Wraps a FileSystem to count appends and syncs of the files it creates, and to inject faults. */
class CountingFileSystem {
  appends = 0;
  syncs = 0;
  failAppendWith: string | undefined;
  failSyncWith: string | undefined;
  readonly inner: FileSystem = new NodeFileSystem();

  asFileSystem(): FileSystem {
    const self = this;
    return Object.assign(Object.create(this.inner) as FileSystem, {
      async createWritable(file: string): Promise<WritableFile> {
        const real = await self.inner.createWritable(file);
        return {
          path: real.path,
          get size() {
            return real.size;
          },
          append(chunks) {
            self.appends++;
            if (self.failAppendWith) return Promise.reject(errnoError(self.failAppendWith, 'write'));
            return real.append(chunks);
          },
          sync() {
            self.syncs++;
            if (self.failSyncWith) return Promise.reject(errnoError(self.failSyncWith, 'fdatasync'));
            return real.sync();
          },
          close: () => real.close(),
        };
      },
    });
  }
}

function errnoError(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected failure, ${syscall}`), { code, syscall });
}

/** A payload of `length` bytes that cannot contain a record header by accident. */
function payloadOf(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 7 + seed) & 0xff;
  return out;
}

interface Written {
  file: string;
  bytes: Uint8Array;
  /** Offset of each record, in order. */
  offsets: number[];
  payloads: Uint8Array[];
}

/** Writes `payloads` as Batch records, one group per call, through the real file system. */
async function writeLog(payloads: Uint8Array[]): Promise<Written> {
  const file = newPath();
  const writer = await LogWriter.create(new NodeFileSystem(), file);
  const offsets: number[] = [];
  for (const p of payloads) {
    offsets.push(writer.size);
    await writer.addRecords(RecordType.Batch, [p], false);
  }
  await writer.close();
  return { file, bytes: new Uint8Array(fs.readFileSync(file)), offsets, payloads };
}

function expectCode(fn: () => unknown, code: string): StrataError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, StrataError);
    assert.is((err as StrataError).code, code, (err as Error).message);
    return err as StrataError;
  }
  assert.unreachable(`expected a ${code} error`);
  throw new Error('unreachable');
}

async function expectRejection(promise: Promise<unknown>, code: string): Promise<StrataError> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, StrataError);
    assert.is((err as StrataError).code, code, (err as Error).message);
    return err as StrataError;
  }
  assert.unreachable(`expected a ${code} rejection`);
  throw new Error('unreachable');
}

const payloadsOf = (log: ReturnType<typeof readLog>) => log.records.map((r) => Array.from(r.payload));
const arrays = (ps: Uint8Array[]) => ps.map((p) => Array.from(p));

test('records of 0 bytes, 1 byte and 100 KiB, of both types, read back identical', async () => {
  const file = newPath();
  const fsys = new NodeFileSystem();
  const writer = await LogWriter.create(fsys, file);
  const groups: { type: number; payloads: Uint8Array[]; sync: boolean }[] = [
    { type: RecordType.Batch, payloads: [payloadOf(0, 1)], sync: true },
    { type: RecordType.Batch, payloads: [payloadOf(1, 2), payloadOf(100 * 1024, 3), payloadOf(0, 4)], sync: false },
    { type: RecordType.ManifestEdit, payloads: [payloadOf(17, 5)], sync: true },
    { type: RecordType.Batch, payloads: Array.from({ length: 2000 }, (_, i) => payloadOf(i % 50, i)), sync: true },
    { type: RecordType.ManifestEdit, payloads: [payloadOf(16 * 1024, 6), payloadOf(16 * 1024 - 1, 7), payloadOf(5, 8)], sync: false },
  ];
  for (const g of groups) await writer.addRecords(g.type, g.payloads, g.sync);
  const size = writer.size;
  await writer.close();
  assert.is(fs.statSync(file).size, size);

  const expected = groups.flatMap((g) => g.payloads.map((p) => ({ type: g.type, payload: Array.from(p) })));
  for (const mode of ['strict', 'tolerate-tail', 'salvage'] as const) {
    const log = await readLogFile(fsys, file, { mode });
    assert.equal(log.records.map((r) => ({ type: r.type, payload: Array.from(r.payload) })), expected);
    assert.is(log.tornTail, false);
    assert.is(log.endOffset, size);
  }
});

test('one record built by hand from the format comment is what putRecordHeader writes and readLog reads', () => {
  // Annotated hex: bytes, then an optional `// comment` to the end of the line.
  const hex = (s: string) =>
    Uint8Array.from(s.replace(/\/\/.*$/gm, '').trim().split(/\s+/).map((b) => parseInt(b, 16)));
  const fileHeader = hex(`
    53 54 52 41 54 4c 4f 47   // magic "STRATLOG"
    01 00 00 00               // version 1`);
  assert.equal(Array.from(fileHeader), [0x53, 0x54, 0x52, 0x41, 0x54, 0x4c, 0x4f, 0x47, 1, 0, 0, 0]);
  assert.equal(Array.from(LOG_FILE_HEADER), Array.from(fileHeader));

  const payload = hex('61 62 63'); // "abc"
  assert.is(xxh32(payload), 0x32d153ff); // the published XXH32("abc", seed 0)
  const headerBody = hex(`
    03 00 00 00               // length 3
    01                        // type 1 (Batch)
    ff 53 d1 32               // payloadChecksum 0x32d153ff`);
  const headerChecksum = xxh32(headerBody);
  const record = Uint8Array.from([
    headerChecksum & 0xff, (headerChecksum >>> 8) & 0xff, (headerChecksum >>> 16) & 0xff, headerChecksum >>> 24,
    ...headerBody,
    ...payload,
  ]);
  assert.is(record.length, 13 + 3);
  assert.equal(Array.from(encodeRecord(RecordType.Batch, payload)), Array.from(record));

  const log = readLog(Uint8Array.from([...fileHeader, ...record]), 'hand.log', { mode: 'strict' });
  assert.equal(log.records.map((r) => ({ type: r.type, payload: Array.from(r.payload), offset: r.offset })), [
    { type: 1, payload: [0x61, 0x62, 0x63], offset: 12 },
  ]);
  assert.is(log.endOffset, 12 + 16);
});

test('frameRecords chunks are the encoded records, with large payloads passed through uncopied', () => {
  const big = payloadOf(64 * 1024, 9);
  const payloads = [payloadOf(3, 1), big, payloadOf(0, 2), payloadOf(10, 3), payloadOf(20 * 1024, 4)];
  const chunks = frameRecords(RecordType.Batch, payloads);
  assert.ok(chunks.includes(big), 'a large payload is its own chunk');
  assert.ok(chunks.length <= 5, `${chunks.length} chunks`);
  const joined = Buffer.concat(chunks);
  const expected = Buffer.concat(payloads.map((p) => encodeRecord(RecordType.Batch, p)));
  assert.ok(joined.equals(expected));
});

test('a record torn at the tail is dropped without a corruption report', async () => {
  const w = await writeLog([payloadOf(10, 1), payloadOf(0, 2), payloadOf(40, 3), payloadOf(300, 4)]);
  const last = w.offsets[3]!;
  const clean = readLog(w.bytes.subarray(0, last), w.file, { mode: 'strict' });
  assert.equal(payloadsOf(clean), arrays(w.payloads.slice(0, 3)), 'a cut between records leaves no tail');
  // Keep 1 byte of the last record (cut after its first header byte), then 2, ... up to all
  // but its last payload byte.
  for (let cut = last + 1; cut < w.bytes.length; cut++) {
    const bytes = w.bytes.subarray(0, cut);
    for (const mode of ['tolerate-tail', 'salvage'] as const) {
      const log = readLog(bytes, w.file, { mode, onSkipped: () => assert.unreachable('nothing is skipped') });
      assert.equal(payloadsOf(log), arrays(w.payloads.slice(0, 3)), `cut at ${cut}`);
      assert.is(log.tornTail, true);
      assert.is(log.endOffset, last);
    }
    const err = expectCode(() => readLog(bytes, w.file, { mode: 'strict' }), 'CORRUPTION');
    assert.ok(err.message.includes(`${w.file}@${last}`), err.message);
  }
});

test('a zero-filled tail ends the log as a torn tail', async () => {
  const w = await writeLog([payloadOf(10, 1), payloadOf(200, 2)]);
  const bytes = Uint8Array.from([...w.bytes, ...new Uint8Array(4096)]);
  const log = readLog(bytes, w.file, { mode: 'tolerate-tail' });
  assert.equal(payloadsOf(log), arrays(w.payloads));
  assert.is(log.tornTail, true);
  assert.is(log.endOffset, w.bytes.length);
  expectCode(() => readLog(bytes, w.file, { mode: 'strict' }), 'CORRUPTION');
});

test('garbage after the last record is CORRUPTION, and salvage keeps the records before it', async () => {
  // ext4 (data=ordered) never exposes unwritten garbage at the end of a file after a crash:
  // such bytes were written and damaged, so they are reported, not dropped.
  const w = await writeLog([payloadOf(10, 1), payloadOf(200, 2)]);
  let seed = 12345;
  const garbage = Uint8Array.from({ length: 3000 }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
  const bytes = Uint8Array.from([...w.bytes, ...garbage]);
  try {
    readLog(bytes, w.file, { mode: 'tolerate-tail' });
    assert.unreachable('garbage tail accepted');
  } catch (err) {
    assert.is((err as StrataError).code, 'CORRUPTION');
    assert.ok((err as Error).message.includes(`@${w.bytes.length}`), (err as Error).message);
  }
  const skipped: [number, number][] = [];
  const log = readLog(bytes, w.file, { mode: 'salvage', onSkipped: (offset, n) => skipped.push([offset, n]) });
  assert.equal(payloadsOf(log), arrays(w.payloads));
  assert.equal(skipped, [[w.bytes.length, garbage.length]]);
});

test('a flipped byte in a complete last record is CORRUPTION, not a torn tail', async () => {
  const w = await writeLog([payloadOf(10, 1), payloadOf(50, 2)]);
  for (let at = w.offsets[1]!; at < w.bytes.length; at++) {
    const bytes = Uint8Array.from(w.bytes);
    bytes[at]! ^= 0x20;
    try {
      readLog(bytes, w.file, { mode: 'tolerate-tail' });
      assert.unreachable(`flip at ${at} accepted`);
    } catch (err) {
      assert.is((err as StrataError).code, 'CORRUPTION', `flip at ${at}: ${String(err)}`);
    }
  }
});

test('a last record whose payload holds the bytes of a record is still a torn tail when cut', async () => {
  // A value may be a log file itself; bytes inside a record's payload are never taken for a record.
  const inner = encodeRecord(RecordType.Batch, payloadOf(30, 5));
  const outer = Uint8Array.from([...payloadOf(20, 1), ...inner, ...payloadOf(20, 2)]);
  const w = await writeLog([payloadOf(10, 3), outer]);
  const innerEnd = w.offsets[1]! + 13 + 20 + inner.length;
  for (let cut = innerEnd; cut < w.bytes.length; cut++) {
    const log = readLog(w.bytes.subarray(0, cut), w.file, { mode: 'tolerate-tail' });
    assert.equal(payloadsOf(log), arrays(w.payloads.slice(0, 1)));
    assert.is(log.tornTail, true);
  }
});

test('a flipped byte in the header or payload of a middle record is CORRUPTION naming file and offset', async () => {
  const w = await writeLog([payloadOf(10, 1), payloadOf(50, 2), payloadOf(0, 3), payloadOf(30, 4)]);
  const damaged = w.offsets[1]!;
  const recordBytes = 13 + 50;
  for (let at = damaged; at < damaged + recordBytes; at++) {
    const bytes = Uint8Array.from(w.bytes);
    bytes[at]! ^= 0x10;
    for (const mode of ['tolerate-tail', 'strict'] as LogReadMode[]) {
      const err = expectCode(() => readLog(bytes, w.file, { mode }), 'CORRUPTION');
      assert.ok(err.message.includes(`${w.file}@${damaged}`), err.message);
      assert.match(err.message, /checksum/);
    }
    const skipped: [number, number, string][] = [];
    const log = readLog(bytes, w.file, { mode: 'salvage', onSkipped: (offset, n, reason) => skipped.push([offset, n, reason]) });
    assert.equal(payloadsOf(log), arrays([w.payloads[0]!, w.payloads[2]!, w.payloads[3]!]), `flip at ${at}`);
    assert.equal(log.records.map((r) => r.offset), [w.offsets[0], w.offsets[2], w.offsets[3]]);
    assert.is(log.tornTail, false);
    assert.is(skipped.length, 1);
    assert.is(skipped[0]![0], damaged);
    assert.is(skipped[0]![1], recordBytes);
    assert.match(skipped[0]![2], /checksum/);
  }
});

test('salvage resumes at the intact record after damage followed by a zero-filled gap', () => {
  assert.is.not(xxh32(new Uint8Array(0)), 0, 'an all-zero header cannot be a record');
  const damaged = encodeRecord(RecordType.Batch, payloadOf(40, 1));
  damaged[2]! ^= 0xff;
  for (const gap of [0, 1, 12, 13, 14, 100]) {
    const first = encodeRecord(RecordType.Batch, payloadOf(5, 2));
    const after = encodeRecord(RecordType.ManifestEdit, payloadOf(7, 3));
    const bytes = Uint8Array.from([...LOG_FILE_HEADER, ...first, ...damaged, ...new Uint8Array(gap), ...after]);
    const damagedAt = 12 + first.length;
    const skipped: number[][] = [];
    const log = readLog(bytes, 'gap.log', { mode: 'salvage', onSkipped: (o, n) => skipped.push([o, n]) });
    assert.equal(log.records.map((r) => r.offset), [12, damagedAt + damaged.length + gap], `gap ${gap}`);
    assert.equal(skipped, [[damagedAt, damaged.length + gap]]);
    expectCode(() => readLog(bytes, 'gap.log', { mode: 'tolerate-tail' }), 'CORRUPTION');
  }
});

test('a flipped bit in the length of a middle record is CORRUPTION, not a torn tail', async () => {
  const w = await writeLog([payloadOf(10, 1), payloadOf(50, 2), payloadOf(30, 3)]);
  const damaged = w.offsets[1]!;
  for (let bit = 0; bit < 32; bit++) {
    const bytes = Uint8Array.from(w.bytes);
    bytes[damaged + 4 + (bit >> 3)]! ^= 1 << (bit & 7);
    const err = expectCode(() => readLog(bytes, w.file, { mode: 'tolerate-tail' }), 'CORRUPTION');
    assert.ok(err.message.includes(`${w.file}@${damaged}`), err.message);
    assert.match(err.message, /header checksum/);
  }
});

test('a file shorter than its header, or all zeros, is an empty log with a torn tail', () => {
  const candidates = [
    ...Array.from({ length: LOG_FILE_HEADER.length }, (_, n) => LOG_FILE_HEADER.subarray(0, n)),
    new Uint8Array(5),
    new Uint8Array(4096),
  ];
  for (const bytes of candidates) {
    const log = readLog(bytes, 'short.log', { mode: 'tolerate-tail' });
    assert.equal(log, { records: [], endOffset: 0, tornTail: true });
    expectCode(() => readLog(bytes, 'short.log', { mode: 'strict' }), 'CORRUPTION');
  }
  const headerOnly = readLog(LOG_FILE_HEADER, 'empty.log', { mode: 'strict' });
  assert.equal(headerOnly, { records: [], endOffset: 12, tornTail: false });
});

test('an unknown format version is NOT_SUPPORTED, naming the version', async () => {
  const w = await writeLog([payloadOf(10, 1)]);
  const bytes = Uint8Array.from(w.bytes);
  bytes[8] = 9;
  for (const mode of ['tolerate-tail', 'strict', 'salvage'] as const) {
    const err = expectCode(() => readLog(bytes, w.file, { mode }), 'NOT_SUPPORTED');
    assert.match(err.message, /v9/);
  }
});

test('a wrong magic is CORRUPTION', async () => {
  const w = await writeLog([payloadOf(10, 1)]);
  const bytes = Uint8Array.from(w.bytes);
  bytes[0] = 0x58;
  for (const mode of ['tolerate-tail', 'strict', 'salvage'] as const) {
    const err = expectCode(() => readLog(bytes, w.file, { mode }), 'CORRUPTION');
    assert.ok(err.message.includes(`${w.file}@0`), err.message);
  }
  expectCode(() => readLog(Uint8Array.from([0x53, 0x54, 0x00]), 'x.log', { mode: 'tolerate-tail' }), 'CORRUPTION');
});

test('LogWriter.create writes the file header and syncs nothing', async () => {
  const counting = new CountingFileSystem();
  const file = newPath();
  const writer = await LogWriter.create(counting.asFileSystem(), file);
  assert.is(writer.path, file);
  assert.is(writer.size, 12);
  assert.is(counting.syncs, 0);
  await writer.close();
  assert.equal(Array.from(fs.readFileSync(file)), Array.from(LOG_FILE_HEADER));
});

test('addRecords with N payloads appends once and syncs once when asked', async () => {
  const counting = new CountingFileSystem();
  const writer = await LogWriter.create(counting.asFileSystem(), newPath());
  const appendsAfterCreate = counting.appends;
  await writer.addRecords(RecordType.Batch, Array.from({ length: 1500 }, (_, i) => payloadOf(i % 40, i)), true);
  assert.is(counting.appends - appendsAfterCreate, 1);
  assert.is(counting.syncs, 1);
  await writer.addRecords(RecordType.Batch, [payloadOf(100 * 1024, 1), payloadOf(3, 2), payloadOf(70 * 1024, 3)], true);
  assert.is(counting.appends - appendsAfterCreate, 2);
  assert.is(counting.syncs, 2);
  await writer.close();
  const log = readLog(fs.readFileSync(writer.path), writer.path, { mode: 'strict' });
  assert.is(log.records.length, 1503);
});

test('addRecords with sync false never syncs', async () => {
  const counting = new CountingFileSystem();
  const writer = await LogWriter.create(counting.asFileSystem(), newPath());
  for (let i = 0; i < 5; i++) await writer.addRecords(RecordType.Batch, [payloadOf(10, i), payloadOf(20, i)], false);
  assert.is(counting.syncs, 0);
  await writer.sync();
  assert.is(counting.syncs, 1);
  await writer.close();
});

test('a failed fdatasync fails the writer: IO_ERROR with its errno, and later calls never touch the file', async () => {
  for (const errno of ['ENOSPC', 'EIO']) {
    const counting = new CountingFileSystem();
    const writer = await LogWriter.create(counting.asFileSystem(), newPath());
    await writer.addRecords(RecordType.Batch, [payloadOf(10, 1)], true);
    counting.failSyncWith = errno;
    const first = await expectRejection(writer.addRecords(RecordType.Batch, [payloadOf(10, 2)], true), 'IO_ERROR');
    assert.is(first.errno, errno);
    counting.failSyncWith = undefined; // a retry would now succeed, and must not be attempted
    const [appends, syncs] = [counting.appends, counting.syncs];
    const again = await expectRejection(writer.addRecords(RecordType.Batch, [payloadOf(10, 3)], false), 'IO_ERROR');
    assert.is(again, first);
    assert.is(await expectRejection(writer.sync(), 'IO_ERROR'), first);
    assert.is(counting.appends, appends);
    assert.is(counting.syncs, syncs);
    await writer.close();
  }
});

test('a failed append fails the writer the same way', async () => {
  const counting = new CountingFileSystem();
  const writer = await LogWriter.create(counting.asFileSystem(), newPath());
  counting.failAppendWith = 'ENOSPC';
  const first = await expectRejection(writer.addRecords(RecordType.Batch, [payloadOf(10, 1)], true), 'IO_ERROR');
  assert.is(first.errno, 'ENOSPC');
  assert.is(counting.syncs, 0, 'no sync after a failed append');
  counting.failAppendWith = undefined;
  const appends = counting.appends;
  assert.is(await expectRejection(writer.addRecords(RecordType.Batch, [payloadOf(10, 2)], true), 'IO_ERROR'), first);
  assert.is(counting.appends, appends);
  await writer.close();
});

test('close() waits for the write in flight, is idempotent, does not sync, and later calls fail with CLOSED', async () => {
  const counting = new CountingFileSystem();
  const writer = await LogWriter.create(counting.asFileSystem(), newPath());
  const write = writer.addRecords(RecordType.Batch, [payloadOf(10, 1)], false);
  const closing = writer.close();
  assert.is(writer.close(), closing);
  await Promise.all([write, closing]);
  assert.is(counting.syncs, 0);
  await expectRejection(writer.addRecords(RecordType.Batch, [payloadOf(10, 2)], false), 'CLOSED');
  await expectRejection(writer.sync(), 'CLOSED');
  assert.is(readLog(fs.readFileSync(writer.path), writer.path, { mode: 'strict' }).records.length, 1);
});

test('a second addRecords while one is in flight trips an invariant', async () => {
  const writer = await LogWriter.create(new NodeFileSystem(), newPath());
  const first = writer.addRecords(RecordType.Batch, [payloadOf(10, 1)], true);
  assert.throws(() => writer.addRecords(RecordType.Batch, [payloadOf(10, 2)], false), /invariant/);
  assert.throws(() => writer.sync(), /invariant/);
  await first;
  await writer.addRecords(RecordType.Batch, [payloadOf(10, 3)], false);
  await writer.close();
});

test('a payload over 4 GiB - 1 bytes is INVALID_ARGUMENT and nothing is written', async () => {
  const counting = new CountingFileSystem();
  const writer = await LogWriter.create(counting.asFileSystem(), newPath());
  const appends = counting.appends;
  const huge = Object.defineProperty(new Uint8Array(0), 'length', { value: 2 ** 32 });
  await expectRejection(writer.addRecords(RecordType.Batch, [payloadOf(1, 1), huge], true), 'INVALID_ARGUMENT');
  assert.is(counting.appends, appends);
  await writer.addRecords(RecordType.Batch, [payloadOf(1, 1)], true);
  await writer.close();
});

test('records framed in place in a RecordBuffer read back as written, in one append', async () => {
  const payloads = [payloadOf(0, 1), payloadOf(40, 2), payloadOf(70_000, 3), payloadOf(5, 4)];
  const records = new RecordBuffer(16);
  for (const p of payloads) {
    const at = records.begin(p.length);
    records.bytes.set(p, at);
    records.seal(RecordType.Batch);
  }
  const framed = Uint8Array.from(records.bytes.subarray(0, records.byteLength));
  const file = newPath();
  const writer = await LogWriter.create(new NodeFileSystem(), file);
  await writer.addFramed(records, true);
  await writer.close();
  const bytes = new Uint8Array(fs.readFileSync(file));
  assert.equal(Array.from(bytes.subarray(LOG_FILE_HEADER.length)), Array.from(framed));
  assert.equal(Array.from(framed), payloads.flatMap((p) => Array.from(encodeRecord(RecordType.Batch, p))));
  const log = readLog(bytes, file, { mode: 'strict' });
  assert.equal(payloadsOf(log), arrays(payloads));
  assert.throws(() => records.begin(1), /after finish/);
});

test.run();
