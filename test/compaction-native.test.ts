// The compaction's merge in the addon (src/compaction/native-merge.ts) against the TypeScript
// merge of compactTables: for random inputs (versions, Deletes, expiring puts, snapshots,
// deeper ranges, key ranges of subcompactions, block and file sizes, large values) the two
// write the same output files byte for byte and report the same counts; damage in an input is
// the same CORRUPTION; an entry the addon does not handle (a Merge operand) leaves nothing
// behind and is the TypeScript merge's. Skipped without the addon.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { loadChecksum, NodeFileSystem, tableFileName, ValueKind, type RandomAccessFile, type SeqNum } from '../src/base/index.js';
import { compactTables, type CompactionJob, type CompactionResult } from '../src/compaction/index.js';
import { compactNatively, mergesNatively } from '../src/compaction/native-merge.js';
import { withExpiry } from '../src/base/ttl.js';
import { TableBuilder, TableReader, type TableBuilderOptions } from '../src/sstable/index.js';
import { expectCode, flipByte, makeTempDir, removeDir, Rng } from './helpers.js';

interface Entry {
  key: Buffer;
  seq: SeqNum;
  kind: ValueKind;
  value: Uint8Array;
}

const fs = new NodeFileSystem();
/** The same files, never mapped: compactTables then runs the TypeScript merge. */
class UnmappedFileSystem extends NodeFileSystem {
  override openReadable(file: string): RandomAccessFile {
    const opened = super.openReadable(file);
    return new Proxy(opened, {
      get: (target, name) => {
        if (name === 'mapped') return undefined;
        const value: unknown = Reflect.get(target, name, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }
}
const unmapped = new UnmappedFileSystem();
const dirs: string[] = [];
const NOW_MS = 1_700_000_000_000;

function tempDir(): string {
  const dir = makeTempDir('strata-native-merge-');
  dirs.push(dir);
  return dir;
}

const byInternalOrder = (a: Entry, b: Entry) => Buffer.compare(a.key, b.key) || b.seq - a.seq;

async function writeInput(dir: string, n: number, entries: readonly Entry[], options: TableBuilderOptions): Promise<void> {
  const builder = new TableBuilder(await fs.createWritable(tableFileName(dir, n)), options);
  for (const e of [...entries].sort(byInternalOrder)) builder.add(e.key, e.seq, e.kind, e.value);
  await builder.finish();
}

/** compactNatively over the job's inputs, opened here and closed after. */
async function nativeMerge(job: CompactionJob): Promise<CompactionResult | undefined> {
  const readers = job.inputs.flatMap(({ fileNumbers }) => fileNumbers.map((n) => TableReader.openPath(fs, tableFileName(job.dir, n), n, undefined)));
  try {
    return await compactNatively(job, fs, readers, undefined);
  } finally {
    for (const r of readers) r.close();
  }
}

const sstFiles = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.sst')).sort();

/** A result with its keys as hex, for comparing two results as text. */
function shown(result: CompactionResult): string {
  return JSON.stringify(result, (_, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));
}

/** A random case: inputs written to a new directory, and the job over them. */
async function randomCase(seed: number): Promise<{ dir: string; job: CompactionJob; entries: number }> {
  const rng = new Rng(seed);
  const dir = tempDir();
  const builder: TableBuilderOptions = {
    blockBytes: [256, 1024, 4096][rng.int(3)]!,
    restartInterval: [1, 4, 16][rng.int(3)]!,
    compression: rng.chance(0.5) ? 'lz4' : 'none',
  };
  const keyCount = rng.range(20, 400);
  const keys = Array.from({ length: keyCount }, (_, i) => Buffer.from(`${rng.chance(0.2) ? 'a-much-longer-shared-prefix/' : ''}key${String(i * 7).padStart(6, '0')}`));
  const inputCount = rng.range(1, 5);
  const total = rng.range(50, 1500);
  // Distinct sequence numbers, dealt out at random.
  const seqs = Array.from({ length: total }, (_, i) => i + 1);
  for (let i = seqs.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [seqs[i], seqs[j]] = [seqs[j]!, seqs[i]!];
  }
  const byInput: Entry[][] = Array.from({ length: inputCount }, () => []);
  for (let i = 0; i < total; i++) {
    const key = keys[rng.int(keyCount)]!;
    const r = rng.float();
    let kind: ValueKind = ValueKind.Put;
    let value: Uint8Array;
    if (r < 0.2) {
      kind = ValueKind.Delete;
      value = new Uint8Array(0);
    } else if (r < 0.35) {
      kind = ValueKind.PutWithExpiry;
      value = rng.chance(0.1) ? rng.bytes(rng.int(8)) : withExpiry(rng.bytes(rng.int(40)), NOW_MS + (rng.chance(0.5) ? -1000 : 1000) * rng.range(0, 5));
    } else {
      value = rng.chance(0.3) ? Buffer.alloc(rng.int(300), rng.int(256)) : rng.bytes(rng.int(300));
    }
    byInput[rng.int(inputCount)]!.push({ key, seq: seqs[i]!, kind, value });
  }
  if (seed % 5 === 0) byInput[0]!.push({ key: keys[0]!, seq: total + 1, kind: ValueKind.Put, value: rng.bytes(1536 * 1024) });
  const fileNumbers: number[] = [];
  for (let i = 0; i < inputCount; i++) {
    if (byInput[i]!.length === 0) continue;
    await writeInput(dir, i + 1, byInput[i]!, builder);
    fileNumbers.push(i + 1);
  }
  const snapshots = [...new Set(Array.from({ length: rng.int(6) }, () => rng.range(1, total)))].sort((a, b) => a - b);
  snapshots.push(total + 1);
  const deeperRanges: [Uint8Array, Uint8Array][] = Array.from({ length: rng.int(4) }, () => {
    const [a, b] = [keys[rng.int(keyCount)]!, keys[rng.int(keyCount)]!].sort(Buffer.compare);
    return [a!, b!];
  });
  const cut = rng.chance(0.3) ? [keys[rng.int(keyCount)]!, keys[rng.int(keyCount)]!].sort(Buffer.compare) : undefined;
  const job: CompactionJob = {
    dir,
    inputs: [{ level: 0, fileNumbers }],
    outputLevel: 1,
    snapshots,
    deeperRanges,
    targetFileBytes: [2048, 8192, 64 * 1024, 2 * 1024 * 1024][rng.int(4)]!,
    builder,
    outputFileNumbers: Array.from({ length: 400 }, (_, i) => 100 + i),
    ...(rng.chance(0.7) && { filters: [{ kind: 'ttl' as const, nowMs: NOW_MS }] }),
    ...(cut !== undefined && rng.chance(0.5) ? { start: cut[0] } : {}),
    ...(cut !== undefined && rng.chance(0.5) ? { end: cut[1] } : {}),
  };
  return { dir, job, entries: total };
}

test.before(async () => {
  await loadChecksum();
});

test.after(() => {
  for (const d of dirs) removeDir(d);
});

const SEEDS = Number(process.env['STRATA_NATIVE_MERGE_SEEDS'] ?? 40);

test('the addon merge writes the files the TypeScript merge writes, byte for byte', async () => {
  if (!mergesNatively({ snapshots: [1] } as unknown as CompactionJob)) return;
  let outputs = 0;
  let dropped = 0;
  let expired = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const { dir, job } = await randomCase(seed);
    const other = tempDir();
    cpSync(dir, other, { recursive: true });
    const native = await nativeMerge(job);
    assert.ok(native !== undefined, `seed ${seed}: the addon merge ran`);
    const typescript = await compactTables({ ...job, dir: other }, unmapped);
    assert.is(shown(native), shown(typescript), `seed ${seed}: the results`);
    assert.equal(sstFiles(dir), sstFiles(other), `seed ${seed}: the files`);
    for (const t of native.outputs) {
      const a = readFileSync(tableFileName(dir, t.fileNumber));
      const b = readFileSync(tableFileName(other, t.fileNumber));
      assert.ok(a.equals(b), `seed ${seed}: output ${t.fileNumber} differs`);
    }
    outputs += native.outputs.length;
    dropped += native.droppedVersions + native.droppedTombstones;
    expired += native.filtered.ttl ?? 0;
  }
  // The cases exercise what they are meant to.
  assert.ok(outputs > 2 * SEEDS, `${outputs} outputs`);
  assert.ok(dropped > 0 && expired > 0, `${dropped} dropped, ${expired} expired`);
});

test('damage in an input is the same CORRUPTION, and no output is left', async () => {
  if (!mergesNatively({ snapshots: [1] } as unknown as CompactionJob)) return;
  for (const at of [0.1, 0.5]) {
    const { dir, job } = await randomCase(3);
    const n = job.inputs[0]!.fileNumbers[0]!;
    const path = tableFileName(dir, n);
    const reader = TableReader.open(fs.openReadable(path), n, undefined);
    const dataEnd = reader.dataBytes;
    reader.close();
    flipByte(path, Math.floor(dataEnd * at));
    const other = tempDir();
    cpSync(dir, other, { recursive: true });
    const before = sstFiles(dir);
    const a = await expectCode(() => nativeMerge(job), 'CORRUPTION', 'the addon merge');
    const b = await expectCode(() => compactTables({ ...job, dir: other }, unmapped), 'CORRUPTION', 'the TypeScript merge');
    assert.is(a.message.replace(dir, '<dir>'), b.message.replace(other, '<dir>'));
    assert.ok(a.message.includes(path), a.message);
    assert.equal(sstFiles(dir), before, 'no output left');
  }
});

test('a Merge operand stops the addon merge with nothing left behind; the TypeScript merge folds it', async () => {
  if (!mergesNatively({ snapshots: [1] } as unknown as CompactionJob)) return;
  const dir = tempDir();
  const entries: Entry[] = [];
  for (let i = 0; i < 3000; i++) entries.push({ key: Buffer.from(`k${String(i).padStart(5, '0')}`), seq: i + 1, kind: ValueKind.Put, value: Buffer.alloc(50, i) });
  entries.push({ key: Buffer.from('k02999'), seq: 5000, kind: ValueKind.Merge, value: Buffer.from('+1') });
  await writeInput(dir, 1, entries, { blockBytes: 1024 });
  const job: CompactionJob = {
    dir,
    inputs: [{ level: 0, fileNumbers: [1] }],
    outputLevel: 1,
    snapshots: [6000],
    deeperRanges: [],
    targetFileBytes: 16 * 1024,
    builder: { blockBytes: 1024 },
    outputFileNumbers: Array.from({ length: 100 }, (_, i) => 100 + i),
  };
  // The operand is near the end: outputs were written before the addon met it.
  assert.is(await nativeMerge(job), undefined);
  assert.equal(sstFiles(dir), ['000001.sst']);
  // With the database's merge operator the job is the TypeScript merge's from the start.
  const withOperator: CompactionJob = { ...job, mergeOperator: { builtin: 'lww' } };
  assert.not.ok(mergesNatively(withOperator));
  const result = await compactTables(withOperator, fs);
  assert.is(result.entriesIn, 3001);
  assert.is(result.entriesOut, 3000);
});

test.run();
