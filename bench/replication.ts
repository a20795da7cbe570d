// Replication through NATS JetStream (stratadb/replication), against one local nats-server that
// the bench starts (test/nats-harness.ts: 127.0.0.1, a free port, a temp store). Three figures:
//
//   write rate   --num random puts (16-byte keys, --value-size values, sync: false) by
//                --writers writers on the primary, without replication ("off") and with
//                replicate() running ("on"), each in a child process of its own, the two
//                alternating first from round to round; on ÷ off per round (target ≥ 0.70).
//                "on" also reports how long after the last write JetStream acknowledged it.
//   apply rate   a new replica (follow()) applies the stream "on" wrote, from the start:
//                changes applied per second until it reached the primary's last sequence.
//   lag          the primary writes single puts at a fixed --rate (per second) for
//                --lag-seconds while a replica follows live, each in its own process; for every
//                write, the time from its put() resolving on the primary to the replica's
//                `applied` reaching its sequence (seen by waitFor()), p50/p99/max. Both
//                processes read process.hrtime (CLOCK_MONOTONIC: one clock for the machine).
//
//   npm run build && node dist/bench/replication.js
//   node dist/bench/replication.js --num 600000 --rounds 3 --rate 20000 --lag-seconds 10 --json replication.json
//
// --num is 600k by default: a run of 200k writes lasted about a second, in which each child's
// start (compiling its code, faulting its memory in) weighed on "on" more than on "off".
//
// Prints one line per run, then medians over the rounds; --json writes every figure.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { open } from '../src/index.js';
import { follow, replicate } from '../src/replication.js';
import { findNatsServer, NO_NATS_SERVER, startNats } from '../test/nats-harness.js';
import { childExecArgv } from './lib/child-args.js';

const { values: args } = parseArgs({
  options: {
    num: { type: 'string', default: '600000' },
    writers: { type: 'string', default: '64' },
    'value-size': { type: 'string', default: '100' },
    shards: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    rate: { type: 'string', default: '20000' },
    'lag-seconds': { type: 'string', default: '10' },
    json: { type: 'string' },
    help: { type: 'boolean', default: false },
    // Internal: the child processes.
    child: { type: 'string' },
    dir: { type: 'string' },
    servers: { type: 'string' },
    stream: { type: 'string' },
    out: { type: 'string' },
  },
});
const num = Number(args.num);
const writers = Number(args.writers);
const valueSize = Number(args['value-size']);
const shards = Number(args.shards);
const rate = Number(args.rate);
const lagSeconds = Number(args['lag-seconds']);
const USAGE = `usage: node dist/bench/replication.js [--num N] [--writers N] [--value-size B] [--shards N] [--rounds N] [--rate PER_S] [--lag-seconds S] [--json FILE]\n`;

interface FillResult {
  mode: 'off' | 'on';
  writes: number;
  writesPerSecond: number;
  /** The primary's last sequence number. */
  lastSeq: string;
  /** "on": ms from the last write resolving to JetStream acknowledging it. */
  drainMs?: number;
  /** Process CPU per write, µs. */
  cpuUsPerWrite: number;
  /** The main thread's CPU per write, µs (Linux: /proc/thread-self/stat; undefined elsewhere). */
  mainUsPerWrite?: number;
}

interface ApplyResult {
  changes: number;
  changesPerSecond: number;
}

interface LagResult {
  writes: number;
  /** The rate the primary kept, writes per second. */
  achievedRate: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /**
   * The same over the writes made after the first second (WARMUP_MS): the first half second's
   * writes waited up to about 200 ms here while four processes compiled and faulted their code
   * and memory in on two cores, which alone set the p99 of a 5-second run.
   */
  steadyP99Ms: number;
  steadyMaxMs: number;
}

/** Writes made this long after the lag run's first are its steady part (LagResult). */
const WARMUP_MS = 1000;

/** 16-byte keys in a xorshift order: the same keys in every child. */
function keyAt(i: number): Buffer {
  let x = (i + 1) * 0x9e3779b9;
  x ^= x << 13;
  x >>>= 0;
  x ^= x >>> 17;
  x ^= x << 5;
  x >>>= 0;
  return Buffer.from(`${x.toString(16).padStart(8, '0')}${String(i % 100_000_000).padStart(8, '0')}`);
}

const say = (line: string) => fs.writeSync(1, `${line}\n`);
/** The next line on stdin (the parent's word to go on). */
function nextStdinLine(): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const nl = text.indexOf('\n');
      if (nl >= 0) {
        process.stdin.off('data', onData);
        process.stdin.destroy(); // a paused stdin pipe would keep the process alive
        resolve(text.slice(0, nl));
      }
    };
    process.stdin.on('data', onData);
  });
}

