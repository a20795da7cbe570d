// The bench's keys: makeKey(n) is n as 16 zero-padded decimal digits ("%016d"), fresh each call.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeKey } from '../bench/lib/keys.js';
import { Rng } from './helpers.js';

test('makeKey writes n as 16 zero-padded decimal digits, across both halves of its digits', () => {
  const edges = [0, 1, 9, 10, 99, 12_345_678, 99_999_999, 100_000_000, 100_000_001, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 123_456_789_012_345, Number.MAX_SAFE_INTEGER];
  const rng = new Rng(0x2545f491);
  const random: number[] = [];
  for (let i = 0; i < 10_000; i++) random.push(rng.u32() * (i % 2 === 0 ? 1 : 1_000_003) + i);
  for (const n of [...edges, ...random]) {
    assert.is(makeKey(n).toString('latin1'), String(n).padStart(16, '0'), `key of ${n}`);
  }
  const a = makeKey(7);
  const b = makeKey(7);
  a[0] = 0x41;
  assert.is(b.toString('latin1'), '0000000000000007', 'each key is fresh memory');
});

test.run();
