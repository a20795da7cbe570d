// CommitPipeline (src/engine/commit-pipeline.ts) alone, through its PipelineHooks seam: a fake
// WAL that holds each append until the test lets it go (or fails it), and a real SequenceClock,
// shared by two pipelines where a test needs another shard. Appended bytes are read back by
// the record layout of src/wal/record-format.ts:
//
//   record := headerChecksum u32 LE | length u32 LE | type u8 | payloadChecksum u32 LE | payload[length]
//
// and batch payloads by src/base/batch-format.ts (firstSeq u64 LE | count u32 LE | entries).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyBatch, decodeBatch, loadChecksum, StrataError, ValueKind, type BatchEntry } from '../src/base/index.js';
import { CommitPipeline, type PipelineHooks } from '../src/engine/commit-pipeline.js';
import { SequenceClock } from '../src/engine/index.js';
import { RecordType, type LogWriter, type RecordBuffer } from '../src/wal/index.js';

const RECORD_HEADER_BYTES = 4 + 4 + 1 + 4;

interface Appended {
  /** Per record: its type and, for a batch, its first sequence number and entry count. */
  records: { type: number; firstSeq?: number; count?: number; bytes: number }[];
  sync: boolean;
}

/** Splits appended bytes into records, by the layout in the header of this file. */
function parseRecords(bytes: Uint8Array): Appended['records'] {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Appended['records'] = [];
  for (let at = 0; at < view.length; ) {
    const length = view.readUInt32LE(at + 4);
    const type = view[at + 8]!;
    const payload = view.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + length);
    if (type === RecordType.Batch) {
      const batch = decodeBatch(payload);
      out.push({ type, firstSeq: batch.firstSeq, count: batch.entries.length, bytes: length });
    } else out.push({ type, bytes: length });
    at += RECORD_HEADER_BYTES + length;
  }
  return out;
}

/**
 * The part of LogWriter the pipeline calls: addFramed(). Each append stays in flight until
 * release() or failWith() settles it, in order; with `autoRelease` it completes at once.
 */
class FakeWal {
  readonly appends: Appended[] = [];
  autoRelease = false;
  readonly #pending: { resolve(): void; reject(err: unknown): void }[] = [];
  #onAppend: (() => void)[] = [];

