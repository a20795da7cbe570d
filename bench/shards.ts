// Shards against one shard, several workloads in one run: each (workload, configuration) in a
// child process of its own, the configurations of a workload run one after another and the
// rounds interleaved (the machine is shared: compare within a round). Reports per row: writes
// (puts or batches) per second, fsyncs per second, writes per group (WAL append), the main
// thread's busy time per write (event-loop utilization: what a worker could take off it), the
// process's CPU per write, the peak RSS, and the ratio to the first configuration of the round.
//
//   npm run build && node dist/bench/shards.js
//   node dist/bench/shards.js --num 200000 --rounds 3 --configs 1,4 --workloads fillsync,fillrandom,overwrite,fillbatch,ledger
//   node dist/bench/shards.js --configs main:1,main:4,1,4 --lib main=/tmp/main/dist/src/index.js
//
// Workloads (16-byte keys, --value-size values):
//   fillsync    random puts, sync: true, --in-flight writers (256); --sync-num puts
//   fillrandom  random puts, each key once, --in-flight writers; --num puts
//   overwrite   fillrandom untimed, then --num puts of random existing keys
//   fillbatch   sequential keys in atomic batches of 1,000 puts, one batch in flight; --num puts
//   ledger      --ledger-writers (200) writers, each batch an account's event and its balance,
//               keys tagged by account ({acct42}:event:17, {acct42}:balance), sync: true;
//               --sync-num batches over 10,000 accounts
//   mixed       fillrandom (sync: false) by --in-flight writers, while 4 more writers put with
//               sync: true all along (their own keys): what a synced write elsewhere costs the
//               unsynced ones; --num unsynced puts (the synced ones are not counted)
// A configuration is [LIB:]SHARDS[xTHREADS]: LIB names a build given with --lib NAME=PATH (the
// library's index.js; default: this tree's), THREADS sets UV_THREADPOOL_SIZE (libuv's pool runs
// every write(2) and fdatasync(2); its default size is 4).

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const WORKLOADS = ['fillsync', 'fillrandom', 'overwrite', 'fillbatch', 'ledger', 'mixed'] as const;
type Workload = (typeof WORKLOADS)[number];

const OPTIONS = {
  num: { type: 'string', default: '200000' },
  'sync-num': { type: 'string' },
  'in-flight': { type: 'string', default: '256' },
  'ledger-writers': { type: 'string', default: '200' },
  'value-size': { type: 'string', default: '100' },
  rounds: { type: 'string', default: '3' },
  configs: { type: 'string', default: '1,4' },
  workloads: { type: 'string', default: 'fillsync,fillrandom,overwrite,fillbatch,ledger' },
  lib: { type: 'string', multiple: true, default: [] as string[] },
  child: { type: 'string' },
  workload: { type: 'string' },
  dir: { type: 'string' },
  help: { type: 'boolean' },
} as const;

