// Crash tests: a child process (test/crash-child.ts) writes with sync: true from 32 concurrent
// writers and acknowledges every resolved write on stdout; this process SIGKILLs it at a
// random moment, reopens the database and checks that (on one shard, and on four, where
// batches span shards and commit in two phases)
// - every acknowledged put is there with its value, and every acknowledged delete took effect;
// - every batch is all or nothing, acknowledged ones all;
// - every counter (merges of 1, operator 'add') holds at least its acknowledged merges, and at
//   most those plus the ones in flight at the kill;
// - nothing else is there, and no value is wrong;
// - the change feed from sequence 0 lists every acknowledged write under the number it resolved
//   to, each once, in order, and replaying it from nothing gives exactly what is there (so it
//   lists no write that did not survive); numbers after a reopen rise above every one acknowledged;
// then starts the next round on the same directory, so the database accumulates.
//
//   STRATA_CRASH_SEED=N     another seed for the kill moments and the workload (default 1)
//   STRATA_CRASH_ROUNDS=N   rounds per test (default 8)

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { open, type Database } from '../src/index.js';
import { batchKey, CRASH_RETENTION, crashOptions, crashValue, envInt, onLines, Rng, show, withTempDir } from './helpers.js';

const CHILD = fileURLToPath(new URL('./crash-child.js', import.meta.url));
const SEED = envInt('STRATA_CRASH_SEED') ?? 1;
const ROUNDS = envInt('STRATA_CRASH_ROUNDS') ?? 8;
/** A child that has not been killed after this long is stuck. */
const CHILD_TIMEOUT_MS = 30_000;

interface Workload {
  memtableBytes: number;
  maxExtraValueBytes: number;
  /** With more than one, most batches span shards and commit in two phases. */
  shards: number;
}

/** What the acknowledgments say must hold, accumulated over rounds. */
class Expected {
  /** Put keys: 'present' once acknowledged, 'absent' once a delete was, 'either' while a delete was in flight at a kill. */
  readonly puts = new Map<string, 'present' | 'absent' | 'either'>();
  readonly batches = new Set<string>();
  /** Merge counters: merges acknowledged (or found after a kill) and merges in flight. */
  readonly counters = new Map<string, { acked: number; pending: number }>();
  /** Batches whose range was cleared: 'absent' once the clear was acknowledged, 'either' while it was in flight at a kill. */
  readonly clearedBatches = new Map<string, 'absent' | 'either'>();
  /** Acknowledged writes by the sequence number they resolved to: "P key", "D key", "B batch", "M key" or "C batch". */
  readonly bySeq = new Map<bigint, string>();
  /** The largest number acknowledged in earlier rounds, and in this one. */
  previousRoundsMax = 0n;
  maxSeq = 0n;
  acks = 0;

  /** A new child starts: its numbers must rise above every number acknowledged before. */
  newRound(): void {
    this.previousRoundsMax = this.maxSeq;
  }

  line(line: string): void {
    const tag = line[0];
    let arg = line.slice(2);
    if (tag === 'P' || tag === 'D' || tag === 'B' || tag === 'M' || tag === 'C') {
      const space = arg.lastIndexOf(' ');
      const seq = BigInt(arg.slice(space + 1));
      arg = arg.slice(0, space);
      assert.ok(seq > this.previousRoundsMax, `${line}: sequence numbers after a reopen rise above ${this.previousRoundsMax}, acknowledged before`);
      assert.not.ok(this.bySeq.has(seq), `${line}: sequence number ${seq} was acknowledged twice`);
      this.bySeq.set(seq, `${tag} ${arg}`);
      if (seq > this.maxSeq) this.maxSeq = seq;
    }
    switch (tag) {
      case 'R':
        return;
      case 'P':
        this.puts.set(arg, 'present');
        break;
      case 'B':
        this.batches.add(arg);
        break;
      case 'd':
        assert.is(this.puts.get(arg), 'present', `the child deletes only acknowledged puts (${line})`);
        this.puts.set(arg, 'either');
        return;
      case 'D':
        this.puts.set(arg, 'absent');
        break;
      case 'm': {
        const c = this.counters.get(arg) ?? { acked: 0, pending: 0 };
        c.pending++;
        this.counters.set(arg, c);
        return;
      }
      case 'M': {
        const c = this.counters.get(arg)!;
        c.acked++;
        c.pending--;
        break;
      }
      case 'c':
        assert.ok(this.batches.has(arg), `the child clears only acknowledged batches (${line})`);
        this.batches.delete(arg);
        this.clearedBatches.set(arg, 'either');
        return;
      case 'C':
        this.clearedBatches.set(arg, 'absent');
        break;
      default:
        throw new Error(`unexpected line from the child: ${JSON.stringify(line)}`);
    }
    this.acks++;
  }
}

