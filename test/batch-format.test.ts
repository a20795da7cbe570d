// The write batch, the payload of every WAL record.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyBatch, batchEncodedLength, decodeBatch, encodeBatchInto, StrataError, ValueKind, type BatchEntry, type SeqNum } from '../src/base/index.js';

/** A batch in a buffer of its own, as encodeBatchInto writes it into a WAL group. */
function encodeBatch(firstSeq: SeqNum, entries: readonly BatchEntry[]): Uint8Array {
  const out = new Uint8Array(batchEncodedLength(entries));
  assert.is(encodeBatchInto(out, 0, firstSeq, entries), out.length, 'encodeBatchInto fills exactly batchEncodedLength bytes');
  return out;
}

const put = (key: string, value: string) => ({ kind: ValueKind.Put, key: Buffer.from(key), value: Buffer.from(value) });
const del = (key: string) => ({ kind: ValueKind.Delete, key: Buffer.from(key), value: new Uint8Array(0) });

test('a batch round trips puts, deletes, the empty key and a large value', () => {
  const big = 'v'.repeat(200_000);
  const entries = [put('a', '1'), del('b'), put('', ''), put('c', big)];
  const back = decodeBatch(encodeBatch(2 ** 40 + 1, entries));
  assert.is(back.firstSeq, 2 ** 40 + 1);
  assert.equal(
    back.entries.map((e) => [e.kind, Buffer.from(e.key).toString(), Buffer.from(e.value).toString()]),
    [[1, 'a', '1'], [0, 'b', ''], [1, '', ''], [1, 'c', big]],
  );
});

test('a batch has the documented bytes', () => {
  const bytes = Buffer.from(
    [
      '0700000000000000', // firstSeq 7, u64 LE
      '02000000', // count 2, u32 LE
      '01 01 6b 02 7676', // Put, key length 1, "k", value length 2, "vv"
      '00 01 78', // Delete, key length 1, "x"
    ].join('').replace(/ /g, ''),
    'hex',
  );
  assert.equal(Buffer.from(encodeBatch(7, [put('k', 'vv'), del('x')])), bytes);
  assert.is(decodeBatch(bytes).entries.length, 2);
});

test('a malformed batch is CORRUPTION', () => {
  const good = encodeBatch(1, [put('key', 'value')]);
  for (const bad of [good.subarray(0, 5), good.subarray(0, good.length - 1), Uint8Array.from([...good, 0]), Uint8Array.from(good).fill(9, 12, 13)]) {
    try {
      decodeBatch(bad);
      assert.unreachable('accepted');
    } catch (err) {
      assert.instance(err, StrataError);
      assert.is((err as StrataError).code, 'CORRUPTION');
    }
  }
});

test('applyBatch hands over what decodeBatch reads: kinds, sequence numbers, keys and values, long lengths too', () => {
  const entries: BatchEntry[] = [
    { kind: ValueKind.Put, key: Buffer.from('a'), value: Buffer.from('1') },
    { kind: ValueKind.Delete, key: Buffer.alloc(200, 0x62), value: new Uint8Array(0) },
    { kind: ValueKind.Put, key: new Uint8Array(0), value: Buffer.alloc(70_000, 0x63) },
    { kind: ValueKind.Put, key: Buffer.from('d'), value: new Uint8Array(0) },
  ];
  const out = new Uint8Array(5 + batchEncodedLength(entries));
  encodeBatchInto(out, 5, 41, entries);
  const seen: [number, number, string, string][] = [];
  applyBatch(out, 5, { add: (seq, kind, key, value) => seen.push([seq, kind, Buffer.from(key).toString('hex'), Buffer.from(value).toString('hex')]) });
  const decoded = decodeBatch(out.subarray(5));
  assert.equal(seen, decoded.entries.map((e, i) => [41 + i, e.kind, Buffer.from(e.key).toString('hex'), Buffer.from(e.value).toString('hex')]));
  assert.is(seen.length, 4);
});

test.run();
