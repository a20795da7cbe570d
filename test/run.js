// Runs every compiled test file (dist/test/**/*.test.js), each in its own Node process, and
// ends with the line CI reads: "N passed, N failed".
//
//   node test/run.js                 all tests
//   node test/run.js wal memtable    only files whose name contains one of the words
//
// Twice: first as the environment says (the native addon when it is built), then the files
// that touch the native calls' callers (FALLBACK_WORDS) again with STRATADB_NATIVE=0, the
// JavaScript fallback. The second pass is skipped when the addon is not built (the first pass
// ran the fallback already) or STRATADB_NATIVE is set. The last line sums both passes.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../dist/test/', import.meta.url).pathname;
const addon = new URL('../build/Release/stratadb_io.node', import.meta.url).pathname;
const filters = process.argv.slice(2);
const FALLBACK_WORDS = ['wal', 'fault', 'crash', 'sweep', 'recovery', 'compaction', 'native', 'shard', 'lock.'];

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
const passes = [{ label: '', env: process.env, files }];
if (existsSync(addon) && process.env.STRATADB_NATIVE === undefined) {
  const fallback = files.filter((f) => FALLBACK_WORDS.some((w) => f.slice(root.length).includes(w)));
  if (fallback.length > 0) passes.push({ label: ' [STRATADB_NATIVE=0]', env: { ...process.env, STRATADB_NATIVE: '0' }, files: fallback });
}
let passed = 0;
let failed = 0;
for (const pass of passes) {
  for (const file of pass.files) {
    const started = Date.now();
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: pass.env });
    const out = (r.stdout ?? '') + (r.stderr ?? '');
    const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? NaN);
    const ok = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? NaN);
    const name = file.slice(root.length) + pass.label;
    if (Number.isNaN(total) || Number.isNaN(ok)) {
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
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && files.length > 0 ? 0 : 1);
