// examples/ledger.mjs, run as a user would: event sourcing with an exactly-once projection.
// A run is SIGKILLed in the middle of its projection; the next run resumes from the position
// stored with the last effects, applies every remaining event exactly once (the count says
// so) and agrees with a rebuild from sequence 0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { withTempDir } from './helpers.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/ledger.mjs', import.meta.url));

const run = (...args: string[]) => spawnSync(process.execPath, [EXAMPLE, ...args], { encoding: 'utf8', timeout: 60_000 });

test('the ledger example: a projection killed mid-way resumes exactly once and agrees with a rebuild', () =>
  withTempDir(async (dir) => {
    const killed = run(dir, '--events', '300', '--kill-after', '120');
    assert.is(killed.signal, 'SIGKILL', `the first run kills itself after 120 events: ${killed.stdout}${killed.stderr}`);
    const resumed = run(dir, '--events', '100');
    assert.is(resumed.status, 0, resumed.stdout + resumed.stderr);
    assert.match(resumed.stdout, 'projection agrees with a rebuild from 0');
    // 300 events, 120 projected before the kill; 100 more now: 280 left, each applied once.
    assert.match(resumed.stdout, 'events in the log: 400; projected this run: 280;');
    const again = run(dir, '--events', '0');
    assert.is(again.status, 0, again.stdout + again.stderr);
    assert.match(again.stdout, 'projected this run: 0;');
  }));

test.run();