interface ChildRun {
  acks: number;
  ready: boolean;
  ms: number;
}

/**
 * Runs one child on `dir` and SIGKILLs it after `killAfterAcks` acknowledgments, or after
 * `killAfterMs` (which may land while it opens and recovers). Feeds every line to `expected`,
 * including the lines already in the pipe when the kill lands.
 */
function runChild(dir: string, round: number, seed: number, w: Workload, expected: Expected, kill: { afterAcks: number } | { afterMs: number }): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [CHILD, dir, String(round), String(seed), String(w.memtableBytes), String(w.maxExtraValueBytes), String(w.shards)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let acks = 0;
    let ready = false;
    let killed = false;
    let stderr = '';
    let failure: unknown;
    const killNow = () => {
      if (killed) return;
      killed = true;
      child.kill('SIGKILL');
    };
    const timeout = setTimeout(() => {
      failure ??= new Error(`the child was not killed within ${CHILD_TIMEOUT_MS} ms (${acks} acks)`);
      killNow();
    }, CHILD_TIMEOUT_MS);
    const timer = 'afterMs' in kill ? setTimeout(killNow, kill.afterMs) : undefined;
    onLines(child.stdout, (line) => {
      try {
        expected.line(line);
      } catch (err) {
        failure ??= err;
        killNow();
      }
      if (line === 'R') ready = true;
      else if (line[0] !== 'd' && line[0] !== 'm' && line[0] !== 'c') acks++;
      if ('afterAcks' in kill && acks >= kill.afterAcks) killNow();
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (err) => (failure ??= err));
    child.on('close', (code, signal) => {
      clearTimeout(timeout);
      if (timer) clearTimeout(timer);
      if (failure === undefined && signal !== 'SIGKILL') failure = new Error(`the child exited with ${code ?? signal} before it was killed:\n${stderr}`);
      if (failure !== undefined) reject(failure);
      else resolve({ acks, ready, ms: Date.now() - started });
    });
  });
}

