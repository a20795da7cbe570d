// A compaction's merge in the native addon (native/compaction_merge.c), for the common case: no
// merge operator, no compaction filter but the ttl filter, and inputs that hold no range
// tombstones, each mapped into memory. The addon reads the inputs' data blocks from their mappings, merges their
// entries, keeps the versions compactTables's rules 1 and 2 keep (job.ts), the ttl filter making
// expired puts Deletes first, and queues them; the
// output's data blocks are encoded from the queue by the addon too (TableBuilder.addQueuedBlock),
// a block at a time, cut into files where OutputWriter cuts the TypeScript merge's. Only the
// block frame, the index and the file writes stay in TypeScript. The outputs are the files
// compactTables's TypeScript loop writes for the same job, byte for byte
// (test/compaction-native.test.ts).
//
// Why: the reopened 1M-key tree's L0→L1 compaction took 780 ms of its worker's CPU in
// TypeScript (the merge's heap and block decoding, the table builder's per-entry work), and V8's
// helper threads another 350 ms optimizing that code, all of it beside the reads that run
// while it does (README, Benchmarks: the read notes).
//
// An entry the addon does not handle (a Merge operand left by a merge operator since removed, a
// kind that is no point entry's) stops it: the outputs written so far are removed and the
// caller runs the TypeScript merge instead.

import { corruption, invariant, tableFileName, ValueKind, type FileSystem } from '../base/index.js';
import { nextTurn } from '../base/loop-turns.js';
import { native, type MappedFile, type SkipListView } from '../base/native.js';
import { BLOCK_CHECKS, RELEASE_MAPPED_BYTES, TableBuilder, TableReader, type BuilderScratch } from '../sstable/index.js';
import { mergedRanges } from './deeper-ranges.js';
import type { CompactionJob, CompactionResult } from './job.js';
import { OutputWriter, YIELD_AFTER_MS } from './output-writer.js';

// mergeFill's state, in native/compaction_merge.c's order.
const M_CONSUMED = 0;
const M_FILL_BYTES = 1;
const M_COUNT = 2;
const M_HEAD_KEY_LENGTH = 3;
const M_ENTRIES_IN = 4;
const M_ENTRIES_OUT = 5;
const M_DROPPED_VERSIONS = 6;
const M_DROPPED_TOMBSTONES = 7;
const M_EXPIRED = 8;
const M_FAILED_INPUT = 9;
const M_FAILED_OFFSET = 10;
const M_STATE_FIELDS = 11;
// mergeFill's answers.
const MERGE_HEAD_KEY = 2;
const MERGE_UNCOMMON = 3;

/** The kinds the addon's merge keeps as they are: the point entries but Merge operands. */
const KEPT_KINDS = (1 << ValueKind.Delete) | (1 << ValueKind.Put) | (1 << ValueKind.PutWithExpiry);

/** Whether the addon can run `job`'s merge, as far as the job itself says (its inputs may still say no). */
export function mergesNatively(job: CompactionJob): boolean {
  return (
    native.mergeView !== undefined &&
    native.mergeFill !== undefined &&
    TableBuilder.encodesInPlace &&
    job.mergeOperator === undefined &&
    (job.filters ?? []).length <= 1 &&
    (job.filters ?? []).every((f) => f.kind === 'ttl')
  );
}

/**
 * Runs `job` with the addon's merge over its input tables `readers` (open, in the job's order;
 * the caller closes them): compactTables's result, or undefined when the job is not the common
 * case after all (an input not mapped or holding range tombstones, an entry the addon does not
 * handle), with no output left behind. The same errors as compactTables: CORRUPTION naming the
 * input and the block, after removing every output. REQUIRES: mergesNatively(job).
 */
