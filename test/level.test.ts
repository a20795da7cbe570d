// abstract-level's own conformance suite (shipped in the package as abstract-level/test and
// driven by tape), run against StrataLevel: on the database itself and, as the suite does by
// itself, again on a sublevel. Traits the manifest declares false are skipped by the suite.
//
// test/run.js reads a uvu summary, so this file prints one at the end ("Total:" and "Passed:"
// count tape's assertions) and exits non-zero on any failure. Only failures are printed in
// detail. Every database lives in its own directory under one temp directory, removed at the
// end (kept when STRATA_KEEP_DIRS is set).
//
//   node dist/test/level.test.js            the whole suite
//   LEVEL_GREP=seek node dist/test/...      only tests whose name contains "seek"

import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import tape from 'tape';
import { StrataLevel } from '../src/level/index.js';

interface SuiteOptions {
  test: (name: string, fn: (t: tape.Test) => unknown) => void;
  factory: (options?: object) => unknown;
}

interface Row {
  type: 'test' | 'assert' | 'end';
  id?: number;
  test?: number;
  name?: string;
  ok?: boolean;
  skip?: boolean | string;
  todo?: boolean | string;
  operator?: string;
  actual?: unknown;
  expected?: unknown;
  error?: unknown;
}

const require = createRequire(import.meta.url);
const suite = require('abstract-level/test') as (options: SuiteOptions) => void;

const started = Date.now();
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-level-'));
const databases: StrataLevel<unknown, unknown>[] = [];

function factory(options?: object): StrataLevel<unknown, unknown> {
  const db = new StrataLevel<unknown, unknown>(path.join(root, `db-${databases.length}`), options);
  databases.push(db);
  return db;
}

const harness = tape.createHarness();
const grep = process.env['LEVEL_GREP'];
const test: SuiteOptions['test'] = (name, fn) => {
  if (grep === undefined || name.includes(grep)) harness(name, fn as tape.TestCase);
};

const testNames = new Map<number, string>();
let tests = 0;
let assertions = 0;
let passed = 0;
let skipped = 0;
let finished = false;

function show(v: unknown): string {
  if (v instanceof Error) return v.stack ?? String(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

const stream = harness.createStream({ objectMode: true });
stream.on('data', (row: Row) => {
  if (row.type === 'test') {
    tests++;
    testNames.set(row.id!, row.name ?? '');
  } else if (row.type === 'assert') {
    assertions++;
    if (row.skip) skipped++;
    if (row.ok || row.todo) {
      passed++;
    } else {
      const lines = [`✘ ${testNames.get(row.test!) ?? '?'}: ${row.name ?? ''}`];
      if (row.operator !== undefined) lines.push(`    operator: ${row.operator}`);
      if ('expected' in row) lines.push(`    expected: ${show(row.expected)}`);
      if ('actual' in row) lines.push(`    actual:   ${show(row.actual)}`);
      if (row.error !== undefined) lines.push(`    error:    ${show(row.error)}`);
      console.log(lines.join('\n'));
    }
  }
});

stream.on('end', () => {
  finished = true;
  void (async () => {
    // Some tests leave databases open (the manifest probe, for one): close them all so that
    // no lock or file outlives the run, then remove every directory.
    await Promise.allSettled(databases.map((db) => db.close()));
    if (process.env['STRATA_KEEP_DIRS']) console.log(`kept ${root}`);
    else fs.rmSync(root, { recursive: true, force: true });
    summary();
  })();
});

// A test whose promise never settles leaves tape waiting with nothing scheduled: Node then
// exits without 'end'. Count that as a failure rather than a silent pass.
process.on('exit', () => {
  if (!finished) {
    console.log(`✘ the suite stopped before its end (after ${tests} tests)`);
    assertions++;
    summary();
    process.exitCode = 1;
  }
});

function summary(): void {
  const failed = assertions - passed;
  console.log(`abstract-level suite on StrataLevel: ${tests} tests, ${assertions} assertions, ${failed} failed, ${skipped} skipped, ${databases.length} databases`);
  console.log(`  Total:     ${assertions}`);
  console.log(`  Passed:    ${passed}`);
  console.log(`  Skipped:   ${skipped}`);
  console.log(`  Duration:  ${Date.now() - started}ms`);
  if (failed > 0) process.exitCode = 1;
}

suite({ test, factory });
