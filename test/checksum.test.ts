// xxh32: the JavaScript path for short inputs gives the numbers xxhash-wasm gives.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import xxhash from 'xxhash-wasm';
import { loadChecksum, xxh32, xxh32Short } from '../src/base/index.js';

test('xxh32 of short inputs in JavaScript equals xxhash-wasm, for every length to 200 and several seeds', async () => {
  await loadChecksum();
  const { h32Raw } = await xxhash();
  let s = 0x2545f491;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
  for (let length = 0; length <= 200; length++) {
    for (const seed of [0, 1, 0xbc9f1d34, 0xffffffff, next()]) {
      const bytes = new Uint8Array(length);
      for (let i = 0; i < length; i++) bytes[i] = next() & 0xff;
      const expected = h32Raw(bytes, seed) >>> 0;
      assert.is(xxh32Short(bytes, seed), expected, `length ${length}, seed ${seed}`);
      assert.is(xxh32(bytes, seed), expected, `length ${length}, seed ${seed}`);
    }
  }
});

test('xxh32 of the empty input with seed 0 is the published 0x02cc5d05', () => {
  assert.is(xxh32Short(new Uint8Array(0), 0), 0x02cc5d05);
});

test.run();
