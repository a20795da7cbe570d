// Options: the names open() accepts are exactly those the README's options table documents,
// with the defaults it states, and an unknown name is refused.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OPTION_NAMES, resolveOptions } from '../src/engine/index.js';
import { Codecs } from '../src/encoding.js';
import { open } from '../src/index.js';
import { expectCode, withTempDir } from './helpers.js';

/** The rows of the README's options table: [name, default as written]. */
function documentedOptions(): [string, string][] {
  const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = /^## Options\n([\s\S]*?)^## /m.exec(readme);
  assert.ok(section, 'the README has an Options section');
  const rows: [string, string][] = [];
  for (const m of section[1]!.matchAll(/^\| `(\w+)` \| ([^|]+) \|/gm)) rows.push([m[1]!, m[2]!.trim()]);
  return rows;
}

/** Options open() takes besides the engine's (database.ts). */
const DATABASE_OPTIONS = ['shards', 'keyEncoding', 'valueEncoding'];

/** A documented default as a value, or undefined when it is prose ("the real one", "—", a rule). */
function parseDefault(text: string): unknown {
  const literal = /^`(true|false|'[^']*')`$/.exec(text);
  if (literal) return literal[1] === 'true' ? true : literal[1] === 'false' ? false : literal[1]!.slice(1, -1);
  const size = /^(\d+)(?: (KiB|MiB|GiB))?$/.exec(text);
  if (size) return Number(size[1]) * { '': 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[size[2] ?? '']!;
  return undefined;
}

test('every engine option is in the README, and the README documents no option that does not exist', () => {
  const documented = documentedOptions().map(([name]) => name);
  assert.equal([...documented].sort(), [...OPTION_NAMES, ...DATABASE_OPTIONS].sort());
});

test('the README states the default each option resolves to', () => {
  const codecs = Codecs.of(undefined);
  const defaults: Record<string, unknown> = { ...(resolveOptions({}) as unknown as Record<string, unknown>), keyEncoding: codecs.keys.name, valueEncoding: codecs.values.name };
  let checked = 0;
  for (const [name, text] of documentedOptions()) {
    const expected = parseDefault(text);
    if (expected === undefined) continue;
    assert.is(defaults[name], expected, `${name}: the README says ${text}`);
    checked++;
  }
  assert.ok(checked >= 17, `${checked} defaults checked`);
  assert.is(documentedOptions().find(([name]) => name === 'compactionWorkers')?.[1], 'cores − 1, at least 2, at most 4');
  assert.is(defaults['compactionWorkers'], Math.min(4, Math.max(2, os.availableParallelism() - 1)));
});

test('open() accepts every documented option at once', () =>
  withTempDir(async (dir) => {
    const defaults = resolveOptions({}) as unknown as Record<string, unknown>;
    const options: Record<string, unknown> = {};
    for (const [name] of documentedOptions()) options[name] = defaults[name];
    options['shards'] = 1;
    options['onRecoverySkip'] = () => {};
    const db = await open(dir, options as never);
    await db.put('k', 'v');
    assert.is(String(await db.get('k')), 'v');
    await db.close();
  }));

test('an unknown option name is refused with INVALID_ARGUMENT, one that objects inherit included', async () => {
  for (const name of ['memtableSize', 'constructor', 'toString', 'hasOwnProperty']) {
    const err = await expectCode(() => resolveOptions({ [name]: 1 }), 'INVALID_ARGUMENT', name);
    assert.match(err.message, `unknown option ${name}`);
  }
  await expectCode(() => resolveOptions({ shards: 2 }), 'INVALID_ARGUMENT', 'shards, which only open() knows');
  assert.is(resolveOptions({ shards: 2 }, DATABASE_OPTIONS).memtableBytes, 64 * 1024 * 1024);
});

test.run();
