// WriteTracker (src/shard/write-tracker.ts): what transactions and conditional writes are
// validated against. Keys written above a reader's sequence are found, by key and by range;
// entries no reader needs are pruned; past the memory bound the oldest go and the cut moves,
// so that a reader below it is told it cannot be answered rather than told nothing changed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { keyString, WriteTracker } from '../src/shard/write-tracker.js';

const k = (s: string) => ({ key: Buffer.from(s) });
const range = (lower: string | undefined, upper: string | undefined, lowerInclusive = true, upperInclusive = false) => ({
  ...(lower === undefined ? {} : { lower: keyString(Buffer.from(lower)) }),
  ...(upper === undefined ? {} : { upper: keyString(Buffer.from(upper)) }),
  lowerInclusive,
  upperInclusive,
});

test('writtenAfter() finds the last write of a key above the reader sequence, and nothing at or below it', () => {
  const t = new WriteTracker(1 << 20);
  t.activate(10);
  t.register(10);
  t.record([k('a'), k('b')], 12);
  t.record([k('a')], 15);
  assert.is(t.writtenAfter('a', 10), 15);
  assert.is(t.writtenAfter('a', 15), 0, 'a write at the reader sequence is one it saw');
  assert.is(t.writtenAfter('b', 11), 12);
  assert.is(t.writtenAfter('b', 12), 0);
  assert.is(t.writtenAfter('c', 0), 0, 'a key never written');
});

test('writtenInRangeAfter() finds a write into the range above the sequence and respects each bound kind', () => {
  const t = new WriteTracker(1 << 20);
  t.activate(0);
  t.register(0);
  t.record([k('m')], 5);
  t.record([k('z')], 6);
  assert.is(t.writtenInRangeAfter(range('a', 'n'), 0)?.seq, 5);
  assert.is(t.writtenInRangeAfter(range('a', 'n'), 5), undefined, 'only writes above the sequence count');
  assert.is(t.writtenInRangeAfter(range('a', 'm'), 0), undefined, 'an exclusive upper bound leaves its key out');
  assert.is(t.writtenInRangeAfter(range('a', 'm', true, true), 0)?.seq, 5);
  assert.is(t.writtenInRangeAfter(range('m', 'n', false), 0), undefined, 'an exclusive lower bound leaves its key out');
  assert.equal(t.writtenInRangeAfter(range(undefined, undefined), 5), { seq: 6, key: 'z' }, 'an unbounded range holds every key');
  assert.is(t.writtenInRangeAfter(range('n', 'y'), 0)?.seq, undefined);
});

test('keys order as bytes, also past 0x7f (latin1 strings compare like the bytes)', () => {
  const t = new WriteTracker(1 << 20);
  t.activate(0);
  t.register(0);
  t.record([{ key: Uint8Array.of(0xc3, 0x00) }], 3);
  const lo = keyString(Uint8Array.of(0x80));
  const hi = keyString(Uint8Array.of(0xff));
  assert.is(t.writtenInRangeAfter({ lower: lo, upper: hi, lowerInclusive: true, upperInclusive: false }, 0)?.seq, 3);
  assert.is(t.writtenInRangeAfter({ lower: keyString(Uint8Array.of(0x7f)), upper: lo, lowerInclusive: true, upperInclusive: false }, 0)?.seq, undefined);
});

test('when the oldest reader leaves, entries at or below the next oldest are pruned', () => {
  const t = new WriteTracker(1 << 20);
  t.activate(0);
  t.register(0);
  t.record([k('a')], 1);
  t.register(1);
  t.record([k('b')], 2);
  t.register(2);
  t.record([k('c')], 3);
  assert.is(t.size.writes, 3);
  t.unregister(0);
  assert.is(t.size.writes, 2, 'the write at 1 is seen by every reader left');
  assert.is(t.writtenAfter('a', 0), 0);
  t.unregister(2);
  assert.is(t.size.writes, 2, 'a younger reader leaving prunes nothing');
  t.unregister(1);
  assert.is(t.active, false, 'no reader left: tracking stops');
  assert.is(t.size.writes, 0);
});

test('past the memory bound the oldest batches go whole and a reader below the cut is told so', () => {
  const t = new WriteTracker(64 * 1024);
  t.activate(0);
  t.register(0);
  let seq = 0;
  for (let i = 0; i < 2000; i++) t.record([k(`key${i}`), k(`other${i}`)], ++seq);
  assert.ok(t.size.bytes <= 64 * 1024, `bytes ${t.size.bytes} within the bound`);
  assert.ok(t.cut > 0, 'the cut moved');
  assert.is(t.writtenAfter('key0', 0), 0, 'the oldest write is forgotten...');
  assert.ok(0 < t.cut, '...and a reader at 0 is below the cut, so it must not trust that answer');
  assert.is(t.writtenAfter(`key${t.cut}`, 0), t.cut + 1, 'the first batch above the cut is kept');
  assert.is(t.writtenAfter(`other${t.cut}`, 0), t.cut + 1, 'with all its keys');
});

test('a key written again keeps only its last sequence, and pruning the older entry keeps the newer', () => {
  const t = new WriteTracker(1 << 20);
  t.activate(0);
  t.register(0);
  t.record([k('a')], 1);
  t.register(1);
  t.record([k('a')], 5);
  t.unregister(0);
  assert.is(t.writtenAfter('a', 1), 5);
});

test.run();