export async function compactNatively(job: CompactionJob, fs: FileSystem, readers: readonly TableReader[], scratch: BuilderScratch | undefined): Promise<CompactionResult | undefined> {
  const inputs: [MappedFile, Float64Array][] = [];
  for (const reader of readers) {
    const input = reader.rangeTombstones.length === 0 ? reader.mergeInput(job.start) : undefined;
    if (input === undefined) return undefined;
    inputs.push([input.mapped, input.handles]);
  }
  const view = native.mergeView!(inputs, Float64Array.from(job.snapshots), flatRanges(job.deeperRanges), [job.start ?? null, job.end ?? null], mergeSettings(job));
  const paths = readers.map((r) => tableFileName(job.dir, r.fileNumber));
  const bytesRead = readers.reduce((n, r) => n + r.fileSize, 0);
  return await runMerge(job, fs, scratch, view, paths, bytesRead);
}

/** The merge's loop: a data block at a time from the addon's queue into the outputs. */
async function runMerge(job: CompactionJob, fs: FileSystem, scratch: BuilderScratch | undefined, view: SkipListView, paths: readonly string[], bytesRead: number): Promise<CompactionResult | undefined> {
  const fill = native.mergeFill!;
  const state = new Float64Array(M_STATE_FIELDS);
  state[M_FILL_BYTES] = Math.max(2 * TableBuilder.blockBytesOf(job.builder), 16 * 1024);
  let headKey = Buffer.allocUnsafe(256);
  const output = new OutputWriter(job, fs, [], scratch);
  try {
    let lastTurn = performance.now();
    for (;;) {
      let status = fill(view, state, headKey);
      while (status === MERGE_HEAD_KEY) {
        headKey = Buffer.allocUnsafe(Math.max(state[M_HEAD_KEY_LENGTH]!, 2 * headKey.length));
        status = fill(view, state, headKey);
      }
      if (typeof status === 'string') {
        const input = state[M_FAILED_INPUT]!;
        invariant(input < paths.length, 'mergeFill names an input it does not have');
        throw corruption(paths[input]!, state[M_FAILED_OFFSET]!, status);
      }
      if (status === MERGE_UNCOMMON) {
        await output.abandon();
        return undefined;
      }
      if (state[M_COUNT] === 0) break;
      state[M_CONSUMED] = await output.addQueuedBlock(view, headKey.subarray(0, state[M_HEAD_KEY_LENGTH]!));
      const now = performance.now();
      if (now - lastTurn >= YIELD_AFTER_MS) {
        await nextTurn();
        lastTurn = performance.now();
      }
    }
    const outputs = await output.finish();
    let bytesWritten = 0;
    for (const t of outputs) bytesWritten += t.fileSize;
    return {
      outputs,
      bytesRead,
      bytesWritten,
      entriesIn: state[M_ENTRIES_IN]!,
      entriesOut: state[M_ENTRIES_OUT]!,
      droppedVersions: state[M_DROPPED_VERSIONS]!,
      droppedTombstones: state[M_DROPPED_TOMBSTONES]!,
      droppedByRangeTombstones: 0,
      droppedRangeTombstones: 0,
      filtered: state[M_EXPIRED]! > 0 ? { ttl: state[M_EXPIRED]! } : {},
    };
  } catch (err) {
    await output.abandon();
    throw err;
  }
}

/** mergeView's settings: the block checks, the Delete kind, the kinds kept, the release step, the ttl filter's clock (-1: none). */
function mergeSettings(job: CompactionJob): Float64Array {
  const ttl = job.filters?.[0];
  return Float64Array.from([...BLOCK_CHECKS, ValueKind.Delete, KEPT_KINDS, RELEASE_MAPPED_BYTES, ValueKind.PutWithExpiry, ttl === undefined ? -1 : ttl.nowMs]);
}

/** The deeper ranges merged into disjoint ascending ones (mergedRanges), as mergeView takes them: keys back to back and where each ends. */
function flatRanges(ranges: readonly [Uint8Array, Uint8Array][]): [Uint8Array, Uint32Array] {
  const merged = mergedRanges(ranges);
  const ends = new Uint32Array(2 * merged.length);
  let bytes = 0;
  for (const [lo, hi] of merged) bytes += lo.length + hi.length;
  const keys = new Uint8Array(bytes);
  let at = 0;
  merged.forEach(([lo, hi], i) => {
    keys.set(lo, at);
    ends[2 * i] = at += lo.length;
    keys.set(hi, at);
    ends[2 * i + 1] = at += hi.length;
  });
  return [keys, ends];
}
