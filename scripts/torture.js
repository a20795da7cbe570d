// Long SIGKILL torture: runs the crash test (test/crash.test.ts: children doing sync writes and
// batches, killed at random moments, flushes and compactions included) again and again with
// new seeds until the time is up, and stops at the first violation.
//
//   npm run torture -- --minutes 30
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '5' }, seed: { type: 'string', default: String(Date.now() % 1e6) } } });
const deadline = Date.now() + Number(values.minutes) * 60_000;
const test = new URL('../dist/test/crash.test.js', import.meta.url).pathname;
let seed = Number(values.seed);
let runs = 0;
while (Date.now() < deadline) {
  const r = spawnSync(process.execPath, [test], { encoding: 'utf8', env: { ...process.env, STRATA_CRASH_SEED: String(seed), STRATA_CRASH_ROUNDS: '16' } });
  runs++;
  if (r.status !== 0) {
    process.stdout.write(r.stdout + r.stderr);
    console.log(`torture: violation with STRATA_CRASH_SEED=${seed} after ${runs} runs`);
    process.exit(1);
  }
  console.log(`torture: seed ${seed} ok (3 workloads x 16 kills)`);
  seed++;
}
console.log(`torture: ${runs} runs, ${runs * 48} kills, no violation`);
