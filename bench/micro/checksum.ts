// Micro-benchmark: xxh32 (xxhash-wasm), the checksum of every WAL record, table block and
// MANIFEST record, over the sizes it sees: a record header, a one-put record, a data block,
// and a group commit's buffer.
//
//   node dist/bench/micro/checksum.js [--time ms]

import { loadChecksum, xxh32 } from '../../src/base/index.js';
import { halfCompressible, runMicro } from './harness.js';

await loadChecksum();

const PER_CALL = 100;
const sizes: [string, number][] = [
  ['9 bytes (record header)', 9],
  ['129 bytes (one-put batch)', 129],
  ['4 KiB (data block)', 4096],
  ['64 KiB (group commit)', 65536],
];
const inputs = sizes.map(([, n]) => halfCompressible(n, n));

await runMicro(
  'checksum: xxh32 over one buffer',
  sizes.map(([name, n], i) => ({
    name,
    opsPerCall: PER_CALL,
    bytesPerCall: PER_CALL * n,
    fn: () => {
      const input = inputs[i]!;
      for (let k = 0; k < PER_CALL; k++) xxh32(input);
    },
  })),
);
