// The background pool (src/compaction/pool.ts) as the application's process sees it: the
// worker threads start under whatever Node flags the process was started with.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { open } from '../src/index.js';
import { expectCode, withTempDir } from './helpers.js';

const CHILD = new URL('./pool-child.js', import.meta.url).pathname;

interface ChildReport {
  flushes?: number;
  compactions?: number;
  wrongBeforeReopen?: number;
  wrongAfterReopen?: number;
  error?: { code?: string; errno?: string; message?: string };
}

/** Runs `node ...args` (a script that ends with pool-child's JSON line) and returns that line. */
function runNode(args: string[]): ChildReport {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 60_000 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  assert.is(r.status, 0, `node ${args.slice(0, -1).join(' ')} exited ${r.status ?? r.signal}: ${r.stderr}`);
  return JSON.parse(last) as ChildReport;
}

function assertFlushedCompactedAndKept(report: ChildReport, what: string): void {
  assert.is(report.error, undefined, `${what}: ${JSON.stringify(report.error)}`);
  assert.ok(report.flushes! > 1, `${what}: flushes ran (${report.flushes})`);
  assert.ok(report.compactions! > 0, `${what}: a compaction ran (${report.compactions})`);
  assert.is(report.wrongBeforeReopen, 0, `${what}: every write reads back`);
  assert.is(report.wrongAfterReopen, 0, `${what}: every write reads back after a reopen`);
}

test('flushes and compactions run under Node flags that worker threads refuse (a V8 heap limit, a process-wide report directory)', async () => {
  await withTempDir(async (dir) => {
    const flags = ['--max-old-space-size=256', `--report-directory=${path.join(dir, 'reports')}`];
    const report = runNode([...flags, CHILD, path.join(dir, 'db')]);
    assertFlushedCompactedAndKept(report, flags.join(' '));
  });
});

test('flushes and compactions run in a process started as node --input-type=module -e, with a V8 flag too', async () => {
  await withTempDir(async (dir) => {
    const script = `process.argv[2] = ${JSON.stringify(path.join(dir, 'db'))}; await import(${JSON.stringify(new URL('./pool-child.js', import.meta.url).href)});`;
    const report = runNode(['--max-old-space-size=256', '--input-type=module', '-e', script]);
    assertFlushedCompactedAndKept(report, '--input-type=module -e');
  });
});

/** The nice value of each of this process's threads (Linux), by thread id. */
function threadNices(): Map<number, number> {
  const nices = new Map<number, number>();
  for (const tid of fs.readdirSync(`/proc/${process.pid}/task`)) {
    // Fields after the command's closing parenthesis: state is the 3rd field, nice the 19th.
    const fields = fs.readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    nices.set(Number(tid), Number(fields[16]));
  }
  return nices;
}

test('threads started for compactions run backgroundNice steps below the application (Linux: per thread), threads for flushes and the event loop thread at its priority', async () => {
  await expectCode(() => open('/nonexistent-never-created', { backgroundNice: 20 }), 'INVALID_ARGUMENT', 'backgroundNice 20');
  await expectCode(() => open('/nonexistent-never-created', { backgroundNice: -1 }), 'INVALID_ARGUMENT', 'backgroundNice -1');
  if (process.platform !== 'linux') return;
  const base = os.getPriority();
  for (const nice of [7, 0]) {
    await withTempDir(async (dir) => {
      const before = new Set(threadNices().keys());
      const db = await open(dir, { backgroundNice: nice, compactionWorkers: 2 });
      const newThreads = () => [...threadNices()].filter(([tid]) => !before.has(tid));
      try {
        for (let i = 0; i < 1000; i++) await db.put(`k${i}`, `v${i}`);
        await db.flush(); // starts a thread for the flush
        const afterFlush = newThreads();
        assert.ok(afterFlush.length > 0 && afterFlush.every(([, n]) => n === base), `the flush's thread at ${base}: ${JSON.stringify(afterFlush)}`);
        for (let i = 0; i < 1000; i++) await db.put(`k${i}`, `w${i}`);
        await db.flush();
        await db.compactRange(); // two overlapping tables: a compaction, on a thread of its own
        const lowered = newThreads().filter(([, n]) => n !== base);
        if (nice > 0) assert.equal(lowered.map(([, n]) => n), [Math.min(19, base + nice)], `one thread at nice ${base + nice}: ${JSON.stringify(newThreads())}`);
        else assert.equal(lowered, [], 'every thread at the application priority');
        assert.is(threadNices().get(process.pid), base, 'the main thread keeps its priority');
        assert.is((await db.get('k5'))?.toString(), 'w5');
      } finally {
        await db.close();
      }
    });
  }
});

test.run();
