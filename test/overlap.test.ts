// Overlapping flush(), compactRange() and close() calls all settle. Each scenario runs in a
// child process (test/overlap-child.ts) under a deadline: the hang these tests guard against
// starved the event loop, so a timer in the hanging process itself would never fire.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withTempDir } from './helpers.js';

const CHILD = fileURLToPath(new URL('./overlap-child.js', import.meta.url));
/** Each scenario takes well under a second; one still running after this long hangs. */
const DEADLINE_MS = 20_000;

function runScenario(scenario: string, shards: number): Promise<void> {
  return withTempDir(async (dir) => {
    const r = spawnSync(process.execPath, [CHILD, dir, scenario, String(shards)], { encoding: 'utf8', timeout: DEADLINE_MS, killSignal: 'SIGKILL' });
    assert.not.ok(r.signal, `${scenario} (${shards} shard(s)): still running after ${DEADLINE_MS} ms, killed. ${r.stderr}`);
    assert.is(r.status, 0, `${scenario} (${shards} shard(s)) exited ${r.status}: ${r.stderr}`);
    assert.is(r.stdout.trim(), 'done', `${scenario} (${shards} shard(s)) printed ${JSON.stringify(r.stdout)}`);
  });
}

for (const shards of [1, 4]) {
  test(`two overlapping compactRange() calls both resolve (${shards} shard(s))`, () => runScenario('two compactRange', shards));
  test(`three overlapping compactRange() calls resolve with an iterator open (${shards} shard(s))`, () =>
    runScenario('three compactRange with an iterator open', shards));
  test(`a flush() and a compactRange() 5 ms apart both resolve (${shards} shard(s))`, () => runScenario('flush then compactRange 5 ms apart', shards));
  test(`compactRange() calls racing writes and flushes all resolve (${shards} shard(s))`, () =>
    runScenario('compactRange racing writes and flushes', shards));
  test(`close() during two compactRange() calls settles all three (${shards} shard(s))`, () => runScenario('close during compactRange', shards));
}

test.run();