/** The options given, or a one-line message (not a stack trace) and exit status 2 for an unknown one. */
function parseOptions() {
  try {
    return parseArgs({ options: OPTIONS }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message} (--help lists the options)\n`);
    process.exit(2);
  }
}
const args = parseOptions();
if (args.help === true) {
  // The usage is this file's opening comment, read from the source beside the build.
  const source = fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '../../bench/shards.ts'), 'utf8');
  const lines = source.split('\n');
  process.stdout.write(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
  process.exit(0);
}
const num = Number(args.num);
const syncNum = args['sync-num'] !== undefined ? Number(args['sync-num']) : Math.max(1000, Math.floor(num / 5));
const inFlight = Number(args['in-flight']);
const ledgerWriters = Number(args['ledger-writers']);
const valueSize = Number(args['value-size']);
const libs = new Map<string, string>(args.lib.map((l) => l.split('=', 2) as [string, string]));
const ACCOUNTS = 10_000;
const BATCH = 1000;

interface Result {
  workload: Workload;
  config: string;
  writes: number;
  writesPerSecond: number;
  syncsPerSecond: number;
  averageGroup: number;
  /** Main thread busy (event-loop utilization × time) per write, microseconds. */
  mainUsPerWrite: number;
  /** Process CPU (every thread) per write, microseconds. */
  cpuUsPerWrite: number;
  rssMiB: number;
  acrossShards: number | undefined;
}

interface Db {
  put(k: Buffer | string, v: Buffer, o?: { sync?: boolean }): Promise<unknown>;
  batch(ops: { type: 'put'; key: Buffer | string; value: Buffer }[], o?: { sync?: boolean }): Promise<unknown>;
  stats(): { writes: number; writeGroups: number; walSyncs: number; batchesAcrossShards?: number };
  close(): Promise<void>;
}

/** xorshift32 order over 0..n-1 distinct numbers as 16-byte keys: the same keys in every child. */
function randomKeys(n: number, seed = 0x9e3779b9): Buffer[] {
  const out = new Array<Buffer>(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = Buffer.from(`${x.toString(16).padStart(8, '0')}${String(i % 100_000_000).padStart(8, '0')}`);
  }
  return out;
}

async function child(workload: Workload, config: string, dir: string): Promise<void> {
  const [lib, spec] = config.includes(':') ? (config.split(':') as [string, string]) : [undefined, config];
  const shards = Number(spec.split('x')[0]);
  const libPath = lib === undefined ? path.join(path.dirname(fileURLToPath(import.meta.url)), '../src/index.js') : libs.get(lib);
  if (libPath === undefined) throw new Error(`no --lib ${lib}=PATH`);
  const { open } = (await import(pathToFileURL(libPath).href)) as { open(dir: string, o: object): Promise<Db> };
  const db = await open(dir, { shards });
  const value = Buffer.alloc(valueSize, 0x61);
  const writers = async (n: number, one: () => Promise<unknown>) =>
    Promise.all(Array.from({ length: n }, async () => {
      while (await one());
    }));
  let run: () => Promise<number>;
  if (workload === 'fillsync' || workload === 'fillrandom') {
    const keys = randomKeys(workload === 'fillsync' ? syncNum : num);
    const sync = workload === 'fillsync';
    run = async () => {
      let i = 0;
      await writers(inFlight, async () => (i < keys.length ? (await db.put(keys[i++]!, value, { sync }), true) : false));
      return keys.length;
    };
  } else if (workload === 'mixed') {
    const keys = randomKeys(num);
    const syncedKeys = randomKeys(num, 0x1234567);
    run = async () => {
      let i = 0;
      let j = 0;
      let done = false;
      const synced = writers(4, async () => (!done ? (await db.put(syncedKeys[j++ % num]!, value, { sync: true }), true) : false));
      await writers(inFlight, async () => (i < keys.length ? (await db.put(keys[i++]!, value), true) : false));
      done = true;
      await synced;
      return keys.length;
    };
  } else if (workload === 'overwrite') {
    const keys = randomKeys(num);
    let i = 0;
    await writers(inFlight, async () => (i < keys.length ? (await db.put(keys[i++]!, value), true) : false));
    let x = 12345;
    const order = Array.from({ length: num }, () => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return keys[x % num]!;
    });
    run = async () => {
      let j = 0;
      await writers(inFlight, async () => (j < order.length ? (await db.put(order[j++]!, value), true) : false));
      return order.length;
    };
  } else if (workload === 'fillbatch') {
    run = async () => {
      for (let at = 0; at < num; at += BATCH) {
        const ops = [];
        for (let k = at; k < Math.min(num, at + BATCH); k++) ops.push({ type: 'put' as const, key: String(k).padStart(16, '0'), value });
        await db.batch(ops);
      }
      return Math.ceil(num / BATCH);
    };
  } else {
    run = async () => {
      let n = 0;
      let x = 0x2545f491;
      await writers(ledgerWriters, async () => {
        if (n >= syncNum) return false;
        const event = n++;
        x ^= x << 13;
        x >>>= 0;
        x ^= x >>> 17;
        x ^= x << 5;
        x >>>= 0;
        const acct = `{acct${x % ACCOUNTS}}`;
        await db.batch(
          [
            { type: 'put', key: `${acct}:event:${event}`, value },
            { type: 'put', key: `${acct}:balance`, value: Buffer.from(String(event)) },
          ],
          { sync: true },
        );
        return true;
      });
      return syncNum;
    };
  }
  const before = db.stats();
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const writes = await run();
  const seconds = (performance.now() - started) / 1000;
  const elu = performance.eventLoopUtilization(elu0);
  const cpu = process.cpuUsage(cpu0);
  const s = db.stats();
  await db.close();
  const result: Result = {
    workload,
    config,
    writes,
    writesPerSecond: writes / seconds,
    syncsPerSecond: (s.walSyncs - before.walSyncs) / seconds,
    averageGroup: (s.writes - before.writes) / (s.writeGroups - before.writeGroups),
    mainUsPerWrite: (elu.active * 1000) / writes,
    cpuUsPerWrite: (cpu.user + cpu.system) / writes,
    rssMiB: process.resourceUsage().maxRSS / 1024,
    acrossShards: s.batchesAcrossShards === undefined ? undefined : s.batchesAcrossShards - (before.batchesAcrossShards ?? 0),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

function runChild(workload: Workload, config: string): Result {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratadb-shards-'));
  const threads = config.split(':').pop()!.split('x')[1];
  const pass = ['--num', String(num), '--sync-num', String(syncNum), '--in-flight', String(inFlight), '--ledger-writers', String(ledgerWriters), '--value-size', String(valueSize)];
  for (const l of args.lib) pass.push('--lib', l);
  try {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', config, '--workload', workload, '--dir', dir, ...pass], {
      encoding: 'utf8',
      env: { ...process.env, ...(threads ? { UV_THREADPOOL_SIZE: threads } : {}) },
    });
    if (r.status !== 0) throw new Error(`child ${workload} ${config} failed:\n${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as Result;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

async function main(): Promise<void> {
  if (args.child !== undefined) return child(args.workload as Workload, args.child, args.dir!);
  const configs = args.configs.split(',');
  const workloads = args.workloads.split(',') as Workload[];
  for (const w of workloads) if (!WORKLOADS.includes(w)) throw new Error(`unknown workload ${w} (${WORKLOADS.join(', ')})`);
  const rounds = Number(args.rounds);
  console.log(
    `stratadb shards bench: ${valueSize}-byte values; fillrandom/overwrite/fillbatch ${num.toLocaleString('en')} puts, ` +
      `fillsync ${syncNum.toLocaleString('en')} puts and ledger ${syncNum.toLocaleString('en')} batches (sync: true); ` +
      `${inFlight} in flight, ledger ${ledgerWriters} writers; ${os.availableParallelism()} cores, ${os.cpus()[0]?.model ?? ''}`,
  );
  for (const [name, p] of libs) console.log(`lib ${name} = ${p}`);
  console.log('one child process per row; per round every configuration of a workload, rounds interleaved\n');
  const header = ['round', 'workload', 'config', 'writes/s', 'fsyncs/s', 'wr/group', 'main µs/wr', 'cpu µs/wr', 'RSS MiB', '2PC', `÷ ${configs[0]}`];
  console.log(header.map((h) => h.padStart(11)).join(''));
  const all = new Map<Workload, Result[][]>(workloads.map((w) => [w, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const w of workloads) {
      const results = configs.map((c) => runChild(w, c));
      all.get(w)!.push(results);
      for (const r of results) {
        const cells = [
          String(round),
          w,
          r.config,
          Math.round(r.writesPerSecond).toLocaleString('en'),
          Math.round(r.syncsPerSecond).toLocaleString('en'),
          r.averageGroup.toFixed(1),
          r.mainUsPerWrite.toFixed(1),
          r.cpuUsPerWrite.toFixed(1),
          r.rssMiB.toFixed(0),
          r.acrossShards === undefined ? '-' : String(r.acrossShards),
          (r.writesPerSecond / results[0]!.writesPerSecond).toFixed(2) + '×',
        ];
        console.log(cells.map((c) => c.padStart(11)).join(''));
      }
    }
  }
  console.log('\nmedians over rounds');
  for (const w of workloads) {
    const rows = all.get(w)!;
    for (let c = 0; c < configs.length; c++) {
      const pick = (f: (r: Result) => number) => median(rows.map((rs) => f(rs[c]!)));
      const ratios = rows.map((rs) => rs[c]!.writesPerSecond / rs[0]!.writesPerSecond);
      console.log(
        `${w.padStart(10)} ${configs[c]!.padStart(8)}: ${Math.round(pick((r) => r.writesPerSecond)).toLocaleString('en')} writes/s, ` +
          `${Math.round(pick((r) => r.syncsPerSecond)).toLocaleString('en')} fsyncs/s, ${pick((r) => r.averageGroup).toFixed(1)} writes/group, ` +
          `main ${pick((r) => r.mainUsPerWrite).toFixed(1)} µs/write, cpu ${pick((r) => r.cpuUsPerWrite).toFixed(1)} µs/write, RSS ${pick((r) => r.rssMiB).toFixed(0)} MiB; ` +
          `÷ ${configs[0]}: median ${median(ratios).toFixed(2)} (${ratios.map((x) => x.toFixed(2)).join(', ')})`,
      );
    }
  }
}

await main();
