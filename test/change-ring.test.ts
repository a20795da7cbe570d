// ChangeRing (src/engine/change-ring.ts) alone: commit groups framed as the pipeline frames them
// (RecordBuffer, Batch and PrepareInOrder and Commit records), handed to add() as the
// pipeline's `appended` hook does; what after() gives back, the floor a dropped group leaves,
// and Commit records kept with their parts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { batchEncodedLength, encodeBatchInto, loadChecksum, ValueKind, type BatchEntry } from '../src/base/index.js';
import { ChangeRing } from '../src/engine/change-ring.js';
import { COMMIT_RECORD_BYTES, encodeCommit, encodePrepareHead, prepareHeadBytes } from '../src/engine/two-phase-format.js';
import { RecordBuffer, RecordType } from '../src/wal/index.js';
import { Rng } from './helpers.js';

await loadChecksum();

const put = (key: string, value: string): BatchEntry => ({ kind: ValueKind.Put, key: Buffer.from(key), value: Buffer.from(value) });

/** One group of single-put Batch records with sequence numbers `seqs`, framed in place. */
function group(seqs: number[], valueBytes = 10): Uint8Array {
  const records = new RecordBuffer();
  for (const seq of seqs) {
    const entries = [put(`k${seq}`, 'v'.repeat(valueBytes))];
    const at = records.begin(batchEncodedLength(entries));
    encodeBatchInto(records.bytes, at, seq, entries);
    records.seal(RecordType.Batch);
  }
  return records.finish();
}

test('after() gives the records above a number, in order, each ending where the log would', () => {
  const ring = new ChangeRing(1 << 20);
  ring.attach(0);
  const first = group([1, 2, 3]);
  ring.add(first, 7, 12);
  ring.add(group([4, 5]), 7, 12 + first.length);
  const all = ring.after(0, 100)!;
  assert.equal(all.map((r) => [r.firstSeq, r.lastSeq, r.log]), [[1, 1, 7], [2, 2, 7], [3, 3, 7], [4, 4, 7], [5, 5, 7]]);
  assert.is(all[2]!.end, 12 + first.length, 'the third record ends where the first group does');
  assert.equal(ring.after(3, 100)!.map((r) => r.firstSeq), [4, 5]);
  assert.equal(ring.after(5, 100), []);
  assert.ok(all.every((r) => r.owned), 'records are parsed from the reader\'s own copy');
  assert.is.not(all[0]!.bytes, ring.after(0, 100)![0]!.bytes, 'each reader gets a copy of its own');
});

test('a group the pipeline describes (Batch records alone, their numbers) is held as a walk of it would hold it', () => {
  const walked = new ChangeRing(1 << 20);
  const told = new ChangeRing(1 << 20);
  walked.attach(0);
  told.attach(0);
  const first = group([1, 2, 3]);
  const second = group([4, 5]);
  walked.add(first, 7, 12);
  walked.add(second, 7, 12 + first.length);
  told.add(first, 7, 12, 1, 3, 3);
  told.add(second, 7, 12 + first.length, 4, 5, 2);
  const shape = (ring: ChangeRing, seq: number) => ring.after(seq, 100)!.map((r) => [r.kind, r.firstSeq, r.lastSeq, r.log, r.end, r.batchEnd - r.batchAt]);
  for (const seq of [0, 2, 3, 5]) assert.equal(shape(told, seq), shape(walked, seq), `after(${seq})`);
  assert.is(told.bytes, walked.bytes);
});

test('a slab whose groups were all dropped is filled again, never while a group in it is held', () => {
  // Slabs of 2 KiB, groups of 30 to 1,900 bytes, 5,000 bytes held: slabs are let go and taken
  // again, and a group larger than the groups dropped before it would overwrite held ones.
  for (let round = 0; round < 20; round++) {
    const rng = new Rng(round + 1);
    const ring = new ChangeRing(5000, 2048);
    ring.attach(0);
    const values = new Map<number, string>();
    for (let seq = 1; seq <= 300; seq++) {
      const value = String(seq % 10).repeat(rng.int(3) === 0 ? 1000 + rng.int(900) : 30 + rng.int(300));
      values.set(seq, value);
      const records = new RecordBuffer();
      const entries = [put(`k${seq}`, value)];
      const at = records.begin(batchEncodedLength(entries));
      encodeBatchInto(records.bytes, at, seq, entries);
      records.seal(RecordType.Batch);
      ring.add(records.finish(), 1, 12 + seq * 2000, seq, seq, 1);
      const held = ring.after(seq - ring.size, 100)!;
      assert.equal(
        held.map((r) => r.firstSeq),
        Array.from({ length: ring.size }, (_, i) => seq - ring.size + 1 + i),
        `round ${round}: the writes held after write ${seq}`,
      );
      for (const r of held) {
        const want = values.get(r.firstSeq)!;
        assert.is(Buffer.from(r.bytes.subarray(r.batchEnd - want.length, r.batchEnd)).toString(), want, `round ${round}: write ${r.firstSeq}'s value, read after write ${seq}`);
      }
    }
  }
});