/**
 * The CPU time the calling (main) thread used so far, ms, in clock ticks of 10 ms: what the
 * writers' thread pays, apart from the threads beside it (GC, file system, the client's).
 */
function mainThreadCpuMs(): number | undefined {
  try {
    const stat = fs.readFileSync('/proc/thread-self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

async function fillChild(mode: 'off' | 'on'): Promise<void> {
  const db = await open(args.dir!, { shards });
  const publisher = mode === 'on' ? await replicate(db, { servers: args.servers!, stream: args.stream! }) : undefined;
  const value = randomBytes(valueSize);
  let i = 0;
  let last = 0n;
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadCpuMs();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      while (i < num) {
        const seq = await db.put(keyAt(i++), value);
        if (seq > last) last = seq;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const main1 = mainThreadCpuMs();
  let drainMs: number | undefined;
  if (publisher !== undefined) {
    const wrote = performance.now();
    while (publisher.acknowledged < last) await new Promise((resolve) => setTimeout(resolve, 1));
    drainMs = performance.now() - wrote;
    await publisher.close();
  }
  await db.close();
  const result: FillResult = { mode, writes: num, writesPerSecond: num / seconds, lastSeq: String(last), cpuUsPerWrite: (cpu.user + cpu.system) / num, ...(drainMs === undefined ? {} : { drainMs }) };
  if (main0 !== undefined && main1 !== undefined) result.mainUsPerWrite = ((main1 - main0) * 1000) / num;
  say(JSON.stringify(result));
}

async function applyChild(): Promise<void> {
  const target = BigInt(args.out!);
  const started = performance.now();
  const replica = await follow(args.dir!, { servers: args.servers!, stream: args.stream!, open: { shards } });
  await replica.waitFor(target);
  const seconds = (performance.now() - started) / 1000;
  const changes = num;
  await replica.close();
  const result: ApplyResult = { changes, changesPerSecond: changes / seconds };
  say(JSON.stringify(result));
}

/** The lag run's primary: says R once replicating, waits for "go", writes at `rate` for lagSeconds; commit times to --out. */
async function lagPrimaryChild(): Promise<void> {
  const db = await open(args.dir!, { shards });
  const publisher = await replicate(db, { servers: args.servers!, stream: args.stream! });
  say('R');
  await nextStdinLine();
  const total = Math.round(rate * lagSeconds);
  const seqs = new BigInt64Array(total);
  const times = new BigInt64Array(total);
  const value = randomBytes(valueSize);
  let issued = 0;
  let resolved = 0;
  const started = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((Number(process.hrtime.bigint() - started) / 1e9) * rate));
      for (; issued < due; issued++) {
        const n = issued;
        db.put(keyAt(n), value).then((seq) => {
          seqs[n] = seq;
          times[n] = process.hrtime.bigint();
          if (++resolved === total) resolve();
        }, reject);
      }
      if (issued < total) setTimeout(tick, 1);
    };
    tick();
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  let last = 0n;
  for (const s of seqs) if (s > last) last = s;
  while (publisher.acknowledged < last) await new Promise((resolve) => setTimeout(resolve, 5));
  await publisher.close();
  await db.close();
  fs.writeFileSync(args.out!, JSON.stringify({ seqs: Array.from(seqs, String), times: Array.from(times, String), seconds }));
  say(`L ${last}`);
}

/** The lag run's replica: says R once following, records (applied, time) at every move until told the last sequence. */
async function lagReplicaChild(): Promise<void> {
  const replica = await follow(args.dir!, { servers: args.servers!, stream: args.stream!, open: { shards } });
  say('R');
  const applied: bigint[] = [];
  const times: bigint[] = [];
  let target: bigint | undefined;
  const stop = new AbortController();
  void nextStdinLine().then((line) => {
    target = BigInt(line);
    if (replica.applied >= target) stop.abort();
  });
  while (target === undefined || replica.applied < target) {
    try {
      await replica.waitFor(replica.applied + 1n, { signal: stop.signal });
    } catch (err) {
      if (stop.signal.aborted) break;
      throw err;
    }
    applied.push(replica.applied);
    times.push(process.hrtime.bigint());
  }
  await replica.close();
  fs.writeFileSync(args.out!, JSON.stringify({ applied: applied.map(String), times: times.map(String) }));
  say('D');
}

// ---------------------------------------------------------------------------------------------
// The parent

interface Child {
  lines: AsyncIterator<string>;
  send(line: string): void;
  exited: Promise<void>;
}

function startChild(kind: string, extra: string[]): Child {
  const pass = ['--num', String(num), '--writers', String(writers), '--value-size', String(valueSize), '--shards', String(shards), '--rate', String(rate), '--lag-seconds', String(lagSeconds)];
  const child = spawn(process.execPath, [...childExecArgv(), fileURLToPath(import.meta.url), '--child', kind, ...pass, ...extra], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => (stderr += c));
  const queue: string[] = [];
  const waiters: ((r: IteratorResult<string>) => void)[] = [];
  let ended = false;
  let pending = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    pending += chunk;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const w = waiters.shift();
      if (w) w({ value: line, done: false });
      else queue.push(line);
    }
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.on('close', (code) => {
      ended = true;
      for (const w of waiters.splice(0)) w({ value: undefined, done: true });
      if (code === 0) resolve();
      else reject(new Error(`the ${kind} child failed (${code}):\n${stderr}`));
    });
  });
  exited.catch(() => {});
  return {
    lines: {
      next: () =>
        new Promise((resolve) => {
          const line = queue.shift();
          if (line !== undefined) resolve({ value: line, done: false });
          else if (ended) resolve({ value: undefined, done: true });
          else waiters.push(resolve);
        }),
    },
    send: (line) => child.stdin.write(`${line}\n`),
    exited,
  };
}

