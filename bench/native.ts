// What each call of the native addon (native/stratadb_io.c) buys, measured through the public
// API, each configuration in a child process of its own (STRATADB_NATIVE picks the native
// calls it may use; the others run their JavaScript fallback), configurations interleaved
// round by round because the machine is shared and noisy. Prints the median of the rounds and
// their spread (min–max).
//
//   npm run bench:native                      (or: npm run build && node dist/bench/native.js)
//   node dist/bench/native.js --rounds 7 --sync-ops-1 4000 --sync-ops-64 50000
//
// fillsync-W: W writers each putting with { sync: true } (16-byte keys, 100-byte values) into
//   an empty database: appendAndSync (one thread-pool job per synced group instead of two) and
//   fallocate (WAL preallocation: a sync need not also commit the file size), each alone and
//   both, against none (the fallback).
// (sync_file_range while writing tables and posix_fadvise on compaction inputs were measured
// here too, with compaction throughput and readrandom during compactRange(); they showed no
// gain and went, with that workload: see the README's "Native addon".)

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { open } from '../src/index.js';
import { nativeIo } from '../src/base/native.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    'sync-ops-1': { type: 'string', default: '5000' },
    'sync-ops-64': { type: 'string', default: '60000' },
    dir: { type: 'string', default: os.tmpdir() },
    child: { type: 'string' },
    writers: { type: 'string', default: '1' },
  },
});

const VALUE_BYTES = 100;

interface ChildResult {
  opsPerSecond: number;
  /** WAL fdatasyncs per synced put. */
  syncsPerOp: number;
  calls: readonly string[];
}

const key = (i: number) => Buffer.from(String(i).padStart(16, '0'), 'latin1');

function randomValue(): Buffer {
  const v = Buffer.alloc(VALUE_BYTES);
  for (let j = 0; j < VALUE_BYTES / 2; j++) v[j] = (Math.random() * 256) | 0;
  return v;
}

async function fillsync(dir: string, writers: number, ops: number): Promise<ChildResult> {
  const db = await open(dir);
  const value = randomValue();
  let issued = 0;
  const started = performance.now();
  const writer = async () => {
    while (issued < ops) {
      issued++;
      await db.put(key((Math.random() * 1e9) | 0), value, { sync: true });
    }
  };
  await Promise.all(Array.from({ length: writers }, writer));
  const seconds = (performance.now() - started) / 1000;
  const syncs = db.stats().walSyncs;
  await db.close();
  return { opsPerSecond: ops / seconds, syncsPerOp: syncs / ops, calls: nativeIo.calls };
}

async function runChild(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(args.dir, 'strata-native-'));
  try {
    const writers = Number(args.writers);
    const result = await fillsync(dir, writers, writers === 1 ? Number(args['sync-ops-1']) : Number(args['sync-ops-64']));
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

interface Config {
  workload: string;
  writers: number;
  /** STRATADB_NATIVE for the child: "0" (all fallback) or the calls to use. */
  native: string;
}

function configs(): Config[] {
  const out: Config[] = [];
  for (const writers of [1, 64]) {
    for (const native of ['0', 'appendAndSync', 'fallocate', 'appendAndSync,fallocate']) out.push({ workload: `fillsync-${writers}`, writers, native });
  }
  return out;
}

function spawnConfig(c: Config): ChildResult {
  const script = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, [script, '--child', 'fillsync', '--writers', String(c.writers), '--sync-ops-1', args['sync-ops-1'], '--sync-ops-64', args['sync-ops-64'], '--dir', args.dir], {
    encoding: 'utf8',
    env: { ...process.env, STRATADB_NATIVE: c.native },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`${c.workload} with STRATADB_NATIVE=${c.native} failed (${r.status ?? r.signal}): ${r.stdout}`);
  return JSON.parse(line) as ChildResult;
}

const median = (xs: number[]) => {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const spread = (xs: number[]) => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`;

async function main(): Promise<void> {
  if (nativeIo.addon !== 'loaded') console.log(`note: the addon is not loaded here (${nativeIo.addon}: ${nativeIo.reason ?? ''}); every configuration runs the fallback`);
  const list = configs();
  const rounds = Number(args.rounds);
  const results = list.map(() => [] as ChildResult[]);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!;
      const res = spawnConfig(c);
      results[i]!.push(res);
      console.log(`round ${r + 1} ${c.workload.padEnd(11)} native=${c.native.padEnd(24)} ${fmt(res.opsPerSecond).padStart(8)} ops/s  ${fmt(res.syncsPerOp)} fsyncs/op`);
    }
  }
  console.log('');
  console.log(`${'workload'.padEnd(11)} ${'native calls (else fallback)'.padEnd(28)} ${'ops/s (median, min–max)'.padEnd(26)} ${'vs fallback'.padEnd(11)} extra`);
  const baseline = new Map<string, number>();
  list.forEach((c, i) => {
    const rs = results[i]!;
    const ops = rs.map((x) => x.opsPerSecond);
    if (c.native === '0') baseline.set(c.workload, median(ops));
    const ratio = median(ops) / baseline.get(c.workload)!;
    const extra = `${fmt(median(rs.map((x) => x.syncsPerOp)))} fsyncs/op`;
    const name = c.native === '0' ? 'none (fallback)' : c.native;
    console.log(`${c.workload.padEnd(11)} ${name.padEnd(28)} ${`${fmt(median(ops))} (${spread(ops)})`.padEnd(26)} ${`${ratio.toFixed(2)}×`.padEnd(11)} ${extra}`);
  });
}

if (args.child !== undefined) await runChild();
else await main();
