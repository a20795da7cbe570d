// Micro-benchmark: what a block-cache miss and a hit cost (src/sstable/physical-block.ts,
// block-cache.ts). A miss reads a 4 KiB data block (LZ4, about 2.5 KiB stored) from a file in
// the page cache, checks and decompresses it: through the native readBlock (one call) and
// through the fallback (readSync, xxh32 in WebAssembly, lz4-napi). A hit is a cache lookup;
// an insert into a full cache evicts (CLOCK); a get's admission copies the block into the cache,
// into a Buffer of its own (as before block-slab.ts) or into the cache's slab.
//
//   node dist/bench/micro/block-read.js [--time ms]

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadChecksum, NodeFileSystem, ValueKind, type RandomAccessFile } from '../../src/base/index.js';
import { nativeIo } from '../../src/base/native.js';
// Block internals are private to src/sstable; the bench reaches them file by file.
import { BlockBuilder } from '../../src/sstable/block-builder.js';
import { BlockCache } from '../../src/sstable/block-cache.js';
import { Block, DEFAULT_RESTART_INTERVAL } from '../../src/sstable/block-format.js';
import { choosePayload, readPhysicalBlock, readPhysicalBlockTransient, sealPhysicalBlock } from '../../src/sstable/physical-block.js';
import { halfCompressible, runMicro, xorshift } from './harness.js';

await loadChecksum();
const BLOCKS = 4096;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-micro-'));
const file = path.join(dir, 'blocks');
const frames: { offset: number; size: number }[] = [];
const parts: Buffer[] = [];
let at = 0;
const builder = new BlockBuilder(DEFAULT_RESTART_INTERVAL);
for (let b = 0; b < BLOCKS; b++) {
  builder.reset();
  for (let i = 0; builder.estimatedBytes < 4096; i++) {
    builder.add(Buffer.from(String(b * 1000 + i).padStart(16, '0'), 'latin1'), i + 1, ValueKind.Put, halfCompressible(100, b * 1000 + i + 1));
  }
  const contents = Buffer.from(builder.finish());
  const { payload, compression } = choosePayload(contents, true);
  const frame = Buffer.alloc(payload.length + 5);
  payload.copy(frame);
  sealPhysicalBlock(frame, 0, payload.length, compression);
  frames.push({ offset: at, size: payload.length });
  parts.push(frame);
  at += frame.length;
}
fs.writeFileSync(file, Buffer.concat(parts));
const real = new NodeFileSystem().openReadable(file);
// The same file without its descriptor: readPhysicalBlock then takes the fallback.
const withoutFd: RandomAccessFile = { path: real.path, size: real.size, read: (o, l) => real.read(o, l), close: () => {} };
const next = xorshift(42);
const order = Array.from({ length: 1000 }, () => frames[next() % BLOCKS]!);
const cache = new BlockCache(8 * 1024 * 1024);
const blocks = cache.fileBlocks(1);
const sample = new Block(readPhysicalBlock(real, frames[0]!.offset, frames[0]!.size, 'data block'), file, 0);
for (let i = 0; i < 1000; i++) cache.insert(blocks, i, sample);
let inserted = 1000;
// Two more caches, full, that a get's admission copies a block into: a Buffer of its own a
// block (as before the slab), and the cache's slab (insertCopy).
const owned = new BlockCache(8 * 1024 * 1024);
const slabbed = new BlockCache(8 * 1024 * 1024);
const ownedBlocks = owned.fileBlocks(1);
const slabbedBlocks = slabbed.fileBlocks(1);
let admitted = 0;
for (; admitted < 4000; admitted++) {
  owned.insert(ownedBlocks, admitted, new Block(Buffer.from(sample.data), file, 0));
  slabbed.insertCopy(slabbedBlocks, admitted, sample.data, file, 0);
}

const readAll = (f: RandomAccessFile) => () => {
  for (const fr of order) readPhysicalBlock(f, fr.offset, fr.size, 'data block');
};

try {
  await runMicro(`block reads: 4 KiB blocks, LZ4 (${frames[0]!.size} bytes stored), from the page cache; addon ${nativeIo.calls.includes('readBlock') ? 'with' : 'without'} readBlock`, [
    ...(nativeIo.calls.includes('readBlock') ? [{ name: 'miss: read, check, decompress (native readBlock)', opsPerCall: order.length, fn: readAll(real) }] : []),
    ...(real.mapped?.() !== undefined
      ? [{ name: 'miss: from the mapping, check, decompress, copy', opsPerCall: order.length, fn: () => {
          for (const fr of order) Buffer.from(readPhysicalBlockTransient(real, fr.offset, fr.size, 'data block')!);
        } }]
      : []),
    { name: 'miss: read, check, decompress (fallback)', opsPerCall: order.length, fn: readAll(withoutFd) },
    {
      name: 'hit: cache lookup',
      opsPerCall: 1000,
      fn: () => {
        // The newest thousand inserts (the insert task may have run its warm-up first).
        for (let i = inserted - 1000; i < inserted; i++) if (cache.lookup(blocks, i) === undefined) throw new Error('a cached block is missing');
      },
    },
    {
      name: 'admit into a full cache: a Buffer of its own',
      opsPerCall: 1000,
      fn: () => {
        for (let i = 0; i < 1000; i++) owned.insert(ownedBlocks, admitted++, new Block(Buffer.from(sample.data), file, 0));
      },
    },
    {
      name: 'admit into a full cache: copied into its slab',
      opsPerCall: 1000,
      fn: () => {
        for (let i = 0; i < 1000; i++) slabbed.insertCopy(slabbedBlocks, admitted++, sample.data, file, 0);
      },
    },
    {
      name: 'insert into a full cache (evicts)',
      opsPerCall: 1000,
      fn: () => {
        for (let i = 0; i < 1000; i++) cache.insert(blocks, inserted++, sample);
      },
    },
  ]);
} finally {
  real.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
