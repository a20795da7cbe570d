// Micro-benchmark: the tables' bloom filter (src/sstable/bloom.ts) at 10 bits per key —
// hashing a key, building a filter, and probing it for present and absent keys.
//
//   node dist/bench/micro/bloom.js [--time ms]

import { loadChecksum } from '../../src/base/index.js';
// The filter is private to src/sstable; the bench reaches it file by file.
import { bloomHash, BloomFilter, buildBloomFilter } from '../../src/sstable/bloom.js';
import { randomKeys, runMicro } from './harness.js';

await loadChecksum();

const KEYS = 100_000;
const BITS_PER_KEY = 10;
const keys = randomKeys(KEYS, 16);
const hashes = Uint32Array.from(keys, bloomHash);
const filter = new BloomFilter(buildBloomFilter(hashes, KEYS, BITS_PER_KEY), 'bench.sst', 0);
const absentHashes = Uint32Array.from(randomKeys(KEYS, 16, 777), bloomHash);
let falsePositives = 0;
for (const h of absentHashes) if (filter.mayContainHash(h)) falsePositives++;

const PER_CALL = 1000;
let at = 0;

await runMicro(`bloom: ${BITS_PER_KEY} bits per key, ${KEYS.toLocaleString('en-US')} random 16-byte keys; ${((falsePositives / KEYS) * 100).toFixed(2)}% false positives`, [
  {
    name: 'hash a 16-byte key',
    opsPerCall: PER_CALL,
    fn: () => {
      for (let i = 0; i < PER_CALL; i++) bloomHash(keys[(at + i) % KEYS]!);
      at = (at + PER_CALL) % KEYS;
    },
  },
  { name: `build a filter (per key)`, opsPerCall: KEYS, fn: () => void buildBloomFilter(hashes, KEYS, BITS_PER_KEY) },
  {
    name: 'probe, key present',
    opsPerCall: PER_CALL,
    fn: () => {
      for (let i = 0; i < PER_CALL; i++) if (!filter.mayContainHash(hashes[(at + i) % KEYS]!)) throw new Error('a present key was filtered out');
      at = (at + PER_CALL) % KEYS;
    },
  },
  {
    name: 'probe, key absent',
    opsPerCall: PER_CALL,
    fn: () => {
      for (let i = 0; i < PER_CALL; i++) filter.mayContainHash(absentHashes[(at + i) % KEYS]!);
      at = (at + PER_CALL) % KEYS;
    },
  },
]);
