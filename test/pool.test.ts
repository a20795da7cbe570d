// The background pool (src/compaction/pool.ts) as the application's process sees it: the
// worker threads start under whatever Node flags the process was started with.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { withTempDir } from './helpers.js';

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

test.run();
