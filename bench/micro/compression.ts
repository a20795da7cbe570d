// Micro-benchmark: block compression (LZ4 through lz4-napi, as src/sstable/physical-block.ts
// uses it) on a real 4 KiB data block of db_bench-like entries, whose values compress to about
// half: the writer's choice of payload (compress, keep if it saves 1/8) and the reader's
// decompression.
//
//   node dist/bench/micro/compression.js [--time ms]

import { uncompressSync } from 'lz4-napi';
import { ValueKind } from '../../src/base/index.js';
// Block internals are private to src/sstable; the bench reaches them file by file.
import { BlockBuilder } from '../../src/sstable/block-builder.js';
import { DEFAULT_RESTART_INTERVAL } from '../../src/sstable/block-format.js';
import { choosePayload } from '../../src/sstable/physical-block.js';
import { halfCompressible, runMicro } from './harness.js';

const builder = new BlockBuilder(DEFAULT_RESTART_INTERVAL);
for (let i = 0; builder.estimatedBytes < 4096; i++) {
  builder.add(Buffer.from(String(1_000_000 + i).padStart(16, '0'), 'latin1'), i + 1, ValueKind.Put, halfCompressible(100, i + 1));
}
const contents = Buffer.from(builder.finish());
const { payload, compression } = choosePayload(contents, true);
if (compression === 0) throw new Error('the block did not compress');

const PER_CALL = 10;

await runMicro(`compression: LZ4, a ${contents.length}-byte data block that compresses to ${payload.length} bytes`, [
  {
    name: 'compress (choosePayload)',
    opsPerCall: PER_CALL,
    bytesPerCall: PER_CALL * contents.length,
    fn: () => {
      for (let i = 0; i < PER_CALL; i++) choosePayload(contents, true);
    },
  },
  {
    name: 'decompress',
    opsPerCall: PER_CALL,
    bytesPerCall: PER_CALL * contents.length,
    fn: () => {
      for (let i = 0; i < PER_CALL; i++) uncompressSync(payload);
    },
  },
]);
