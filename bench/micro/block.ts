// Micro-benchmark: data blocks (src/sstable/block-*.ts) — building a 4 KiB block of
// prefix-compressed entries with restart points, and seeking and scanning in one.
// Keys are db_bench's (16 decimal digits), values 100 bytes.
//
//   node dist/bench/micro/block.js [--time ms]

import { MAX_SEQ, ValueKind } from '../../src/base/index.js';
// Block internals are private to src/sstable; the bench reaches them file by file.
import { BlockBuilder } from '../../src/sstable/block-builder.js';
import { Block, DEFAULT_RESTART_INTERVAL } from '../../src/sstable/block-format.js';
import { BlockIter } from '../../src/sstable/block-iter.js';
import { halfCompressible, runMicro, xorshift } from './harness.js';

const BLOCK_BYTES = 4096;
const value = halfCompressible(100);
const key = (n: number) => Buffer.from(String(n).padStart(16, '0'), 'latin1');
const keys = Array.from({ length: 1000 }, (_, i) => key(1_000_000 + i * 3));

const builder = new BlockBuilder(DEFAULT_RESTART_INTERVAL);
function buildOne(): number {
  builder.reset();
  let n = 0;
  while (builder.estimatedBytes < BLOCK_BYTES && n < keys.length) {
    builder.add(keys[n]!, n + 1, ValueKind.Put, value);
    n++;
  }
  return builder.finish().length;
}

// One full block, kept; its keys are keys[0..entries).
builder.reset();
let entries = 0;
while (builder.estimatedBytes < BLOCK_BYTES) builder.add(keys[entries]!, ++entries, ValueKind.Put, value);
const block = new Block(Buffer.from(builder.finish()), 'bench.sst', 0);
const entriesPerBlock = entries;
const blockBytes = block.data.length;
const iter = new BlockIter();
const next = xorshift(42);
const probes = Array.from({ length: 1000 }, () => keys[next() % entriesPerBlock]!);

await runMicro(`block: ${BLOCK_BYTES}-byte blocks of ${entriesPerBlock} entries (16-byte keys, 100-byte values), restart every ${DEFAULT_RESTART_INTERVAL}`, [
  {
    name: 'build a block (per entry)',
    opsPerCall: entriesPerBlock,
    bytesPerCall: blockBytes,
    fn: () => void buildOne(),
  },
  {
    name: 'seek to a present key',
    opsPerCall: probes.length,
    fn: () => {
      iter.reset(block);
      for (const k of probes) {
        iter.seek(k, MAX_SEQ);
        if (!iter.valid() || !iter.keyEquals(k)) throw new Error('seek missed a present key');
      }
    },
  },
  {
    name: 'scan the block (per entry)',
    opsPerCall: entriesPerBlock,
    bytesPerCall: blockBytes,
    fn: () => {
      iter.reset(block);
      let n = 0;
      for (iter.seekToFirst(); iter.valid(); iter.next()) n += iter.valueLength;
      if (n !== entriesPerBlock * value.length) throw new Error('scan missed entries');
    },
  },
]);