/** Opens `dir` and checks it against `expected`; resolves 'either' keys to what was found. */
async function verify(dir: string, w: Workload, expected: Expected, what: string): Promise<number> {
  // Once a write was acknowledged the SHARDS file exists and open() must find the count by
  // itself. Before that, a kill may have cut the creation short (SHARDS is written last): the
  // shard count is then the caller's to give again, as an application does.
  const shards = expected.acks === 0 ? { shards: w.shards } : {};
  const db = await open(dir, { ...crashOptions(w.memtableBytes), changeRetention: CRASH_RETENTION, mergeOperator: 'add', ...shards });
  try {
    // Open deletes what a killed flush or compaction left behind that no MANIFEST edit names.
    const names = fs.readdirSync(dir, { recursive: true, encoding: 'utf8' });
    const tables = names.filter((n) => n.endsWith('.sst')).length;
    const named = db.stats().levels.reduce((n, l) => n + l.files, 0);
    if (tables !== named) throw new Error(`${what}: ${tables} table files, but the version names ${named}: orphans left after open`);
    assert.is(db.stats().shards.length, w.shards, `${what}: the database keeps its ${w.shards} shards`);
    const strays = names.filter((n) => n.endsWith('.tmp'));
    if (strays.length > 0) throw new Error(`${what}: temp files left after open: ${strays.join(', ')}`);
    const puts = new Set<string>();
    /** batch "<round>/<id>/<n>" → how many of its keys are there */
    const batches = new Map<string, number>();
    let previous: Buffer | undefined;
    let entries = 0;
    const state = new Map<string, Buffer>();
    for await (const [k, v] of db.iterator()) {
      state.set(k.toString('latin1'), v);
      entries++;
      if (previous !== undefined && Buffer.compare(previous, k) >= 0) throw new Error(`${what}: iterator keys out of order: ${show(previous)} then ${show(k)}`);
      previous = k;
      const key = k.toString('utf8');
      if (/^m\/\d$/.test(key)) continue;
      if (!v.equals(crashValue(key, w.maxExtraValueBytes))) throw new Error(`${what}: wrong value under ${key}: ${show(v, 40)}`);
      const m = /^b\/(\d+\/\d+\/(\d+))\/(?:\{\d+\/\d+\/\d+\})?(\d+)$/.exec(key);
      if (m && key === batchKey(m[1]!, Number(m[3]))) {
        assert.ok(Number(m[3]) < Number(m[2]), `${what}: batch key ${key} is within its batch`);
        batches.set(m[1]!, (batches.get(m[1]!) ?? 0) + 1);
      } else if (/^p\/\d+\/\d+$/.test(key)) {
        puts.add(key);
      } else {
        throw new Error(`${what}: a key no one wrote: ${show(k, 40)}`);
      }
    }
    for (const [batch, count] of batches) {
      const n = Number(batch.split('/')[2]);
      if (count !== n) throw new Error(`${what}: batch ${batch} is torn: ${count} of its ${n} keys are there`);
    }
    for (const batch of expected.batches) {
      if (!batches.has(batch)) throw new Error(`${what}: acknowledged batch ${batch} is missing`);
      const key = batchKey(batch, 0);
      const value = db.getSync(key);
      if (value === undefined || !value.equals(crashValue(key, w.maxExtraValueBytes))) throw new Error(`${what}: get(${key}) gives ${show(value, 40)}`);
    }
    for (const [batch, state] of expected.clearedBatches) {
      // The clear is one write: the batch's keys are all there (a clear in flight, lost) or none.
      const there = batches.has(batch);
      if (state === 'absent' && there) throw new Error(`${what}: batch ${batch} is there after the clear of its range was acknowledged`);
      if (state === 'either') {
        if (there) {
          expected.clearedBatches.delete(batch);
          expected.batches.add(batch);
        } else {
          expected.clearedBatches.set(batch, 'absent');
        }
      }
    }
    for (const [key, state] of expected.puts) {
      const found = puts.has(key);
      if (state === 'present' && !found) throw new Error(`${what}: acknowledged put ${key} is missing`);
      if (state === 'absent' && found) throw new Error(`${what}: ${key} is there after its delete was acknowledged`);
      if (state === 'either') expected.puts.set(key, found ? 'present' : 'absent');
      const value = db.getSync(key);
      if (found ? value === undefined || !value.equals(crashValue(key, w.maxExtraValueBytes)) : value !== undefined) {
        throw new Error(`${what}: get(${key}) gives ${show(value, 40)}, the iterator ${found ? 'found it' : 'did not'}`);
      }
    }
    for (const [key, c] of expected.counters) {
      const value = db.getSync(key);
      const n = value === undefined ? 0 : Number(value.readBigInt64LE(0));
      if (value !== undefined && value.length !== 8) throw new Error(`${what}: counter ${key} is ${value.length} bytes`);
      if (n < c.acked || n > c.acked + c.pending) throw new Error(`${what}: counter ${key} is ${n}; ${c.acked} merges were acknowledged, ${c.pending} more in flight`);
      expected.counters.set(key, { acked: n, pending: 0 });
    }
    await checkFeed(db, expected, state, what);
    return entries;
  } finally {
    await db.close();
  }
}

/** What the 'add' operator makes of a value and one operand. */
function addOperand(value: Buffer | undefined, operand: Buffer): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigInt64LE(BigInt.asIntN(64, (value === undefined ? 0n : value.readBigInt64LE(0)) + operand.readBigInt64LE(0)));
  return out;
}

