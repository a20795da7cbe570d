// Micro-benchmark: the memtable's add and get (the skip list over internal keys), with
// db_bench's shapes: random 16-byte keys, 100-byte values.
//
//   node dist/bench/micro/memtable.js [--time ms]

import { MAX_SEQ, ValueKind } from '../../src/base/index.js';
import { Memtable } from '../../src/memtable/index.js';
import { halfCompressible, randomKeys, runMicro } from './harness.js';

const KEYS = 200_000;
const PER_CALL = 1000;
const keys = randomKeys(KEYS, 16);
const absent = randomKeys(PER_CALL * 16, 16, 12345);
const value = halfCompressible(100);

// add: a fresh memtable every KEYS adds, so that every key is new to it and its size stays
// that of a memtable a few tens of MB big.
let adding = new Memtable();
let added = 0;

const full = new Memtable();
for (let i = 0; i < KEYS; i++) full.add(i + 1, ValueKind.Put, keys[i]!, value);
let probe = 0;

await runMicro(`memtable: random 16-byte keys, 100-byte values; get from ${KEYS.toLocaleString('en-US')} entries`, [
  {
    name: 'add',
    opsPerCall: PER_CALL,
    fn: () => {
      if (added === KEYS) {
        adding = new Memtable();
        added = 0;
      }
      for (let i = 0; i < PER_CALL; i++, added++) adding.add(added + 1, ValueKind.Put, keys[added]!, value);
    },
  },
  {
    name: 'get, key present',
    opsPerCall: PER_CALL,
    fn: () => {
      for (let i = 0; i < PER_CALL; i++) {
        probe = (probe + 7919) % KEYS;
        if (full.get(keys[probe]!, MAX_SEQ) === undefined) throw new Error('a present key was not found');
      }
    },
  },
  {
    name: 'get, key absent',
    opsPerCall: PER_CALL,
    fn: () => {
      for (let i = 0; i < PER_CALL; i++) {
        probe = (probe + 1) % absent.length;
        full.get(absent[probe]!, MAX_SEQ);
      }
    },
  },
]);
