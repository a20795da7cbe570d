// Micro-benchmark of src/sstable: build a table of 1,000,000 entries (16-byte random keys,
// 100-byte values that LZ4 halves), then random get() with a warm block cache, absent-key
// get() (answered by the bloom filter), and full scans with a warm block cache and with none
// (every block read, checksummed and decompressed). One line per round.
//
//   npx tsc -p tsconfig.json && node dist/bench/sstable.js [entries] [rounds]
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadChecksum, NodeFileSystem, ValueKind } from '../src/base/index.js';
import { BlockCache, TableBuilder, TableReader } from '../src/sstable/index.js';

const ENTRIES = Number(process.argv[2] ?? 1_000_000);
const ROUNDS = Number(process.argv[3] ?? 3);
const KEY_BYTES = 16;
const VALUE_BYTES = 100;

await loadChecksum();
const fs = new NodeFileSystem();
const dir = mkdtempSync(join(tmpdir(), 'strata-bench-sstable-'));

// Keys live sorted in one slab and values are windows of one pool, so that the heap holds few
// objects (like the engine's, whose memtable is typed arrays): a million retained Buffers
// would make every full GC slow and the numbers mostly about the harness.
const keySlab = sortedKeys();
const keyAt = (i: number) => keySlab.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES);
// The pool is made of 50 random bytes repeated twice, per value: LZ4 halves it, like
// db_bench's compression ratio 0.5.
const pool = Buffer.alloc(1 << 20);
for (let p = 0; p < pool.length; p += VALUE_BYTES) {
  const half = randomFillSync(Buffer.alloc(VALUE_BYTES / 2));
  half.copy(pool, p);
  half.copy(pool, p + VALUE_BYTES / 2);
}
const valueAt = (i: number) => {
  const start = (i * VALUE_BYTES) % (pool.length - VALUE_BYTES);
  return pool.subarray(start, start + VALUE_BYTES);
};
const probes = new Uint32Array(ENTRIES).map(() => Math.floor(Math.random() * ENTRIES));
const absentSlab = randomFillSync(Buffer.alloc(200_000 * KEY_BYTES));
const absentAt = (i: number) => absentSlab.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES);

function sortedKeys(): Buffer {
  const random = randomFillSync(Buffer.alloc(ENTRIES * KEY_BYTES));
  const views: Buffer[] = [];
  for (let i = 0; i < ENTRIES; i++) views.push(random.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES));
  views.sort(Buffer.compare);
  const sorted = Buffer.alloc(ENTRIES * KEY_BYTES);
  views.forEach((v, i) => v.copy(sorted, i * KEY_BYTES));
  return sorted;
}

console.log(`sstable bench: ${ENTRIES} entries, ${KEY_BYTES}-byte keys, ${VALUE_BYTES}-byte values, node ${process.version}`);
for (let round = 1; round <= ROUNDS; round++) {
  const path = join(dir, `${round}.sst`);
  let t = performance.now();
  const builder = new TableBuilder(await fs.createWritable(path));
  for (let i = 0; i < ENTRIES; i++) {
    builder.add(keyAt(i), i + 1, ValueKind.Put, valueAt(i));
    if (builder.pendingBytes >= 4 << 20) await builder.drain();
  }
  const { fileSize, properties } = await builder.finish();
  const buildMs = performance.now() - t;
  const rawMB = (properties.rawKeyBytes + properties.rawValueBytes) / 1e6;

  const blocks = new BlockCache(512 << 20);
  const reader = TableReader.open(fs.openReadable(path), round, blocks);
  for (let i = 0; i < ENTRIES; i += 8) reader.get(keyAt(i), Number.MAX_SAFE_INTEGER);
  t = performance.now();
  let found = 0;
  for (const i of probes) if (reader.get(keyAt(i), Number.MAX_SAFE_INTEGER) !== undefined) found++;
  const getMs = performance.now() - t;
  if (found !== ENTRIES) throw new Error(`found ${found} of ${ENTRIES}`);

  t = performance.now();
  let falsePositives = 0;
  for (let i = 0; i < 200_000; i++) if (reader.get(absentAt(i), Number.MAX_SAFE_INTEGER) !== undefined) falsePositives++;
  const absentMs = performance.now() - t;

  const scan = (r: TableReader) => {
    const start = performance.now();
    const it = r.iterator();
    let scanned = 0;
    for (it.seekToFirst(); it.valid(); it.next()) {
      if (it.key().length + it.value().length === 0) throw new Error('empty entry');
      scanned++;
    }
    it.close();
    if (scanned !== ENTRIES) throw new Error(`scanned ${scanned} of ${ENTRIES}`);
    return performance.now() - start;
  };
  const scanMs = scan(reader);
  reader.close();
  const uncached = TableReader.open(fs.openReadable(path), round, undefined);
  const coldScanMs = scan(uncached);
  uncached.close();
  if (falsePositives !== 0) throw new Error('an absent key was found');

  console.log(
    `round ${round}: build ${(rawMB / (buildMs / 1000)).toFixed(1)} MB/s (${(ENTRIES / (buildMs / 1000) / 1e3).toFixed(0)}k entries/s, file ${(fileSize / 1e6).toFixed(1)} MB from ${rawMB.toFixed(1)} MB raw, ${properties.dataBlocks} blocks)` +
      ` | get warm ${(ENTRIES / (getMs / 1000) / 1e3).toFixed(0)}k/s` +
      ` | get absent ${(200_000 / (absentMs / 1000) / 1e3).toFixed(0)}k/s` +
      ` | scan warm ${(ENTRIES / (scanMs / 1000) / 1e6).toFixed(2)}M entries/s` +
      ` | scan uncached ${(ENTRIES / (coldScanMs / 1000) / 1e6).toFixed(2)}M entries/s` +
      ` | cache ${(blocks.usedBytes / 1e6).toFixed(0)} MB, ${blocks.hits} hits ${blocks.misses} misses`,
  );
  await fs.unlink(path);
}
rmSync(dir, { recursive: true, force: true });