/** The child's next line; fails with its stderr when it exits first. */
async function expectLine(c: Child): Promise<string> {
  const r = await c.lines.next();
  if (r.done) {
    await c.exited;
    throw new Error('the child ended without a word');
  }
  return r.value;
}

async function runFill(mode: 'off' | 'on', root: string, servers: string, stream: string): Promise<FillResult> {
  const c = startChild(mode, ['--dir', path.join(root, `${stream}-${mode}`), '--servers', servers, '--stream', stream]);
  const result = JSON.parse(await expectLine(c)) as FillResult;
  await c.exited;
  return result;
}

async function runApply(root: string, servers: string, stream: string, lastSeq: string): Promise<ApplyResult> {
  const c = startChild('apply', ['--dir', path.join(root, `${stream}-replica`), '--servers', servers, '--stream', stream, '--out', lastSeq]);
  const result = JSON.parse(await expectLine(c)) as ApplyResult;
  await c.exited;
  return result;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function runLag(root: string, servers: string, stream: string): Promise<LagResult> {
  const primaryOut = path.join(root, `${stream}-primary.json`);
  const replicaOut = path.join(root, `${stream}-replica.json`);
  const p = startChild('lag-primary', ['--dir', path.join(root, `${stream}-primary`), '--servers', servers, '--stream', stream, '--out', primaryOut]);
  await expectLine(p);
  const r = startChild('lag-replica', ['--dir', path.join(root, `${stream}-replica`), '--servers', servers, '--stream', stream, '--out', replicaOut]);
  await expectLine(r);
  p.send('go');
  const last = (await expectLine(p)).slice(2);
  await p.exited;
  r.send(last);
  await expectLine(r);
  await r.exited;
  const primary = JSON.parse(fs.readFileSync(primaryOut, 'utf8')) as { seqs: string[]; times: string[]; seconds: number };
  const replica = JSON.parse(fs.readFileSync(replicaOut, 'utf8')) as { applied: string[]; times: string[] };
  const writes = primary.seqs.map((s, i) => ({ seq: BigInt(s), t: BigInt(primary.times[i]!) })).sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
  const applied = replica.applied.map(BigInt);
  const appliedAt = replica.times.map(BigInt);
  const lags: number[] = [];
  const steady: number[] = [];
  const first = writes[0]!.t;
  let j = 0;
  for (const w of writes) {
    while (j < applied.length && applied[j]! < w.seq) j++;
    if (j === applied.length) throw new Error(`the replica never reported sequence ${w.seq}`);
    const lag = Number(appliedAt[j]! - w.t) / 1e6;
    lags.push(lag);
    if (Number(w.t - first) / 1e6 >= WARMUP_MS) steady.push(lag);
  }
  lags.sort((a, b) => a - b);
  steady.sort((a, b) => a - b);
  return {
    writes: writes.length,
    achievedRate: writes.length / primary.seconds,
    p50Ms: percentile(lags, 50),
    p99Ms: percentile(lags, 99),
    maxMs: lags[lags.length - 1]!,
    steadyP99Ms: steady.length === 0 ? NaN : percentile(steady, 99),
    steadyMaxMs: steady.length === 0 ? NaN : steady[steady.length - 1]!,
  };
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const k = (n: number) => Math.round(n).toLocaleString('en');

async function main(): Promise<number> {
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  switch (args.child) {
    case 'off':
    case 'on':
      await fillChild(args.child);
      return 0;
    case 'apply':
      await applyChild();
      return 0;
    case 'lag-primary':
      await lagPrimaryChild();
      return 0;
    case 'lag-replica':
      await lagReplicaChild();
      return 0;
    case undefined:
      break;
    default:
      throw new Error(`unknown child ${args.child}`);
  }
  if (findNatsServer() === undefined) {
    process.stderr.write(`${NO_NATS_SERVER}\n`);
    return 1;
  }
  const rounds = Number(args.rounds);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'stratadb-replication-bench-'));
  const server = await startNats({ maxFileStore: 8 * 1024 * 1024 * 1024 });
  try {
    console.log(
      `stratadb replication bench: nats-server on 127.0.0.1 (stream replicas 1, file store); ${k(num)} random puts of ${valueSize}-byte values, ` +
        `${writers} writers, sync: false, ${shards} shard${shards === 1 ? '' : 's'}; lag at ${k(rate)} writes/s for ${lagSeconds} s; ` +
        `${os.availableParallelism()} cores, ${os.cpus()[0]?.model ?? ''}, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`,
    );
    console.log('each run a child process of its own; off and on alternate first from round to round\n');
    const all: { round: number; off: FillResult; on: FillResult; apply: ApplyResult; lag: LagResult }[] = [];
    for (let round = 1; round <= rounds; round++) {
      const stream = `fill${round}`;
      let off: FillResult;
      let on: FillResult;
      if (round % 2 === 1) {
        off = await runFill('off', root, server.url, stream);
        on = await runFill('on', root, server.url, stream);
      } else {
        on = await runFill('on', root, server.url, stream);
        off = await runFill('off', root, server.url, stream);
      }
      const apply = await runApply(root, server.url, stream, on.lastSeq);
      const lag = await runLag(root, server.url, `lag${round}`);
      all.push({ round, off, on, apply, lag });
      console.log(
        `round ${round}: writes/s off ${k(off.writesPerSecond)}, on ${k(on.writesPerSecond)} (on ÷ off ${(on.writesPerSecond / off.writesPerSecond).toFixed(2)}; ` +
          `cpu µs/write ${off.cpuUsPerWrite.toFixed(1)} → ${on.cpuUsPerWrite.toFixed(1)}` +
          (off.mainUsPerWrite !== undefined && on.mainUsPerWrite !== undefined ? `, main thread ${off.mainUsPerWrite.toFixed(1)} → ${on.mainUsPerWrite.toFixed(1)}` : '') +
          `; acknowledged ${k(on.drainMs ?? 0)} ms after the last write); ` +
          `replica applies ${k(apply.changesPerSecond)} changes/s; lag at ${k(lag.achievedRate)} writes/s: p50 ${lag.p50Ms.toFixed(1)} ms, p99 ${lag.p99Ms.toFixed(1)} ms, max ${lag.maxMs.toFixed(1)} ms (after the first second: p99 ${lag.steadyP99Ms.toFixed(1)} ms, max ${lag.steadyMaxMs.toFixed(1)} ms)`,
      );
      // Each round's data goes: the disk is shared.
      for (const name of fs.readdirSync(root)) fs.rmSync(path.join(root, name), { recursive: true, force: true });
    }
    const ratios = all.map((r) => r.on.writesPerSecond / r.off.writesPerSecond);
    const summary = {
      offWritesPerSecond: median(all.map((r) => r.off.writesPerSecond)),
      onWritesPerSecond: median(all.map((r) => r.on.writesPerSecond)),
      onOverOff: median(ratios),
      applyChangesPerSecond: median(all.map((r) => r.apply.changesPerSecond)),
      lagP50Ms: median(all.map((r) => r.lag.p50Ms)),
      lagP99Ms: median(all.map((r) => r.lag.p99Ms)),
      lagSteadyP99Ms: median(all.map((r) => r.lag.steadyP99Ms)),
      lagAchievedRate: median(all.map((r) => r.lag.achievedRate)),
    };
    console.log(
      `\nmedians over ${rounds} rounds: writes/s off ${k(summary.offWritesPerSecond)}, on ${k(summary.onWritesPerSecond)}; ` +
        `on ÷ off ${summary.onOverOff.toFixed(2)} (${ratios.map((x) => x.toFixed(2)).join(', ')}; target ≥ 0.70: ${summary.onOverOff >= 0.7 ? 'met' : 'not met'}); ` +
        `replica applies ${k(summary.applyChangesPerSecond)} changes/s; lag at ${k(summary.lagAchievedRate)} writes/s p50 ${summary.lagP50Ms.toFixed(1)} ms, p99 ${summary.lagP99Ms.toFixed(1)} ms (after the first second ${summary.lagSteadyP99Ms.toFixed(1)} ms)`,
    );
    if (args.json !== undefined) {
      const run = { bench: 'replication', machine: `${os.cpus()[0]?.model ?? ''}, ${os.availableParallelism()} cores; node ${process.version}`, options: { num, writers, valueSize, shards, rounds, rate, lagSeconds }, rounds: all, summary };
      fs.writeFileSync(args.json, `${JSON.stringify(run, null, 2)}\n`);
      console.log(`JSON: ${path.resolve(args.json)}`);
    }
    return 0;
  } finally {
    await server.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

process.exitCode = await main();