/** The change feed from 0 against the acknowledgments and the state the iterator found. */
async function checkFeed(db: Database, expected: Expected, state: ReadonlyMap<string, Buffer>, what: string): Promise<void> {
  const replayed = new Map<string, Buffer>();
  const found = new Map<bigint, string[]>();
  let previous = 0n;
  for await (const change of db.changes({ since: 0n, live: false })) {
    if (change.seq <= previous) throw new Error(`${what}: the feed gave ${change.seq} after ${previous}`);
    previous = change.seq;
    const ops: string[] = [];
    for (const op of change.ops) {
      const key = op.key.toString('latin1');
      if (op.type === 'put') replayed.set(key, op.value!);
      else if (op.type === 'merge') replayed.set(key, addOperand(replayed.get(key), op.value!));
      else if (op.type === 'del') replayed.delete(key);
      else for (const k of [...replayed.keys()]) if (k >= key && (op.end === undefined || k < op.end.toString('latin1'))) replayed.delete(k);
      ops.push(`${op.type} ${key}`);
    }
    found.set(change.seq, ops);
  }
  for (const [seq, write] of expected.bySeq) {
    const ops = found.get(seq);
    if (ops === undefined) throw new Error(`${what}: acknowledged ${write} (sequence ${seq}) is not in the feed`);
    const [tag, arg] = [write[0], write.slice(2)];
    const want =
      tag === 'P' ? [`put ${arg}`]
      : tag === 'D' ? [`del ${arg}`]
      : tag === 'M' ? [`merge ${arg}`]
      : tag === 'C' ? [`clear b/${arg}/`]
      : Array.from({ length: Number(arg.split('/')[2]) }, (_, j) => `put ${batchKey(arg, j)}`);
    // In the order given, a batch across shards too (PrepareInOrder records).
    if (ops.join('|') !== want.join('|')) throw new Error(`${what}: sequence ${seq} is ${ops.join(', ')} in the feed, but ${write} was acknowledged under it`);
  }
  if (replayed.size !== state.size) throw new Error(`${what}: replaying the feed gives ${replayed.size} keys, the database holds ${state.size}`);
  for (const [key, value] of state) {
    if (!replayed.get(key)?.equals(value)) throw new Error(`${what}: replaying the feed gives ${show(replayed.get(key), 40)} under ${key}, the database ${show(value, 40)}`);
  }
}

async function crashRounds(name: string, w: Workload, seedOffset: number): Promise<void> {
  const seed = SEED * 1000 + seedOffset;
  const rng = new Rng(seed);
  await withTempDir(async (dir) => {
    const expected = new Expected();
    const log: string[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const kill = rng.chance(0.2) ? { afterMs: rng.range(0, 400) } : { afterAcks: rng.range(5, 1500) };
        expected.newRound();
        const child = await runChild(dir, round, rng.u32(), w, expected, kill);
        const entries = await verify(dir, w, expected, `round ${round}`);
        log.push(
          `round ${round}: killed ${'afterMs' in kill ? `${kill.afterMs} ms after the start` : `after ${kill.afterAcks} acks`}` +
            ` (${child.ready ? `${child.acks} acks` : 'while opening'}, ${child.ms} ms); ${entries} entries after reopening`,
        );
      }
    } catch (err) {
      (err as Error).message = `${name}, seed ${seed} (STRATA_CRASH_SEED=${SEED}): ${(err as Error).message}\n  ${log.join('\n  ')}`;
      throw err;
    }
    if (process.env['STRATA_CRASH_VERBOSE']) console.log(`${name}:\n  ${log.join('\n  ')}`);
    assert.ok(expected.acks > 0, 'the children acknowledged writes');
  });
}

test('acknowledged sync writes survive SIGKILL and batches are all or nothing', async () => {
  await crashRounds('default memtable', { memtableBytes: 64 * 1024 * 1024, maxExtraValueBytes: 200, shards: 1 }, 1);
});

test('acknowledged sync writes survive SIGKILL during memtable flushes (64 KiB memtables)', async () => {
  await crashRounds('64 KiB memtables, small levels: kills land in flushes and compactions', { memtableBytes: 64 * 1024, maxExtraValueBytes: 4000, shards: 1 }, 2);
});

test('4 shards: cross-shard sync batches are all or nothing in every shard across SIGKILL, nothing acknowledged is lost', async () => {
  await crashRounds('4 shards, 64 KiB memtables: kills land in two-phase commits, flushes and compactions', { memtableBytes: 64 * 1024, maxExtraValueBytes: 1000, shards: 4 }, 3);
});

test('8 shards (each published on its own): batches stay whole and nothing acknowledged is lost across SIGKILL', async () => {
  await crashRounds('8 shards, 64 KiB memtables: writes answered by their own shard while others sync', { memtableBytes: 64 * 1024, maxExtraValueBytes: 1000, shards: 8 }, 4);
});

test.run();
