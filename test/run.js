// Runs the compiled test files (dist/test/**/*.test.js), each in its own Node process, and
// ends with the line CI reads: "N passed, N failed".
//
//   node test/run.js                 the quick suite (npm test): every file; the crash, sweep,
//                                    model, fuzz, soak and shard power-cut runs at reduced sizes (QUICK_SIZES)
//                                    and with the addon only
//   node test/run.js --long          (npm run test:long) those runs at full size, with and
//                                    without the addon, and the *.long.test.js files (the
//                                    pack-and-install test)
//   node test/run.js wal memtable    only files whose name contains one of the words (either mode)
//
// A size variable already set in the environment wins over QUICK_SIZES. Files run
// STRATADB_TEST_JOBS at a time (default: one per CPU): most of the time goes to fsync and child
// processes, not to the CPU.
//
// Twice: first as the environment says (the native addon when it is built), then the files
// that touch the native calls' callers (FALLBACK_WORDS) again with STRATADB_NATIVE=0, the
// JavaScript fallback. The second pass is skipped when the addon is not built (the first pass
// ran the fallback already) or STRATADB_NATIVE is set. The last line sums both passes.
//
// A file still running after STRATADB_TEST_TIMEOUT_S (600) is hung: it is sent SIGUSR2 first,
// which makes Node write a diagnostic report (--report-on-signal), then killed; the output
// names the handles that kept its event loop (and its worker threads') alive.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../dist/test/', import.meta.url).pathname;
const addon = new URL('../build/Release/stratadb_io.node', import.meta.url).pathname;
const args = process.argv.slice(2);
const long = args.includes('--long');
const filters = args.filter((a) => a !== '--long');
const FALLBACK_WORDS = ['wal', 'fault', 'crash', 'sweep', 'recovery', 'compaction', 'native', 'shard', 'lock.', 'sstable', 'reads'];
/** The files whose size variables QUICK_SIZES turns down; --long runs them at their defaults. */
const SIZED_WORDS = ['crash', 'sweep', 'shard-power', 'model', 'fuzz', 'soak', 'reshard'];
const QUICK_SIZES = {
  STRATA_CRASH_ROUNDS: '2',
  STRATA_SWEEP_MAX: '40',
  STRATA_SHARD_POWER_CUTS: '30',
  STRATA_MODEL_SEEDS: '1',
  FUZZ_SEEDS: '1',
  SOAK_SECONDS: '3',
  STRATA_RESHARD_STRIDE: '6',
};
/** Slowest first (as measured), so that the last file to finish is a short one. */
const SLOW_WORDS = ['.long.', 'level.', 'soak', 'sweep', 'crash', 'model', 'fuzz', 'overlap', 'recovery', 'shard-power', 'compaction.', 'fault-corruption', 'sstable.'];
const jobs = Number(process.env.STRATADB_TEST_JOBS) || availableParallelism();
/** A file still running after this long is hung (a promise that never settles): it is killed and fails. */
const timeoutMs = (Number(process.env.STRATADB_TEST_TIMEOUT_S) || 600) * 1000;

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...collect(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const nameOf = (f) => f.slice(root.length);
const hasWord = (f, words) => words.some((w) => nameOf(f).includes(w));
const inMode = (f) => (long ? hasWord(f, SIZED_WORDS) || nameOf(f).includes('.long.') : !nameOf(f).includes('.long.'));
const files = collect(root).filter((f) => inMode(f) && (filters.length === 0 || filters.some((w) => nameOf(f).includes(w))));
const env = long ? process.env : { ...QUICK_SIZES, ...process.env };
const passes = [{ label: '', env, files }];
if (existsSync(addon) && process.env.STRATADB_NATIVE === undefined) {
  const fallback = files.filter((f) => hasWord(f, FALLBACK_WORDS) && !nameOf(f).includes('.long.') && (long || !hasWord(f, SIZED_WORDS)));
  if (fallback.length > 0) passes.push({ label: ' [STRATADB_NATIVE=0]', env: { ...env, STRATADB_NATIVE: '0' }, files: fallback });
}
const queue = passes.flatMap((pass) => pass.files.map((file) => ({ file, pass })));
const rank = (f) => {
  const i = SLOW_WORDS.findIndex((w) => nameOf(f).includes(w));
  return i < 0 ? SLOW_WORDS.length : i;
};
queue.sort((a, b) => rank(a.file) - rank(b.file));

let passed = 0;
let failed = 0;

/** Where a hung file's diagnostic report goes (node --report-on-signal; its name holds the file's pid). */
const reportDir = tmpdir();

/**
 * What a hung file was waiting on, from the diagnostic report SIGUSR2 made it write: the
 * libuv handles still active (what kept its event loop alive), its worker threads' too.
 */
function hangSummary(pid) {
  const name = readdirSync(reportDir).find((n) => n.startsWith('report.') && n.includes(`.${pid}.`) && n.endsWith('.json'));
  if (!name) return '(no diagnostic report was written)\n';
  const report = JSON.parse(readFileSync(join(reportDir, name), 'utf8'));
  // Only active, referenced handles keep a loop alive (a Worker is an "async" one of the main thread's).
  const handles = (r) => (r.libuv ?? []).filter((h) => h.is_active && h.is_referenced).map((h) => `${h.type}${h.filename ? ` ${h.filename}` : ''}${h.firesInMsFromNow !== undefined ? ` in ${h.firesInMsFromNow} ms` : ''}`);
  const lines = [`diagnostic report ${join(reportDir, name)}:`, `  main thread's referenced handles: ${handles(report).join(', ') || 'none'}`];
  for (const [i, w] of (report.workers ?? []).entries()) lines.push(`  worker ${i}'s referenced handles: ${handles(w).join(', ') || 'none'}`);
  return `${lines.join('\n')}\n`;
}

function runOne({ file, pass }) {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--report-on-signal', '--report-signal=SIGUSR2', `--report-directory=${reportDir}`, file], { stdio: ['ignore', 'pipe', 'pipe'], env: pass.env });
    let out = '';
    let hung = false;
    const timer = setTimeout(() => {
      // A diagnostic report first (what the loop still waits on), then the kill.
      hung = true;
      out += `\n(killed after ${timeoutMs / 1000} s: STRATADB_TEST_TIMEOUT_S)\n`;
      child.kill('SIGUSR2');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }, timeoutMs);
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (out += chunk));
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      if (hung) out += hangSummary(child.pid);
      const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? NaN);
      const ok = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? NaN);
      const name = nameOf(file) + pass.label;
      if (Number.isNaN(total) || Number.isNaN(ok)) {
        failed++;
        process.stdout.write(out);
        console.log(`✘ ${name}: exited ${status ?? signal} without a uvu summary`);
      } else {
        passed += ok;
        failed += total - ok;
        if (total !== ok || status !== 0) process.stdout.write(out);
        console.log(`${total === ok && status === 0 ? '✔' : '✘'} ${name}: ${ok}/${total} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
        if (total === ok && status !== 0) failed++;
      }
      resolve();
    });
  });
}

async function worker() {
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) await runOne(next);
}

const started = Date.now();
await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
console.log(`${long ? 'long' : 'quick'} suite: ${files.length} files, ${jobs} at a time, ${((Date.now() - started) / 1000).toFixed(0)}s`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && files.length > 0 ? 0 : 1);
