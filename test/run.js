// Runs every compiled test file (dist/test/**/*.test.js), each in its own Node process, and
// ends with the line CI reads: "N passed, N failed".
//
//   node test/run.js                 all tests
//   node test/run.js wal memtable    only files whose name contains one of the words
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../dist/test/', import.meta.url).pathname;
const filters = process.argv.slice(2);

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...collect(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const files = collect(root).filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)));
let passed = 0;
let failed = 0;
let crashed = 0;
for (const file of files) {
  const started = Date.now();
  const r = spawnSync(process.execPath, [file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  const out = (r.stdout ?? '') + (r.stderr ?? '');
  const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? NaN);
  const ok = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? NaN);
  const name = file.slice(root.length);
  if (Number.isNaN(total) || Number.isNaN(ok)) {
    crashed++;
    failed++;
    process.stdout.write(out);
    console.log(`✘ ${name}: exited ${r.status ?? r.signal} without a uvu summary`);
    continue;
  }
  passed += ok;
  failed += total - ok;
  if (total !== ok || r.status !== 0) process.stdout.write(out);
  console.log(`${total === ok && r.status === 0 ? '✔' : '✘'} ${name}: ${ok}/${total} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  if (total === ok && r.status !== 0) failed++;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && files.length > 0 ? 0 : 1);