  addFramed(records: RecordBuffer, sync: boolean): Promise<void> {
    // Parsed now: the pipeline reuses the buffer once the append completes.
    this.appends.push({ records: parseRecords(records.finish()), sync });
    for (const wake of this.#onAppend.splice(0)) wake();
    if (this.autoRelease) return Promise.resolve();
    return new Promise((resolve, reject) => this.#pending.push({ resolve, reject }));
  }

  get inFlight(): number {
    return this.#pending.length;
  }

  /** Resolves once `n` appends have been made. */
  async appended(n: number): Promise<void> {
    while (this.appends.length < n) await new Promise<void>((wake) => this.#onAppend.push(wake));
  }

  release(): void {
    const p = this.#pending.shift();
    if (!p) throw new Error('no append in flight');
    p.resolve();
  }

  failWith(err: unknown): void {
    const p = this.#pending.shift();
    if (!p) throw new Error('no append in flight');
    p.reject(err);
  }
}

/** A pipeline on `clock` with a FakeWal and hooks that record what they see. */
function harness(clock = new SequenceClock(0), hooks: Partial<PipelineHooks> = {}) {
  const wal = new FakeWal();
  const applied: number[] = [];
  const appliedEntries: BatchEntry[][] = [];
  const failures: StrataError[] = [];
  const pipeline = new CommitPipeline(clock, {
    beforeGroup: hooks.beforeGroup ?? (() => Promise.resolve()),
    append: (records, sync) => (wal as unknown as LogWriter).addFramed(records, sync),
    apply: (bytes, at) => {
      const entries: BatchEntry[] = [];
      let firstSeq = -1;
      applyBatch(bytes, at, {
        add: (seq, kind, key, value) => {
          if (firstSeq < 0) firstSeq = seq;
          entries.push({ kind, key: Buffer.from(key), value: Buffer.from(value) });
        },
      });
      applied.push(firstSeq);
      appliedEntries.push(entries);
    },
    failed: (err) => failures.push(err),
  });
  return { clock, wal, applied, appliedEntries, failures, pipeline };
}

const put = (key: string, valueBytes = 8): BatchEntry => ({ kind: ValueKind.Put, key: Buffer.from(key), value: Buffer.alloc(valueBytes, 0x61) });
const puts = (n: number, prefix = 'k') => Array.from({ length: n }, (_, i) => put(`${prefix}${i}`));

/** Whether `p` has settled, and how, after everything already queued has run. */
async function state(p: Promise<unknown>): Promise<'pending' | 'resolved' | 'rejected'> {
  let s: 'pending' | 'resolved' | 'rejected' = 'pending';
  p.then(
    () => (s = 'resolved'),
    () => (s = 'rejected'),
  );
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
  return s;
}

const groupSizes = (wal: FakeWal) => wal.appends.map((a) => a.records.length);

test.before(async () => {
  await loadChecksum();
});

test('writes submitted while a group is in flight form the next group, one append per group', async () => {
  const { wal, pipeline } = harness();
  const first = pipeline.submit([put('a')], false);
  await wal.appended(1);
  const next = [pipeline.submit([put('b')], false), pipeline.submit([put('c')], false), pipeline.submit([put('d')], false)];
  assert.is(wal.appends.length, 1, 'nothing more is appended while the first group is in flight');
  wal.release();
  await first;
  await wal.appended(2);
  wal.release();
  await Promise.all(next);
  assert.equal(groupSizes(wal), [1, 3]);
  assert.equal({ groups: pipeline.stats.groups, writes: pipeline.stats.writes, largestGroup: pipeline.stats.largestGroup }, { groups: 2, writes: 4, largestGroup: 3 });
});

test('writes submitted in one turn of the event loop form one group', async () => {
  const { wal, pipeline } = harness();
  wal.autoRelease = true;
  await Promise.all([pipeline.submit([put('a')], false), pipeline.submit([put('b')], false), pipeline.submit([put('c')], false)]);
  assert.equal(groupSizes(wal), [3]);
});

test('a group syncs once if any of its writes asked to, and not at all if none did', async () => {
  const { wal, pipeline } = harness();
  wal.autoRelease = true;
  await Promise.all([pipeline.submit([put('a')], false), pipeline.submit([put('b')], true), pipeline.submit([put('c')], false)]);
  await Promise.all([pipeline.submit([put('d')], false), pipeline.submit([put('e')], false)]);
  assert.equal(
    wal.appends.map((a) => a.sync),
    [true, false],
  );
  assert.is(pipeline.stats.syncs, 1);
});

test('sequence numbers follow submit order, a batch taking one per entry, starting after the clock', async () => {
  const { clock, wal, applied, pipeline } = harness(new SequenceClock(100));
  const first = pipeline.submit(puts(1), false);
  await wal.appended(1);
  const rest = [pipeline.submit(puts(3), false), pipeline.submit(puts(2), false), pipeline.submit(puts(1), false)];
  wal.release();
  await wal.appended(2);
  wal.release();
  await Promise.all([first, ...rest]);
  const written = wal.appends.flatMap((a) => a.records.map((r) => [r.firstSeq, r.count]));
  assert.equal(written, [
    [101, 1],
    [102, 3],
    [105, 2],
    [107, 1],
  ]);
  assert.equal(applied, [101, 102, 105, 107], 'applied in sequence order');
  assert.is(clock.last, 107);
  assert.is(clock.published, 107);
});

test('a barrier runs after every write queued before it and before every write queued after it', async () => {
  const { wal, applied, pipeline } = harness();
  const seen: { applied: number[]; appends: number }[] = [];
  const first = pipeline.submit([put('a')], false);
  await wal.appended(1);
  const before = pipeline.submit([put('b')], false);
  const barrier = pipeline.barrier(async () => {
    seen.push({ applied: [...applied], appends: wal.appends.length });
  });
  const after = pipeline.submit([put('c')], false);
  assert.is(seen.length, 0, 'the barrier waits for the group in flight');
  wal.release();
  await wal.appended(2);
  assert.is(seen.length, 0, 'the barrier waits for the write queued before it');
  wal.release();
  await barrier;
  assert.equal(seen, [{ applied: [1, 2], appends: 2 }], 'the barrier saw the two writes before it applied, and not the one after');
  await wal.appended(3);
  wal.release();
  await Promise.all([first, before, after]);
  assert.equal(groupSizes(wal), [1, 1, 1], 'the barrier splits what would have been one group');
});

test('a barrier that throws rejects itself only; writes go on', async () => {
  const { wal, pipeline } = harness();
  wal.autoRelease = true;
  const barrier = pipeline.barrier(() => Promise.reject(new Error('flush failed')));
  const write = pipeline.submit([put('a')], false);
  assert.is(await state(barrier), 'rejected');
  await write;
  assert.is(pipeline.error, undefined);
});

test('a failed append fails its group and every later write, and completes their sequence numbers as holes', async () => {
  const { clock, wal, failures, pipeline } = harness();
  const failing = [pipeline.submit(puts(2), false), pipeline.submit([put('x')], true)];
  await wal.appended(1);
  const queued = [pipeline.submit(puts(3), false), pipeline.submit([put('y')], false)];
  const barrier = pipeline.barrier(() => Promise.resolve());
  const ioError = new StrataError('IO_ERROR', 'fdatasync failed');
  wal.failWith(ioError);
  for (const p of [...failing, ...queued]) assert.is(await p.catch((e: unknown) => e), ioError);
  assert.is(await barrier.catch((e: unknown) => e), ioError, 'a barrier queued behind it fails too');
  assert.is(pipeline.error, ioError);
  assert.equal(failures, [ioError], 'failed() is called once');
  assert.is(clock.last, 7);
  assert.is(clock.published, 7, 'every sequence number handed out is complete, as holes');
  assert.is(await pipeline.submit([put('z')], false).catch((e: unknown) => e), ioError, 'a later write fails at once');
  assert.is(clock.last, 7, 'and takes no sequence number');
  assert.is(wal.appends.length, 1, 'the WAL is never written again');
});

test('a failed append in one shard does not hold up another shard: its sequence numbers become holes', async () => {
  const clock = new SequenceClock(0);
  const a = harness(clock);
  const b = harness(clock);
  const lost = a.pipeline.submit([put('a')], false);
  await a.wal.appended(1);
  b.wal.autoRelease = true;
  const kept = b.pipeline.submit([put('b')], false);
  assert.is(await state(kept), 'pending', 'sequence 1 is not complete yet');
  a.wal.failWith(new StrataError('IO_ERROR', 'write failed'));
  assert.is(await state(lost), 'rejected');
  await kept;
  assert.is(clock.published, 2);
});

test('beforeGroup() throwing fails the pipeline: the group waiting for it and every later write', async () => {
  const refusal = new StrataError('IO_ERROR', 'could not create the next WAL');
  let calls = 0;
  const { clock, wal, failures, pipeline } = harness(new SequenceClock(0), {
    beforeGroup: async () => {
      if (++calls === 2) throw refusal;
    },
  });
  const ok = pipeline.submit([put('a')], false);
  await wal.appended(1);
  const refused = [pipeline.submit(puts(2), false), pipeline.submit([put('b')], false)];
  wal.release();
  await ok;
  for (const p of refused) assert.is(await p.catch((e: unknown) => e), refusal);
  assert.is(pipeline.error, refusal);
  assert.equal(failures, [refusal]);
  assert.is(wal.appends.length, 1, 'the refused group is never appended');
  assert.is(clock.published, clock.last, 'the refused writes are holes');
  assert.is(await pipeline.barrier(() => Promise.resolve()).catch((e: unknown) => e), refusal, 'a later barrier fails at once');
});

test('a record written with submitRecord() takes no sequence number and resolves once written', async () => {
  const { clock, wal, applied, pipeline } = harness();
  const payload = Buffer.from('prepare-bytes');
  const record = pipeline.submitRecord(RecordType.Prepare, payload.length, (out, at) => out.set(payload, at), true);
  assert.is(await state(record), 'pending', 'not before its append completes');
  assert.is(clock.last, 0);
  wal.release();
  await record;
  assert.equal(wal.appends, [{ records: [{ type: RecordType.Prepare, bytes: payload.length }], sync: true }]);
  assert.equal(applied, [], 'nothing is applied');
});

test('records and batches submitted together share one append, in submit order', async () => {
  const { wal, pipeline } = harness();
  wal.autoRelease = true;
  await Promise.all([
    pipeline.submit([put('a')], false),
    pipeline.submitRecord(RecordType.Commit, 8, (out, at) => out.fill(7, at, at + 8), false),
    pipeline.submit(puts(2), false),
  ]);
  assert.equal(
    wal.appends[0]!.records.map((r) => [r.type, r.firstSeq]),
    [
      [RecordType.Batch, 1],
      [RecordType.Commit, undefined],
      [RecordType.Batch, 2],
    ],
  );
});

test('drain() resolves only once every queued group is written', async () => {
  const { wal, pipeline } = harness();
  await pipeline.drain();
  pipeline.submit([put('a')], false);
  await wal.appended(1);
  pipeline.submit([put('b')], false);
  const drained = pipeline.drain();
  wal.release();
  assert.is(await state(drained), 'pending', 'the second group is still to be written');
  wal.release();
  assert.is(await state(drained), 'resolved');
  assert.is(wal.inFlight, 0);
});

test('a group takes no more writes once it holds 4 MiB of records', async () => {
  const { wal, pipeline } = harness();
  wal.autoRelease = true;
  const MiB = 1024 * 1024;
  await Promise.all(Array.from({ length: 6 }, (_, i) => pipeline.submit([put(`big${i}`, MiB)], false)));
  // Three 1 MiB records are under 4 MiB, the fourth takes the group past it: the fifth starts a new one.
  assert.equal(groupSizes(wal), [4, 2]);
});

test('a write resolves only once published: a lower sequence number held by another shard delays it', async () => {
  const clock = new SequenceClock(0);
  const a = harness(clock);
  const b = harness(clock);
  const slow = a.pipeline.submit([put('a')], false);
  await a.wal.appended(1);
  b.wal.autoRelease = true;
  const fast = b.pipeline.submit([put('b')], false);
  assert.is(await state(fast), 'pending', 'written and applied, but sequence 1 is not complete');
  assert.equal(b.applied, [2], 'applied to the memtable meanwhile');
  assert.is(clock.published, 0);
  a.wal.release();
  await Promise.all([slow, fast]);
  assert.is(clock.published, 2);
});

test('a write is applied with the bytes its record holds, not the caller buffers changed after submit()', async () => {
  const { wal, appliedEntries, pipeline } = harness();
  const entry = put('key-1');
  const done = pipeline.submit([entry], false);
  await wal.appended(1);
  (entry.key as Buffer).fill(0x58);
  (entry.value as Buffer).fill(0x4d);
  wal.release();
  await done;
  assert.equal(appliedEntries.map((es) => es.map((e) => [e.kind, e.key.toString(), e.value.toString()])), [[[ValueKind.Put, 'key-1', 'a'.repeat(8)]]]);
});

test.run();
