// package.json as users meet it, checked quickly: every entry point loads through require() and
// import (a module with a top-level await anywhere in an entry's graph cannot be require()d),
// and the tarball holds what a user runs and nothing else. The pack-and-install test in
// test/pack.long.test.ts goes further (npm run test:long).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

const repo = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(fs.readFileSync(new URL('package.json', `file://${repo}`), 'utf8')) as {
  exports: Record<string, Record<string, string>>;
};
const specifiers = Object.keys(pkg.exports).map((entry) => `stratadb${entry.slice(1)}`);

/** Runs `script` with the repository as the working directory, so that 'stratadb' names this package. */
function nodeIn(args: string[]): string {
  const r = spawnSync(process.execPath, args, { cwd: repo, encoding: 'utf8', timeout: 30_000 });
  assert.is(r.status, 0, r.stderr);
  return r.stdout;
}

test('every entry point has require, import and default conditions naming the same built file', () => {
  for (const [entry, conditions] of Object.entries(pkg.exports)) {
    assert.ok(conditions['import'], `${entry} has import`);
    assert.is(conditions['require'], conditions['import'], `${entry}: require`);
    assert.is(conditions['default'], conditions['import'], `${entry}: default`);
  }
});

test('require() loads every entry point from CommonJS, the same module objects import() gives', () => {
  const script = `
    const names = ${JSON.stringify(specifiers)};
    Promise.all(names.map((n) => import(n))).then((imported) => {
      console.log(JSON.stringify(names.map((n, i) => [n, Object.keys(require(n)).sort().join(), require(n) === imported[i]])));
    });`;
  const loaded = JSON.parse(nodeIn(['-e', script])) as [string, string, boolean][];
  assert.is(loaded.length, specifiers.length);
  for (const [name, keys, same] of loaded) {
    assert.ok(keys.length > 0, `${name} exports something`);
    assert.ok(same, `${name}: one module instance for require and import`);
  }
  assert.ok(loaded[0]![1].split(',').includes('nativeStatus'), 'nativeStatus is exported');
});

test('the tarball ships what a user runs: the compiled JavaScript and types, the addon source and its install script', () => {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  const files = (JSON.parse(r.stdout) as [{ files: { path: string }[] }])[0].files.map((f) => f.path);
  for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'scripts/install.js', 'native/stratadb_io.c', 'binding.gyp', 'bin/stratadb.js', 'README.md']) {
    assert.ok(files.includes(f), `${f} is shipped`);
  }
  for (const conditions of Object.values(pkg.exports)) {
    for (const target of Object.values(conditions)) assert.ok(files.includes(target.replace(/^\.\//, '')), `${target} is shipped`);
  }
  assert.equal(files.filter((f) => f.endsWith('.map')), [], 'no source maps without their sources');
  assert.equal(files.filter((f) => f.startsWith('scripts/') && f !== 'scripts/install.js'), [], 'no development scripts');
  assert.equal(files.filter((f) => /^(dist\/(test|bench)|test|bench|build|docs)\//.test(f)), [], 'no tests, benchmarks, docs or local builds');
});

test.run();