test('the pipeline may reuse its buffer: the ring kept a copy', () => {
  const ring = new ChangeRing(1 << 20);
  ring.attach(0);
  const bytes = group([1]);
  ring.add(bytes, 1, 12);
  bytes.fill(0);
  const [record] = ring.after(0, 10)!;
  assert.is(record?.firstSeq, 1);
  assert.is(Buffer.from(record!.bytes.subarray(record!.batchEnd - 10, record!.batchEnd)).toString(), 'v'.repeat(10));
});

test('over its budget the ring drops its oldest groups, and a reader below the floor is told to read the logs', () => {
  const ring = new ChangeRing(4096);
  ring.attach(0);
  for (let g = 0; g < 10; g++) ring.add(group([3 * g + 1, 3 * g + 2, 3 * g + 3], 400), 1, 12 + g * 2000);
  assert.ok(ring.size < 10 && ring.size >= 1, `it holds ${ring.size} groups`);
  const firstHeld = 30 - 3 * ring.size + 1;
  assert.is(ring.after(firstHeld - 2, 100), undefined, 'below the floor: undefined');
  assert.equal(ring.after(firstHeld - 1, 100)!.map((r) => r.firstSeq)[0], firstHeld, 'at the floor: everything above it');
});

test('a ring starts complete from the number last allocated at attach(), and detach() empties it', () => {
  const ring = new ChangeRing(1 << 20);
  ring.attach(41);
  assert.is(ring.after(40, 10), undefined, 'writes at or below 41 may have come before');
  ring.add(group([42]), 3, 12);
  assert.equal(ring.after(41, 10)!.map((r) => r.firstSeq), [42]);
  ring.attach(42);
  ring.detach();
  assert.is(ring.size, 1, 'another feed is still attached');
  ring.detach();
  assert.is(ring.size, 0);
  assert.not.ok(ring.active);
});

test('Commit records are kept while their parts are held', () => {
  const ring = new ChangeRing(2048);
  ring.attach(0);
  const records = new RecordBuffer();
  const entries = [put('a', 'x'), put('c', 'z')];
  const at = records.begin(prepareHeadBytes(2, entries.length) + batchEncodedLength(entries));
  encodeBatchInto(records.bytes, encodePrepareHead(records.bytes, at, 1, [0, 1], [0, 2]), 1, entries);
  records.seal(RecordType.PrepareInOrder);
  encodeCommit(records.bytes, records.begin(COMMIT_RECORD_BYTES), 1);
  records.seal(RecordType.Commit);
  ring.add(records.finish(), 5, 12);
  const [part] = ring.after(0, 10)!;
  assert.is(part?.kind, 'part');
  if (part?.kind === 'part') assert.equal([part.txn, [...part.places!], part.firstSeq, part.lastSeq], [1, [0, 2], 1, 2]);
  assert.is(ring.commitOf(1)?.log, 5);
  for (let g = 0; g < 10; g++) ring.add(group([10 + g], 400), 5, 1000 + g * 500);
  assert.is(ring.commitOf(1), undefined, 'dropped with its part');
});

test('a ring emptied by its last feed and attached again reuses its memory and reads back what it holds now', () => {
  const ring = new ChangeRing(8192, 1024);
  ring.attach(0);
  for (let g = 0; g < 10; g++) ring.add(group([3 * g + 1, 3 * g + 2, 3 * g + 3], 100), 1, 12 + g * 2000);
  assert.ok(ring.size > 0);
  ring.detach();
  assert.is(ring.size, 0);
  assert.is(ring.bytes, 0);
  ring.attach(30);
  for (let g = 10; g < 20; g++) ring.add(group([3 * g + 1, 3 * g + 2, 3 * g + 3], 120), 2, 12 + g * 2000);
  const held = ring.after(30, 100)!;
  assert.is(held.length, 30);
  for (const r of held) {
    assert.ok(r.firstSeq > 30 && r.log === 2, `write ${r.firstSeq} of log ${r.log}`);
    assert.is(Buffer.from(r.bytes.subarray(r.batchEnd - 120, r.batchEnd)).toString(), 'v'.repeat(120));
  }
});

test.run();
